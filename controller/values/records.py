"""The values that go in and out of the store: small, immutable, version-agnostic.

Nothing here knows about OCPP 1.6 or 2.0.1 message shapes; the OCPP sessions map their messages
onto these values, and the web view, exports and reconciler read them back. Timestamps are
timezone-aware datetimes (the store keeps and returns them in UTC), energy is in Wh as an int,
and meter readings keep the exact decimal text the charger sent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ENERGY_REGISTER = "Energy.Active.Import.Register"
"""The measurand OCPP assumes when a sampled value names none."""


def utc(at: datetime) -> datetime:
    """`at` in UTC; refuses naive datetimes, whose meaning depends on where the code runs."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"timestamp {at.isoformat()} has no timezone; pass an aware datetime")
    return at.astimezone(UTC)


class Direction(enum.StrEnum):
    """Which way an OCPP frame went, seen from the central system."""

    RECEIVED = "received"
    """From the charger to us."""
    SENT = "sent"
    """From us to the charger."""


class MessageType(enum.IntEnum):
    """The OCPP-J message type id, the first element of every frame."""

    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4
    CALL_RESULT_ERROR = 5  # OCPP 2.1
    SEND = 6  # OCPP 2.1


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a charger says about itself in BootNotification."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """The last status a charger reported for one connector (0 is the charger as a whole).

    OCPP 2.0.1 sessions report per EVSE: they pass the EVSE id as `connector_id`, which is what
    a 1.6 connector id means on the same hardware.
    """

    identity: str
    connector_id: int
    status: str
    timestamp: datetime
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class ReportedKey:
    """One configuration value as the charger reported it (GetConfiguration / GetVariables)."""

    key: str
    value: str | None
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class ChargerRecord:
    """Everything the store knows about one charger's reported state."""

    identity: str
    pending: bool
    """An unknown charger that connected: shown to the operator, not accepted."""
    ocpp_version: str | None = None
    boot: BootInfo | None = None
    booted_at: datetime | None = None
    connected: bool = False
    connected_at: datetime | None = None
    disconnected_at: datetime | None = None
    disconnect_reason: str | None = None
    remote_address: str | None = None
    last_heartbeat: datetime | None = None
    connectors: tuple[ConnectorStatus, ...] = ()
    configuration: tuple[ReportedKey, ...] | None = None
    """The last reported configuration, by key; None when not loaded (see `Store.chargers`)."""
    configuration_at: datetime | None = None
    """When the configuration was last reported; None if never."""
    pending_since: datetime | None = None
    """When it first connected as pending (kept while it stays pending); None if not pending."""
    pending_location: str | None = None
    """While pending, the location whose URL (`/ocpp/<location>/<identity>`) it connected
    through last; None for the plain URL, and when not pending."""


@dataclass(frozen=True, slots=True)
class TransactionStart:
    """A charging session the charger began (StartTransaction, TransactionEvent Started).

    `charger_transaction_id` is the OCPP 2.0.1 transactionId the charger chose; OCPP 1.6
    chargers leave it None and use the int id the store assigns. `meter_start_wh` may be None
    for 2.0.1 chargers that report the register only in later updates.
    """

    identity: str
    connector_id: int
    started_at: datetime
    meter_start_wh: int | None
    id_tag: str | None = None
    charger_transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionUpdate:
    """What an OCPP 2.0.1 TransactionEvent Updated adds to a running transaction.

    The transaction is found by our id or by the charger's transaction id. Fields left None
    keep their stored value: a 2.0.1 session may start without an id token (cable first) and
    learn it later, and reports the energy register as it goes.
    """

    identity: str
    at: datetime
    transaction_id: int | None = None
    charger_transaction_id: str | None = None
    id_tag: str | None = None
    meter_wh: int | None = None
    connector_id: int | None = None

    def __post_init__(self) -> None:
        _check_reference(self.transaction_id, self.charger_transaction_id)


@dataclass(frozen=True, slots=True)
class TransactionStop:
    """The end of a transaction (StopTransaction, TransactionEvent Ended).

    Found by our id (1.6) or by the charger's transaction id (2.0.1), always within `identity`:
    a charger cannot stop another charger's transaction. When `meter_stop_wh` is None the last
    reading from an update is used.
    """

    identity: str
    stopped_at: datetime
    transaction_id: int | None = None
    charger_transaction_id: str | None = None
    meter_stop_wh: int | None = None
    reason: str | None = None
    id_tag: str | None = None

    def __post_init__(self) -> None:
        _check_reference(self.transaction_id, self.charger_transaction_id)


def energy_between(meter_start_wh: int | None, meter_stop_wh: int | None) -> int | None:
    """Energy of a transaction, or None when a reading is missing or the meter went backwards."""
    if meter_start_wh is None or meter_stop_wh is None or meter_stop_wh < meter_start_wh:
        return None
    return meter_stop_wh - meter_start_wh


