"""OCPP 2.0.1: the charging station's messages to us, and our commands in OCPP 2.0.1 words.

The sibling of `v16.py`, with the same shape: handlers take the validated payload (a plain
dict, as on the wire) and return the reply payload, and `V201Charger` implements
`commands.ChargerCommands` with 2.0.1 messages, so nothing above the `ocpp` package knows
which version a charger speaks.

Where 2.0.1 differs in kind rather than in spelling:

* Transactions are reported as TransactionEvent Started/Updated/Ended with the station's own
  transaction id. An Updated or Ended for a transaction we do not know (its Started went to
  another central system, or was lost with a database) creates the transaction first, so the
  energy delivered is never dropped.
* Configuration is a device model of components and variables. chargectl names a variable
  `Component.Variable` or `Component[instance].Variable[instance]` (see
  `resources.catalogue.parse_variable_key`). Reading everything is GetBaseReport, whose answer
  comes back as a series of NotifyReport CALLs; `get_configuration()` waits for the last one.
* A 2.0.1 EVSE is what a 1.6 connector id means on the same hardware: `connector` in the
  version-neutral commands is the EVSE id, and commands that need a connector within the EVSE
  use its first one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

import orjson

from controller.fleet.authorization import AuthDecision
from controller.ocpp.central import CentralSystem
from controller.ocpp.session import Handler, Session
from controller.resources.catalogue import (
    OCPP201_VARIABLES,
    Mutability,
    parse_variable_key,
    variable_key,
)
from controller.values.commands import (
    ChargingLimit,
    CompositeSchedule,
    ConfigStatus,
    ConfigurationReport,
    DataTransferResult,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
    limit_amperes,
)
from controller.values.errors import CallFailed, FailureKind
from controller.values.records import (
    ENERGY_REGISTER,
    BootInfo,
    ConnectorStatus,
    MeterSample,
    ReportedKey,
    Transaction,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from controller.values.timestamps import iso, parse_timestamp

log = logging.getLogger("chargectl.ocpp")

GET_VARIABLES_CHUNK: Final = 20
"""Variables per GetVariables request. Stations announce their limit in
DeviceDataCtrlr.ItemsPerMessage[GetVariables]; reading it first would cost a round trip per
connection, and 20 is below what every station seen in the field accepts."""

MAX_ATTRIBUTE_VALUE: Final = 1000
"""SetVariableDataType.attributeValue is string(1000)."""

MAX_TRANSACTION_ID: Final = 36
"""TransactionType.transactionId is identifierString(36)."""

_PURPOSES: Final = {
    LimitPurpose.STATION_MAX: "ChargingStationMaxProfile",
    LimitPurpose.TX_DEFAULT: "TxDefaultProfile",
    LimitPurpose.TX: "TxProfile",
}

_TRIGGERS: Final = {
    TriggerKind.BOOT_NOTIFICATION: "BootNotification",
    TriggerKind.HEARTBEAT: "Heartbeat",
    TriggerKind.STATUS_NOTIFICATION: "StatusNotification",
    TriggerKind.METER_VALUES: "MeterValues",
    TriggerKind.FIRMWARE_STATUS: "FirmwareStatusNotification",
    # 2.0.1 has no diagnostics upload: GetLog's LogStatusNotification took its place.
    TriggerKind.DIAGNOSTICS_STATUS: "LogStatusNotification",
}

_A, _R = Status.ACCEPTED, Status.REJECTED

STATUSES: Final[Mapping[str, Mapping[str, Status]]] = {
    "Reset": {"Accepted": _A, "Rejected": _R, "Scheduled": Status.SCHEDULED},
    "ChangeAvailability": {"Accepted": _A, "Rejected": _R, "Scheduled": Status.SCHEDULED},
    "SetChargingProfile": {"Accepted": _A, "Rejected": _R},
    "GetCompositeSchedule": {"Accepted": _A, "Rejected": _R},
    "ClearChargingProfile": {"Accepted": _A, "Unknown": Status.UNKNOWN},
    "SendLocalList": {
        "Accepted": _A,
        "Failed": Status.FAILED,
        "VersionMismatch": Status.VERSION_MISMATCH,
    },
    "UpdateFirmware": {
        "Accepted": _A,
        "Rejected": _R,
        # Accepted, and an update still in progress was cancelled to make way for it.
        "AcceptedCanceled": _A,
        # The signing certificate of a signed update did not verify: refused.
        "InvalidCertificate": _R,
        "RevokedCertificate": _R,
    },
    "TriggerMessage": {"Accepted": _A, "Rejected": _R, "NotImplemented": Status.NOT_SUPPORTED},
    "RequestStartTransaction": {"Accepted": _A, "Rejected": _R},
    "RequestStopTransaction": {"Accepted": _A, "Rejected": _R},
    "UnlockConnector": {
        "Unlocked": Status.UNLOCKED,
        "UnlockFailed": Status.UNLOCK_FAILED,
        "OngoingAuthorizedTransaction": Status.ONGOING_AUTHORIZED_TRANSACTION,
        "UnknownConnector": Status.UNKNOWN_CONNECTOR,
    },
    "ClearCache": {"Accepted": _A, "Rejected": _R},
    "DataTransfer": {
        "Accepted": _A,
        "Rejected": _R,
        "UnknownMessageId": Status.UNKNOWN_MESSAGE_ID,
        "UnknownVendorId": Status.UNKNOWN_VENDOR_ID,
    },
}
"""Every status each command's response schema allows, in version-neutral words."""

