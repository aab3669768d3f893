"""OCPP 2.0.1 wire dicts ↔ chargectl's values, with no I/O: what both directions translate.

Handlers and commands stay short and the mapping of each field has one home, testable without a
session: the status tables of every command's answer, device-model keys, id tokens, meter
values (JSON numbers with a power-of-ten multiplier) and energy register readings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from controller.fleet.authorization import AuthDecision
from controller.ocpp.redaction import MASK, write_only
from controller.resources.catalogue import parse_variable_key, variable_key
from controller.resources.settings import OcppVersion
from controller.values.commands import (
    ChargingLimit,
    ConfigStatus,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
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
    LimitPurpose.STATION_MAX: "ChargingStationMaxProfile",
    LimitPurpose.TX_DEFAULT: "TxDefaultProfile",
    LimitPurpose.TX: "TxProfile",
}

TRIGGERS: Final = {
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

UNKNOWN_VARIABLE: Final = frozenset(
    {"UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"}
)

CARD_TOKEN_TYPE: Final = "ISO14443"
"""The IdTokenEnumType of fleet cards: RFID cards, as chargectl's cards are."""

CENTRAL_TOKEN_TYPE: Final = "Central"
"""Identifiers made up centrally: group ids, and remote starts for a tag no card carries."""

_ENERGY_UNITS: Final = {"Wh": Decimal(1), "kWh": Decimal(1000)}


# --- payload pieces ------------------------------------------------------------------------------


def id_token_info(decision: AuthDecision) -> dict[str, Any]:
    """An authorisation decision as IdTokenInfoType."""
    info: dict[str, Any] = {"status": decision.status.value}
    if decision.expires_at is not None:
        info["cacheExpiryDateTime"] = iso(decision.expires_at)
    if decision.parent_id_tag is not None:
        info["groupIdToken"] = {"idToken": decision.parent_id_tag, "type": CENTRAL_TOKEN_TYPE}
    return info


def component_variable(key: str) -> dict[str, Any]:
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
class Reading:
    at: datetime
    wh: int
    context: str | None


def register_readings(meter_values: Sequence[Mapping[str, Any]]) -> list[Reading]:
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
            readings.append(Reading(at, wh, sampled.get("context")))
    return readings


def first_reading(readings: Iterable[Reading], context: str | None = None) -> Reading | None:
    return next((r for r in readings if context is None or r.context == context), None)


def last_reading(readings: Sequence[Reading], context: str | None = None) -> Reading | None:
    return first_reading(reversed(readings), context)


def id_tag_of(token: Mapping[str, Any] | None) -> str | None:
    """The id tag of an IdTokenType; None for none, and for NoAuthorization's empty token."""
    if token is None or not token.get("idToken"):
        return None
    return str(token["idToken"])


def boot_info(payload: Mapping[str, Any]) -> BootInfo:
    """BootNotificationRequest → BootInfo: the station, and its modem if it has one."""
    station = payload["chargingStation"]
    modem = station.get("modem", {})
    return BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
    )


def connector_status(identity: str, payload: Mapping[str, Any]) -> ConnectorStatus:
    """StatusNotificationRequest → ConnectorStatus of the EVSE (a 1.6 connector id)."""
    return ConnectorStatus(
        identity=identity,
        connector_id=payload["evseId"],
        status=payload["connectorStatus"],
        timestamp=parse_timestamp(payload["timestamp"]),
    )


def charging_profile(limit: ChargingLimit, transaction_id: str | None) -> dict[str, Any]:
    """A limit as ChargingProfileType; `transaction_id` is the station's id of a TxProfile's
    transaction."""
    # K01.FR.41: Absolute and Recurring profiles SHALL have a startSchedule. Without one
    # the limit holds from now on; a daily one repeats from midnight UTC.
    starts_at = limit.starts_at
    if starts_at is None:
        now = datetime.now(UTC)
        starts_at = (
            now.replace(hour=0, minute=0, second=0, microsecond=0) if limit.recurring_daily else now
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
        "chargingProfilePurpose": PURPOSES[limit.purpose],
        "chargingProfileKind": "Recurring" if limit.recurring_daily else "Absolute",
        "chargingSchedule": [schedule],
    }
    if limit.recurring_daily:
        profile["recurrencyKind"] = "Daily"
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile


def local_authorization_list(entries: Sequence[LocalListEntry]) -> list[dict[str, Any]]:
    """Entries as AuthorizationData[]: fleet cards are ISO14443 tokens, groups Central ones."""
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
    return items


def reported_keys(report_data: Iterable[Mapping[str, Any]]) -> list[ReportedKey]:
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


_SECRET_LISTS: Final[Mapping[tuple[str, bool], tuple[str, str]]] = {
    ("SetVariables", False): ("setVariableData", "attributeValue"),
    ("GetVariables", True): ("getVariableResult", "attributeValue"),
}
"""Where 2.0.1 messages carry variable values: the list, and each item's value field."""


def redact(action: str, payload: dict[str, Any], response: bool) -> dict[str, Any] | None:
    """SetVariables of a write-only variable (SecurityCtrlr.BasicAuthPassword), and such a
    variable in GetVariables' answer or a NotifyReport, with the value masked
    (`controller.ocpp.redaction`)."""
    if action == "NotifyReport" and not response:
        reports = payload.get("reportData") or []
        if not any(_secret_variable(r) for r in reports):
            return None
        masked_reports = [
            {
                **r,
                "variableAttribute": [
                    {**a, "value": MASK} if "value" in a else a
                    for a in r.get("variableAttribute") or []
                ],
            }
            if _secret_variable(r)
            else r
            for r in reports
        ]
        return {**payload, "reportData": masked_reports}
    where = _SECRET_LISTS.get((action, response))
    if where is None:
        return None
    name, field = where
    items = payload.get(name) or []
    if not any(field in item and _secret_variable(item) for item in items):
        return None
    masked = [
        {**item, field: MASK} if field in item and _secret_variable(item) else item
        for item in items
    ]
    return {**payload, name: masked}


def _secret_variable(item: Mapping[str, Any]) -> bool:
    component, variable = item.get("component"), item.get("variable")
    if not isinstance(component, Mapping) or not isinstance(variable, Mapping):
        return False
    try:
        return write_only(OcppVersion.V201, variable_key(component, variable))
    except KeyError:
        return False
