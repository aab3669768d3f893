"""What both OCPP versions say in the same words.

BootNotification, Heartbeat, StatusNotification and DataTransfer are answered alike by 1.6
and 2.0.1; only reading their requests differs, which each version's `conversions` does.
Commands answered with a status are sent alike, and DataTransfer's request is built alike.
Each version's handlers and commands take these from here, so a change to how chargectl
answers a boot is made once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from controller.ocpp.central import CentralSystem
from controller.ocpp.session import Handler, Session
from controller.values.commands import CallFailed, Status
from controller.values.records import BootInfo, ConnectorStatus
from controller.values.timestamps import iso

ReadBoot = Callable[[Mapping[str, Any]], BootInfo]
"""BootNotification's request in one version's words, as a value."""

ReadStatus = Callable[[str, Mapping[str, Any]], ConnectorStatus]
"""StatusNotification's request (of the charger with this identity), as a value."""


class CommonHandlers:
    """Handlers both versions share; a version's handler class says how to read their
    requests and adds its own messages to `shared_table`."""

    def __init__(
        self,
        identity: str,
        central: CentralSystem,
        read_boot: ReadBoot,
        read_status: ReadStatus,
    ) -> None:
        self.identity = identity
        self.central = central
        self._read_boot = read_boot
        self._read_status = read_status

    def shared_table(self) -> dict[str, Handler]:
        """The handlers of the messages both versions answer alike."""
        return {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "DataTransfer": self.data_transfer,
        }

    async def boot_notification(self, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self.central.boot(self.identity, self._read_boot(payload))
        return {
            "status": reply.status.value,
            "currentTime": iso(datetime.now(UTC)),
            "interval": reply.interval,
        }

    async def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": iso(await self.central.heartbeat(self.identity))}

    async def status_notification(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.status(self._read_status(self.identity, payload))
        return {}

    async def data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Recorded as reported; chargectl knows no vendor's extensions."""
        await self.central.reported(
            self.identity,
            "DataTransfer",
            f"data transfer from vendor {payload['vendorId']}",
            {"vendorId": payload["vendorId"], "messageId": payload.get("messageId")},
        )
        return {"status": "UnknownVendorId"}


class CommonCommands(ABC):
    """What both versions' `ChargerCommands` do alike: calls whose answer is a status."""

    def __init__(self, session: Session, central: CentralSystem) -> None:
        self.session = session
        self.central = central
        self.identity = session.identity

    @abstractmethod
    def _as_status(self, action: str, answer: Mapping[str, Any]) -> Status | CallFailed:
        """An answer's status in this version's words, or CallFailed for one it has not."""

    async def _status(self, action: str, payload: dict[str, Any]) -> Status | CallFailed:
        answer = await self.session.call(action, payload)
        if isinstance(answer, CallFailed):
            return answer
        return self._as_status(action, answer)

    async def clear_cache(self) -> Status | CallFailed:
        return await self._status("ClearCache", {})


def data_transfer_request(
    vendor_id: str, message_id: str | None, data: str | None
) -> dict[str, Any]:
    """DataTransfer's request, the same in both versions: the optional fields only when set."""
    payload: dict[str, Any] = {"vendorId": vendor_id}
    if message_id is not None:
        payload["messageId"] = message_id
    if data is not None:
        payload["data"] = data
    return payload