CONFIG_STATUSES: Final[Mapping[str, ConfigStatus]] = {
    "Accepted": ConfigStatus.ACCEPTED,
    "Rejected": ConfigStatus.REJECTED,
    "RebootRequired": ConfigStatus.REBOOT_REQUIRED,
    "UnknownComponent": ConfigStatus.NOT_SUPPORTED,
    "UnknownVariable": ConfigStatus.NOT_SUPPORTED,
    "NotSupportedAttributeType": ConfigStatus.NOT_SUPPORTED,
}
"""SetVariableStatusEnumType → ConfigStatus."""

_UNKNOWN_VARIABLE: Final = frozenset(
    {"UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"}
)

CARD_TOKEN_TYPE: Final = "ISO14443"
"""The IdTokenEnumType of fleet cards: RFID cards, as chargectl's cards are."""

CENTRAL_TOKEN_TYPE: Final = "Central"
"""Identifiers made up centrally: group ids, and remote starts for a tag no card carries."""

_ENERGY_UNITS: Final = {"Wh": Decimal(1), "kWh": Decimal(1000)}

_request_ids = itertools.count(int(time.time()) % 1_000_000_000)
"""requestId (GetBaseReport) and remoteStartId: unique per process, and seeded from the clock
so that a report still on its way from before a restart is not taken for a new one."""


# --- payload pieces ------------------------------------------------------------------------------


def id_token_info(decision: AuthDecision) -> dict[str, Any]:
    """An authorisation decision as IdTokenInfoType."""
    info: dict[str, Any] = {"status": decision.status.value}
    if decision.expires_at is not None:
        info["cacheExpiryDateTime"] = iso(decision.expires_at)
    if decision.parent_id_tag is not None:
        info["groupIdToken"] = {"idToken": decision.parent_id_tag, "type": CENTRAL_TOKEN_TYPE}
    return info


def _component_variable(key: str) -> dict[str, Any]:
    """A variable key → the component and variable of GetVariableData / SetVariableData."""
    component_name, component_instance, variable_name, variable_instance = parse_variable_key(key)
    component: dict[str, Any] = {"name": component_name}
    if component_instance is not None:
        component["instance"] = component_instance
    variable: dict[str, Any] = {"name": variable_name}
    if variable_instance is not None:
        variable["instance"] = variable_instance
    return {"component": component, "variable": variable}


def number_text(value: object) -> str:
    """A JSON number as decimal text, with every digit the parser kept.

    2.0.1 sends sampled values as JSON numbers; the RPC layer parses them into int or float.
    `repr` of a float is the shortest text that reads back as the same float, so nothing is
    lost that the parse had not lost already (trailing zeros: `12.30` arrives as 12.3).
    """
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{value!r} is not a number")


def _scaled(text: str, multiplier: int) -> str:
    """`text` × 10^multiplier, exactly (UnitOfMeasureType.multiplier)."""
    if not multiplier:
        return text
    return format(Decimal(text).scaleb(multiplier), "f")


