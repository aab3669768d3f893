"""The one interface to the central system's durable state, whatever database is behind it.

The OCPP sessions write what chargers report; the reconciler, web view and exports read it back.
Two kinds of write go through here, and the difference matters to callers:

- *buffered* writes (charger state: heartbeat, connection, boot, connector status,
  conditions; the reported configuration and the reconciler's key statuses; meter values,
  events, the message log) return at once and reach the database in batches within about half
  a second, and on `close`. They are the bulk of the traffic of 10,000 chargers (and all of a
  reconnection storm after a restart), they are cheap to lose on a crash, and they must cost
  far less than handling the OCPP message does. Every read flushes first, so a reader in this
  process never misses them. The configuration and key statuses are buffered too because the
  reconciler writes them several times a pass for every charger, and committed one by one they
  were most of its time; losing the last half second of them costs nothing but a re-read: the
  reconciler keeps its own copy of the key statuses in memory, and reads the charger's
  configuration from the charger again on every pass, after a restart included. A caller that
  cannot afford to lose one key status (say, that an UpdateFirmware was just sent) calls
  `flush` after recording it.
- *immediate* writes (transactions, forgetting key statuses or a pending charger) are
  committed before the call returns: a transaction id is only sent to a charger once the
  transaction is on disk, because after a restart the store is the only memory there is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from controller.values.records import (
    BootInfo,
    ChargerCondition,
    ChargerRecord,
    ConnectorStatus,
    Event,
    KeyStatus,
    LogEntry,
    MeterSample,
    ReportedKey,
    Transaction,
    TransactionBucket,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)


class Store(ABC):
    """Reported state, transactions, meter values, events and the OCPP message log.

    Use as `async with open_store(url) as store:`, or call `open()` and `close()`.
    """

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- lifecycle --------------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None:
        """Connect, create missing tables and start the background flushing."""

    @abstractmethod
    async def close(self) -> None:
        """Flush what is buffered and release the database."""

    @abstractmethod
    async def flush(self) -> None:
        """Write everything buffered so far; returns once it is committed."""

    # -- chargers ---------------------------------------------------------------------------

    @abstractmethod
    async def record_boot(self, identity: str, boot: BootInfo, at: datetime) -> None:
        """Buffered: what the charger said in its BootNotification."""

    @abstractmethod
    async def record_connected(
        self, identity: str, at: datetime, remote: str | None, ocpp_version: str
    ) -> None:
        """Buffered: a known charger opened its websocket (and is no longer pending)."""

    @abstractmethod
    async def record_disconnected(self, identity: str, at: datetime, reason: str | None) -> None:
        """Buffered: the charger's websocket closed."""

    @abstractmethod
    async def record_pending(
        self, identity: str, at: datetime, remote: str | None, location: str | None = None
    ) -> None:
        """Buffered: an unknown charger connected; kept so an operator can see and adopt it.

        `location` is the location whose URL it connected through (None: the plain URL); the
        record's `pending_since` is `at` the first time, and kept while it stays pending. Call
        after `record_connected`, which clears all three for chargers that became known.
        """

    @abstractmethod
    async def pending_chargers(self) -> list[ChargerRecord]:
        """The pending chargers, oldest first (by `pending_since`, then identity), without
        their reported configuration."""

    @abstractmethod
    async def forget_pending(self, identity: str) -> bool:
        """Immediate: if the charger is pending, forget it; returns whether it was.

        Its record goes, with its connector statuses, reported configuration, key statuses,
        conditions, events and message log, and whatever of these is still buffered. Its
        transactions and meter values stay (the central system records neither for a charger
        not in the fleet). What was written before this call counts: buffered writes are
        flushed first.
        """

    @abstractmethod
    async def record_heartbeat(self, identity: str, at: datetime) -> None:
        """Buffered: the charger's last sign of life."""

    @abstractmethod
    async def record_status(self, status: ConnectorStatus) -> None:
        """Buffered: the connector's current status; only the latest per connector is kept."""

    @abstractmethod
    async def record_configuration(
        self,
        identity: str,
        values: Sequence[ReportedKey],
        at: datetime,
        *,
        partial: bool = False,
    ) -> None:
        """Buffered: the configuration the charger reported.

        Replaces what was stored for the charger, so keys it no longer reports disappear; with
        `partial=True` (a read-back of a few keys after changing them) only these keys change.
        Reports waiting for the same flush apply in the order they were made.
        """

    @abstractmethod
    async def charger(self, identity: str) -> ChargerRecord | None:
        """Boot info, connection, last heartbeat, connectors and reported configuration."""

    @abstractmethod
    async def chargers(
        self,
        *,
        identities: Collection[str] | None = None,
        configuration: bool = False,
    ) -> list[ChargerRecord]:
        """All chargers (or these), by identity.

        The reported configuration is loaded only with `configuration=True`: for a fleet of
        10,000 chargers it is a million rows a list view does not need.
        """

    # -- reconciler ---------------------------------------------------------------------------

    @abstractmethod
    async def record_key_statuses(self, statuses: Sequence[KeyStatus]) -> None:
        """Buffered: the outcome of reconciling these keys, replacing what was stored.

        Upserted by (identity, key); when one key appears twice, the last one counts.
        """

    @abstractmethod
    async def key_statuses(self, identity: str | None = None) -> list[KeyStatus]:
        """The stored key statuses (of one charger, or all), by identity and key."""

    @abstractmethod
    async def forget_key_statuses(self, identity: str, keys: Collection[str]) -> None:
        """Immediate: drop the charger's statuses of these keys (no longer declared).

        Statuses of these keys still waiting to be written are dropped too.
        """

    @abstractmethod
    async def record_conditions(self, conditions: Sequence[ChargerCondition]) -> None:
        """Buffered: the charger's conditions, upserted by (identity, type).

        `last_transition_time` changes only when `status` does: recorded again with the same
        status, a condition keeps the transition time already stored (or recorded earlier in
        this sequence) and takes the new reason, message and observed generation. So callers
        may pass the current time every time.
        """

    @abstractmethod
    async def conditions(
        self, identity: str | None = None, *, identities: Collection[str] | None = None
    ) -> list[ChargerCondition]:
        """The conditions (of one charger, of these chargers, or all), by identity and type:
        one query for a page's chargers, however many the fleet has."""

    # -- transactions -----------------------------------------------------------------------

    @abstractmethod
    async def start_transaction(self, start: TransactionStart) -> Transaction:
        """Committed before it returns, with our id for the reply to the charger.

        A start the charger sends again (the reply was lost) returns the same transaction: the
        same charger transaction id (2.0.1), or the same open session on the same connector,
        start time and meter (1.6).
        """

    @abstractmethod
    async def update_transaction(self, update: TransactionUpdate) -> Transaction | None:
        """Apply a 2.0.1 TransactionEvent Updated; None if the transaction is unknown.

        Its reading raises `meter_last_wh`, never lowers it (see `add_meter_values`).
        """

    @abstractmethod
    async def stop_transaction(self, stop: TransactionStop) -> Transaction | None:
        """Complete a transaction, begun before or after a restart; None if unknown.

        A repeated stop returns the transaction as the first stop left it.
        """

    @abstractmethod
    async def transaction(self, transaction_id: int) -> Transaction | None:
        """One transaction by our id."""

    @abstractmethod
    async def open_transactions(self, identity: str) -> list[Transaction]:
        """The charger's transactions not stopped yet, oldest first."""

    @abstractmethod
    async def open_transactions_of(
        self, identities: Collection[str] | None = None
    ) -> list[Transaction]:
        """The transactions not stopped yet of all chargers (or these), oldest first.

        What a list of chargers shows, read at once: one query for any number of chargers.
        """

    @abstractmethod
    async def transactions(
        self,
        *,
        identities: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Transaction]:
        """Transactions started in [since, until), of these chargers, oldest first."""

    @abstractmethod
    async def transaction_totals(
        self,
        *,
        since: datetime,
        until: datetime,
        bucket: timedelta,
        identities: Collection[str] | None = None,
    ) -> list[TransactionBucket]:
        """Transactions started in [since, until) (of these chargers), summed per `bucket`.

        Summed by the database (GROUP BY on the start time), for charts and totals over
        months of transactions. Buckets are UTC and aligned to UTC midnight; `bucket` is a
        whole number of seconds that divides a day (15 minutes, an hour). The store does not
        know timezones (SQLite has none): a page folds 15-minute buckets into a location's
        local days or hours itself. Only buckets with a transaction are returned, oldest
        first. Energy is counted as `TransactionBucket.energy_wh` says.
        """

    # -- meter values, events, message log --------------------------------------------------

    @abstractmethod
    async def add_meter_values(self, samples: Sequence[MeterSample]) -> None:
        """Buffered: sampled values, with or without a transaction.

        An energy register sample (`register_wh`: Wh or kWh, no phase) of an open transaction
        of the same charger raises its `meter_last_wh` to the highest reading, never lowers it:
        the flush writes one row per transaction, and transaction reads see the buffered
        readings before then. A stopped transaction keeps its stop reading.
        """

    @abstractmethod
    async def meter_values(self, transaction_id: int) -> list[MeterSample]:
        """A transaction's sampled values in time order."""

    @abstractmethod
    async def meter_values_of(
        self, transaction_ids: Collection[int]
    ) -> dict[int, list[MeterSample]]:
        """Each of these transactions' sampled values in time order, by transaction id (one
        without any is left out): a page of transactions priced with one query."""

    @abstractmethod
    async def newest_meter_values(
        self, transaction_ids: Collection[int], measurands: Collection[str]
    ) -> dict[int, list[MeterSample]]:
        """Per transaction, for each of `measurands`, the samples at the newest time it was
        sampled (one per phase or location then), by transaction id; a transaction without
        any of them is left out. One query for many transactions, however long they ran:
        what a live draw (power, current per phase) needs."""

    @abstractmethod
    async def add_event(self, event: Event) -> None:
        """Buffered: something an operator should see, in the charger's history."""

    @abstractmethod
    async def events(self, identity: str | None = None, limit: int = 100) -> list[Event]:
        """The newest `limit` events (of one charger, or all), oldest first."""

    @abstractmethod
    async def log_message(self, entry: LogEntry) -> None:
        """Buffered: one OCPP frame; only the newest N per charger are kept."""

    @abstractmethod
    async def message_log(
        self, identity: str, *, limit: int = 100, after_id: int | None = None
    ) -> list[LogEntry]:
        """A charger's frames, oldest first.

        Without `after_id` the newest `limit`; with it the first `limit` after that id, so a
        tail (`chargectl logs -f`) can page forward without a gap.
        """
