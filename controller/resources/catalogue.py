"""The catalogue of standard OCPP configuration keys, and how their values are compared.

chargectl converges chargers towards declared configuration. To do that it must know, for
every standard key, whether it may be written at all, what type its value has and which
spellings of a value mean the same thing: a charger reports `"060"`, `"True"` or
`"Voltage, SoC"` where the fleet file says `60`, `true` or `[SoC, Voltage]`, and none of those
differences may show up as drift. This module is that knowledge, kept as plain data.

Where the data comes from:

* OCPP 1.6 edition 2, section 9 "Standard Configuration Key Names & Values" (9.1 Core,
  9.2 LocalAuthListManagement, 9.3 Reservation, 9.4 SmartCharging): name, required/optional,
  accessibility (R/RW), type and unit of every key. FirmwareManagement has no key in section 9;
  `SupportedFileTransferProtocols` was added by the OCPP 1.6 errata sheet v4.0.
* OCPP 1.6 Security Whitepaper (editions 2 and 3): AdditionalRootCertificateCheck,
  AuthorizationKey (write-only), CertificateSignedMaxChainSize, CertificateStoreMaxLength,
  CpoName and SecurityProfile.
* OCPP 2.0.1 Part 2 Appendices, "Referenced Components and Variables" (the OCA's
  `dm_components_vars.csv`): component, variable, instance, dataType, unit and description.
  2.0.1 leaves most mutabilities to the implementation; the ones here are what the
  appendices and the use cases imply, cross-checked against EVerest libocpp's device model.
* The measurand and phase enumerations of both versions (1.6 Measurand and Phase, 2.0.1
  MeasurandEnumType and PhaseEnumType), which the unit tests check against the `ocpp`
  library's enums and the OCA's JSON schemas it ships. 1.6's measurand keys take a phase
  suffix ("where applicable, the Measurand is combined with the optional phase; for
  instance: Voltage.L1"); 2.0.1's are MemberLists of MeasurandEnumType and take none.

Spec minimum/maximum values are kept where the documents give them. Every integer key also
gets a minimum of 0: the spec states "negative values are not allowed" only for
WebSocketPingInterval, but no standard integer key has a meaning for a negative number.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypeAlias, TypeVar


class ValueType(StrEnum):
    """The value types configuration keys have; LIST is OCPP's comma-separated list (CSL)."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    STRING = "string"
    LIST = "list"


class Members(StrEnum):
    """What each member of a LIST key is (1.6's comma-separated lists, 2.0.1's MemberList and
    SequenceList). The key's `choices` hold the names a member is checked against."""

    CHOICES = "choices"
    """Any text, or one of `choices` when the key has them."""
    MEASURANDS = "measurands"
    """A measurand of `choices`, as the list names it: 2.0.1's measurand variables are
    MemberLists whose valuesList is MeasurandEnumType, without phases (a station reports each
    phase of a measurand it measures; `SampledDataCtrlr.RegisterValuesWithoutPhases` turns
    that off for the energy register)."""
    PHASED_MEASURANDS = "phased measurands"
    """A measurand of `choices`, optionally followed by a phase (`Voltage.L1`): 1.6 says of
    its measurand keys "where applicable, the Measurand is combined with the optional phase"."""
    PHASE_ROTATIONS = "phase rotations"
    """`<connector>.<rotation>` with a rotation of `choices` (1.6 ConnectorPhaseRotation)."""


class MemberError(ValueError):
    """One member of a list value is wrong: `index` says which among the members as given (a
    YAML list's items, or the parts of a comma-separated text), `offset` where that part
    starts in the text (0 for a YAML list)."""

    def __init__(self, message: str, index: int, offset: int = 0) -> None:
        super().__init__(message)
        self.index = index
        self.offset = offset