def meter_samples(
    identity: str,
    connector: int,
    meter_values: Sequence[Mapping[str, Any]],
    transaction_id: int | None,
) -> list[MeterSample]:
    """OCPP 2.0.1 MeterValueType[] → samples; the multiplier is applied to the value text."""
    samples = []
    for meter_value in meter_values:
        at = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampledValue"]:
            unit = sampled.get("unitOfMeasure", {})
            samples.append(
                MeterSample(
                    identity=identity,
                    connector_id=connector,
                    timestamp=at,
                    value=_scaled(number_text(sampled["value"]), unit.get("multiplier", 0)),
                    measurand=sampled.get("measurand", ENERGY_REGISTER),
                    unit=unit.get("unit"),
                    phase=sampled.get("phase"),
                    location=sampled.get("location"),
                    context=sampled.get("context"),
                    transaction_id=transaction_id,
                )
            )
    return samples


@dataclass(frozen=True, slots=True)
class _Reading:
    at: datetime
    wh: int
    context: str | None


def register_readings(meter_values: Sequence[Mapping[str, Any]]) -> list[_Reading]:
    """The energy register readings among the sampled values, in Wh, in the order sent.

    Only whole-station readings at the outlet count (no phase, location Outlet or absent); a
    unit other than Wh or kWh is not an energy register reading and is skipped.
    """
    readings = []
    for meter_value in meter_values:
        at = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampledValue"]:
            if sampled.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER:
                continue
            if "phase" in sampled or sampled.get("location", "Outlet") != "Outlet":
                continue
            unit = sampled.get("unitOfMeasure", {})
            factor = _ENERGY_UNITS.get(unit.get("unit", "Wh"))
            if factor is None:
                continue
            try:
                value = Decimal(number_text(sampled["value"])).scaleb(unit.get("multiplier", 0))
            except (TypeError, InvalidOperation):
                continue
            wh = int((value * factor).to_integral_value(rounding=ROUND_HALF_UP))
            readings.append(_Reading(at, wh, sampled.get("context")))
    return readings


def _first(readings: Iterable[_Reading], context: str | None = None) -> _Reading | None:
    return next((r for r in readings if context is None or r.context == context), None)


def _last(readings: Sequence[_Reading], context: str | None = None) -> _Reading | None:
    return _first(reversed(readings), context)


def _id_tag(token: Mapping[str, Any] | None) -> str | None:
    """The id tag of an IdTokenType; None for none, and for NoAuthorization's empty token."""
    if token is None or not token.get("idToken"):
        return None
    return str(token["idToken"])


# --- the charger -------------------------------------------------------------------------------


