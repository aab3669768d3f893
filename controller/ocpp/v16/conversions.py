"""OCPP 1.6 wire dicts ↔ chargectl's values, with no I/O: what both directions translate.

Handlers and commands stay short and the mapping of each field has one home, testable without a
session. Payloads are plain dicts as on the wire (validated against the schemas by the
session); building the `ocpp` library's dataclasses for every Heartbeat would cost more than
the rest of the path together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from controller.fleet.authorization import AuthDecision
from controller.ocpp.redaction import MASK, write_only
from controller.resources.settings import OcppVersion
from controller.values.commands import (
    CallFailed,
    ChargingLimit,
    ConfigurationReport,
    FailureKind,
    LimitPurpose,
    LocalListEntry,
    Status,
    limit_amperes,
)
from controller.values.records import (
    ENERGY_REGISTER,
    BootInfo,
    ConnectorStatus,
    MeterSample,
    ReportedKey,
)
from controller.values.timestamps import iso, parse_timestamp

PURPOSES: Final = {
    LimitPurpose.STATION_MAX: "ChargePointMaxProfile",
    LimitPurpose.TX_DEFAULT: "TxDefaultProfile",
    LimitPurpose.TX: "TxProfile",
}
"""ChargingProfilePurposeType of each version-neutral purpose."""


# --- the charger's messages → values -----------------------------------------------------------


def boot_info(payload: Mapping[str, Any]) -> BootInfo:
    """BootNotification.req → BootInfo (the charge box serial when no charge point serial)."""
    return BootInfo(
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


def connector_status(identity: str, payload: Mapping[str, Any]) -> ConnectorStatus:
    """StatusNotification.req → ConnectorStatus; without a timestamp, the time it arrived."""
    timestamp = payload.get("timestamp")
    return ConnectorStatus(
        identity=identity,
        connector_id=payload["connectorId"],
        status=payload["status"],
        timestamp=parse_timestamp(timestamp) if timestamp else datetime.now(UTC),
        error_code=payload["errorCode"],
        info=payload.get("info"),
        vendor_error_code=payload.get("vendorErrorCode"),
    )


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


# --- values → our answers and commands ---------------------------------------------------------


def id_tag_info(decision: AuthDecision) -> dict[str, Any]:
    """An authorisation decision as IdTagInfo."""
    info: dict[str, Any] = {"status": decision.status.value}
    if decision.expires_at is not None:
        info["expiryDate"] = iso(decision.expires_at)
    if decision.parent_id_tag is not None:
        info["parentIdTag"] = decision.parent_id_tag
    return info


def charging_profile(limit: ChargingLimit) -> dict[str, Any]:
    """A limit as the csChargingProfiles of SetChargingProfile.req."""
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
    schedule["startSchedule"] = iso(limit.starts_at or schedule_start(limit))
    profile: dict[str, Any] = {
        "chargingProfileId": limit.profile_id,
        "stackLevel": limit.stack_level,
        "chargingProfilePurpose": PURPOSES[limit.purpose],
        "chargingProfileKind": "Recurring" if limit.recurring_daily else "Absolute",
        "chargingSchedule": schedule,
    }
    if limit.recurring_daily:
        profile["recurrencyKind"] = "Daily"
    if limit.transaction_id is not None:
        profile["transactionId"] = int(limit.transaction_id)
    return profile


def schedule_start(limit: ChargingLimit) -> datetime:
    """Now, or midnight UTC for a daily profile (its periods count from midnight)."""
    now = datetime.now(UTC)
    if limit.recurring_daily:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now


def local_authorization_list(entries: Sequence[LocalListEntry]) -> list[dict[str, Any]]:
    """Entries as SendLocalList.req's localAuthorizationList; no status: remove the entry."""
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
    return items


# --- the charger's answers → values ------------------------------------------------------------


def configuration_report(answer: Mapping[str, Any]) -> ConfigurationReport:
    """GetConfiguration.conf → the keys reported and those the charger does not know."""
    values = tuple(
        ReportedKey(item["key"], item.get("value"), bool(item.get("readonly", False)))
        for item in answer.get("configurationKey", [])
    )
    return ConfigurationReport(values, tuple(answer.get("unknownKey", [])))


def as_status(action: str, value: object) -> Status | CallFailed:
    """A .conf status → Status; one the schema does not allow is an invalid response."""
    if value == "NotImplemented":  # TriggerMessage.conf: the message is not implemented
        return Status.NOT_SUPPORTED
    try:
        return Status(str(value))
    except ValueError:
        return CallFailed(FailureKind.INVALID_RESPONSE, action, f"unexpected status {value!r}")


def redact(action: str, payload: dict[str, Any], response: bool) -> dict[str, Any] | None:
    """ChangeConfiguration of a write-only key (AuthorizationKey), and such a key reported in
    GetConfiguration's answer, with the value masked (`controller.ocpp.redaction`)."""
    if action == "ChangeConfiguration" and not response:
        if write_only(OcppVersion.V16, str(payload.get("key", ""))):
            return {**payload, "value": MASK}
        return None
    if action == "GetConfiguration" and response:
        entries = payload.get("configurationKey") or []
        if not any(_secret_entry(e) for e in entries):
            return None
        masked = [{**e, "value": MASK} if _secret_entry(e) else e for e in entries]
        return {**payload, "configurationKey": masked}
    return None


def _secret_entry(entry: Mapping[str, Any]) -> bool:
    return "value" in entry and write_only(OcppVersion.V16, str(entry.get("key", "")))
