"""OCPP 2.0.1: the central system's CALLs, `ChargerCommands` in OCPP 2.0.1 words.

One method per version-neutral command: build the request (`conversions`), send it on the
session (one at a time, as OCPP-J allows), and read the answer back into values. Where 2.0.1
differs in kind rather than in spelling:

* Configuration is a device model of components and variables. chargectl names a variable
  `Component.Variable` or `Component[instance].Variable[instance]` (see
  `resources.catalogue.parse_variable_key`). Reading everything is GetBaseReport, whose answer
  comes back as a series of NotifyReport CALLs (see `handlers`); `get_configuration()` waits
  for the last one.
* A 2.0.1 EVSE is what a 1.6 connector id means on the same hardware: `connector` in the
  version-neutral commands is the EVSE id, and commands that need a connector within the EVSE
  use its first one.
* Transactions are named by the station's own id; commands given chargectl's id look it up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import orjson

from controller.ocpp.central import CentralSystem
from controller.ocpp.common import CommonCommands, data_transfer_request
from controller.ocpp.session import Session
from controller.ocpp.v201.conversions import (
    CARD_TOKEN_TYPE,
    CENTRAL_TOKEN_TYPE,
    CONFIG_STATUSES,
    PURPOSES,
    STATUSES,
    TRIGGERS,
    UNKNOWN_VARIABLE,
    charging_profile,
    component_variable,
    local_authorization_list,
)
from controller.ocpp.v201.handlers import PendingReport, Reports
from controller.resources.catalogue import OCPP201_VARIABLES, Mutability, variable_key
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
from controller.values.records import ReportedKey
from controller.values.timestamps import iso

log = logging.getLogger("chargectl.ocpp")

GET_VARIABLES_CHUNK: Final = 20
"""Variables per GetVariables request. Stations announce their limit in
DeviceDataCtrlr.ItemsPerMessage[GetVariables]; reading it first would cost a round trip per
connection, and 20 is below what every station seen in the field accepts."""

MAX_ATTRIBUTE_VALUE: Final = 1000
"""SetVariableDataType.attributeValue is string(1000)."""

MAX_TRANSACTION_ID: Final = 36
"""TransactionType.transactionId is identifierString(36)."""

_request_ids = itertools.count(int(time.time()) % 1_000_000_000)
"""requestId (GetBaseReport) and remoteStartId: unique per process, and seeded from the clock
so that a report still on its way from before a restart is not taken for a new one."""


class V201Commands(CommonCommands):
    """`ChargerCommands` over the session of a connected OCPP 2.0.1 charging station."""

    version = "2.0.1"

    def __init__(self, session: Session, central: CentralSystem, reports: Reports) -> None:
        super().__init__(session, central)
        self.reports = reports

    def _as_status(self, action: str, answer: Mapping[str, Any]) -> Status | CallFailed:
        value = answer.get("status")
        status = STATUSES[action].get(str(value))
        if status is None:
            return CallFailed(FailureKind.INVALID_RESPONSE, action, f"unexpected status {value!r}")
        info = answer.get("statusInfo")
        if info is not None and status not in (Status.ACCEPTED, Status.UNLOCKED):
            log.info(
                "%s: %s %s: %s %s",
                self.identity,
                action,
                value,
                info.get("reasonCode"),
                info.get("additionalInfo", ""),
            )
        return status

    async def get_configuration(self, keys: Sequence[str] = ()) -> ConfigurationReport | CallFailed:
        if not keys:
            return await self._base_report()
        unknown: list[str] = []
        requested: dict[str, str] = {}
        for key in keys:
            try:
                component_variable(key)
            except ValueError:
                unknown.append(key)
            else:
                requested.setdefault(key.casefold(), key)
        values: list[ReportedKey] = []
        wanted = list(requested.values())
        for start in range(0, len(wanted), GET_VARIABLES_CHUNK):
            chunk = wanted[start : start + GET_VARIABLES_CHUNK]
            answer = await self.session.call(
                "GetVariables",
                {
                    "getVariableData": [
                        {**component_variable(key), "attributeType": "Actual"} for key in chunk
                    ]
                },
            )
            if isinstance(answer, CallFailed):
                return answer
            for result in answer["getVariableResult"]:
                reported = variable_key(result["component"], result["variable"])
                key = requested.get(reported.casefold(), reported)
                status = result["attributeStatus"]
                if status in UNKNOWN_VARIABLE:
                    unknown.append(key)
                    continue
                # Rejected: the station keeps the value to itself (WriteOnly, e.g. a password).
                value = result.get("attributeValue") if status == "Accepted" else None
                spec = OCPP201_VARIABLES.get(key)
                readonly = spec is not None and spec.mutability is Mutability.READ_ONLY
                values.append(ReportedKey(key, value, readonly))
        return ConfigurationReport(tuple(values), tuple(unknown))

    async def _base_report(self) -> ConfigurationReport | CallFailed:
        loop = asyncio.get_running_loop()
        request_id = next(_request_ids)
        pending = PendingReport(loop.create_future(), loop.time())
        # Registered before the call: stations may send the first part before the response.
        self.reports[request_id] = pending
        try:
            answer = await self.session.call(
                "GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"}
            )
            if isinstance(answer, CallFailed):
                return answer
            status = answer["status"]
            if status == "EmptyResultSet":
                return ConfigurationReport(())
            if status != "Accepted":
                return CallFailed(
                    FailureKind.INVALID_RESPONSE, "GetBaseReport", f"the station answered {status}"
                )
            pending.last_part = max(pending.last_part, loop.time())
            return await self._await_report(pending)
        finally:
            del self.reports[request_id]

    async def _await_report(self, pending: PendingReport) -> ConfigurationReport | CallFailed:
        """The complete report; times out when no part came for the session's call timeout."""
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[Any] = asyncio.ensure_future(self.session.closed.wait())
        try:
            while True:
                remaining = pending.last_part + self.session.call_timeout - loop.time()
                if remaining <= 0:
                    return CallFailed(
                        FailureKind.TIMEOUT,
                        "NotifyReport",
                        f"the report was not complete after {len(pending.parts)} parts: no part "
                        f"for {self.session.call_timeout}s",
                    )
                waiting: list[asyncio.Future[Any]] = [pending.done, closed]
                await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if pending.done.done():
                    return pending.done.result()
                if closed.done():
                    return CallFailed(
                        FailureKind.DISCONNECTED, "NotifyReport", "connection closed mid-report"
                    )
        finally:
            closed.cancel()

    async def change_configuration(self, key: str, value: str) -> ConfigStatus | CallFailed:
        try:
            target = component_variable(key)
        except ValueError:
            return ConfigStatus.NOT_SUPPORTED
        if len(value) > MAX_ATTRIBUTE_VALUE:
            return ConfigStatus.REJECTED
        answer = await self.session.call(
            "SetVariables",
            {"setVariableData": [{**target, "attributeType": "Actual", "attributeValue": value}]},
        )
        if isinstance(answer, CallFailed):
            return answer
        result = answer["setVariableResult"][0]
        status = result["attributeStatus"]
        info = result.get("attributeStatusInfo")
        if info is not None and status != "Accepted":
            log.info("%s: SetVariables %s %s: %s", self.identity, key, status, info["reasonCode"])
        return CONFIG_STATUSES.get(status, ConfigStatus.REJECTED)

    async def reset(self, hard: bool) -> Status | CallFailed:
        return await self._status("Reset", {"type": "Immediate" if hard else "OnIdle"})

    async def change_availability(self, connector: int, operative: bool) -> Status | CallFailed:
        payload: dict[str, Any] = {"operationalStatus": "Operative" if operative else "Inoperative"}
        if connector != 0:
            payload["evse"] = {"id": connector}
        return await self._status("ChangeAvailability", payload)

    async def set_charging_profile(self, limit: ChargingLimit) -> Status | CallFailed:
        transaction_id = (
            await self._charger_transaction_id(limit.transaction_id)
            if limit.transaction_id is not None
            else None
        )
        profile = charging_profile(limit, transaction_id)
        return await self._status(
            "SetChargingProfile", {"evseId": limit.connector, "chargingProfile": profile}
        )

    async def clear_charging_profile(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: LimitPurpose | None = None,
    ) -> Status | CallFailed:
        payload: dict[str, Any] = {}
        if profile_id is not None:
            payload["chargingProfileId"] = profile_id
        criteria: dict[str, Any] = {}
        if connector is not None:
            criteria["evseId"] = connector
        if purpose is not None:
            criteria["chargingProfilePurpose"] = PURPOSES[purpose]
        if criteria:
            payload["chargingProfileCriteria"] = criteria
        return await self._status("ClearChargingProfile", payload)

    async def get_composite_schedule(
        self, connector: int, duration: int
    ) -> CompositeSchedule | CallFailed:
        answer = await self.session.call(
            "GetCompositeSchedule",
            {"evseId": connector, "duration": duration, "chargingRateUnit": "A"},
        )
        if isinstance(answer, CallFailed):
            return answer
        status = self._as_status("GetCompositeSchedule", answer)
        if isinstance(status, CallFailed):
            return status
        if status is not Status.ACCEPTED:
            return CompositeSchedule(status)
        return CompositeSchedule.from_wire(answer.get("schedule"))

    async def send_local_list(
        self, version: int, entries: Sequence[LocalListEntry], full: bool
    ) -> Status | CallFailed:
        items = local_authorization_list(entries)
        payload: dict[str, Any] = {
            "versionNumber": version,
            "updateType": "Full" if full else "Differential",
        }
        if items:  # minItems 1: a Full update without the list empties it
            payload["localAuthorizationList"] = items
        return await self._status("SendLocalList", payload)

    async def get_local_list_version(self) -> int | CallFailed:
        answer = await self.session.call("GetLocalListVersion", {})
        if isinstance(answer, CallFailed):
            return answer
        return int(answer["versionNumber"])

    async def update_firmware(
        self, url: str, retrieve_at: datetime, request_id: int = 1
    ) -> Status | CallFailed:
        return await self._status(
            "UpdateFirmware",
            {
                "requestId": request_id,
                "firmware": {"location": url, "retrieveDateTime": iso(retrieve_at)},
            },
        )

    async def trigger_message(
        self, message: TriggerKind, connector: int | None = None
    ) -> Status | CallFailed:
        payload: dict[str, Any] = {"requestedMessage": TRIGGERS[message]}
        if connector:  # None or 0 (1.6's "the charger itself"): the station, no evse
            evse: dict[str, Any] = {"id": connector}
            if message is TriggerKind.STATUS_NOTIFICATION:
                # F06.FR.12: a StatusNotification trigger without a connector is rejected.
                evse["connectorId"] = 1
            payload["evse"] = evse
        return await self._status("TriggerMessage", payload)

    async def remote_start(self, id_tag: str, connector: int | None = None) -> Status | CallFailed:
        # A card's own token type, so the session matches the card in local lists and caches.
        known = self.central.fleet.card_by_id_tag(id_tag) is not None
        payload: dict[str, Any] = {
            "idToken": {
                "idToken": id_tag,
                "type": CARD_TOKEN_TYPE if known else CENTRAL_TOKEN_TYPE,
            },
            "remoteStartId": next(_request_ids),
        }
        if connector is not None:
            payload["evseId"] = connector
        return await self._status("RequestStartTransaction", payload)

    async def remote_stop(self, transaction_id: str) -> Status | CallFailed:
        charger_transaction_id = await self._charger_transaction_id(transaction_id)
        if len(charger_transaction_id) > MAX_TRANSACTION_ID:
            return CallFailed(
                FailureKind.INVALID_RESPONSE,
                "RequestStopTransaction",
                f"OCPP 2.0.1 transaction ids have at most 36 characters: {transaction_id!r}",
            )
        return await self._status(
            "RequestStopTransaction", {"transactionId": charger_transaction_id}
        )

    async def _charger_transaction_id(self, transaction_id: str) -> str:
        """The station's id of an open transaction given by its id or by ours.

        Callers that know the version-neutral `Transaction` may hand either; the station's own
        id wins when both match different transactions.
        """
        open_transactions = await self.central.open_transactions(self.identity)
        for transaction in open_transactions:
            if transaction.charger_transaction_id == transaction_id:
                return transaction_id
        for transaction in open_transactions:
            if str(transaction.id) == transaction_id and transaction.charger_transaction_id:
                return transaction.charger_transaction_id
        return transaction_id

    async def unlock_connector(self, connector: int) -> Status | CallFailed:
        return await self._status("UnlockConnector", {"evseId": connector, "connectorId": 1})

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult | CallFailed:
        payload = data_transfer_request(vendor_id, message_id, data)
        answer = await self.session.call("DataTransfer", payload)
        if isinstance(answer, CallFailed):
            return answer
        status = self._as_status("DataTransfer", answer)
        if isinstance(status, CallFailed):
            return status
        # 2.0.1 data is any JSON value; a non-string comes back as its JSON text.
        returned = answer.get("data")
        if returned is not None and not isinstance(returned, str):
            returned = orjson.dumps(returned).decode()
        return DataTransferResult(status, returned)
