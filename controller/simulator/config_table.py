"""A charger's configuration table: plausible values from the catalogue, real-world quirks.

The same table serves OCPP 1.6 (GetConfiguration / ChangeConfiguration, keys by name) and
2.0.1 (GetVariables / SetVariables / GetBaseReport, keys written `Component.Variable[instance]`
as in fleet files). What a change does is decided here, without any I/O: Accepted, Rejected
(read-only or a value the key cannot take), RebootRequired (kept pending until the next
reboot), NotSupported (a key this charger does not have), or Accepted while the value stays as
it was (a key the charger ignores).

The rules per key are shared by every charger with the same profile and vendor keys; each
charger holds only its values, which keeps ten thousand simulated chargers cheap.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from controller.resources.catalogue import (
    MEASURANDS_16,
    MEASURANDS_201,
    OCPP16_KEYS,
    OCPP201_VARIABLES,
    KeySpec,
    Mutability,
    ValueType,
    VariableSpec,
    format_value,
    parse_value,
)
from controller.simulator.profile import SimProfile

V16 = "1.6"
V201 = "2.0.1"


class Behaviour(StrEnum):
    """What the charger does when asked to change a key."""

    NORMAL = "normal"
    READ_ONLY = "read-only"
    REBOOT_REQUIRED = "reboot-required"
    IGNORED = "ignored"
    REFUSES = "refuses"
    """Reported as writable, yet every change is Rejected (locked by the installer)."""


class ChangeOutcome(StrEnum):
    """The version-neutral answer to a change; each version spells it its own way."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True)
class KeyRule:
    """One key this charger has: its catalogue entry (None for a vendor key) and behaviour."""

    key: str
    spec: KeySpec | VariableSpec | None
    behaviour: Behaviour

    @property
    def write_only(self) -> bool:
        return self.spec is not None and self.spec.mutability is Mutability.WRITE_ONLY

    @property
    def read_only(self) -> bool:
        return self.behaviour is Behaviour.READ_ONLY


@dataclass(frozen=True)
class TableModel:
    """The keys a kind of charger has, in report order, with a case-insensitive index."""

    version: str
    rules: tuple[KeyRule, ...]
    by_lower: Mapping[str, KeyRule]

    def rule(self, key: str) -> KeyRule | None:
        return self.by_lower.get(key.lower())

    def components(self) -> frozenset[str]:
        """2.0.1 component names (lower case) this charger knows."""
        return frozenset(r.key.split(".", 1)[0].split("[", 1)[0].lower() for r in self.rules)


@lru_cache(maxsize=64)
def table_model(version: str, profile: SimProfile, vendor_keys: frozenset[str]) -> TableModel:
    """The rules for one version, profile and set of vendor keys (cached: chargers share it)."""
    catalogue: Iterable[tuple[str, KeySpec | VariableSpec]] = (
        OCPP16_KEYS.items() if version == V16 else OCPP201_VARIABLES.items()
    )
    unsupported = {k.lower() for k in profile.unsupported}
    rules: list[KeyRule] = []
    for key, spec in catalogue:
        if key.lower() in unsupported:
            continue
        rules.append(KeyRule(key, spec, _behaviour(key, spec, profile)))
    known = {r.key.lower() for r in rules}
    for key in sorted(vendor_keys):
        if key.lower() not in known and (("." in key) == (version == V201)):
            rules.append(KeyRule(key, None, _behaviour(key, None, profile)))
    by_lower = {r.key.lower(): r for r in rules}
    return TableModel(version, tuple(rules), by_lower)


def _behaviour(key: str, spec: KeySpec | VariableSpec | None, profile: SimProfile) -> Behaviour:
    lower = key.lower()
    if spec is not None and spec.mutability is Mutability.READ_ONLY:
        return Behaviour.READ_ONLY
    if lower in {k.lower() for k in profile.read_only}:
        return Behaviour.READ_ONLY
    if lower in {k.lower() for k in profile.refused}:
        return Behaviour.REFUSES
    if lower in {k.lower() for k in profile.reboot_required}:
        return Behaviour.REBOOT_REQUIRED
    if lower in {k.lower() for k in profile.ignored}:
        return Behaviour.IGNORED
    return Behaviour.NORMAL


