"""The write-behind buffer: frequent, low-value writes wait here and leave in batches.

Pure data, no I/O, so its rules are easy to test. What a charger row should say (heartbeat,
connection, boot) is merged per charger, field by field, later calls winning; connector status
keeps the latest per connector, and conditions the latest per charger and type (with the
transition time of the first of a run of the same status): a second heartbeat within a flush
costs nothing. The reported configuration keeps the latest value per charger and key; a full
report discards what is waiting for that charger and marks it to replace the stored keys, and a
partial one merges into what is waiting (so a full report followed by a partial one is still a
replacement, with the partial values on top). Key statuses keep the latest per charger and key.
Meter values, events and log frames queue in arrival order. Of the energy register samples of a
transaction, the highest reading waits as well (`meter_last`, per charger and transaction): the
flush raises the transaction's `meter_last_wh` to it, one row per transaction however many
samples came, and reads see it before then (`SqlStore` lays it over what they read). A flush
`take`s everything at once; a flush that failed for a passing reason `put_back`s its batch in
front of what came since.

The queues are bounded: when the database is away for long, the oldest rows go first, and
`dropped` counts them, rather than the process running out of memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from controller.values.records import (
    ChargerCondition,
    ConnectorStatus,
    Event,
    KeyStatus,
    LogEntry,
    MeterSample,
    ReportedKey,
    register_wh,
)


@dataclass(slots=True)
class PendingConfiguration:
    """A charger's reported configuration waiting for a flush."""

    values: dict[str, ReportedKey]
    """By key, the latest reported value of each."""
    replace: bool
    """A full report: the charger's stored keys not in `values` are deleted."""


_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
"""The readings `transactions.meter_last_wh` (BIGINT) can hold."""


@dataclass(frozen=True, slots=True)
class MeterLast:
    """A transaction's highest energy register reading in a batch, and when it was taken."""

    wh: int
    at: datetime

    def higher(self, other: MeterLast | None) -> MeterLast:
        """The higher reading of the two (the later one of equal readings)."""
        if other is None or (self.wh, self.at) > (other.wh, other.at):
            return self
        return other


@dataclass(slots=True)
class Batch:
    """What one flush writes: one statement per table."""

    chargers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Column values to set on each charger's row, its identity included."""
    statuses: dict[tuple[str, int], ConnectorStatus] = field(default_factory=dict)
    conditions: dict[tuple[str, str], ChargerCondition] = field(default_factory=dict)
    configuration: dict[str, PendingConfiguration] = field(default_factory=dict)
    """By charger; its `configuration_at` waits in `chargers`."""
    key_statuses: dict[str, dict[str, KeyStatus]] = field(default_factory=dict)
    """By charger, then key; never an empty inner dict."""
    meter_values: list[MeterSample] = field(default_factory=list)
    meter_last: dict[tuple[str, int], MeterLast] = field(default_factory=dict)
    """By charger and transaction id, the highest energy register reading among its samples
    (see `register_wh`); kept when their samples are dropped from a full queue."""
    events: list[Event] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)

    def __len__(self) -> int:
        """Entries waiting; a charger's configuration and key statuses count once each."""
        return (
            len(self.chargers)
            + len(self.statuses)
            + len(self.conditions)
            + len(self.configuration)
            + len(self.key_statuses)
            + len(self.meter_values)
            + len(self.meter_last)
            + len(self.events)
            + len(self.log)
        )