def register_wh(sample: MeterSample) -> int | None:
    """An energy register sample's reading in Wh (kWh converted), or None for a sample of
    another measurand, of one phase, measured elsewhere than at the outlet (an Inlet, Cable or
    EV register is not what the session delivered), in a unit other than Wh or kWh, or whose
    text is not a number: the rule `v201.conversions.register_readings` applies too."""
    if sample.measurand != ENERGY_REGISTER or sample.phase is not None:
        return None
    if (sample.location or "Outlet") != "Outlet" or (sample.unit or "Wh") not in ("Wh", "kWh"):
        return None
    try:
        value = Decimal(sample.value)
    except ArithmeticError:
        return None
    if not value.is_finite():
        return None
    if (sample.unit or "Wh") == "kWh":
        value *= 1000
    return int(value.to_integral_value())


def _check_reference(transaction_id: int | None, charger_transaction_id: str | None) -> None:
    if (transaction_id is None) == (charger_transaction_id is None):
        raise ValueError("give exactly one of transaction_id and charger_transaction_id")


@dataclass(frozen=True, slots=True)
class Transaction:
    """A stored transaction; `id` is ours, unique across restarts and replicas."""

    id: int
    identity: str
    connector_id: int
    started_at: datetime
    meter_start_wh: int | None
    id_tag: str | None = None
    charger_transaction_id: str | None = None
    meter_last_wh: int | None = None
    """The highest energy register reading seen (start, MeterValues, updates or stop): a
    register only counts up, so a lower reading (a late or reordered frame) is not taken."""
    updated_at: datetime | None = None
    stopped_at: datetime | None = None
    meter_stop_wh: int | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    energy_wh: int | None = None
    """meter stop - meter start once stopped; None when either is unknown or the meter went
    backwards (replaced or rolled over), so a bad reading never shows as negative energy."""

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value; `value` is the decimal text as sent, so nothing is lost to floats."""

    identity: str
    connector_id: int
    timestamp: datetime
    value: str
    measurand: str = ENERGY_REGISTER
    unit: str | None = None
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    transaction_id: int | None = None

    @property
    def decimal(self) -> Decimal:
        return Decimal(self.value)


@dataclass(frozen=True, slots=True)
class Event:
    """Something worth telling an operator: a connection, a rejected command, a drift undone.

    `identity` is None for events of the central system as a whole; `id` is set by the store.
    """

    at: datetime
    kind: str
    message: str
    identity: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One OCPP frame as it went over the wire.

    `action` is set on results and errors too when the session knows which call they answer.
    `id` is set by the store: it increases per charger, so `chargectl logs -f` tails with it.
    """

    identity: str
    at: datetime
    direction: Direction
    message_type: int
    unique_id: str
    frame: str
    action: str | None = None
    id: int | None = None


class KeyState(enum.StrEnum):
    """Where the reconciler stands with one declared configuration key of one charger."""

    PENDING = "Pending"
    """Declared and different from what the charger reports; not attempted yet, or in flight."""
    APPLIED = "Applied"
    """The charger accepted the value (and, where it was read back, reports it)."""
    REBOOT_REQUIRED = "RebootRequired"
    """Accepted, but it takes effect only after the charger reboots."""
    REJECTED = "Rejected"
    """The charger refused the value."""
    NOT_SUPPORTED = "NotSupported"
    """The charger does not know the key."""
    FAILED = "Failed"
    """The attempt did not get an answer: timeout, call error, disconnection."""


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """The outcome of reconciling one declared key of one charger, kept across restarts.

    `value` is the desired wire value the attempt was about, so a status about an older desired
    value is recognisable as such; `at` is the last attempt; `attempts` counts them, as the
    reconciler keeps it.
    """

    identity: str
    key: str
    state: KeyState
    value: str
    at: datetime
    detail: str = ""
    attempts: int = 0


CONDITION_STATUSES = frozenset({"True", "False", "Unknown"})
"""The values a condition's `status` may take, as in Kubernetes."""


@dataclass(frozen=True, slots=True)
class ChargerCondition:
    """One Kubernetes-style condition of a charger, such as `Connected`, `Synced` or `Ready`.

    `last_transition_time` is when `status` last changed: the store keeps the stored time when
    a condition is recorded again with the same status (reason, message and observed generation
    are replaced), so callers may pass the current time every time.
    """

    identity: str
    type: str
    status: str
    """"True", "False" or "Unknown"."""
    reason: str
    message: str
    last_transition_time: datetime
    observed_generation: int | None = None

    def __post_init__(self) -> None:
        if self.status not in CONDITION_STATUSES:
            raise ValueError(f"condition status {self.status!r} is not one of True, False, Unknown")


@dataclass(frozen=True, slots=True)
class TransactionBucket:
    """The transactions that started in one time bucket, summed (`Store.transaction_totals`).

    Buckets are in UTC, aligned to UTC midnight, so a page folds 15-minute or hourly buckets
    into the local days of a location's timezone (all offsets in use are whole quarter hours).
    Everything is counted in the bucket the transaction *started* in.
    """

    start: datetime
    """The bucket's first instant, in UTC; it covers [start, start + bucket)."""
    sessions: int
    """Transactions started in the bucket."""
    open: int
    """Of these, the ones not stopped yet."""
    energy_wh: int
    """Their energy: a stopped one's `energy_wh`, an open one's energy so far (its newest
    energy register reading, from updates or meter values, minus its meter start)."""
    unmetered: int
    """Sessions whose energy is unknown (a reading missing, or the meter went backwards):
    counted in `sessions`, not in `energy_wh`."""
    busy_seconds: int
    """Their summed duration: start to stop, or to the time of the query for open ones."""