class Mutability(StrEnum):
    """Who may change a key: 1.6 calls ReadOnly "R", ReadWrite "RW" and WriteOnly "W"."""

    READ_ONLY = "ReadOnly"
    READ_WRITE = "ReadWrite"
    WRITE_ONLY = "WriteOnly"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One OCPP 1.6 configuration key.

    `minimum`/`maximum` bound the number for INTEGER keys and the length in characters for
    STRING keys (only the write-only password has one). A LIST key's `members` say what each
    member is, checked against `choices`: the measurands (with an optional phase suffix, as
    1.6 allows: `Voltage.L1`) for the measurand keys, the rotations for ConnectorPhaseRotation.
    """

    name: str
    profile: str
    type: ValueType
    mutability: Mutability
    required: bool
    description: str
    unit: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: frozenset[str] | None = None
    ordered: bool = False
    max_items_key: str | None = None
    members: Members = Members.CHOICES


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """One OCPP 2.0.1 component variable (OptionList is a STRING with choices, MemberList an
    unordered LIST, SequenceList an ordered LIST, with `members` saying what each member is;
    dateTime and the password/identifier strings are STRINGs)."""

    component: str
    variable: str
    instance: str | None
    type: ValueType
    mutability: Mutability
    description: str
    unit: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: frozenset[str] | None = None
    ordered: bool = False
    members: Members = Members.CHOICES

    @property
    def key(self) -> str:
        """The flat name chargectl uses for this variable in fleet files and messages."""
        base = f"{self.component}.{self.variable}"
        return base if self.instance is None else f"{base}[{self.instance}]"


Value: TypeAlias = bool | int | str | tuple[str, ...] | frozenset[str]
"""A configuration value in canonical form: equal values compare equal with `==`."""

Spec: TypeAlias = KeySpec | VariableSpec

# --- Enumerations used by the tables ---------------------------------------------------------

MEASURANDS_16: Final[frozenset[str]] = frozenset(
    {
        "Current.Export",
        "Current.Import",
        "Current.Offered",
        "Energy.Active.Export.Register",
        "Energy.Active.Import.Register",
        "Energy.Reactive.Export.Register",
        "Energy.Reactive.Import.Register",
        "Energy.Active.Export.Interval",
        "Energy.Active.Import.Interval",
        "Energy.Reactive.Export.Interval",
        "Energy.Reactive.Import.Interval",
        "Frequency",
        "Power.Active.Export",
        "Power.Active.Import",
        "Power.Factor",
        "Power.Offered",
        "Power.Reactive.Export",
        "Power.Reactive.Import",
        "RPM",
        "SoC",
        "Temperature",
        "Voltage",
    }
)
"""OCPP 1.6 Measurand values (section 7.31; the `measurand` enum of the MeterValues.req JSON
schema)."""

MEASURANDS_201: Final[frozenset[str]] = (MEASURANDS_16 - {"RPM", "Temperature"}) | {
    "Energy.Active.Net",
    "Energy.Reactive.Net",
    "Energy.Apparent.Net",
    "Energy.Apparent.Import",
    "Energy.Apparent.Export",
}
"""OCPP 2.0.1 MeasurandEnumType (Part 2 section 3, and the enum of the MeterValuesRequest JSON
schema): 1.6's list without RPM and Temperature, plus net and apparent energies. (Setpoints
such as `Power.Active.Setpoint` came with OCPP 2.1.)"""

PHASES: Final[frozenset[str]] = frozenset(
    {"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"}
)
"""Phase values (1.6 Phase, 2.0.1 PhaseEnumType), allowed as a suffix on measurand list members."""

PHASE_ROTATIONS: Final[frozenset[str]] = frozenset(
    {"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"}
)
"""Rotations a ConnectorPhaseRotation member may report (1.6 section 9.1.7)."""

FEATURE_PROFILES_16: Final[frozenset[str]] = frozenset(
    {
        "Core",
        "FirmwareManagement",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
    }
)
"""Profile identifiers SupportedFeatureProfiles may list (1.6 section 9.1.30)."""

FILE_TRANSFER_PROTOCOLS: Final[frozenset[str]] = frozenset({"FTP", "FTPS", "HTTP", "HTTPS", "SFTP"})

TX_START_POINTS: Final[frozenset[str]] = frozenset(
    {
        "ParkingBayOccupancy",
        "EVConnected",
        "Authorized",
        "DataSigned",
        "PowerPathClosed",
        "EnergyTransfer",
    }
)
"""2.0.1 TxStartPoint values (Part 2 section E, "Flexible transaction start/stop")."""

TX_STOP_POINTS: Final[frozenset[str]] = TX_START_POINTS - {"DataSigned"}

OCPP16_VALUE_MAX_LENGTH: Final = 500
"""ChangeConfiguration.req `value` is a CiString500."""

OCPP201_VALUE_MAX_LENGTH: Final = 1000
"""SetVariableData.attributeValue is a string of at most 1000 characters."""

_S = "seconds"

# --- OCPP 1.6 --------------------------------------------------------------------------------

_B, _I, _T, _L = ValueType.BOOLEAN, ValueType.INTEGER, ValueType.STRING, ValueType.LIST
_R, _RW, _W = Mutability.READ_ONLY, Mutability.READ_WRITE, Mutability.WRITE_ONLY
_M16, _M201 = Members.PHASED_MEASURANDS, Members.MEASURANDS

_CORE, _LOCAL, _RESV, _SMART = "Core", "LocalAuthListManagement", "Reservation", "SmartCharging"
_FW, _SEC = "FirmwareManagement", "Security"

# fmt: off
_KEYS_16: tuple[KeySpec, ...] = (
    # 9.1 Core
    KeySpec("AllowOfflineTxForUnknownId", _CORE, _B, _RW, False,
            "If present, the charger supports Unknown Offline Authorization; true enables it."),
    KeySpec("AuthorizationCacheEnabled", _CORE, _B, _RW, False,
            "If present, the charger has an Authorization Cache; true enables it."),
    KeySpec("AuthorizeRemoteTxRequests", _CORE, _B, _RW, True,
            "Authorize the id tag of a RemoteStartTransaction like a local start. The spec lets "
            "the charger choose R or RW."),
    KeySpec("BlinkRepeat", _CORE, _I, _RW, False,
            "Number of times to blink the charger's lighting when signalling.",
            unit="times", minimum=0),
    KeySpec("ClockAlignedDataInterval", _CORE, _I, _RW, True,
            "Size of the clock-aligned data interval, from midnight; 0 sends no aligned data.",
            unit=_S, minimum=0),
    KeySpec("ConnectionTimeOut", _CORE, _I, _RW, True,
            "Time from Preparing until an incipient transaction is cancelled for want of a "
            "plugged-in cable.", unit=_S, minimum=0),
    KeySpec("ConnectorPhaseRotation", _CORE, _L, _RW, True,
            "Phase rotation per connector relative to its meter, e.g. 0.RST,1.RST,2.RTS.",
            choices=PHASE_ROTATIONS, max_items_key="ConnectorPhaseRotationMaxLength",
            members=Members.PHASE_ROTATIONS),
    KeySpec("ConnectorPhaseRotationMaxLength", _CORE, _I, _R, False,
            "Maximum number of items in ConnectorPhaseRotation.", minimum=0),
    KeySpec("GetConfigurationMaxKeys", _CORE, _I, _R, True,
            "Maximum number of keys requested in one GetConfiguration.req.", minimum=0),
    KeySpec("HeartbeatInterval", _CORE, _I, _RW, True,
            "Interval of inactivity after which the charger sends a Heartbeat.req.",
            unit=_S, minimum=0),
    KeySpec("LightIntensity", _CORE, _I, _RW, False,
            "Percentage of maximum intensity at which to illuminate the charger's lighting.",
            unit="percent", minimum=0, maximum=100),
    KeySpec("LocalAuthorizeOffline", _CORE, _B, _RW, True,
            "When offline, start transactions for locally-authorized identifiers."),
    KeySpec("LocalPreAuthorize", _CORE, _B, _RW, True,
            "When online, start transactions for locally-authorized identifiers without waiting "
            "for Authorize.conf."),
    KeySpec("MaxEnergyOnInvalidId", _CORE, _I, _RW, False,
            "Maximum energy delivered after the Central System invalidates the identifier of a "
            "running transaction.", unit="Wh", minimum=0),
    KeySpec("MeterValuesAlignedData", _CORE, _L, _RW, True,
            "Clock-aligned measurands in MeterValues.req, every ClockAlignedDataInterval.",
            choices=MEASURANDS_16, members=_M16, max_items_key="MeterValuesAlignedDataMaxLength"),
    KeySpec("MeterValuesAlignedDataMaxLength", _CORE, _I, _R, False,
            "Maximum number of items in MeterValuesAlignedData.", minimum=0),
    KeySpec("MeterValuesSampledData", _CORE, _L, _RW, True,
            "Sampled measurands in MeterValues.req, every MeterValueSampleInterval.",
            choices=MEASURANDS_16, members=_M16, max_items_key="MeterValuesSampledDataMaxLength"),
    KeySpec("MeterValuesSampledDataMaxLength", _CORE, _I, _R, False,
            "Maximum number of items in MeterValuesSampledData.", minimum=0),
    KeySpec("MeterValueSampleInterval", _CORE, _I, _RW, True,
            "Interval between samples of metering data during a transaction; 0 sends none.",
            unit=_S, minimum=0),
    KeySpec("MinimumStatusDuration", _CORE, _I, _RW, False,
            "How long a status must be stable before a StatusNotification.req is sent.",
            unit=_S, minimum=0),
    KeySpec("NumberOfConnectors", _CORE, _I, _R, True,
            "Number of physical charging connectors of this charger.", minimum=0),
    KeySpec("ResetRetries", _CORE, _I, _RW, True,
            "Number of times to retry an unsuccessful reset of the charger.",
            unit="times", minimum=0),
    KeySpec("StopTransactionOnEVSideDisconnect", _CORE, _B, _RW, True,
            "Stop the transaction when the cable is unplugged from the EV."),
    KeySpec("StopTransactionOnInvalidId", _CORE, _B, _RW, True,
            "Stop a transaction whose StartTransaction.conf carries a non-Accepted status."),
    KeySpec("StopTxnAlignedData", _CORE, _L, _RW, True,
            "Clock-aligned measurands in the transactionData of StopTransaction.req.",
            choices=MEASURANDS_16, members=_M16, max_items_key="StopTxnAlignedDataMaxLength"),
    KeySpec("StopTxnAlignedDataMaxLength", _CORE, _I, _R, False,
            "Maximum number of items in StopTxnAlignedData.", minimum=0),
    KeySpec("StopTxnSampledData", _CORE, _L, _RW, True,
            "Sampled measurands in the transactionData of StopTransaction.req.",
            choices=MEASURANDS_16, members=_M16, max_items_key="StopTxnSampledDataMaxLength"),
    KeySpec("StopTxnSampledDataMaxLength", _CORE, _I, _R, False,
            "Maximum number of items in StopTxnSampledData.", minimum=0),
    KeySpec("SupportedFeatureProfiles", _CORE, _L, _R, True,
            "Feature profiles the charger supports.",
            choices=FEATURE_PROFILES_16, max_items_key="SupportedFeatureProfilesMaxLength"),
    KeySpec("SupportedFeatureProfilesMaxLength", _CORE, _I, _R, False,
            "Maximum number of items in SupportedFeatureProfiles.", minimum=0),
    KeySpec("TransactionMessageAttempts", _CORE, _I, _RW, True,
            "How often to try to submit a transaction-related message the Central System "
            "failed to process.", unit="times", minimum=0),
    KeySpec("TransactionMessageRetryInterval", _CORE, _I, _RW, True,
            "How long to wait before resubmitting a failed transaction-related message.",
            unit=_S, minimum=0),
    KeySpec("UnlockConnectorOnEVSideDisconnect", _CORE, _B, _RW, True,
            "Unlock the cable on the charger side when it is unplugged at the EV."),
    KeySpec("WebSocketPingInterval", _CORE, _I, _RW, False,
            "Seconds between websocket pings from the charger; 0 disables them.",
            unit=_S, minimum=0),
    # 9.2 Local Auth List Management
    KeySpec("LocalAuthListEnabled", _LOCAL, _B, _RW, True,
            "Whether the Local Authorization List is enabled."),
    KeySpec("LocalAuthListMaxLength", _LOCAL, _I, _R, True,
            "Maximum number of identifications the Local Authorization List can store.",
            minimum=0),
    KeySpec("SendLocalListMaxLength", _LOCAL, _I, _R, True,
            "Maximum number of identifications in a single SendLocalList.req.", minimum=0),
    # 9.3 Reservation
    KeySpec("ReserveConnectorZeroSupported", _RESV, _B, _R, False,
            "If present and true, the charger supports reservations on connector 0."),
    # 9.4 Smart Charging
    KeySpec("ChargeProfileMaxStackLevel", _SMART, _I, _R, True,
            "Maximum stackLevel of a ChargingProfile.", minimum=0),
    KeySpec("ChargingScheduleAllowedChargingRateUnit", _SMART, _L, _R, True,
            "Quantities a ChargingSchedule may use.", choices=frozenset({"Current", "Power"})),
    KeySpec("ChargingScheduleMaxPeriods", _SMART, _I, _R, True,
            "Maximum number of periods in one ChargingSchedule.", minimum=0),
    KeySpec("ConnectorSwitch3to1PhaseSupported", _SMART, _B, _R, False,
            "If present and true, the charger can switch from 3 to 1 phase during a "
            "transaction."),
    KeySpec("MaxChargingProfilesInstalled", _SMART, _I, _R, True,
            "Maximum number of charging profiles installed at a time.", minimum=0),
    # Firmware Management (OCPP 1.6 errata sheet v4.0)
    KeySpec("SupportedFileTransferProtocols", _FW, _L, _R, False,
            "File transfer protocols the charger supports for firmware and diagnostics.",
            choices=FILE_TRANSFER_PROTOCOLS),
    # Security Whitepaper
    KeySpec("AdditionalRootCertificateCheck", _SEC, _B, _R, False,
            "Allow one CentralSystemRootCertificate at a time, each replacement signed by its "
            "predecessor."),
    KeySpec("AuthorizationKey", _SEC, _T, _W, False,
            "HTTP Basic Authentication password; write-only so it is never read back.",
            unit="characters", minimum=16, maximum=40),
    KeySpec("CertificateSignedMaxChainSize", _SEC, _I, _R, False,
            "Maximum size of the certificateChain field of CertificateSigned.req.",
            unit="characters", minimum=0, maximum=10000),
    KeySpec("CertificateStoreMaxLength", _SEC, _I, _R, False,
            "Maximum number of Root/CA certificates the charger can hold.", minimum=0),
    KeySpec("CpoName", _SEC, _T, _RW, False,
            "CPO name (or an organisation trusted by the CPO) used in the charger's certificate "
            "signing requests."),
    KeySpec("SecurityProfile", _SEC, _I, _RW, False,
            "Security profile in use; may only be raised, never lowered.",
            minimum=0, maximum=3),
)

# --- OCPP 2.0.1 ------------------------------------------------------------------------------

_COMM, _SAMPLED, _ALIGNED = "OCPPCommCtrlr", "SampledDataCtrlr", "AlignedDataCtrlr"
_AUTH, _CACHE, _LAL, _TX = "AuthCtrlr", "AuthCacheCtrlr", "LocalAuthListCtrlr", "TxCtrlr"
_SC, _SECC, _CLOCK, _RES = "SmartChargingCtrlr", "SecurityCtrlr", "ClockCtrlr", "ReservationCtrlr"
_DD, _CS = "DeviceDataCtrlr", "ChargingStation"
_TE = "TransactionEvent"

_VARIABLES_201: tuple[VariableSpec, ...] = (
    # OCPPCommCtrlr
    VariableSpec(_COMM, "ActiveNetworkProfile", None, _T, _R,
                 "Network connection profile the station is using right now."),
    VariableSpec(_COMM, "FileTransferProtocols", None, _L, _R,
                 "Supported file transfer protocols.", choices=FILE_TRANSFER_PROTOCOLS),
    VariableSpec(_COMM, "HeartbeatInterval", None, _I, _RW,
                 "Interval of inactivity after which the station sends a HeartbeatRequest.",
                 unit=_S, minimum=0),
    VariableSpec(_COMM, "MessageTimeout", "Default", _I, _R,
                 "Time after which a message times out; set by the network connection profile.",
                 unit=_S, minimum=0),
    VariableSpec(_COMM, "MessageAttemptInterval", _TE, _I, _RW,
                 "How long to wait before resubmitting a TransactionEventRequest the CSMS failed "
                 "to process.", unit=_S, minimum=0),
    VariableSpec(_COMM, "MessageAttempts", _TE, _I, _RW,
                 "How often to try to submit a TransactionEventRequest the CSMS fails to process.",
                 unit="times", minimum=0),
    VariableSpec(_COMM, "NetworkConfigurationPriority", None, _L, _RW,
                 "Network connection profile slots, in order of priority.", ordered=True),
    VariableSpec(_COMM, "NetworkProfileConnectionAttempts", None, _I, _RW,
                 "Connection attempts before switching to another network profile.",
                 unit="times", minimum=0),
    VariableSpec(_COMM, "OfflineThreshold", None, _I, _RW,
                 "Offline period after which all connector statuses are resent on reconnect.",
                 unit=_S, minimum=0),
    VariableSpec(_COMM, "PublicKeyWithSignedMeterValue", None, _T, _RW,
                 "When the public key is sent with signed meter values.",
                 choices=frozenset({"Never", "OncePerTransaction", "EveryMeterValue"})),
    VariableSpec(_COMM, "QueueAllMessages", None, _B, _RW,
                 "Queue every message while offline until it is delivered."),
    VariableSpec(_COMM, "ResetRetries", None, _I, _RW,
                 "Number of times to retry an unsuccessful reset.", unit="times", minimum=0),
    VariableSpec(_COMM, "RetryBackOffRandomRange", None, _I, _RW,
                 "Maximum random part of the reconnection back-off time.", unit=_S, minimum=0),
    VariableSpec(_COMM, "RetryBackOffRepeatTimes", None, _I, _RW,
                 "How often the reconnection back-off time is doubled.", unit="times", minimum=0),
    VariableSpec(_COMM, "RetryBackOffWaitMinimum", None, _I, _RW,
                 "Back-off time before the first reconnection attempt.", unit=_S, minimum=0),
    VariableSpec(_COMM, "UnlockOnEVSideDisconnect", None, _B, _RW,
                 "Unlock the cable on the station side when it is unplugged at the EV."),
    VariableSpec(_COMM, "WebSocketPingInterval", None, _I, _RW,
                 "Seconds between websocket pings from the station; 0 disables them.",
                 unit=_S, minimum=0),
    # SampledDataCtrlr
    VariableSpec(_SAMPLED, "Available", None, _B, _R, "Whether sampled data is supported."),
    VariableSpec(_SAMPLED, "Enabled", None, _B, _RW, "Whether sampled data is enabled."),
    VariableSpec(_SAMPLED, "SignReadings", None, _B, _RW,
                 "Include signed meter values in TransactionEventRequest."),
    VariableSpec(_SAMPLED, "TxEndedInterval", None, _I, _RW,
                 "Sampling interval for the meter values of TransactionEventRequest "
                 "(eventType = Ended).", unit=_S, minimum=0),
    VariableSpec(_SAMPLED, "TxEndedMeasurands", None, _L, _RW,
                 "Sampled measurands in TransactionEventRequest (eventType = Ended).",
                 choices=MEASURANDS_201, members=_M201),
    VariableSpec(_SAMPLED, "TxStartedMeasurands", None, _L, _RW,
                 "Measurands taken at the start of a transaction (eventType = Started).",
                 choices=MEASURANDS_201, members=_M201),
    VariableSpec(_SAMPLED, "TxUpdatedInterval", None, _I, _RW,
                 "Interval between sampled meter values in TransactionEventRequest "
                 "(eventType = Updated).", unit=_S, minimum=0),
    VariableSpec(_SAMPLED, "TxUpdatedMeasurands", None, _L, _RW,
                 "Sampled measurands in TransactionEventRequest (eventType = Updated).",
                 choices=MEASURANDS_201, members=_M201),
    VariableSpec(_SAMPLED, "RegisterValuesWithoutPhases", None, _B, _RW,
                 "Report Energy.Active.Import.Register as a total only, without phase values."),
    # AlignedDataCtrlr
    VariableSpec(_ALIGNED, "Available", None, _B, _R, "Whether clock-aligned data is supported."),
    VariableSpec(_ALIGNED, "Enabled", None, _B, _RW, "Whether clock-aligned data is enabled."),
    VariableSpec(_ALIGNED, "Interval", None, _I, _RW,
                 "Size of the clock-aligned data interval for MeterValuesRequest; 0 sends none.",
                 unit=_S, minimum=0),
    VariableSpec(_ALIGNED, "Measurands", None, _L, _RW,
                 "Clock-aligned measurands in MeterValuesRequest.", choices=MEASURANDS_201,
                 members=_M201),
    VariableSpec(_ALIGNED, "SendDuringIdle", None, _B, _RW,
                 "Send clock-aligned meter values only while no transaction is ongoing."),
    VariableSpec(_ALIGNED, "SignReadings", None, _B, _RW,
                 "Include signed meter values in MeterValuesRequest."),
    VariableSpec(_ALIGNED, "TxEndedInterval", None, _I, _RW,
                 "Clock-aligned interval for the meter values of TransactionEventRequest "
                 "(eventType = Ended).", unit=_S, minimum=0),
    VariableSpec(_ALIGNED, "TxEndedMeasurands", None, _L, _RW,
                 "Clock-aligned measurands in TransactionEventRequest (eventType = Ended).",
                 choices=MEASURANDS_201, members=_M201),
    # AuthCtrlr
    VariableSpec(_AUTH, "AdditionalInfoItemsPerMessage", None, _I, _R,
                 "Maximum number of AdditionalInfo items in one message.", minimum=0),
    VariableSpec(_AUTH, "AuthorizeRemoteStart", None, _B, _RW,
                 "Authorize the idToken of a RequestStartTransactionRequest like a local start."),
    VariableSpec(_AUTH, "Enabled", None, _B, _RW,
                 "If false, no authorization is done before starting a transaction."),
    VariableSpec(_AUTH, "LocalAuthorizeOffline", None, _B, _RW,
                 "When offline, start transactions for locally-authorized identifiers."),
    VariableSpec(_AUTH, "LocalPreAuthorize", None, _B, _RW,
                 "When online, start transactions for locally-authorized identifiers without "
                 "waiting for an AuthorizeResponse."),
    VariableSpec(_AUTH, "MasterPassGroupId", None, _T, _RW,
                 "groupId of the Master Pass tokens, which may stop but not start transactions."),
    VariableSpec(_AUTH, "OfflineTxForUnknownIdEnabled", None, _B, _RW,
                 "Allow transactions for unknown identifiers while offline."),
    VariableSpec(_AUTH, "DisableRemoteAuthorization", None, _B, _RW,
                 "Authorize from the cache and local list only, never with an AuthorizeRequest."),
    # AuthCacheCtrlr
    VariableSpec(_CACHE, "Available", None, _B, _R, "Whether an authorization cache exists."),
    VariableSpec(_CACHE, "Enabled", None, _B, _RW, "Whether the authorization cache is enabled."),
    VariableSpec(_CACHE, "LifeTime", None, _I, _RW,
                 "How long a token stays in the authorization cache after its last use.",
                 minimum=0),
    VariableSpec(_CACHE, "Policy", None, _T, _RW, "Cache entry replacement policy.",
                 choices=frozenset({"LRU", "LFU", "FIFO", "CUSTOM"})),
    VariableSpec(_CACHE, "Storage", None, _I, _R,
                 "Bytes used by the authorization cache.", unit="bytes", minimum=0),
    VariableSpec(_CACHE, "DisablePostAuthorize", None, _B, _RW,
                 "Do not re-authorize cached tokens whose status is not Accepted."),
    # LocalAuthListCtrlr
    VariableSpec(_LAL, "Available", None, _B, _R,
                 "Whether a Local Authorization List is supported."),
    VariableSpec(_LAL, "BytesPerMessage", None, _I, _R,
                 "Maximum number of bytes in a SendLocalList message.", unit="bytes", minimum=0),
    VariableSpec(_LAL, "Enabled", None, _B, _RW,
                 "Whether the Local Authorization List is enabled."),
    VariableSpec(_LAL, "Entries", None, _I, _R,
                 "Number of idTokens in the Local Authorization List.", minimum=0),
    VariableSpec(_LAL, "ItemsPerMessage", None, _I, _R,
                 "Maximum number of records in one SendLocalList message.", minimum=0),
    VariableSpec(_LAL, "Storage", None, _I, _R,
                 "Bytes used by the Local Authorization List.", unit="bytes", minimum=0),
    VariableSpec(_LAL, "DisablePostAuthorize", None, _B, _RW,
                 "Do not re-authorize listed tokens whose status is not Accepted."),
    # TxCtrlr
    VariableSpec(_TX, "EVConnectionTimeOut", None, _I, _RW,
                 "Time from the start of a transaction until it is cancelled for want of a "
                 "plugged-in cable.", unit=_S, minimum=0),
    VariableSpec(_TX, "MaxEnergyOnInvalidId", None, _I, _RW,
                 "Maximum energy delivered after the CSMS deauthorizes a running transaction.",
                 unit="Wh", minimum=0),
    VariableSpec(_TX, "StopTxOnEVSideDisconnect", None, _B, _RW,
                 "Deauthorize the transaction when the cable is unplugged from the EV."),
    VariableSpec(_TX, "StopTxOnInvalidId", None, _B, _RW,
                 "Deauthorize a transaction when its idToken turns out not to be Accepted."),
    VariableSpec(_TX, "TxBeforeAcceptedEnabled", None, _B, _RW,
                 "Allow charging before the BootNotification is Accepted."),
    VariableSpec(_TX, "TxStartPoint", None, _L, _RW,
                 "Events that start a transaction.", choices=TX_START_POINTS),
    VariableSpec(_TX, "TxStopPoint", None, _L, _RW,
                 "Events that end a transaction.", choices=TX_STOP_POINTS),
    # SmartChargingCtrlr (LimitChangeSignificance is a decimal, which this catalogue
    # does not model)
    VariableSpec(_SC, "ACPhaseSwitchingSupported", None, _B, _R,
                 "Whether the phase used for 1-phase AC charging can be selected."),
    VariableSpec(_SC, "Available", None, _B, _R, "Whether smart charging is supported."),
    VariableSpec(_SC, "Enabled", None, _B, _RW, "Whether smart charging is enabled."),
    VariableSpec(_SC, "Entries", "ChargingProfiles", _I, _R,
                 "Number of charging profiles installed.", minimum=0),
    VariableSpec(_SC, "ExternalControlSignalsEnabled", None, _B, _RW,
                 "Respond to external control signals that influence charging."),
    VariableSpec(_SC, "NotifyChargingLimitWithSchedules", None, _B, _RW,
                 "Include the external limit's schedule in NotifyChargingLimitRequest."),
    VariableSpec(_SC, "PeriodsPerSchedule", None, _I, _R,
                 "Maximum number of periods per ChargingSchedule.", minimum=0),
    VariableSpec(_SC, "Phases3to1", None, _B, _R,
                 "Whether the station can switch from 3 to 1 phase during a transaction."),
    VariableSpec(_SC, "ProfileStackLevel", None, _I, _R,
                 "Maximum stackLevel of a ChargingProfile.", minimum=0),
    VariableSpec(_SC, "RateUnit", None, _L, _R,
                 "Quantities a ChargingSchedule may use.", choices=frozenset({"A", "W"})),
    # SecurityCtrlr
    VariableSpec(_SECC, "AdditionalRootCertificateCheck", None, _B, _R,
                 "Allow one CSMS root certificate at a time, each replacement signed by its "
                 "predecessor."),
    VariableSpec(_SECC, "BasicAuthPassword", None, _T, _W,
                 "HTTP Basic Authentication password; write-only so it is never read back.",
                 unit="characters", minimum=16, maximum=40),
    VariableSpec(_SECC, "CertificateEntries", None, _I, _R,
                 "Number of certificates installed.", minimum=0),
    VariableSpec(_SECC, "CertSigningRepeatTimes", None, _I, _RW,
                 "How often to resend a SignCertificateRequest the CSMS does not answer with a "
                 "certificate.", unit="times", minimum=0),
    VariableSpec(_SECC, "CertSigningWaitMinimum", None, _I, _RW,
                 "Time to wait before generating another CSR.", unit=_S, minimum=0),
    VariableSpec(_SECC, "Identity", None, _T, _R, "The station's identity."),
    VariableSpec(_SECC, "MaxCertificateChainSize", None, _I, _R,
                 "Maximum size of the certificateChain field of CertificateSignedRequest.",
                 unit="characters", minimum=0),
    VariableSpec(_SECC, "OrganizationName", None, _T, _RW,
                 "Organization name of the CSO, used in the subject of the client certificate."),
    VariableSpec(_SECC, "SecurityProfile", None, _I, _R,
                 "Security profile in use; changed through SetNetworkProfile, not SetVariables.",
                 minimum=1, maximum=3),
    # ClockCtrlr
    VariableSpec(_CLOCK, "DateTime", None, _T, _R, "The station's current date and time."),
    VariableSpec(_CLOCK, "NextTimeOffsetTransitionDateTime", None, _T, _RW,
                 "Date and time of the next time offset transition."),
    VariableSpec(_CLOCK, "NtpServerUri", None, _T, _RW, "Address of the NTP server."),
    VariableSpec(_CLOCK, "NtpSource", None, _T, _RW, "Where the NTP client finds its server.",
                 choices=frozenset({"DHCP", "manual"})),
    VariableSpec(_CLOCK, "TimeAdjustmentReportingThreshold", None, _I, _RW,
                 "Clock adjustments larger than this are reported as a SettingSystemTime "
                 "security event.", unit=_S, minimum=0),
    VariableSpec(_CLOCK, "TimeOffset", None, _T, _RW,
                 "Local offset from UTC as an RFC 3339 suffix, e.g. +01:00."),
    VariableSpec(_CLOCK, "TimeSource", None, _L, _RW,
                 "Clock sources, in order of preference.", ordered=True,
                 choices=frozenset({"Heartbeat", "NTP", "GPS", "RealTimeClock", "MobileNetwork",
                                    "RadioTimeTransmitter"})),
    VariableSpec(_CLOCK, "TimeZone", None, _T, _RW,
                 "Local time zone for display, e.g. Europe/Oslo."),
    # ReservationCtrlr
    VariableSpec(_RES, "Available", None, _B, _R, "Whether reservations are supported."),
    VariableSpec(_RES, "Enabled", None, _B, _RW, "Whether reservations are enabled."),
    VariableSpec(_RES, "NonEvseSpecific", None, _B, _R,
                 "Whether reservations without an EVSE id are supported."),
    # DeviceDataCtrlr
    *(
        VariableSpec(_DD, variable, instance, _I, _R, description, unit=unit, minimum=0)
        for instance in ("GetReport", "GetVariables", "SetVariables")
        for variable, unit, description in (
            ("BytesPerMessage", "bytes", f"Maximum number of bytes in a {instance} message."),
            ("ItemsPerMessage", None, f"Maximum number of entries in a {instance} message."),
        )
    ),
    VariableSpec(_DD, "ConfigurationValueSize", None, _I, _R,
                 "Maximum length of SetVariableData.attributeValue.",
                 unit="characters", minimum=0),
    VariableSpec(_DD, "ReportingValueSize", None, _I, _R,
                 "Maximum length of reported variable values.", unit="characters", minimum=0),
    VariableSpec(_DD, "ValueSize", None, _I, _R,
                 "Maximum length of any variable value.", unit="characters", minimum=0),
    # ChargingStation
    VariableSpec(_CS, "AllowNewSessionsPendingFirmwareUpdate", None, _B, _RW,
                 "Allow new sessions while a firmware update waits for EVSEs to become free."),
    VariableSpec(_CS, "AvailabilityState", None, _T, _R,
                 "Current availability of the station.",
                 choices=frozenset({"Available", "Occupied", "Reserved", "Unavailable",
                                    "Faulted"})),
    VariableSpec(_CS, "Available", None, _B, _R, "Whether the component exists."),
    VariableSpec(_CS, "Model", None, _T, _R, "Model as reported in BootNotification."),
    VariableSpec(_CS, "SupplyPhases", None, _I, _R,
                 "Number of AC phases connected.", minimum=0, maximum=3),
    VariableSpec(_CS, "VendorName", None, _T, _R, "Vendor as reported in BootNotification."),
)
# fmt: on


_SpecT = TypeVar("_SpecT", KeySpec, VariableSpec)


def _index(specs: Iterable[_SpecT], key_of: str) -> Mapping[str, _SpecT]:
    """A read-only index, refusing duplicates so a copy-paste slip in the tables fails loudly."""
    index: dict[str, _SpecT] = {}
    for spec in specs:
        key = spec.name if isinstance(spec, KeySpec) else spec.key
        if key in index:
            raise RuntimeError(f"{key_of} {key!r} is listed twice in the catalogue")
        index[key] = spec
    return MappingProxyType(index)


OCPP16_KEYS: Final[Mapping[str, KeySpec]] = _index(_KEYS_16, "OCPP 1.6 key")
"""Every standard OCPP 1.6 key by name."""

OCPP201_VARIABLES: Final[Mapping[str, VariableSpec]] = _index(_VARIABLES_201, "variable")
"""The standard OCPP 2.0.1 controller variables by `VariableSpec.key`."""


# --- Variable keys ---------------------------------------------------------------------------

_NAME = r"[^\s\[\].]+"
_VARIABLE_NAME = r"[^\s\[\]]+"
_INSTANCE = r"[^\[\]]+"
_VARIABLE_KEY_RE: Final = re.compile(
    rf"(?P<component>{_NAME})(?:\[(?P<ci>{_INSTANCE})\])?"
    rf"\.(?P<variable>{_VARIABLE_NAME}?)(?:\[(?P<vi>{_INSTANCE})\])?"
)
_MAX_NAME_LENGTH: Final = 50  # ComponentType.name, VariableType.name and instances: string(50)


def parse_variable_key(key: str) -> tuple[str, str | None, str, str | None]:
    """'Comp[ci].Var[vi]' -> (component, component_instance, variable, variable_instance).

    Variable names may contain dots (vendors name variables after measurands, and FieldLength
    instances read `<message>.<field>`), so only the first dot outside brackets separates
    the component from the variable.
    """
    match = _VARIABLE_KEY_RE.fullmatch(key)
    variable = match["variable"] if match else ""
    if match is None or not variable or variable.startswith(".") or variable.endswith("."):
        raise ValueError(
            f"{key!r} is not a variable key: expected Component.Variable, optionally with "
            "[instance] after either name, e.g. OCPPCommCtrlr.MessageAttempts[TransactionEvent]"
        )
    parts = (match["component"], match["ci"], match["variable"], match["vi"])
    for part in parts:
        if part is not None and len(part) > _MAX_NAME_LENGTH:
            raise ValueError(
                f"{key!r}: {part!r} is longer than the {_MAX_NAME_LENGTH} characters OCPP allows"
            )
    return parts


def variable_key(component: Mapping[str, Any], variable: Mapping[str, Any]) -> str:
    """ComponentType and VariableType, as on the wire, to the flat key `parse_variable_key`
    reads back: `Component[instance].Variable[instance]`."""
    key = str(component["name"])
    if component.get("instance"):
        key += f"[{component['instance']}]"
    key += f".{variable['name']}"
    if variable.get("instance"):
        key += f"[{variable['instance']}]"
    return key


# --- Values ----------------------------------------------------------------------------------

_INTEGER_RE: Final = re.compile(r"[+-]?[0-9]+")
_PHASE_ROTATION_RE: Final = re.compile(r"(?:(?P<connector>[0-9]+)\.)?(?P<rotation>[A-Za-z]+)")
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


def parse_value(spec: Spec, raw: object) -> Value:
    """Normalise a declared (YAML: bool/int/str/list) or reported (always str) value into its
    canonical form for that key's type, so that "60", "060", 60 are the same int;
    "true"/"True"/"1"/True are True ("0"/"false"/False are False); a LIST given as a YAML
    list or as "A, B,C" becomes frozenset (unordered) or tuple (ordered), members stripped.

    Raises ValueError with a user-facing message when the value does not fit the type, range
    or choices, or would not fit in a ChangeConfiguration/SetVariables message.
    """
    value = _normalise(spec, raw)
    limit = OCPP16_VALUE_MAX_LENGTH if isinstance(spec, KeySpec) else OCPP201_VALUE_MAX_LENGTH
    length = len(_wire(value))
    if length > limit:
        raise ValueError(f"the value is {length} characters long; OCPP allows at most {limit}")
    return value


def format_value(spec: Spec, value: Value) -> str:
    """The wire form sent in ChangeConfiguration/SetVariables: bools as 'true'/'false', ints
    as decimal, lists joined with ',' (sets sorted for determinism)."""
    return _wire(parse_value(spec, value))


def _wire(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return ",".join(value)
    return ",".join(sorted(value))


def _normalise(spec: Spec, raw: object) -> Value:
    if spec.type is ValueType.BOOLEAN:
        return _boolean(spec, raw)
    if spec.type is ValueType.INTEGER:
        return _integer(spec, raw)
    if spec.type is ValueType.STRING:
        return _string(spec, raw)
    return _list(spec, raw)


def _shown(spec: Spec, raw: object) -> str:
    """How a bad value appears in an error: never echo a write-only secret into logs."""
    return "the value given" if spec.mutability is Mutability.WRITE_ONLY else repr(raw)


def _boolean(spec: Spec, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"expected a boolean (true or false), got {_shown(spec, raw)}")


def _integer(spec: Spec, raw: object) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and _INTEGER_RE.fullmatch(raw.strip()):
        number = int(raw.strip())
    else:
        raise ValueError(f"expected an integer, got {_shown(spec, raw)}")
    _check_bounds(spec, number, str(number))
    return number


def _check_bounds(spec: Spec, amount: int, what: str) -> None:
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.minimum is not None and amount < spec.minimum:
        raise ValueError(f"{what} is below the minimum {spec.minimum}{unit}")
    if spec.maximum is not None and amount > spec.maximum:
        raise ValueError(f"{what} is above the maximum {spec.maximum}{unit}")


def _string(spec: Spec, raw: object) -> str:
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    else:
        raise ValueError(f"expected a string, got {_shown(spec, raw)}")
    if spec.choices is not None:
        choice = _choice(text.strip(), spec.choices)
        if choice is None:
            raise ValueError(f"{text!r} is not one of: {_listing(spec.choices)}")
        return choice
    what = "the value" if spec.mutability is Mutability.WRITE_ONLY else repr(text)
    _check_bounds(spec, len(text), f"{what} has {len(text)} characters, which")
    return text


def _list(spec: Spec, raw: object) -> tuple[str, ...] | frozenset[str]:
    entries: list[tuple[int, object]]  # (offset in a comma-separated text, member)
    if isinstance(raw, str):
        entries, at = [], 0
        for part in raw.split(","):
            entries.append((at + len(part) - len(part.lstrip()), part))
            at += len(part) + 1
    elif isinstance(raw, (list, tuple)):
        entries = [(0, item) for item in raw]
    elif isinstance(raw, (set, frozenset)):
        if spec.ordered:
            raise ValueError(f"expected an ordered list, got the unordered set {raw!r}")
        entries = [(0, item) for item in raw]
    else:
        raise ValueError(f"expected a comma-separated list, got {raw!r}")
    members: dict[str, int] = {}  # canonical member -> its index, in order
    for index, (offset, item) in enumerate(entries):
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise MemberError(f"list members must be strings, got {item!r}", index, offset)
        text = str(item).strip()
        if not text:
            continue
        if "," in text:
            raise MemberError(f"list member {text!r} contains a comma", index, offset)
        try:
            member = _member(spec, text)
        except ValueError as exc:
            raise MemberError(str(exc), index, offset) from None
        if spec.ordered and member in members:
            raise MemberError(f"{member!r} is listed more than once", index, offset)
        members.setdefault(member, index)
    return tuple(members) if spec.ordered else frozenset(members)


def _member(spec: Spec, text: str) -> str:
    """The canonical spelling of one list member, checked against the key's choices."""
    choices = spec.choices
    if choices is None:
        return text
    if spec.members is Members.PHASED_MEASURANDS:
        return _measurand(text, choices, phased=True)
    if spec.members is Members.MEASURANDS:
        return _measurand(text, choices, phased=False)
    if spec.members is Members.PHASE_ROTATIONS:
        return _phase_rotation(text)
    choice = _choice(text, choices)
    if choice is None:
        raise ValueError(f"{text!r} is not allowed (allowed: {_listing(choices)})")
    return choice


