"""OCPP 1.6J: the charger's messages to us, and our commands in OCPP 1.6 words.

Handlers take the validated payload (a plain dict, as on the wire) and return the reply
payload; building the library's dataclasses for every Heartbeat would cost more than the rest
of the path together. The commands map `commands.ChargerCommands` onto 1.6 messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from controller.fleet.authorization import AuthDecision
from controller.ocpp.central import CentralSystem
from controller.ocpp.session import Handler, Session
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
    TransactionStart,
    TransactionStop,
)
from controller.values.timestamps import iso, parse_timestamp

_PURPOSES = {
    LimitPurpose.STATION_MAX: "ChargePointMaxProfile",
    LimitPurpose.TX_DEFAULT: "TxDefaultProfile",
    LimitPurpose.TX: "TxProfile",
}


def id_tag_info(decision: AuthDecision) -> dict[str, Any]:
    info: dict[str, Any] = {"status": decision.status.value}
    if decision.expires_at is not None:
        info["expiryDate"] = iso(decision.expires_at)
    if decision.parent_id_tag is not None:
        info["parentIdTag"] = decision.parent_id_tag
    return info


def meter_samples(
    identity: str,
    connector: int,
    meter_values: Sequence[dict[str, Any]],
    transaction_id: int | None,
) -> list[MeterSample]:
    """OCPP 1.6 MeterValue[] → samples; a sampledValue without a measurand is the register."""
    samples = []
    for meter_value in meter_values:
        at = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampledValue"]:
            samples.append(
                MeterSample(
                    identity=identity,
                    connector_id=connector,
                    timestamp=at,
                    value=sampled["value"],
                    measurand=sampled.get("measurand", ENERGY_REGISTER),
                    unit=sampled.get("unit"),
                    phase=sampled.get("phase"),
                    location=sampled.get("location"),
                    context=sampled.get("context"),
                    transaction_id=transaction_id,
                )
            )
    return samples


class V16Charger:
    """A connected OCPP 1.6 charger: answers its CALLs, implements `ChargerCommands`."""

    version = "1.6"

    def __init__(self, session: Session, central: CentralSystem) -> None:
        self.session = session
        self.central = central
        self.identity = session.identity
        handlers: dict[str, Handler] = {
            "BootNotification": self._boot_notification,
            "Heartbeat": self._heartbeat,
            "StatusNotification": self._status_notification,
            "Authorize": self._authorize,
            "StartTransaction": self._start_transaction,
            "StopTransaction": self._stop_transaction,
            "MeterValues": self._meter_values,
            "DataTransfer": self._data_transfer,
            "DiagnosticsStatusNotification": self._diagnostics_status,
            "FirmwareStatusNotification": self._firmware_status,
            "SecurityEventNotification": self._security_event,
            "LogStatusNotification": self._log_status,
            "SignedFirmwareStatusNotification": self._firmware_status,
        }
        session.handlers = handlers

    # --- the charger's messages ----------------------------------------------------------------

    async def _boot_notification(self, payload: dict[str, Any]) -> dict[str, Any]:
        boot = BootInfo(
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            serial_number=payload.get("chargePointSerialNumber")
            or payload.get("chargeBoxSerialNumber"),
            firmware_version=payload.get("firmwareVersion"),
            iccid=payload.get("iccid"),
            imsi=payload.get("imsi"),
            meter_type=payload.get("meterType"),
            meter_serial_number=payload.get("meterSerialNumber"),
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
        timestamp = payload.get("timestamp")
        await self.central.status(
            ConnectorStatus(
                identity=self.identity,
                connector_id=payload["connectorId"],
                status=payload["status"],
                timestamp=parse_timestamp(timestamp) if timestamp else datetime.now(UTC),
                error_code=payload["errorCode"],
                info=payload.get("info"),
                vendor_error_code=payload.get("vendorErrorCode"),
            )
        )
        return {}

    async def _authorize(self, payload: dict[str, Any]) -> dict[str, Any]:
        decision = self.central.authorize(self.identity, payload["idTag"])
        return {"idTagInfo": id_tag_info(decision)}

    async def _start_transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        decision = self.central.authorize(self.identity, payload["idTag"])
        # The transaction is recorded (and committed) even when the card is refused: the
        # charger may already be delivering energy (offline start), and will stop on our answer.
        transaction = await self.central.start_transaction(
            TransactionStart(
                identity=self.identity,
                connector_id=payload["connectorId"],
                started_at=parse_timestamp(payload["timestamp"]),
                meter_start_wh=payload["meterStart"],
                id_tag=payload["idTag"],
            )
        )
        return {"transactionId": transaction.id, "idTagInfo": id_tag_info(decision)}

    async def _stop_transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        transaction_id = payload["transactionId"]
        stop = TransactionStop(
            identity=self.identity,
            stopped_at=parse_timestamp(payload["timestamp"]),
            transaction_id=transaction_id,
            meter_stop_wh=payload["meterStop"],
            reason=payload.get("reason", "Local"),
            id_tag=payload.get("idTag"),
        )
        transaction = await self.central.stop_transaction(stop)
        if transaction is not None and payload.get("transactionData"):
            await self.central.meter_values(
                meter_samples(
                    self.identity,
                    transaction.connector_id,
                    payload["transactionData"],
                    transaction.id,
                )
            )
        if "idTag" in payload:
            return {
                "idTagInfo": id_tag_info(self.central.authorize(self.identity, payload["idTag"]))
            }
        return {}

    async def _meter_values(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.meter_values(
            meter_samples(
                self.identity,
                payload["connectorId"],
                payload["meterValue"],
                payload.get("transactionId"),
            )
        )
        return {}

    async def _data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.reported(
            self.identity,
            "DataTransfer",
            f"data transfer from vendor {payload['vendorId']}",
            {"vendorId": payload["vendorId"], "messageId": payload.get("messageId")},
        )
        return {"status": "UnknownVendorId"}

    async def _diagnostics_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity, "DiagnosticsStatus", f"diagnostics {status}", {"status": status}
        )
        return {}

    async def _firmware_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity, "FirmwareStatus", f"firmware {status}", {"status": status}
        )
        return {}

    async def _security_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.reported(
            self.identity,
            "SecurityEvent",
            f"security event {payload['type']}",
            {"type": payload["type"], "techInfo": payload.get("techInfo")},
        )
        return {}

    async def _log_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(self.identity, "LogStatus", f"log {status}", {"status": status})
        return {}

    # --- our commands --------------------------------------------------------------------------

    async def _status(self, action: str, payload: dict[str, Any]) -> Status | CallFailed:
        answer = await self.session.call(action, payload)
        if isinstance(answer, CallFailed):
            return answer
        return _as_status(action, answer.get("status"))

    async def get_configuration(self, keys: Sequence[str] = ()) -> ConfigurationReport | CallFailed:
        answer = await self.session.call("GetConfiguration", {"key": list(keys)} if keys else {})
        if isinstance(answer, CallFailed):
            return answer
        values = tuple(
            ReportedKey(item["key"], item.get("value"), bool(item.get("readonly", False)))
            for item in answer.get("configurationKey", [])
        )
        return ConfigurationReport(values, tuple(answer.get("unknownKey", [])))

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
        schedule: dict[str, Any] = {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {
                    "startPeriod": period.start_seconds,
                    "limit": limit_amperes(period.amperes),
                    **({"numberPhases": period.phases} if period.phases else {}),
                }
                for period in limit.periods
            ],
        }
        # An Absolute profile without startSchedule starts "at the start of charging" in 1.6,
        # so a station maximum or an idle connector's default would not be in force until a
        # session begins, and some chargers refuse it outright: always give the start.
        schedule["startSchedule"] = iso(limit.starts_at or _schedule_start(limit))
        profile: dict[str, Any] = {
            "chargingProfileId": limit.profile_id,
            "stackLevel": limit.stack_level,
            "chargingProfilePurpose": _PURPOSES[limit.purpose],
            "chargingProfileKind": "Recurring" if limit.recurring_daily else "Absolute",
            "chargingSchedule": schedule,
        }
        if limit.recurring_daily:
            profile["recurrencyKind"] = "Daily"
        if limit.transaction_id is not None:
            profile["transactionId"] = int(limit.transaction_id)
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
            payload["chargingProfilePurpose"] = _PURPOSES[purpose]
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
        status = _as_status("GetCompositeSchedule", answer.get("status"))
        if isinstance(status, CallFailed):
            return status
        if status is not Status.ACCEPTED:
            return CompositeSchedule(status)
        return CompositeSchedule.from_wire(answer.get("chargingSchedule"))

    async def send_local_list(
        self, version: int, entries: Sequence[LocalListEntry], full: bool
    ) -> Status | CallFailed:
        items = []
        for entry in entries:
            item: dict[str, Any] = {"idTag": entry.id_tag}
            if entry.status is not None:
                info: dict[str, Any] = {"status": entry.status.value}
                if entry.expires_at is not None:
                    info["expiryDate"] = iso(entry.expires_at)
                if entry.parent_id_tag is not None:
                    info["parentIdTag"] = entry.parent_id_tag
                item["idTagInfo"] = info
            items.append(item)
        return await self._status(
            "SendLocalList",
            {
                "listVersion": version,
                "updateType": "Full" if full else "Differential",
                "localAuthorizationList": items,
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
        return DataTransferResult(Status(answer["status"]), answer.get("data"))


def _schedule_start(limit: ChargingLimit) -> datetime:
    """Now, or midnight UTC for a daily profile (its periods count from midnight)."""
    now = datetime.now(UTC)
    if limit.recurring_daily:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now


def _as_status(action: str, value: object) -> Status | CallFailed:
    if value == "NotImplemented":  # TriggerMessage.conf: the message is not implemented
        return Status.NOT_SUPPORTED
    try:
        return Status(str(value))
    except ValueError:
        return CallFailed(FailureKind.INVALID_RESPONSE, action, f"unexpected status {value!r}")