@dataclass(slots=True)
class _PendingReport:
    """A GetBaseReport we asked for; NotifyReport parts collect here until tbc is false."""

    done: asyncio.Future[ConfigurationReport]
    last_part: float
    parts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class V201Charger:
    """A connected OCPP 2.0.1 charging station: answers its CALLs, implements `ChargerCommands`."""

    version = "2.0.1"

    def __init__(self, session: Session, central: CentralSystem) -> None:
        self.session = session
        self.central = central
        self.identity = session.identity
        self._reports: dict[int, _PendingReport] = {}
        handlers: dict[str, Handler] = {
            "BootNotification": self._boot_notification,
            "Heartbeat": self._heartbeat,
            "StatusNotification": self._status_notification,
            "Authorize": self._authorize,
            "TransactionEvent": self._transaction_event,
            "MeterValues": self._meter_values,
            "NotifyReport": self._notify_report,
            "DataTransfer": self._data_transfer,
            "FirmwareStatusNotification": self._firmware_status,
            "LogStatusNotification": self._log_status,
            "SecurityEventNotification": self._security_event,
            "NotifyEvent": self._notify_event,
            "NotifyChargingLimit": self._notify_charging_limit,
            "ClearedChargingLimit": self._cleared_charging_limit,
            "ReservationStatusUpdate": self._reservation_status,
        }
        session.handlers = handlers

    # --- the charger's messages ----------------------------------------------------------------

    async def _boot_notification(self, payload: dict[str, Any]) -> dict[str, Any]:
        station = payload["chargingStation"]
        modem = station.get("modem", {})
        boot = BootInfo(
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
            iccid=modem.get("iccid"),
            imsi=modem.get("imsi"),
        )
        reply = await self.central.boot(self.identity, boot)
        return {
            "status": reply.status.value,
            "currentTime": iso(datetime.now(UTC)),
            "interval": reply.interval,
        }

    async def _heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": iso(await self.central.heartbeat(self.identity))}

    async def _status_notification(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.status(
            ConnectorStatus(
                identity=self.identity,
                connector_id=payload["evseId"],
                status=payload["connectorStatus"],
                timestamp=parse_timestamp(payload["timestamp"]),
            )
        )
        return {}

    async def _authorize(self, payload: dict[str, Any]) -> dict[str, Any]:
        decision = self.central.authorize(self.identity, payload["idToken"]["idToken"])
        return {"idTokenInfo": id_token_info(decision)}

    async def _transaction_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        charger_transaction_id: str = payload["transactionInfo"]["transactionId"]
        evse = payload.get("evse")
        evse_id: int | None = evse["id"] if evse is not None else None
        token = payload.get("idToken")
        meter_values = payload.get("meterValue", [])
        readings = register_readings(meter_values)
        event_type = payload["eventType"]
        transaction: Transaction | None
        if event_type == "Started":
            transaction = await self._start(payload, readings, recovered=False)
        else:
            # Ended goes through an update too: it records the EVSE and token the Ended may be
            # the first to name, and tells an unknown transaction apart without a stop event.
            last = _last(readings)
            update = TransactionUpdate(
                identity=self.identity,
                at=parse_timestamp(payload["timestamp"]),
                charger_transaction_id=charger_transaction_id,
                id_tag=_id_tag(token),
                meter_wh=last.wh if last is not None else None,
                connector_id=evse_id,
            )
            transaction = await self.central.update_transaction(update)
            if transaction is None:
                transaction = await self._start(payload, readings, recovered=True)
                if event_type == "Updated":
                    # The store takes the first reading of a transaction without a start
                    # reading as its start. An Ended's reading is where it stopped: not that.
                    transaction = await self.central.update_transaction(update) or transaction
            if event_type == "Ended":
                end = _last(readings, "Transaction.End") or last
                stopped = await self.central.stop_transaction(
                    TransactionStop(
                        identity=self.identity,
                        stopped_at=update.at,
                        charger_transaction_id=charger_transaction_id,
                        meter_stop_wh=end.wh if end is not None else None,
                        # Reason "MAY only be omitted when Reason is Local".
                        reason=payload["transactionInfo"].get("stoppedReason", "Local"),
                        id_tag=_id_tag(token),
                    )
                )
                transaction = stopped or transaction
        if meter_values and transaction is not None:
            await self.central.meter_values(
                meter_samples(
                    self.identity,
                    evse_id if evse_id is not None else transaction.connector_id,
                    meter_values,
                    transaction.id,
                )
            )
        if token is None:
            return {}
        return {
            "idTokenInfo": id_token_info(self.central.authorize(self.identity, token["idToken"]))
        }

    async def _start(
        self, payload: dict[str, Any], readings: Sequence[_Reading], *, recovered: bool
    ) -> Transaction:
        """Record the transaction a TransactionEvent belongs to.

        Without an EVSE (a Started on authorisation, before the cable is in) the connector is
        0 until an Updated names the EVSE. A transaction recovered from an Updated or Ended
        starts at its Transaction.Begin reading if the event carries one. Otherwise its start
        reading is unknown: after an Updated the store counts from the first reading it gets
        (the energy before is lost), after an Ended its energy stays unknown.
        """
        charger_transaction_id = payload["transactionInfo"]["transactionId"]
        at = parse_timestamp(payload["timestamp"])
        begin = _first(readings, "Transaction.Begin")
        if not recovered:
            begin = begin or _first(readings)
        elif begin is not None:
            at = begin.at
        evse = payload.get("evse")
        transaction = await self.central.start_transaction(
            TransactionStart(
                identity=self.identity,
                connector_id=evse["id"] if evse is not None else 0,
                started_at=at,
                meter_start_wh=begin.wh if begin is not None else None,
                id_tag=_id_tag(payload.get("idToken")),
                charger_transaction_id=charger_transaction_id,
            )
        )
        if recovered:
            await self.central.event(
                self.identity,
                "TransactionRecovered",
                f"transaction {charger_transaction_id} was unknown: recorded from its "
                f"TransactionEvent {payload['eventType']} (seqNo {payload['seqNo']})",
                {"transactionId": charger_transaction_id, "id": transaction.id},
            )
        return transaction

    async def _meter_values(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.meter_values(
            meter_samples(self.identity, payload["evseId"], payload["meterValue"], None)
        )
        return {}

    async def _notify_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        pending = self._reports.get(payload["requestId"])
        if pending is None or pending.done.done():
            log.info(
                "%s: ignored NotifyReport part %s of request %s, which nobody awaits",
                self.identity,
                payload["seqNo"],
                payload["requestId"],
            )
            return {}
        pending.parts[payload["seqNo"]] = payload.get("reportData", [])
        pending.last_part = asyncio.get_running_loop().time()
        if payload.get("tbc", False):
            return {}
        report = ConfigurationReport(
            tuple(
                _reported_keys(
                    item for seq_no in sorted(pending.parts) for item in pending.parts[seq_no]
                )
            )
        )
        await self.central.store.record_configuration(
            self.identity, report.values, datetime.now(UTC)
        )
        pending.done.set_result(report)
        return {}

    async def _data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.reported(
            self.identity,
            "DataTransfer",
            f"data transfer from vendor {payload['vendorId']}",
            {"vendorId": payload["vendorId"], "messageId": payload.get("messageId")},
        )
        return {"status": "UnknownVendorId"}

    async def _firmware_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity,
            "FirmwareStatus",
            f"firmware {status}",
            {"status": status, "requestId": payload.get("requestId")},
        )
        return {}

    async def _log_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity,
            "LogStatus",
            f"log {status}",
            {"status": status, "requestId": payload.get("requestId")},
        )
        return {}

    async def _security_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.reported(
            self.identity,
            "SecurityEvent",
            f"security event {payload['type']}",
            {
                "type": payload["type"],
                "techInfo": payload.get("techInfo"),
                "timestamp": payload["timestamp"],
            },
        )
        return {}

    async def _notify_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Device model events (a connector's Problem, a tripped monitor): one event each."""
        for event in payload["eventData"]:
            key = variable_key(event["component"], event["variable"])
            evse = event["component"].get("evse")
            where = f" on EVSE {evse['id']}" if evse is not None else ""
            cleared = " (cleared)" if event.get("cleared") else ""
            await self.central.reported(
                self.identity,
                "DeviceEvent",
                f"{key}{where} = {event['actualValue']}{cleared}",
                {
                    "variable": key,
                    "evse": evse,
                    "actualValue": event["actualValue"],
                    "trigger": event["trigger"],
                    "eventId": event["eventId"],
                    "timestamp": event["timestamp"],
                    "cleared": event.get("cleared", False),
                    "techCode": event.get("techCode"),
                    "techInfo": event.get("techInfo"),
                    "transactionId": event.get("transactionId"),
                },
            )
        return {}

    async def _notify_charging_limit(self, payload: dict[str, Any]) -> dict[str, Any]:
        limit = payload["chargingLimit"]
        source = limit["chargingLimitSource"]
        await self.central.reported(
            self.identity,
            "ChargingLimit",
            f"charging limit set by {source}",
            {
                "source": source,
                "evseId": payload.get("evseId"),
                "isGridCritical": limit.get("isGridCritical"),
            },
        )
        return {}

    async def _cleared_charging_limit(self, payload: dict[str, Any]) -> dict[str, Any]:
        source = payload["chargingLimitSource"]
        await self.central.reported(
            self.identity,
            "ChargingLimitCleared",
            f"charging limit of {source} cleared",
            {"source": source, "evseId": payload.get("evseId")},
        )
        return {}

    async def _reservation_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["reservationUpdateStatus"]
        await self.central.reported(
            self.identity,
            "ReservationStatus",
            f"reservation {payload['reservationId']} {status}",
            {"reservationId": payload["reservationId"], "status": status},
        )
        return {}

    # --- our commands --------------------------------------------------------------------------

    async def _status(self, action: str, payload: dict[str, Any]) -> Status | CallFailed:
        answer = await self.session.call(action, payload)
        if isinstance(answer, CallFailed):
            return answer
        return self._as_status(action, answer)

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
                _component_variable(key)
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
                        {**_component_variable(key), "attributeType": "Actual"} for key in chunk
                    ]
                },
            )
            if isinstance(answer, CallFailed):
                return answer
            for result in answer["getVariableResult"]:
                reported = variable_key(result["component"], result["variable"])
                key = requested.get(reported.casefold(), reported)
                status = result["attributeStatus"]
                if status in _UNKNOWN_VARIABLE:
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
        pending = _PendingReport(loop.create_future(), loop.time())
        # Registered before the call: stations may send the first part before the response.
        self._reports[request_id] = pending
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
            del self._reports[request_id]

    async def _await_report(self, pending: _PendingReport) -> ConfigurationReport | CallFailed:
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
            target = _component_variable(key)
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
        # K01.FR.41: Absolute and Recurring profiles SHALL have a startSchedule. Without one
        # the limit holds from now on; a daily one repeats from midnight UTC.
        starts_at = limit.starts_at
        if starts_at is None:
            now = datetime.now(UTC)
            starts_at = (
                now.replace(hour=0, minute=0, second=0, microsecond=0)
                if limit.recurring_daily
                else now
            )
        schedule: dict[str, Any] = {
            "id": limit.profile_id,
            "chargingRateUnit": "A",
            "startSchedule": iso(starts_at),
            "chargingSchedulePeriod": [
                {
                    "startPeriod": period.start_seconds,
                    "limit": limit_amperes(period.amperes),
                    **({"numberPhases": period.phases} if period.phases else {}),
                }
                for period in limit.periods
            ],
        }
        profile: dict[str, Any] = {
            "id": limit.profile_id,
            "stackLevel": limit.stack_level,
            "chargingProfilePurpose": _PURPOSES[limit.purpose],
            "chargingProfileKind": "Recurring" if limit.recurring_daily else "Absolute",
            "chargingSchedule": [schedule],
        }
        if limit.recurring_daily:
            profile["recurrencyKind"] = "Daily"
        if limit.transaction_id is not None:
            profile["transactionId"] = await self._charger_transaction_id(limit.transaction_id)
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
            criteria["chargingProfilePurpose"] = _PURPOSES[purpose]
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
        items = []
        for entry in entries:
            item: dict[str, Any] = {"idToken": {"idToken": entry.id_tag, "type": CARD_TOKEN_TYPE}}
            if entry.status is not None:
                info: dict[str, Any] = {"status": entry.status.value}
                if entry.expires_at is not None:
                    info["cacheExpiryDateTime"] = iso(entry.expires_at)
                if entry.parent_id_tag is not None:
                    info["groupIdToken"] = {
                        "idToken": entry.parent_id_tag,
                        "type": CENTRAL_TOKEN_TYPE,
                    }
                item["idTokenInfo"] = info
            items.append(item)
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
        payload: dict[str, Any] = {"requestedMessage": _TRIGGERS[message]}
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

    async def clear_cache(self) -> Status | CallFailed:
        return await self._status("ClearCache", {})

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult | CallFailed:
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
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


def _reported_keys(report_data: Iterable[Mapping[str, Any]]) -> list[ReportedKey]:
    """NotifyReport reportData → one ReportedKey per station-level variable with an Actual value.

    Variables of EVSE or connector components (`component.evse`) have no name in chargectl's
    `Component.Variable` keys and are left out, as are variables without an Actual attribute.
    Mutability defaults to ReadWrite, as the schema says.
    """
    values: dict[str, ReportedKey] = {}
    for item in report_data:
        component = item["component"]
        if "evse" in component:
            continue
        actual = next(
            (a for a in item["variableAttribute"] if a.get("type", "Actual") == "Actual"), None
        )
        if actual is None:
            continue
        key = variable_key(component, item["variable"])
        readonly = actual.get("mutability", "ReadWrite") == "ReadOnly"
        values.setdefault(key, ReportedKey(key, actual.get("value"), readonly))
    return list(values.values())