def _measurand(text: str, measurands: frozenset[str], *, phased: bool) -> str:
    """A measurand of `measurands`; with `phased`, optionally `<measurand>.<phase>`."""
    measurand = _choice(text, measurands)
    if measurand is not None:
        return measurand
    base, _, phase = text.rpartition(".")
    measurand, phase_name = _choice(base, measurands), _choice(phase, PHASES)
    if measurand is not None and phase_name is not None:
        if phased:
            return f"{measurand}.{phase_name}"
        raise ValueError(
            f"{text!r} is not a measurand: this list names measurands without a phase (the "
            f"charger reports every phase it measures); write {measurand!r}"
        )
    if measurand is not None and phased:
        raise ValueError(
            f"{text!r}: {phase!r} is not a phase (allowed after a measurand: {_listing(PHASES)})"
        )
    longer = sorted(m for m in measurands if m.casefold().startswith(text.casefold() + "."))
    hints = longer or difflib.get_close_matches(text, sorted(measurands), n=1, cutoff=0.8)
    if hints:
        raise ValueError(f"{text!r} is not a measurand; did you mean {_either(hints)}?")
    suffix = "; optionally followed by a phase, e.g. Voltage.L1" if phased else ""
    raise ValueError(f"{text!r} is not a measurand (allowed: {_listing(measurands)}{suffix})")


def _either(names: list[str]) -> str:
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _phase_rotation(text: str) -> str:
    """`<connector>.<rotation>` as the spec writes it; a bare rotation is kept, as some
    chargers report `Unknown` or `NotApplicable` without a connector number."""
    match = _PHASE_ROTATION_RE.fullmatch(text)
    rotation = _choice(match["rotation"], PHASE_ROTATIONS) if match else None
    if match is None or rotation is None:
        raise ValueError(
            f"{text!r} is not a phase rotation: expected <connector>.<rotation>, e.g. 1.RST, "
            f"with rotation one of {_listing(PHASE_ROTATIONS)}"
        )
    connector = match["connector"]
    return rotation if connector is None else f"{int(connector)}.{rotation}"


def _choice(text: str, choices: frozenset[str]) -> str | None:
    """Match case-insensitively: OCPP enumerations are case-sensitive on the wire, but
    chargers are sloppy (`SOC`, `soc`) and the meaning is never in doubt."""
    if text in choices:
        return text
    folded = text.casefold()
    return next((choice for choice in choices if choice.casefold() == folded), None)


def _listing(choices: frozenset[str]) -> str:
    return ", ".join(sorted(choices))
