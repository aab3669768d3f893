"""OCPP 1.6J: the central system's CALLs, `ChargerCommands` in OCPP 1.6 words.

One method per version-neutral command: build the request (`conversions`), send it on the
session (one at a time, as OCPP-J allows), and read the answer back into values. A transport
failure, a CALLERROR or an answer the schema refuses comes back as `CallFailed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from controller.ocpp.common import CommonCommands, data_transfer_request
from controller.ocpp.v16.conversions import (
    PURPOSES,
    as_status,
    charging_profile,
    configuration_report,
    local_authorization_list,
)
from controller.values.commands import (
    CallFailed,
    ChargingLimit,
    CompositeSchedule,
    ConfigStatus,
    ConfigurationReport,
    DataTransferResult,
    FailureKind,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
)
from controller.values.timestamps import iso


class V16Commands(CommonCommands):
    """`ChargerCommands` over the session of a connected OCPP 1.6 charger."""

    version = "1.6"

    def _as_status(self, action: str, answer: Mapping[str, Any]) -> Status | CallFailed:
        return as_status(action, answer.get("status"))

    async def get_configuration(self, keys: Sequence[str] = ()) -> ConfigurationReport | CallFailed:
        answer = await self.session.call("GetConfiguration", {"key": list(keys)} if keys else {})
        if isinstance(answer, CallFailed):
            return answer
        return configuration_report(answer)

    async def change_configuration(self, key: str, value: str) -> ConfigStatus | CallFailed:
        answer = await self.session.call("ChangeConfiguration", {"key": key, "value": value})
        if isinstance(answer, CallFailed):
            return answer
        return ConfigStatus(answer["status"])

    async def reset(self, hard: bool) -> Status | CallFailed:
        return await self._status("Reset", {"type": "Hard" if hard else "Soft"})

    async def change_availability(self, connector: int, operative: bool) -> Status | CallFailed:
        return await self._status(
            "ChangeAvailability",
            {"connectorId": connector, "type": "Operative" if operative else "Inoperative"},
        )

    async def set_charging_profile(self, limit: ChargingLimit) -> Status | CallFailed:
        profile = charging_profile(limit)
        return await self._status(
            "SetChargingProfile", {"connectorId": limit.connector, "csChargingProfiles": profile}
        )

    async def clear_charging_profile(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: LimitPurpose | None = None,
    ) -> Status | CallFailed:
        payload: dict[str, Any] = {}
        if profile_id is not None:
            payload["id"] = profile_id
        if connector is not None:
            payload["connectorId"] = connector
        if purpose is not None:
            payload["chargingProfilePurpose"] = PURPOSES[purpose]
        return await self._status("ClearChargingProfile", payload)

    async def get_composite_schedule(
        self, connector: int, duration: int
    ) -> CompositeSchedule | CallFailed:
        answer = await self.session.call(
            "GetCompositeSchedule",
            {"connectorId": connector, "duration": duration, "chargingRateUnit": "A"},
        )
        if isinstance(answer, CallFailed):
            return answer
        status = as_status("GetCompositeSchedule", answer.get("status"))
        if isinstance(status, CallFailed):
            return status
        if status is not Status.ACCEPTED:
            return CompositeSchedule(status)
        return CompositeSchedule.from_wire(answer.get("chargingSchedule"))

    async def send_local_list(
        self, version: int, entries: Sequence[LocalListEntry], full: bool
    ) -> Status | CallFailed:
        return await self._status(
            "SendLocalList",
            {
                "listVersion": version,
                "updateType": "Full" if full else "Differential",
                "localAuthorizationList": local_authorization_list(entries),
            },
        )

    async def get_local_list_version(self) -> int | CallFailed:
        answer = await self.session.call("GetLocalListVersion", {})
        if isinstance(answer, CallFailed):
            return answer
        return int(answer["listVersion"])

    async def update_firmware(
        self, url: str, retrieve_at: datetime, request_id: int = 1
    ) -> Status | CallFailed:
        answer = await self.session.call(
            "UpdateFirmware", {"location": url, "retrieveDate": iso(retrieve_at)}
        )
        # UpdateFirmware.conf has no status in 1.6: an answer means the charger took it.
        return answer if isinstance(answer, CallFailed) else Status.ACCEPTED

    async def trigger_message(
        self, message: TriggerKind, connector: int | None = None
    ) -> Status | CallFailed:
        payload: dict[str, Any] = {"requestedMessage": message.value}
        if connector is not None:
            payload["connectorId"] = connector
        return await self._status("TriggerMessage", payload)

    async def remote_start(self, id_tag: str, connector: int | None = None) -> Status | CallFailed:
        payload: dict[str, Any] = {"idTag": id_tag}
        if connector is not None:
            payload["connectorId"] = connector
        return await self._status("RemoteStartTransaction", payload)

    async def remote_stop(self, transaction_id: str) -> Status | CallFailed:
        if not transaction_id.isdigit():
            return CallFailed(
                FailureKind.INVALID_RESPONSE,
                "RemoteStopTransaction",
                f"OCPP 1.6 transaction ids are integers, not {transaction_id!r}",
            )
        return await self._status("RemoteStopTransaction", {"transactionId": int(transaction_id)})

    async def unlock_connector(self, connector: int) -> Status | CallFailed:
        return await self._status("UnlockConnector", {"connectorId": connector})

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult | CallFailed:
        payload = data_transfer_request(vendor_id, message_id, data)
        answer = await self.session.call("DataTransfer", payload)
        if isinstance(answer, CallFailed):
            return answer
        return DataTransferResult(Status(answer["status"]), answer.get("data"))