class WriteBuffer:
    """Rows waiting for the next flush; owned by one store, used from one event loop."""

    def __init__(self, max_queued: int = 500_000) -> None:
        self._max_queued = max_queued
        self._batch = Batch()
        self.dropped = 0
        """Meter values, events and log frames discarded because their queue was full."""
        self.version = 0
        """Counts the calls that added something: a flush that took the buffer at version N
        has written everything added by then (see `SqlStore.flush`)."""

    def __len__(self) -> int:
        return len(self._batch)

    @property
    def waiting(self) -> Batch:
        """What is buffered now, to look at (not to change: use the methods)."""
        return self._batch

    def heartbeat(self, identity: str, at: datetime) -> None:
        self.version += 1
        fields = self._batch.chargers.get(identity)
        if fields is None:
            self._batch.chargers[identity] = {"identity": identity, "last_heartbeat": at}
        else:
            fields["last_heartbeat"] = at

    def charger(self, identity: str, fields: Mapping[str, Any]) -> None:
        """Set these columns of the charger's row (merged with what is already waiting)."""
        self.version += 1
        waiting = self._batch.chargers.get(identity)
        if waiting is None:
            self._batch.chargers[identity] = {"identity": identity, **fields}
        else:
            waiting.update(fields)

    def status(self, status: ConnectorStatus) -> None:
        self.version += 1
        self._batch.statuses[status.identity, status.connector_id] = status

    def condition(self, condition: ChargerCondition) -> None:
        self.version += 1
        key = condition.identity, condition.type
        self._batch.conditions[key] = later_condition(self._batch.conditions.get(key), condition)

    def configuration(
        self, identity: str, values: Iterable[ReportedKey], at: datetime, *, partial: bool = False
    ) -> None:
        """The charger reported these keys (all of its keys unless `partial`) at `at`."""
        latest = {value.key: value for value in values}
        waiting = self._batch.configuration.get(identity)
        if waiting is None or not partial:
            self._batch.configuration[identity] = PendingConfiguration(latest, not partial)
        else:
            waiting.values.update(latest)
        self.charger(identity, {"configuration_at": at})  # counts as the change

    def key_statuses(self, statuses: Iterable[KeyStatus]) -> None:
        self.version += 1
        waiting = self._batch.key_statuses
        for status in statuses:
            keys = waiting.get(status.identity)
            if keys is None:
                waiting[status.identity] = {status.key: status}
            else:
                keys[status.key] = status

    def forget_key_statuses(self, identity: str, keys: Iterable[str]) -> None:
        """Drop the charger's waiting statuses of these keys."""
        waiting = self._batch.key_statuses.get(identity)
        if waiting is None:
            return
        for key in keys:
            waiting.pop(key, None)
        if not waiting:
            del self._batch.key_statuses[identity]

    def forget_charger(self, identity: str) -> None:
        """Drop everything waiting about the charger except its meter values (see
        `Store.forget_pending`)."""
        batch = self._batch
        batch.chargers.pop(identity, None)
        batch.configuration.pop(identity, None)
        batch.key_statuses.pop(identity, None)
        for connector in [key for key in batch.statuses if key[0] == identity]:
            del batch.statuses[connector]
        for condition in [key for key in batch.conditions if key[0] == identity]:
            del batch.conditions[condition]
        batch.events = [event for event in batch.events if event.identity != identity]
        batch.log = [entry for entry in batch.log if entry.identity != identity]

    def meter_values(self, samples: Iterable[MeterSample]) -> None:
        self.version += 1
        queued = self._batch.meter_values
        start = len(queued)
        queued.extend(samples)
        last = self._batch.meter_last
        for sample in queued[start:]:
            if sample.transaction_id is None:
                continue
            wh = register_wh(sample)
            if wh is not None and _BIGINT_MIN <= wh <= _BIGINT_MAX:  # or the batch is unwritable
                key = sample.identity, sample.transaction_id
                last[key] = MeterLast(wh, sample.timestamp).higher(last.get(key))
        self._bound(queued)

    def event(self, event: Event) -> None:
        self.version += 1
        self._batch.events.append(event)
        self._bound(self._batch.events)

    def log(self, entry: LogEntry) -> None:
        self.version += 1
        self._batch.log.append(entry)
        self._bound(self._batch.log)

    def take(self) -> Batch:
        """Everything buffered, leaving the buffer empty."""
        batch, self._batch = self._batch, Batch()
        return batch

    def put_back(self, batch: Batch) -> None:
        """Requeue a batch that could not be written; what arrived since is newer and wins."""
        current, self._batch = self._batch, batch
        for identity, fields in current.chargers.items():
            batch.chargers.setdefault(identity, {}).update(fields)  # identity included
        batch.statuses.update(current.statuses)
        for key, condition in current.conditions.items():
            batch.conditions[key] = later_condition(batch.conditions.get(key), condition)
        for identity, pending in current.configuration.items():
            earlier = batch.configuration.get(identity)
            if earlier is None or pending.replace:
                batch.configuration[identity] = pending
            else:
                earlier.values.update(pending.values)
        for identity, statuses in current.key_statuses.items():
            batch.key_statuses.setdefault(identity, {}).update(statuses)
        batch.meter_values.extend(current.meter_values)
        for transaction, reading in current.meter_last.items():
            batch.meter_last[transaction] = reading.higher(batch.meter_last.get(transaction))
        batch.events.extend(current.events)
        batch.log.extend(current.log)
        self._bound(batch.meter_values)
        self._bound(batch.events)
        self._bound(batch.log)

    def _bound(self, queue: list[Any]) -> None:
        excess = len(queue) - self._max_queued
        if excess > 0:
            del queue[:excess]
            self.dropped += excess


def later_condition(earlier: ChargerCondition | None, later: ChargerCondition) -> ChargerCondition:
    """`later`, keeping the transition time of `earlier` when the status did not change.

    The rule the store applies to a stored condition, applied within a batch.
    """
    if earlier is None or earlier.status != later.status:
        return later
    return replace(later, last_transition_time=earlier.last_transition_time)


def log_rows(
    entries: Sequence[LogEntry], next_seq: Mapping[str, int], ring_size: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Message log rows for `entries`, numbered on from `next_seq` (by identity).

    Returns the rows and the next sequence number per identity afterwards. Each row goes to
    slot `seq mod ring_size` of its charger's ring; when a batch holds more than a ring's worth
    for one charger, only the newest row per slot is kept, as the older would be overwritten.
    """
    seqs = dict(next_seq)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in entries:
        seq = seqs[entry.identity]
        seqs[entry.identity] = seq + 1
        slot = seq % ring_size
        rows[entry.identity, slot] = {
            "identity": entry.identity,
            "slot": slot,
            "seq": seq,
            "at": entry.at,
            "direction": str(entry.direction),
            "message_type": int(entry.message_type),
            "action": entry.action,
            "unique_id": entry.unique_id,
            "frame": entry.frame,
        }
    return list(rows.values()), seqs