class ConfigTable:
    """One charger's values, and pending values that a reboot applies."""

    __slots__ = ("model", "pending", "values")

    def __init__(self, model: TableModel, values: Mapping[str, str]) -> None:
        self.model = model
        self.values: dict[str, str] = {}
        self.pending: dict[str, str] = {}
        for key, value in values.items():
            rule = model.rule(key)
            if rule is not None:
                self.values[rule.key] = value

    def rule(self, key: str) -> KeyRule | None:
        return self.model.rule(key)

    def get(self, key: str) -> str | None:
        """The value of a key the charger has (write-only keys too: this is not the wire)."""
        rule = self.model.rule(key)
        return None if rule is None else self.values.get(rule.key)

    def integer(self, key: str, default: int) -> int:
        """A numeric key as the charger uses it; a missing or garbled value means `default`."""
        text = self.get(key)
        try:
            return int(text) if text is not None else default
        except ValueError:
            return default

    def boolean(self, key: str, default: bool) -> bool:
        text = self.get(key)
        return default if text is None else text.strip().lower() in ("true", "1")

    def members(self, key: str) -> tuple[str, ...]:
        text = self.get(key) or ""
        return tuple(m.strip() for m in text.split(",") if m.strip())

    def change(self, key: str, value: str) -> ChangeOutcome:
        """Apply a ChangeConfiguration / SetVariables as this charger would."""
        rule = self.model.rule(key)
        if rule is None:
            return ChangeOutcome.NOT_SUPPORTED
        if rule.read_only or rule.behaviour is Behaviour.REFUSES:
            return ChangeOutcome.REJECTED
        if rule.spec is not None:
            try:
                parse_value(rule.spec, value)
            except ValueError:
                return ChangeOutcome.REJECTED
        if rule.behaviour is Behaviour.IGNORED:
            return ChangeOutcome.ACCEPTED
        if rule.behaviour is Behaviour.REBOOT_REQUIRED:
            self.pending[rule.key] = value
            return ChangeOutcome.REBOOT_REQUIRED
        self.values[rule.key] = value
        return ChangeOutcome.ACCEPTED

    def force(self, key: str, value: str) -> None:
        """Set a value from inside the charger (e.g. the heartbeat interval from the boot)."""
        rule = self.model.rule(key)
        if rule is not None:
            self.values[rule.key] = value

    def reboot(self) -> list[str]:
        """Apply the values that were waiting for a reboot; returns their keys."""
        applied = list(self.pending)
        self.values.update(self.pending)
        self.pending.clear()
        return applied


# --- plausible values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the table's read-only values describe: the hardware and its identity."""

    identity: str
    connectors: int
    phases: int
    vendor: str
    model: str
    security_profile: int = 0
    password: str | None = None


_SAMPLED = "Energy.Active.Import.Register,Current.Import,Current.Offered,Power.Active.Import"
_ENERGY = "Energy.Active.Import.Register"

_DEFAULTS_16: dict[str, str] = {
    "AllowOfflineTxForUnknownId": "false",
    "AuthorizationCacheEnabled": "true",
    "AuthorizeRemoteTxRequests": "false",
    "BlinkRepeat": "3",
    "ClockAlignedDataInterval": "900",
    "ConnectionTimeOut": "60",
    "GetConfigurationMaxKeys": "50",
    "HeartbeatInterval": "900",
    "LightIntensity": "100",
    "LocalAuthorizeOffline": "true",
    "LocalPreAuthorize": "false",
    "MaxEnergyOnInvalidId": "0",
    "MeterValuesAlignedData": _ENERGY,
    "MeterValuesAlignedDataMaxLength": "8",
    "MeterValuesSampledData": _SAMPLED,
    "MeterValuesSampledDataMaxLength": "8",
    "MeterValueSampleInterval": "60",
    "MinimumStatusDuration": "0",
    "ResetRetries": "3",
    "StopTransactionOnEVSideDisconnect": "true",
    "StopTransactionOnInvalidId": "true",
    "StopTxnAlignedData": "",
    "StopTxnAlignedDataMaxLength": "8",
    "StopTxnSampledData": _ENERGY,
    "StopTxnSampledDataMaxLength": "8",
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,SmartCharging,RemoteTrigger"
    ),
    "SupportedFeatureProfilesMaxLength": "6",
    "TransactionMessageAttempts": "3",
    "TransactionMessageRetryInterval": "60",
    "UnlockConnectorOnEVSideDisconnect": "true",
    "WebSocketPingInterval": "60",
    "LocalAuthListEnabled": "true",
    "LocalAuthListMaxLength": "1000",
    "SendLocalListMaxLength": "250",
    "ReserveConnectorZeroSupported": "false",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "24",
    "ConnectorSwitch3to1PhaseSupported": "false",
    "MaxChargingProfilesInstalled": "16",
    "SupportedFileTransferProtocols": "FTP,HTTP,HTTPS",
    "AdditionalRootCertificateCheck": "false",
    "CertificateSignedMaxChainSize": "10000",
    "CertificateStoreMaxLength": "10",
    "CpoName": "",
}

