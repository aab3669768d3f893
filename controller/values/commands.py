"""The commands a central system sends, in words that do not depend on the OCPP version.

`ChargerCommands` is implemented once per version (`ocpp/v16`, `ocpp/v201`). The reconciler, the
CLI's escape hatches and the power allocator speak only this language, so nothing above the
`ocpp` package says "1.6". Every method returns a value: an outcome, or `CallFailed` when the
charger did not answer usefully (timeout, CALLERROR, disconnected). That failure is a value,
not an exception that unwinds a pass: the reconciler and the steps act on it (retry with
backoff, show the charger's error code), from the session up to the status a user sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any, Protocol

from controller.values.records import ReportedKey

# --- a call that got no usable answer ------------------------------------------------------


class FailureKind(StrEnum):
    TIMEOUT = "Timeout"
    CALL_ERROR = "CallError"
    DISCONNECTED = "Disconnected"
    INVALID_RESPONSE = "InvalidResponse"


@dataclass(frozen=True, slots=True)
class CallFailed:
    """An outgoing CALL that got no usable answer; `code` is the CALLERROR's, if any."""

    kind: FailureKind
    action: str
    description: str
    code: str | None = None

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"{self.action}: {self.kind.value}{code}: {self.description}"


# --- the answer to a boot --------------------------------------------------------------------


class BootStatus(StrEnum):
    """BootNotification's registration status, the same in both versions."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


@dataclass(frozen=True, slots=True)
class BootReply:
    """What a central system answers a boot: the registration status and the interval (of
    Heartbeats when accepted, of boot retries when not). The central system decides it; a
    simulated charger reads it."""

    status: BootStatus
    interval: int


# --- answers ---------------------------------------------------------------------------------


class ConfigStatus(StrEnum):
    """The answer to one configuration change, the same words in 1.6 and 2.0.1."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


class Status(StrEnum):
    """The answer to a command; each command uses the subset its messages define."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    NOT_SUPPORTED = "NotSupported"
    UNKNOWN = "Unknown"
    FAILED = "Failed"
    VERSION_MISMATCH = "VersionMismatch"
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    ONGOING_AUTHORIZED_TRANSACTION = "OngoingAuthorizedTransaction"
    UNKNOWN_CONNECTOR = "UnknownConnector"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"


@dataclass(frozen=True, slots=True)
class ConfigurationReport:
    """What the charger reported, and which of the asked keys it does not know."""

    values: tuple[ReportedKey, ...]
    unknown: tuple[str, ...] = ()


class LimitPurpose(StrEnum):
    """Why a charging profile exists: the charger's maximum, the default, or one session's."""

    STATION_MAX = "StationMax"
    TX_DEFAULT = "TxDefault"
    TX = "Tx"


@dataclass(frozen=True, slots=True)
class LimitPeriod:
    """From `start_seconds` after the schedule starts, at most `amperes` per phase."""

    start_seconds: int
    amperes: float
    phases: int | None = None


def limit_amperes(amperes: float) -> float:
    """A current limit with the one decimal both versions' schedule periods take, rounded
    down: shares of a circuit (32 A / 3) must still fit in it (3 x 10.6 A, not 3 x 10.7 A).
    Rounded in decimal, as float flooring would turn 2.3 into 2.2."""
    return float(Decimal(repr(float(amperes))).quantize(Decimal("0.1"), rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class ChargingLimit:
    """A charging profile in amperes per phase; connector 0 means the whole charger.

    `transaction_id` (for a Tx limit) is the transaction as the charger knows it: our id on
    OCPP 1.6, the charger's own transactionId on 2.0.1 (ours is accepted there too).
    """

    profile_id: int
    purpose: LimitPurpose
    periods: tuple[LimitPeriod, ...]
    connector: int = 0
    stack_level: int = 0
    transaction_id: str | None = None
    starts_at: datetime | None = None
    recurring_daily: bool = False


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """What GetCompositeSchedule answered for one connector (0: the whole charger): the limit
    the charger computes from every profile it holds, ours and others', in amperes per phase.

    `status` is Accepted, Rejected, or NotSupported when the charger answered in another unit
    than the amperes asked (there is no voltage to convert with). `periods` count from when the
    charger answered; an Accepted answer without periods means no limit is in force.
    """

    status: Status
    periods: tuple[LimitPeriod, ...] = ()

    @classmethod
    def from_wire(cls, schedule: Mapping[str, Any] | None) -> CompositeSchedule:
        """An Accepted answer's schedule, spelled alike in 1.6 (chargingSchedule) and 2.0.1
        (schedule): absent means no limit in force."""
        if schedule is None:
            return cls(Status.ACCEPTED)
        if schedule["chargingRateUnit"] != "A":
            return cls(Status.NOT_SUPPORTED)
        return cls(
            Status.ACCEPTED,
            tuple(
                LimitPeriod(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
                for p in schedule["chargingSchedulePeriod"]
            ),
        )

    def amperes_at(self, seconds: int = 0) -> float | None:
        """The limit in force `seconds` after the schedule starts; None: no limit then."""
        current: float | None = None
        for period in sorted(self.periods, key=lambda p: p.start_seconds):
            if period.start_seconds > seconds:
                break
            current = period.amperes
        return current


class TriggerKind(StrEnum):
    BOOT_NOTIFICATION = "BootNotification"
    HEARTBEAT = "Heartbeat"
    STATUS_NOTIFICATION = "StatusNotification"
    METER_VALUES = "MeterValues"
    FIRMWARE_STATUS = "FirmwareStatusNotification"
    DIAGNOSTICS_STATUS = "DiagnosticsStatusNotification"


class AuthListStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """One card in a charger's local authorisation list; status None removes it (differential)."""

    id_tag: str
    status: AuthListStatus | None
    expires_at: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class DataTransferResult:
    status: Status
    data: str | None = None


class ChargerCommands(Protocol):
    """What the central system can ask of a connected charger, whatever its OCPP version."""

    identity: str

    async def get_configuration(
        self, keys: Sequence[str] = ()
    ) -> ConfigurationReport | CallFailed: ...

    async def change_configuration(self, key: str, value: str) -> ConfigStatus | CallFailed: ...

    async def reset(self, hard: bool) -> Status | CallFailed: ...

    async def change_availability(self, connector: int, operative: bool) -> Status | CallFailed: ...

    async def set_charging_profile(self, limit: ChargingLimit) -> Status | CallFailed: ...

    async def clear_charging_profile(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: LimitPurpose | None = None,
    ) -> Status | CallFailed: ...

    async def get_composite_schedule(
        self, connector: int, duration: int
    ) -> CompositeSchedule | CallFailed:
        """The limit in force on `connector` (0: the charger) over the next `duration` seconds,
        asked in amperes."""
        ...

    async def send_local_list(
        self, version: int, entries: Sequence[LocalListEntry], full: bool
    ) -> Status | CallFailed: ...

    async def get_local_list_version(self) -> int | CallFailed: ...

    async def update_firmware(
        self, url: str, retrieve_at: datetime, request_id: int = 1
    ) -> Status | CallFailed: ...

    async def trigger_message(
        self, message: TriggerKind, connector: int | None = None
    ) -> Status | CallFailed: ...

    async def remote_start(
        self, id_tag: str, connector: int | None = None
    ) -> Status | CallFailed: ...

    async def remote_stop(self, transaction_id: str) -> Status | CallFailed:
        """Stop a transaction, named as the charger knows it (see ChargingLimit)."""
        ...

    async def unlock_connector(self, connector: int) -> Status | CallFailed: ...

    async def clear_cache(self) -> Status | CallFailed: ...

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult | CallFailed: ...
