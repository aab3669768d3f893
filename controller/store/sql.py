"""The store on SQLAlchemy: SQLite by default, PostgreSQL to scale out, chosen by the URL.

One class serves both; the differences are in `engine` (how to connect) and in a few words of
SQL (upserts). Buffered writes wait in a `WriteBuffer`, and a background task writes them every
`flush_interval` seconds, or as soon as `flush_rows` are waiting, in one transaction: one
executemany (one round trip) per table, and for charger rows one per set of columns changed
(heartbeats alone, connections, boots: a handful). Transactions, and forgetting key
statuses or a pending charger, commit before returning.

Reads flush first, and flushes commit as a group: a reader that finds a flush under way waits
for it, and flushes again only if it buffered something that flush did not take. Dozens of
reconciler passes reading at once thus cost a few flushes, not one each.

On SQLite one process is the only writer, so writes are serialised here, in memory, instead of
contending for the database file's lock. On PostgreSQL several replicas write at once; each
charger's session lives on one replica, the one holding its advisory lock (`coordination`,
started with the store), which is all the message log numbering relies on.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert, Update

from controller.store import rows, schema
from controller.store.base import Store
from controller.store.batching import Fetch, ReadBatcher
from controller.store.buffer import Batch, MeterLast, PendingConfiguration, WriteBuffer, log_rows
from controller.store.bulk import BulkStatement, ReadStatement
from controller.store.coordination import LOCAL, Coordination
from controller.store.engine import WRITE, create_engine, is_transient
from controller.store.urls import database_url
from controller.values.records import (
    ENERGY_REGISTER,
    BootInfo,
    ChargerCondition,
    ChargerRecord,
    ConnectorStatus,
    Event,
    KeyState,
    KeyStatus,
    LogEntry,
    MeterSample,
    ReportedKey,
    Transaction,
    TransactionBucket,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
    energy_between,
    register_wh,
    utc,
)

_log = logging.getLogger(__name__)

_IN_CHUNK = 500  # values per IN (...): well below SQLite's limit on bound parameters
_DAY_S = 86_400
_MAX_BACKOFF_S = 30.0
_SCHEMA_LOCK = 0x63746C  # PostgreSQL advisory lock: replicas starting together create once
_RING_SETTING = "log_limit_per_charger"

_tx = schema.transactions
_log_table = schema.message_log
_STATUS_KEY = ("identity", "connector_id")
_LOG_KEY = ("identity", "slot")
_CONFIG_KEY = _KEY_STATUS_KEY = ("identity", "key")
_keys = schema.key_status
_conditions = schema.charger_conditions
_config = schema.reported_config
_config_delete = _config.delete().where(_config.c.identity == bindparam("identity"))


def _raise_meter_last() -> Update:
    """Raise an open transaction's `meter_last_wh` to a batch's highest register reading (and
    its `updated_at` to that reading's time), if it is higher: never down, nor once stopped
    (the stop reading is final), nor for another charger's transaction id."""
    wh = bindparam("reading_wh", type_=BigInteger)
    taken_at = bindparam("reading_at", type_=schema.UtcDateTime())
    return (
        _tx.update()
        .where(
            _tx.c.id == bindparam("transaction_id", type_=BigInteger),
            _tx.c.identity == bindparam("charger", type_=String),
            _tx.c.stopped_at.is_(None),
            or_(_tx.c.meter_last_wh.is_(None), _tx.c.meter_last_wh < wh),
        )
        .values(
            meter_last_wh=wh,
            updated_at=case(
                (or_(_tx.c.updated_at.is_(None), _tx.c.updated_at < taken_at), taken_at),
                else_=_tx.c.updated_at,
            ),
        )
    )


_meter_last_update = _raise_meter_last()


class SqlStore(Store):
    """The `Store` for SQLite and PostgreSQL URLs (see `urls.database_url`)."""

    def __init__(
        self,
        url: str,
        *,
        log_limit_per_charger: int = 1000,
        flush_interval: float = 0.5,
        flush_rows: int = 5000,
        max_queued: int = 500_000,
    ) -> None:
        if log_limit_per_charger < 1:
            raise ValueError("log_limit_per_charger must be at least 1")
        self.url = database_url(url)
        self._ring = log_limit_per_charger
        self._interval = flush_interval
        self._flush_rows = flush_rows
        self._buffer = WriteBuffer(max_queued)
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None
        self._postgres = self.url.get_backend_name() == "postgresql"
        self._serial: AbstractAsyncContextManager[Any] = (
            nullcontext() if self._postgres else asyncio.Lock()
        )
        self._flush_lock = asyncio.Lock()
        self._flushed = 0
        """The buffer's `version` when the last flush that succeeded took it."""
        self._in_flight: Batch | None = None
        """The batch a flush is writing, until it is committed (or put back)."""
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._upserts: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Insert] = {}
        self._bulks: dict[tuple[str, tuple[str, ...], tuple[str, ...]], BulkStatement] = {}
        self._conditions_bulk: BulkStatement | None = None
        self._read_statements: dict[_Read, ReadStatement] = {}
        self._batched_statements: dict[tuple[_Read, int], ReadStatement] = {}
        self._batchers = {
            read: ReadBatcher(self._fetcher(read), _BATCH_SIZES[-1]) for read in _Read
        }
        """Per-charger reads of the reconciler's path, asked together, fetched together."""
        self._next_seq: dict[str, int] = {}
        """Next message log number per charger, once read from the database."""
        self._coordination: Coordination = LOCAL

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine, for tools and tests that need SQL the interface lacks."""
        if self._engine is None:
            raise RuntimeError("the store is not open")
        return self._engine

    @property
    def coordination(self) -> Coordination:
        """How this process agrees with the other replicas sharing the database: on PostgreSQL
        a `replicas.PgCoordination` (started with the store), on SQLite `coordination.LOCAL`."""
        return self._coordination

    @property
    def dropped(self) -> int:
        """Buffered rows discarded because the database was unavailable for too long."""
        return self._buffer.dropped

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        if self._engine is not None:
            return
        engine = create_engine(self.url)
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        try:
            async with self._write() as conn:
                await self._prepare(conn)
            if self._postgres:
                from controller.store.replicas import PgCoordination

                coordination = PgCoordination(engine, self.url)
                await coordination.start()
                self._coordination = coordination
        except BaseException:
            self._engine = self._writer = None
            self._coordination = LOCAL
            await engine.dispose()
            raise
        self._flusher = asyncio.create_task(self._flush_periodically(), name="store-flush")

    async def close(self) -> None:
        if self._engine is None:
            return
        for batcher in self._batchers.values():
            await batcher.close()
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        try:
            await self.flush()
        finally:
            coordination, self._coordination = self._coordination, LOCAL
            await coordination.close()  # its locks go with its connection
            engine, self._engine, self._writer = self._engine, None, None
            await engine.dispose()

    async def flush(self) -> None:
        version = self._buffer.version
        if self._flushed >= version:
            return  # everything added so far is committed (or was unwritable and dropped)
        # Shielded: a reader that gives up must not abandon a batch halfway through its commit.
        await asyncio.shield(self._flush(version))

    async def _flush(self, version: int) -> None:
        """Write what was buffered up to `version`, unless a flush since has taken it."""
        async with self._flush_lock:
            if self._flushed >= version or self._engine is None:
                return
            taken = self._buffer.version
            if not len(self._buffer):  # what was added has been cancelled since
                self._flushed = taken
                return
            batch = self._in_flight = self._buffer.take()
            try:
                await self._write_batch(batch)
            except BaseException as error:
                if is_transient(error):
                    self._buffer.put_back(batch)
                    raise
                _log.error("store: dropped %d buffered rows, unwritable: %s", len(batch), error)
            finally:
                self._in_flight = None
            self._flushed = taken

    async def _flush_periodically(self) -> None:
        backoff = 0.0
        while True:
            if backoff:
                await asyncio.sleep(backoff)
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Python 3.11's wait_for returns the result and swallows the cancellation
                    # when it comes as the event is set (a full buffer's wake, then `close`):
                    # without this, close waited for this loop forever.
                    raise asyncio.CancelledError
            self._wake.clear()
            try:
                await self.flush()
                backoff = 0.0
            except Exception as error:
                backoff = min(max(2 * backoff, self._interval), _MAX_BACKOFF_S)
                _log.warning("store: flush failed, retrying in %.1f s: %s", backoff, error)

    async def _prepare(self, conn: AsyncConnection) -> None:
        if self._postgres:
            await conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        await conn.run_sync(schema.metadata.create_all)
        for added in await conn.run_sync(schema.add_missing_columns):
            _log.info("store: added column %s", added)
        for added in await conn.run_sync(schema.add_missing_indexes):
            _log.info("store: created index %s", added)
        settings = schema.store_settings
        stored = (
            await conn.execute(select(settings.c.value).where(settings.c.name == _RING_SETTING))
        ).scalar_one_or_none()
        if stored == str(self._ring):
            return
        if stored is not None:
            await self._resize_log_rings(conn)
        await conn.execute(
            self._upsert(settings, ["name"], ["value"]),
            {"name": _RING_SETTING, "value": str(self._ring)},
        )

    async def _resize_log_rings(self, conn: AsyncConnection) -> None:
        """Keep each charger's newest `log_limit_per_charger` frames, in the slots they now get.

        Runs once, when the limit changed since the last start. The newest frame always stays,
        so numbering goes on from it and a tail never sees a number twice.
        """
        log, other = _log_table, _log_table.alias("newer")
        newest = select(func.max(other.c.seq)).where(other.c.identity == log.c.identity)
        await conn.execute(log.delete().where(log.c.seq <= newest.scalar_subquery() - self._ring))
        # Through negative slots, so that no two rows ever hold the same slot on the way.
        await conn.execute(log.update().values(slot=-1 - log.c.seq % self._ring))
        await conn.execute(log.update().values(slot=-1 - log.c.slot))

    # -- chargers ---------------------------------------------------------------------------

    async def record_boot(self, identity: str, boot: BootInfo, at: datetime) -> None:
        self._set_charger(identity, booted_at=utc(at), **rows.boot_values(boot))

    async def record_connected(
        self, identity: str, at: datetime, remote: str | None, ocpp_version: str
    ) -> None:
        self._next_seq.pop(identity, None)  # another replica may have logged for it meanwhile
        self._set_charger(
            identity,
            pending=False,
            connected=True,
            connected_at=utc(at),
            remote_address=remote,
            ocpp_version=ocpp_version,
            pending_since=None,
            pending_location=None,
        )

    async def record_disconnected(self, identity: str, at: datetime, reason: str | None) -> None:
        self._next_seq.pop(identity, None)
        self._set_charger(
            identity, connected=False, disconnected_at=utc(at), disconnect_reason=reason
        )

    async def record_pending(
        self, identity: str, at: datetime, remote: str | None, location: str | None = None
    ) -> None:
        self._next_seq.pop(identity, None)
        connected_at = utc(at)
        # Pending already: the upsert keeps the stored time (`_build_upsert`), this the buffered.
        waiting = self._buffer.waiting.chargers.get(identity) or {}
        since = waiting.get("pending_since") if waiting.get("pending") else None
        self._set_charger(
            identity,
            pending=True,
            pending_since=since or connected_at,
            pending_location=location,
            connected=True,
            connected_at=connected_at,
            remote_address=remote,
        )

    async def pending_chargers(self) -> list[ChargerRecord]:
        await self.flush()
        chargers, status = schema.chargers, schema.connector_status
        query = (
            select(chargers)
            .where(chargers.c.pending.is_(True))
            .order_by(chargers.c.pending_since.asc().nulls_first(), chargers.c.identity)
        )
        async with self._read() as conn:
            charger_rows = list(await conn.execute(query))
            identities = [row.identity for row in charger_rows]
            status_rows = await _select_in(conn, select(status), status.c.identity, identities)
        connectors: dict[str, list[ConnectorStatus]] = {}
        for row in status_rows:
            connectors.setdefault(row.identity, []).append(rows.connector_status(row))
        return [
            rows.charger_record(row, connectors.get(row.identity, ()), None) for row in charger_rows
        ]

    async def forget_pending(self, identity: str) -> bool:
        await self.flush()
        chargers = schema.chargers
        # Under the flush lock: no batch is being written meanwhile, so none can write the
        # charger's rows back after these deletes.
        async with self._flush_lock:
            async with self._write() as conn:
                deleted = await conn.execute(
                    chargers.delete().where(
                        chargers.c.identity == identity, chargers.c.pending.is_(True)
                    )
                )
                if not deleted.rowcount:
                    return False
                for table in _FORGOTTEN_WITH_A_CHARGER:
                    await conn.execute(table.delete().where(table.c.identity == identity))
            self._buffer.forget_charger(identity)
            self._next_seq.pop(identity, None)
        return True

    async def record_heartbeat(self, identity: str, at: datetime) -> None:
        self._check_open()
        self._buffer.heartbeat(identity, utc(at))
        self._poke()

    async def record_status(self, status: ConnectorStatus) -> None:
        self._check_open()
        utc(status.timestamp)
        self._buffer.status(status)
        self._poke()

    async def record_configuration(
        self,
        identity: str,
        values: Sequence[ReportedKey],
        at: datetime,
        *,
        partial: bool = False,
    ) -> None:
        self._check_open()
        self._buffer.configuration(identity, values, utc(at), partial=partial)
        self._poke()

    async def charger(self, identity: str) -> ChargerRecord | None:
        found = await self.chargers(identities=[identity], configuration=True)
        return found[0] if found else None

    async def chargers(
        self,
        *,
        identities: Collection[str] | None = None,
        configuration: bool = False,
    ) -> list[ChargerRecord]:
        await self.flush()
        if identities is not None and len(identities) == 1 and not configuration:
            return await self._one_charger(next(iter(identities)))
        chargers, status, config = schema.chargers, schema.connector_status, schema.reported_config
        async with self._read() as conn:
            charger_rows = await _select_in(conn, select(chargers), chargers.c.identity, identities)
            status_rows = await _select_in(conn, select(status), status.c.identity, identities)
            config_rows = (
                await _select_in(conn, select(config), config.c.identity, identities)
                if configuration
                else []
            )
        connectors: dict[str, list[ConnectorStatus]] = {}
        for row in status_rows:
            connectors.setdefault(row.identity, []).append(rows.connector_status(row))
        keys: dict[str, list[ReportedKey]] = {}
        for row in config_rows:
            keys.setdefault(row.identity, []).append(rows.reported_key(row))
        return sorted(
            (
                rows.charger_record(
                    row,
                    connectors.get(row.identity, ()),
                    sorted(keys.get(row.identity, ()), key=lambda k: k.key)
                    if configuration
                    else None,
                )
                for row in charger_rows
            ),
            key=lambda record: record.identity,
        )

    async def _one_charger(self, identity: str) -> list[ChargerRecord]:
        """The reconciler's read on every pass: one statement, one round trip."""
        found = await self._batchers[_Read.CHARGER].get(identity)
        if not found:
            return []
        connectors = [rows.connector_status(status) for _, status in found if status is not None]
        return [rows.charger_record(found[0][0], connectors, None)]

    # -- reconciler ---------------------------------------------------------------------------

    async def record_key_statuses(self, statuses: Sequence[KeyStatus]) -> None:
        self._check_open()
        if not statuses:
            return
        for status in statuses:  # refused now, not when the batch is written
            KeyState(status.state)
            utc(status.at)
        self._buffer.key_statuses(statuses)
        self._poke()

    async def key_statuses(self, identity: str | None = None) -> list[KeyStatus]:
        if identity is None or self._waiting(lambda batch: identity in batch.key_statuses):
            await self.flush()
        if identity is None:
            async with self._read() as conn:
                found = await self._reads(_Read.KEY_STATUSES).fetch(conn)
        else:
            found = await self._batchers[_Read.KEY_STATUSES].get(identity)
        return [rows.key_status(row) for (row,) in found]

    async def forget_key_statuses(self, identity: str, keys: Collection[str]) -> None:
        if not keys:
            return
        # Under the flush lock: no batch is being written meanwhile, so none can put the
        # statuses back into the buffer, or write them after this delete.
        async with self._flush_lock:
            self._buffer.forget_key_statuses(identity, keys)
            async with self._write() as conn:
                for chunk in _chunks(sorted(set(keys))):
                    await conn.execute(
                        _keys.delete().where(_keys.c.identity == identity, _keys.c.key.in_(chunk))
                    )

    async def record_conditions(self, conditions: Sequence[ChargerCondition]) -> None:
        self._check_open()
        for condition in conditions:
            utc(condition.last_transition_time)
        for condition in conditions:
            self._buffer.condition(condition)
        self._poke()

    async def conditions(
        self, identity: str | None = None, *, identities: Collection[str] | None = None
    ) -> list[ChargerCondition]:
        await self.flush()
        query = select(_conditions).order_by(_conditions.c.identity, _conditions.c.type)
        if identity is not None:
            query = query.where(_conditions.c.identity == identity)
        async with self._read() as conn:
            found = await _select_in(conn, query, _conditions.c.identity, identities)
        return [rows.condition(row) for row in found]

    # -- transactions -----------------------------------------------------------------------

    async def start_transaction(self, start: TransactionStart) -> Transaction:
        started_at = utc(start.started_at)
        same = _same_start(start, started_at)
        try:
            async with self._write() as conn:
                existing = (await conn.execute(select(_tx).where(same).limit(1))).first()
                if existing is not None:
                    return rows.transaction(existing)
                row = (
                    await conn.execute(
                        _tx.insert()
                        .values(
                            identity=start.identity,
                            connector_id=start.connector_id,
                            id_tag=start.id_tag,
                            charger_transaction_id=start.charger_transaction_id,
                            started_at=started_at,
                            meter_start_wh=start.meter_start_wh,
                            meter_last_wh=start.meter_start_wh,
                            updated_at=started_at,
                        )
                        .returning(*_tx.c)
                    )
                ).one()
        except IntegrityError:
            # The same 2.0.1 transaction started by two requests at once: the other one won.
            async with self._read() as conn:
                existing = (await conn.execute(select(_tx).where(same).limit(1))).first()
            if existing is None:
                raise
            return rows.transaction(existing)
        return rows.transaction(row)

    async def update_transaction(self, update: TransactionUpdate) -> Transaction | None:
        at = utc(update.at)
        key = _transaction_key(
            update.identity, update.transaction_id, update.charger_transaction_id
        )
        async with self._write() as conn:
            row = (await conn.execute(select(_tx).where(key).with_for_update())).first()
            if row is None or row.stopped_at is not None:  # a stopped transaction is final
                return None if row is None else rows.transaction(row)
            values: dict[str, Any] = {"updated_at": at}
            if update.id_tag is not None:
                values["id_tag"] = update.id_tag
            if update.connector_id is not None:
                values["connector_id"] = update.connector_id
            if update.meter_wh is not None:
                if row.meter_last_wh is None or update.meter_wh > row.meter_last_wh:
                    values["meter_last_wh"] = update.meter_wh  # the highest: never down
                if row.meter_start_wh is None:
                    values["meter_start_wh"] = update.meter_wh
            updated = await conn.execute(
                _tx.update().where(_tx.c.id == row.id).values(values).returning(*_tx.c)
            )
            [transaction] = self._transactions([updated.one()], [])
            return transaction

    async def stop_transaction(self, stop: TransactionStop) -> Transaction | None:
        stopped_at = utc(stop.stopped_at)
        key = _transaction_key(stop.identity, stop.transaction_id, stop.charger_transaction_id)
        async with self._write() as conn:
            row = (await conn.execute(select(_tx).where(key).with_for_update())).first()
            if row is None or row.stopped_at is not None:  # repeated stop: the first one holds
                return None if row is None else rows.transaction(row)
            meter_stop = stop.meter_stop_wh
            if meter_stop is None:  # the highest reading so far, buffered ones included
                meter_stop = self._transactions([row], [])[0].meter_last_wh
            updated = await conn.execute(
                _tx.update()
                .where(_tx.c.id == row.id)
                .values(
                    stopped_at=stopped_at,
                    updated_at=stopped_at,
                    meter_stop_wh=meter_stop,
                    meter_last_wh=meter_stop,
                    stop_reason=stop.reason,
                    stop_id_tag=stop.id_tag,
                    energy_wh=energy_between(row.meter_start_wh, meter_stop),
                )
                .returning(*_tx.c)
            )
            return rows.transaction(updated.one())

    async def transaction(self, transaction_id: int) -> Transaction | None:
        batches = self._meter_batches()
        async with self._read() as conn:
            row = (await conn.execute(select(_tx).where(_tx.c.id == transaction_id))).first()
        return None if row is None else self._transactions([row], batches)[0]

    async def open_transactions(self, identity: str) -> list[Transaction]:
        batches = self._meter_batches()
        found = await self._batchers[_Read.OPEN_TRANSACTIONS].get(identity)
        return self._transactions([row for (row,) in found], batches)

    async def transactions(
        self,
        *,
        identities: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Transaction]:
        query = select(_tx)
        if since is not None:
            query = query.where(_tx.c.started_at >= utc(since))
        if until is not None:
            query = query.where(_tx.c.started_at < utc(until))
        batches = self._meter_batches()
        async with self._read() as conn:
            found = await _select_in(conn, query, _tx.c.identity, identities)
        return sorted(self._transactions(found, batches), key=lambda t: (t.started_at, t.id))

    async def open_transactions_of(
        self, identities: Collection[str] | None = None
    ) -> list[Transaction]:
        wanted = None if identities is None else set(identities)
        if wanted is not None and not wanted:
            return []
        query = select(_tx).where(_tx.c.stopped_at.is_(None))  # ix_transactions_open
        batches = self._meter_batches()
        async with self._read() as conn:
            if wanted is not None and len(wanted) <= _IN_CHUNK:
                found = list(await conn.execute(query.where(_tx.c.identity.in_(sorted(wanted)))))
            else:
                # Open transactions are few (one per connector at most): reading them all and
                # keeping these chargers' is one query where IN lists would be many.
                found = [
                    row
                    for row in await conn.execute(query)
                    if wanted is None or row.identity in wanted
                ]
        return sorted(self._transactions(found, batches), key=lambda t: (t.started_at, t.id))

    async def transaction_totals(
        self,
        *,
        since: datetime,
        until: datetime,
        bucket: timedelta,
        identities: Collection[str] | None = None,
    ) -> list[TransactionBucket]:
        seconds = bucket.total_seconds()
        if seconds <= 0 or seconds != int(seconds) or _DAY_S % int(seconds):
            raise ValueError(f"a bucket of {bucket} does not divide a day in whole seconds")
        width = int(seconds)
        start, end = utc(since), utc(until)
        if identities is not None and not identities or end <= start:
            return []
        now = min(end, datetime.now(UTC))
        totals = self._totals_query(width, now)
        opened = select(_tx).where(_tx.c.stopped_at.is_(None))
        in_range = and_(_tx.c.started_at >= start, _tx.c.started_at < end)
        sums: dict[int, list[int]] = {}
        async with self._read() as conn:
            for chunk in [None] if identities is None else _chunks(sorted(set(identities))):
                where = in_range if chunk is None else and_(in_range, _tx.c.identity.in_(chunk))
                for index, *values in await conn.execute(totals(where)):
                    into = sums.setdefault(int(index), [0] * 5)
                    for i, value in enumerate(values):
                        into[i] += int(round(value or 0))
            open_rows = await _select_in(conn, opened.where(in_range), _tx.c.identity, identities)
        # Open transactions' energy so far, from their highest register reading: in Python,
        # as `register_wh` reads a sample (units, decimal text); they are few. `meter_last_wh`
        # holds it once the buffer is flushed (`add_meter_values`); the newest samples are
        # still read for rows read before that flush, and for transactions whose samples were
        # stored before meter values raised `meter_last_wh`.
        registers = await self.newest_meter_values([row.id for row in open_rows], [ENERGY_REGISTER])
        for row in open_rows:
            readings = [register_wh(s) for s in registers.get(row.id, ())]
            last = max([r for r in readings if r is not None], default=None)
            if row.meter_last_wh is not None and (last is None or row.meter_last_wh > last):
                last = row.meter_last_wh
            energy = energy_between(row.meter_start_wh, last)
            # Started since the GROUP BY read (PostgreSQL reads each statement afresh): count it.
            into = sums.setdefault(_bucket_of(row.started_at, width), [1, 1, 0, 0, 0])
            if energy is None:
                into[3] += 1
            else:
                into[2] += energy
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return [
            TransactionBucket(
                start=epoch + timedelta(seconds=index * width),
                sessions=values[0],
                open=values[1],
                energy_wh=values[2],
                unmetered=values[3],
                busy_seconds=values[4],
            )
            for index, values in sorted(sums.items())
        ]

    def _totals_query(
        self, width: int, now: datetime
    ) -> Callable[[ColumnElement[bool]], Select[Any]]:
        """The GROUP BY of `transaction_totals`, for a WHERE clause: per bucket number (seconds
        since the epoch // `width`), sessions, open ones, stopped ones' energy and unmetered
        ones, and durations (open ones' until `now`). The bucket is computed in a subquery so
        the outer GROUP BY names a column, not an expression both dialects must match."""
        started, stopped = _tx.c.started_at, _tx.c.stopped_at
        until_now = func.coalesce(stopped, bindparam("now", now, type_=schema.UtcDateTime()))
        size = literal_column(str(width), Integer)  # an int of ours: no bound parameter
        if self._postgres:
            number: ColumnElement[Any] = sql_cast(
                func.floor(extract("epoch", started) / size), BigInteger
            )
            duration: ColumnElement[Any] = sql_cast(extract("epoch", until_now - started), Float)
        else:
            # UTC text: strftime('%s') is seconds since the epoch; integer division floors.
            number = sql_cast(func.strftime("%s", started), Integer).op("/")(size)
            duration = (func.julianday(until_now) - func.julianday(started)) * literal_column(
                "86400.0", Float
            )

        def query(where: ColumnElement[bool]) -> Select[Any]:
            inner = (
                select(
                    number.label("bucket"),
                    stopped.label("stopped_at"),
                    _tx.c.energy_wh.label("energy_wh"),
                    duration.label("duration"),
                )
                .where(where)
                .subquery("started")
            )
            row = inner.c
            is_open = row.stopped_at.is_(None)
            return select(
                row.bucket,
                func.count(),
                func.sum(case((is_open, 1), else_=0)),
                func.sum(case((is_open, None), else_=row.energy_wh)),
                func.sum(case((and_(~is_open, row.energy_wh.is_(None)), 1), else_=0)),
                func.sum(case((row.duration > 0, row.duration), else_=0.0)),
            ).group_by(row.bucket)

        return query

    # -- meter values, events, message log --------------------------------------------------

    async def add_meter_values(self, samples: Sequence[MeterSample]) -> None:
        self._check_open()
        for sample in samples:
            utc(sample.timestamp)
        self._buffer.meter_values(samples)
        self._poke()

    async def meter_values(self, transaction_id: int) -> list[MeterSample]:
        await self.flush()
        meter = schema.meter_values
        query = (
            select(meter)
            .where(meter.c.transaction_id == transaction_id)
            .order_by(meter.c.at, meter.c.id)
        )
        async with self._read() as conn:
            return [rows.meter_sample(row) for row in await conn.execute(query)]

    async def meter_values_of(
        self, transaction_ids: Collection[int]
    ) -> dict[int, list[MeterSample]]:
        ids = sorted(set(transaction_ids))
        if not ids:
            return {}
        await self.flush()
        meter = schema.meter_values
        query = select(meter).order_by(meter.c.transaction_id, meter.c.at, meter.c.id)
        async with self._read() as conn:
            return await _samples_by_transaction(conn, query, meter.c.transaction_id, ids)

    async def newest_meter_values(
        self, transaction_ids: Collection[int], measurands: Collection[str]
    ) -> dict[int, list[MeterSample]]:
        ids, names = sorted(set(transaction_ids)), sorted(set(measurands))
        if not ids or not names:
            return {}
        await self.flush()
        meter, older = schema.meter_values, schema.meter_values.alias("older")
        wanted = union_all(*(select(literal(n, String).label("measurand")) for n in names))
        kinds = wanted.subquery("wanted")
        # Driven by (transaction, measurand) pairs, so the newest time of each is one seek in
        # ix_meter_values_transaction_id_measurand_at and its samples one more: the cost does
        # not grow with how many samples a transaction has. Only stored transactions count.
        newest = (
            select(func.max(older.c.at))
            .where(older.c.transaction_id == _tx.c.id, older.c.measurand == kinds.c.measurand)
            .scalar_subquery()
        )
        joined = _tx.join(kinds, true()).join(
            meter,
            and_(
                meter.c.transaction_id == _tx.c.id,
                meter.c.measurand == kinds.c.measurand,
                meter.c.at == newest,
            ),
        )
        query = select(meter).select_from(joined).order_by(meter.c.transaction_id, meter.c.id)
        async with self._read() as conn:
            return await _samples_by_transaction(conn, query, _tx.c.id, ids)

    async def add_event(self, event: Event) -> None:
        self._check_open()
        utc(event.at)
        self._buffer.event(event)
        self._poke()

    async def events(self, identity: str | None = None, limit: int = 100) -> list[Event]:
        await self.flush()
        events = schema.events
        query = select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
        if identity is not None:
            query = query.where(events.c.identity == identity)
        async with self._read() as conn:
            found = [rows.event(row) for row in await conn.execute(query)]
        return found[::-1]

    async def log_message(self, entry: LogEntry) -> None:
        self._check_open()
        utc(entry.at)
        self._buffer.log(entry)
        self._poke()

    async def message_log(
        self, identity: str, *, limit: int = 100, after_id: int | None = None
    ) -> list[LogEntry]:
        await self.flush()
        query = select(_log_table).where(_log_table.c.identity == identity).limit(limit)
        if after_id is None:
            query = query.order_by(_log_table.c.seq.desc())
        else:
            query = query.where(_log_table.c.seq > after_id).order_by(_log_table.c.seq)
        async with self._read() as conn:
            found = [rows.log_entry(row) for row in await conn.execute(query)]
        return found[::-1] if after_id is None else found

    # -- helpers ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._flusher is None:
            raise RuntimeError("the store is not open")

    def _poke(self) -> None:
        if len(self._buffer) >= self._flush_rows:
            self._wake.set()

    def _meter_batches(self) -> list[Batch]:
        """The batches whose `meter_last` a transaction read lays over its rows: taken before
        the read, as a flush may take the buffer and commit meanwhile (`_transactions` looks
        at these and at those of when the read is done)."""
        in_flight = self._in_flight
        waiting = self._buffer.waiting
        return [waiting] if in_flight is None else [waiting, in_flight]

    def _transactions(self, found: Iterable[Row[Any]], before: list[Batch]) -> list[Transaction]:
        """Transaction rows as read, with the buffered register readings laid over them: those
        of the batches `before` the read and of those buffered or in flight now."""
        batches = [batch for batch in (*before, *self._meter_batches()) if batch.meter_last]
        if not batches:
            return [rows.transaction(row) for row in found]
        return [_with_buffered(rows.transaction(row), batches) for row in found]

    def _waiting(self, holds: Callable[[Batch], bool]) -> bool:
        """Whether the buffer, or a batch being written, holds rows a read must see."""
        in_flight = self._in_flight
        return holds(self._buffer.waiting) or (in_flight is not None and holds(in_flight))

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        async with self._serial, self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    def _reads(self, read: _Read) -> ReadStatement:
        """The statement of `read` for every charger, compiled once for the dialect."""
        statement = self._read_statements.get(read)
        if statement is None:
            query, tables = _READS[read](None)
            statement = ReadStatement(query, self.engine.dialect, tables, ())
            self._read_statements[read] = statement
        return statement

    def _fetcher(self, read: _Read) -> Fetch[tuple[Any, ...]]:
        """Reads `read` for a batch of chargers in one statement: rows by identity.

        The statement is compiled once per size in `_BATCH_SIZES` (`identity IN (?, ?, ...)`,
        the same words in both dialects); a batch between two sizes repeats its last identity,
        which IN ignores."""

        async def fetch(identities: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
            size = next(n for n in _BATCH_SIZES if n >= len(identities))
            statement = self._batched_statements.get((read, size))
            if statement is None:
                query, tables = _READS[read](size)
                params = tuple(f"i{n}" for n in range(size))
                statement = ReadStatement(query, self.engine.dialect, tables, params)
                self._batched_statements[read, size] = statement
            last = len(identities) - 1
            args = {f"i{n}": identities[min(n, last)] for n in range(size)}
            async with self._read() as conn:
                found = await statement.fetch(conn, **args)
            by_identity: dict[str, list[tuple[Any, ...]]] = {}
            for row in found:
                by_identity.setdefault(row[0].identity, []).append(row)
            return by_identity

        return fetch

    def _upsert(self, table: Table, keys: list[str], columns: Iterable[str]) -> Insert:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET columns: same words in both dialects.

        Built once per shape: building one costs more than executing it on SQLite.
        """
        shape = (table.name, tuple(keys), tuple(columns))
        upsert = self._upserts.get(shape)
        if upsert is None:
            upsert = self._upserts[shape] = self._build_upsert(table, keys, shape[2])
        return upsert

    def _build_upsert(self, table: Table, keys: list[str], columns: Iterable[str]) -> Insert:
        """The new values replace the stored ones, except a pending charger's `pending_since`:
        recorded pending again, a charger that was pending keeps when it first was."""
        insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
        new = insert.excluded
        values: dict[str, Any] = {c: new[c] for c in columns}
        if table is schema.chargers and "pending_since" in values:
            old = table.c
            values["pending_since"] = case(
                (
                    and_(old.pending, new.pending),
                    func.coalesce(old.pending_since, new.pending_since),
                ),
                else_=new.pending_since,
            )
        return insert.on_conflict_do_update(index_elements=keys, set_=values)

    def _set_charger(self, identity: str, **values: Any) -> None:
        self._check_open()
        self._buffer.charger(identity, values)
        self._poke()

    def _bulk(
        self, table: Table, columns: Sequence[str], conflict: Sequence[str] = ()
    ) -> BulkStatement:
        """The insert of `columns` into `table` (an upsert on `conflict`), compiled once."""
        shape = (table.name, tuple(conflict), tuple(columns))
        bulk = self._bulks.get(shape)
        if bulk is None:
            statement = (
                self._upsert(table, list(conflict), [c for c in columns if c not in conflict])
                if conflict
                else table.insert()
            )
            bulk = self._bulks[shape] = BulkStatement(statement, self.engine.dialect, columns)
        return bulk

    def _condition_upsert(self, columns: Sequence[str]) -> BulkStatement:
        """The upsert of conditions that keeps the stored transition time if status is the same.

        Decided in the database, row by row, so it holds whatever another writer stored.
        """
        if self._conditions_bulk is None:
            insert = (postgresql.insert if self._postgres else sqlite.insert)(_conditions)
            new, old = insert.excluded, _conditions.c
            statement = insert.on_conflict_do_update(
                index_elements=["identity", "type"],
                set_={
                    "status": new.status,
                    "reason": new.reason,
                    "message": new.message,
                    "observed_generation": new.observed_generation,
                    "last_transition_time": case(
                        (old.status == new.status, old.last_transition_time),
                        else_=new.last_transition_time,
                    ),
                },
            )
            self._conditions_bulk = BulkStatement(statement, self.engine.dialect, columns)
        return self._conditions_bulk

    async def _write_batch(self, batch: Batch) -> None:
        next_seq: dict[str, int] = {}
        async with self._write() as conn:
            for columns, changes in _by_columns(batch.chargers).items():
                await self._bulk(schema.chargers, columns, ["identity"]).execute(conn, changes)
            if batch.statuses:
                statuses = [rows.status_row(s) for s in batch.statuses.values()]
                bulk = self._bulk(schema.connector_status, tuple(statuses[0]), _STATUS_KEY)
                await bulk.execute(conn, statuses)
            if batch.conditions:
                conditions = [rows.condition_row(c) for c in batch.conditions.values()]
                await self._condition_upsert(tuple(conditions[0])).execute(conn, conditions)
            if batch.configuration:
                await self._write_configuration(conn, batch.configuration)
            if batch.key_statuses:
                statuses = [
                    rows.key_status_row(s)
                    for keys in batch.key_statuses.values()
                    for s in keys.values()
                ]
                bulk = self._bulk(_keys, tuple(statuses[0]), _KEY_STATUS_KEY)
                await bulk.execute(conn, statuses)
            if batch.meter_values:
                samples = [rows.meter_row(m) for m in batch.meter_values]
                await self._bulk(schema.meter_values, tuple(samples[0])).execute(conn, samples)
            if batch.meter_last:
                # One row per transaction, in id order (replicas handing a charger over may
                # both write it: the same order takes the row locks without a deadlock).
                readings = [
                    {
                        "transaction_id": transaction_id,
                        "charger": identity,
                        "reading_wh": reading.wh,
                        "reading_at": reading.at,
                    }
                    for (identity, transaction_id), reading in sorted(
                        batch.meter_last.items(), key=lambda item: (item[0][1], item[0][0])
                    )
                ]
                await conn.execute(_meter_last_update, readings)
            if batch.events:
                await conn.execute(
                    schema.events.insert(), [rows.event_row(e) for e in batch.events]
                )
            if batch.log:
                first = await self._log_sequences(conn, {entry.identity for entry in batch.log})
                log, next_seq = log_rows(batch.log, first, self._ring)
                await self._bulk(_log_table, tuple(log[0]), _LOG_KEY).execute(conn, log)
        self._next_seq.update(next_seq)

    async def _write_configuration(
        self, conn: AsyncConnection, pending: dict[str, PendingConfiguration]
    ) -> None:
        """Full reports delete the charger's stored keys first; then every value is upserted.

        A charger's entry is already the net effect of its reports in this batch, in order.
        """
        replaced = [{"identity": i} for i, p in pending.items() if p.replace]
        if replaced:
            await conn.execute(_config_delete, replaced)
        values = [
            {"identity": identity, "key": key, "value": v.value, "readonly": v.readonly}
            for identity, p in pending.items()
            for key, v in p.values.items()
        ]
        if values:
            bulk = self._bulk(_config, ("identity", "key", "value", "readonly"), _CONFIG_KEY)
            await bulk.execute(conn, values)

    async def _log_sequences(self, conn: AsyncConnection, identities: set[str]) -> dict[str, int]:
        """The next log number of each charger: from memory, or (once) from the database."""
        known = {i: self._next_seq[i] for i in identities if i in self._next_seq}
        unknown = sorted(identities - known.keys())
        for chunk in _chunks(unknown):
            result = await conn.execute(
                select(_log_table.c.identity, func.max(_log_table.c.seq))
                .where(_log_table.c.identity.in_(chunk))
                .group_by(_log_table.c.identity)
            )
            last: dict[str, int] = {identity: seq for identity, seq in result}
            known.update((i, (last.get(i) or 0) + 1) for i in chunk)
        return known


class _Read(enum.Enum):
    """The reads on the reconciler's path, run as `ReadStatement`s: for every charger, or
    batched for some (see `_fetcher`)."""

    CHARGER = enum.auto()
    KEY_STATUSES = enum.auto()
    OPEN_TRANSACTIONS = enum.auto()


_FORGOTTEN_WITH_A_CHARGER = (
    schema.connector_status,
    schema.reported_config,
    schema.key_status,
    schema.charger_conditions,
    schema.events,
    schema.message_log,
)
"""What `forget_pending` deletes besides the charger's row: all that is kept by its identity
except transactions and meter values."""

_BATCH_SIZES = (1, 4, 16, 64, 256)
"""Batch sizes a statement is compiled for; the last is the most identities one read asks."""

_status = schema.connector_status


def _with_buffered(transaction: Transaction, batches: Iterable[Batch]) -> Transaction:
    """The transaction with its highest register reading in `batches`, if that is higher than
    its `meter_last_wh` and it is open: what a flush will write."""
    if not transaction.is_open:
        return transaction
    key = transaction.identity, transaction.id
    best: MeterLast | None = None
    for batch in batches:
        reading = batch.meter_last.get(key)
        if reading is not None:
            best = reading.higher(best)
    if best is None or (
        transaction.meter_last_wh is not None and best.wh <= transaction.meter_last_wh
    ):
        return transaction
    updated_at = transaction.updated_at
    return dataclass_replace(
        transaction,
        meter_last_wh=best.wh,
        updated_at=best.at if updated_at is None or best.at > updated_at else updated_at,
    )


def _of(column: Any, size: int | None) -> ColumnElement[bool]:
    """`column` IN (:i0, ..., :i<size-1>), or true for every charger (`size` None)."""
    if size is None:
        return true()
    return cast(ColumnElement[bool], column.in_([bindparam(f"i{n}") for n in range(size)]))


_READS: dict[_Read, Callable[[int | None], tuple[Select[Any], tuple[Table, ...]]]] = {
    # The primary keys' indexes find the chargers and their connectors: no other row is read.
    _Read.CHARGER: lambda size: (
        select(schema.chargers, _status)
        .select_from(
            schema.chargers.outerjoin(_status, _status.c.identity == schema.chargers.c.identity)
        )
        .where(_of(schema.chargers.c.identity, size))
        .order_by(schema.chargers.c.identity, _status.c.connector_id),
        (schema.chargers, _status),
    ),
    _Read.KEY_STATUSES: lambda size: (
        select(_keys).where(_of(_keys.c.identity, size)).order_by(_keys.c.identity, _keys.c.key),
        (_keys,),
    ),
    _Read.OPEN_TRANSACTIONS: lambda size: (
        select(_tx)
        .where(_of(_tx.c.identity, size), _tx.c.stopped_at.is_(None))
        .order_by(_tx.c.started_at, _tx.c.id),
        (_tx,),
    ),
}


def _by_columns(chargers: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Charger rows grouped by the columns they set: one executemany per group.

    Nearly all are heartbeats alone; connections and boots add a few groups per flush.
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for fields in chargers.values():
        columns = tuple(fields) if len(fields) == 2 else tuple(sorted(fields))
        group = groups.get(columns)
        if group is None:
            groups[columns] = [fields]
        else:
            group.append(fields)
    return groups


def _same_start(start: TransactionStart, started_at: datetime) -> ColumnElement[bool]:
    """What makes a start a repetition of one already stored (its reply may have been lost)."""
    if start.charger_transaction_id is not None:
        return and_(
            _tx.c.identity == start.identity,
            _tx.c.charger_transaction_id == start.charger_transaction_id,
        )
    return and_(
        _tx.c.identity == start.identity,
        _tx.c.started_at == started_at,
        _tx.c.connector_id == start.connector_id,
        _tx.c.charger_transaction_id.is_(None),
        _tx.c.stopped_at.is_(None),
        _tx.c.meter_start_wh.is_not_distinct_from(start.meter_start_wh),
        _tx.c.id_tag.is_not_distinct_from(start.id_tag),
    )


def _transaction_key(
    identity: str, transaction_id: int | None, charger_transaction_id: str | None
) -> ColumnElement[bool]:
    if transaction_id is not None:
        return and_(_tx.c.id == transaction_id, _tx.c.identity == identity)
    return and_(_tx.c.identity == identity, _tx.c.charger_transaction_id == charger_transaction_id)


async def _samples_by_transaction(
    conn: AsyncConnection, query: Select[Any], column: Any, ids: Sequence[int]
) -> dict[int, list[MeterSample]]:
    """The meter samples `query` finds for the transactions whose `column` is in `ids`, a
    chunk at a time, by transaction id in the query's order."""
    found: dict[int, list[MeterSample]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        for row in await conn.execute(query.where(column.in_(chunk))):
            found.setdefault(row.transaction_id, []).append(rows.meter_sample(row))
    return found


async def _select_in(
    conn: AsyncConnection, query: Select[Any], column: Any, values: Collection[str] | None
) -> list[Row[Any]]:
    """`query` for all rows, or for rows whose `column` is in `values`, a chunk at a time."""
    if values is None:
        return list(await conn.execute(query))
    found: list[Row[Any]] = []
    for chunk in _chunks(sorted(set(values))):
        found.extend(await conn.execute(query.where(column.in_(chunk))))
    return found


def _bucket_of(at: datetime, width: int) -> int:
    """The bucket number of `at` as `_totals_query` computes it in SQL (whole seconds)."""
    return int(at.timestamp()) // width


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]