_DEFAULTS_201: dict[str, str] = {
    "OCPPCommCtrlr.ActiveNetworkProfile": "0",
    "OCPPCommCtrlr.FileTransferProtocols": "FTP,HTTP,HTTPS",
    "OCPPCommCtrlr.HeartbeatInterval": "900",
    "OCPPCommCtrlr.MessageTimeout[Default]": "30",
    "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]": "60",
    "OCPPCommCtrlr.MessageAttempts[TransactionEvent]": "3",
    "OCPPCommCtrlr.NetworkConfigurationPriority": "0",
    "OCPPCommCtrlr.NetworkProfileConnectionAttempts": "3",
    "OCPPCommCtrlr.OfflineThreshold": "300",
    "OCPPCommCtrlr.PublicKeyWithSignedMeterValue": "Never",
    "OCPPCommCtrlr.QueueAllMessages": "false",
    "OCPPCommCtrlr.ResetRetries": "3",
    "OCPPCommCtrlr.RetryBackOffRandomRange": "10",
    "OCPPCommCtrlr.RetryBackOffRepeatTimes": "5",
    "OCPPCommCtrlr.RetryBackOffWaitMinimum": "5",
    "OCPPCommCtrlr.UnlockOnEVSideDisconnect": "true",
    "OCPPCommCtrlr.WebSocketPingInterval": "60",
    "SampledDataCtrlr.Available": "true",
    "SampledDataCtrlr.Enabled": "true",
    "SampledDataCtrlr.SignReadings": "false",
    "SampledDataCtrlr.TxEndedInterval": "0",
    "SampledDataCtrlr.TxEndedMeasurands": _ENERGY,
    "SampledDataCtrlr.TxStartedMeasurands": _ENERGY,
    "SampledDataCtrlr.TxUpdatedInterval": "60",
    "SampledDataCtrlr.TxUpdatedMeasurands": _SAMPLED,
    "SampledDataCtrlr.RegisterValuesWithoutPhases": "true",
    "AlignedDataCtrlr.Available": "true",
    "AlignedDataCtrlr.Enabled": "true",
    "AlignedDataCtrlr.Interval": "900",
    "AlignedDataCtrlr.Measurands": _ENERGY,
    "AlignedDataCtrlr.SendDuringIdle": "false",
    "AlignedDataCtrlr.SignReadings": "false",
    "AlignedDataCtrlr.TxEndedInterval": "0",
    "AlignedDataCtrlr.TxEndedMeasurands": "",
    "AuthCtrlr.AdditionalInfoItemsPerMessage": "0",
    "AuthCtrlr.AuthorizeRemoteStart": "false",
    "AuthCtrlr.Enabled": "true",
    "AuthCtrlr.LocalAuthorizeOffline": "true",
    "AuthCtrlr.LocalPreAuthorize": "false",
    "AuthCtrlr.MasterPassGroupId": "",
    "AuthCtrlr.OfflineTxForUnknownIdEnabled": "false",
    "AuthCtrlr.DisableRemoteAuthorization": "false",
    "AuthCacheCtrlr.Available": "true",
    "AuthCacheCtrlr.Enabled": "true",
    "AuthCacheCtrlr.LifeTime": "86400",
    "AuthCacheCtrlr.Policy": "LRU",
    "AuthCacheCtrlr.Storage": "0",
    "AuthCacheCtrlr.DisablePostAuthorize": "false",
    "LocalAuthListCtrlr.Available": "true",
    "LocalAuthListCtrlr.BytesPerMessage": "16384",
    "LocalAuthListCtrlr.Enabled": "true",
    "LocalAuthListCtrlr.Entries": "0",
    "LocalAuthListCtrlr.ItemsPerMessage": "250",
    "LocalAuthListCtrlr.Storage": "0",
    "LocalAuthListCtrlr.DisablePostAuthorize": "false",
    "TxCtrlr.EVConnectionTimeOut": "60",
    "TxCtrlr.MaxEnergyOnInvalidId": "0",
    "TxCtrlr.StopTxOnEVSideDisconnect": "true",
    "TxCtrlr.StopTxOnInvalidId": "true",
    "TxCtrlr.TxBeforeAcceptedEnabled": "false",
    "TxCtrlr.TxStartPoint": "Authorized,EVConnected",
    "TxCtrlr.TxStopPoint": "Authorized,EVConnected",
    "SmartChargingCtrlr.ACPhaseSwitchingSupported": "false",
    "SmartChargingCtrlr.Available": "true",
    "SmartChargingCtrlr.Enabled": "true",
    "SmartChargingCtrlr.Entries[ChargingProfiles]": "0",
    "SmartChargingCtrlr.ExternalControlSignalsEnabled": "false",
    "SmartChargingCtrlr.NotifyChargingLimitWithSchedules": "false",
    "SmartChargingCtrlr.PeriodsPerSchedule": "24",
    "SmartChargingCtrlr.Phases3to1": "false",
    "SmartChargingCtrlr.ProfileStackLevel": "8",
    "SmartChargingCtrlr.RateUnit": "A,W",
    "SecurityCtrlr.AdditionalRootCertificateCheck": "false",
    "SecurityCtrlr.CertificateEntries": "0",
    "SecurityCtrlr.CertSigningRepeatTimes": "3",
    "SecurityCtrlr.CertSigningWaitMinimum": "60",
    "SecurityCtrlr.MaxCertificateChainSize": "10000",
    "SecurityCtrlr.OrganizationName": "",
    "ClockCtrlr.DateTime": "",
    "ClockCtrlr.NextTimeOffsetTransitionDateTime": "",
    "ClockCtrlr.NtpServerUri": "pool.ntp.org",
    "ClockCtrlr.NtpSource": "DHCP",
    "ClockCtrlr.TimeAdjustmentReportingThreshold": "20",
    "ClockCtrlr.TimeOffset": "+00:00",
    "ClockCtrlr.TimeSource": "NTP,Heartbeat",
    "ClockCtrlr.TimeZone": "UTC",
    "ReservationCtrlr.Available": "false",
    "ReservationCtrlr.Enabled": "false",
    "ReservationCtrlr.NonEvseSpecific": "false",
    "DeviceDataCtrlr.BytesPerMessage[GetReport]": "65536",
    "DeviceDataCtrlr.ItemsPerMessage[GetReport]": "25",
    "DeviceDataCtrlr.BytesPerMessage[GetVariables]": "65536",
    "DeviceDataCtrlr.ItemsPerMessage[GetVariables]": "50",
    "DeviceDataCtrlr.BytesPerMessage[SetVariables]": "65536",
    "DeviceDataCtrlr.ItemsPerMessage[SetVariables]": "50",
    "DeviceDataCtrlr.ConfigurationValueSize": "1000",
    "DeviceDataCtrlr.ReportingValueSize": "2500",
    "DeviceDataCtrlr.ValueSize": "2500",
    "ChargingStation.AllowNewSessionsPendingFirmwareUpdate": "false",
    "ChargingStation.AvailabilityState": "Available",
    "ChargingStation.Available": "true",
}


def default_values(version: str, facts: Facts) -> dict[str, str]:
    """Plausible values for every catalogue key of `version`, for hardware like `facts`."""
    if version == V16:
        rotation = "RST" if facts.phases == 3 else "NotApplicable"
        values = dict(_DEFAULTS_16)
        values.update(
            {
                "ConnectorPhaseRotation": ",".join(
                    f"{c}.{rotation}" for c in range(facts.connectors + 1)
                ),
                "ConnectorPhaseRotationMaxLength": str(facts.connectors + 1),
                "NumberOfConnectors": str(facts.connectors),
                "AuthorizationKey": facts.password or "",
                "SecurityProfile": str(facts.security_profile),
            }
        )
        return values
    values = dict(_DEFAULTS_201)
    values.update(
        {
            "SecurityCtrlr.BasicAuthPassword": facts.password or "",
            "SecurityCtrlr.Identity": facts.identity,
            "SecurityCtrlr.SecurityProfile": str(max(1, facts.security_profile)),
            "ChargingStation.Model": facts.model,
            "ChargingStation.VendorName": facts.vendor,
            "ChargingStation.SupplyPhases": str(facts.phases),
        }
    )
    return values


def build_table(
    version: str,
    profile: SimProfile,
    facts: Facts,
    declared: Mapping[str, str] | None = None,
    vendor: Mapping[str, str] | None = None,
) -> ConfigTable:
    """A charger's table: plausible defaults, then what the fleet declares (a charger that
    was configured before), then the profile's overrides, then drift, if any."""
    vendor = vendor or {}
    model = table_model(version, profile, frozenset(vendor))
    values = default_values(version, facts)
    values.update(vendor)
    writable_declared: list[str] = []
    for key, value in (declared or {}).items():
        rule = model.rule(key)
        if rule is None or rule.read_only:
            continue
        values[rule.key] = value
        writable_declared.append(rule.key)
    values.update(profile.overrides)
    table = ConfigTable(model, values)
    if profile.drift > 0 and writable_declared:
        drift(table, writable_declared, profile.drift, random.Random(facts.identity))
    return table


def drift(table: ConfigTable, keys: list[str], fraction: float, rng: random.Random) -> list[str]:
    """Move a fraction of `keys` to other plausible values, as a technician with a laptop
    would have; returns the keys that moved."""
    candidates = sorted(keys)
    rng.shuffle(candidates)
    moved: list[str] = []
    for key in candidates[: round(len(candidates) * min(fraction, 1.0))]:
        rule, current = table.rule(key), table.get(key)
        if rule is None or rule.spec is None or current is None:
            continue
        other = other_value(rule.spec, current, rng)
        if other is not None:
            table.values[rule.key] = other
            moved.append(rule.key)
    return moved


def other_value(spec: KeySpec | VariableSpec, current: str, rng: random.Random) -> str | None:
    """A valid value of the key's type that differs from `current`, or None if none is handy."""
    try:
        value = parse_value(spec, current)
    except ValueError:
        return None
    if spec.type is ValueType.BOOLEAN:
        return "false" if value else "true"
    if spec.type is ValueType.INTEGER and isinstance(value, int):
        candidate = value * 2 if value > 0 else 30
        if spec.maximum is not None and candidate > spec.maximum:
            candidate = max(spec.minimum or 0, value // 2)
        return None if candidate == value else str(candidate)
    if spec.choices is not None and spec.type is ValueType.STRING:
        others = sorted(spec.choices - {str(value)})
        return rng.choice(others) if others else None
    if spec.type is ValueType.LIST and isinstance(value, frozenset | tuple):
        members = list(value)
        if len(members) > 1:
            fewer = members[:-1]
            return format_value(spec, tuple(fewer) if spec.ordered else frozenset(fewer))
        pool = spec.choices
        if pool in (MEASURANDS_16, MEASURANDS_201):
            pool = frozenset({"Energy.Active.Import.Register", "Power.Active.Import"})
        extra = sorted((pool or frozenset()) - set(members))
        if not extra:
            return None
        grown = (*members, rng.choice(extra))
        return format_value(spec, grown if spec.ordered else frozenset(grown))
    name = spec.name if isinstance(spec, KeySpec) else spec.key
    if spec.type is ValueType.STRING and name.endswith("TimeZone"):
        return "UTC" if current != "UTC" else "Europe/Amsterdam"
    return None
