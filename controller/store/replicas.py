"""The coordination of replicas on PostgreSQL (`coordination` tells what and why).

One dedicated asyncpg connection per replica holds its chargers' session advisory locks and
LISTENs on the replicas' channel; the shared tables (`forwarded_commands`, `power_profiles`)
and the decisions' transaction-scoped locks go through the store's SQLAlchemy engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from controller.store import rows, schema
from controller.store.coordination import (
    CLAIM_TIMEOUT,
    Claim,
    CommandRunner,
    Coordination,
    Decision,
    ForwardTimeout,
    Listener,
    NotHeld,
    SharedProfiles,
    Takeover,
    charger_key,
    lock_halves,
    scope_key,
)
from controller.values.records import KeyStatus, Transaction

log = logging.getLogger("chargectl.replicas")

CHANNEL = "chargectl"
"""The one NOTIFY channel of the replicas."""

KEEPALIVE = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5"}
"""Server-side TCP keepalives of the dedicated connection: a replica cut off from the database
loses its locks within about 10 + 5 x (the system's keepalive count) seconds, rather than the
system's two hours."""

CHECK_INTERVAL = 10.0
"""Seconds between checks of the dedicated connection by its own replica (a `SELECT 1`), so
that a replica notices it lost its locks even while no charger connects."""

IO_TIMEOUT = 5.0
"""Seconds one statement on the dedicated connection may take before it counts as lost."""

FORWARDED_KEPT = timedelta(hours=1)
"""Forwarded commands older than this are deleted (their asker is gone)."""

_RECONNECT_MAX = 10.0
_IN_CHUNK = 500


_forwarded = schema.forwarded_commands
_profiles = schema.power_profiles

_HELD_BY_OWNER = text(
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.objsubid = 1 AND l.pid = power_profiles.owner_pid"
    " AND l.classid = CAST(power_profiles.lock_hi AS oid)"
    " AND l.objid = CAST(power_profiles.lock_lo AS oid)"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)
_HELD = text(
    "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory'"
    " AND granted AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_OWNER = text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid)"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " LIMIT 1"
)


class _PgDecision(Decision):
    def __init__(self, conn: AsyncConnection, coordination: PgCoordination) -> None:
        self.conn = conn
        self.coordination = coordination

    async def open_transactions(self, identities: Sequence[str]) -> list[list[Transaction]]:
        tx = schema.transactions
        found: dict[str, list[Transaction]] = {}
        for chunk in _chunks(sorted(set(identities))):
            result = await self.conn.execute(
                select(tx)
                .where(tx.c.identity.in_(chunk), tx.c.stopped_at.is_(None))
                .order_by(tx.c.started_at, tx.c.id)
            )
            for row in result:
                found.setdefault(row.identity, []).append(rows.transaction(row))
        return [found.get(identity, []) for identity in identities]

    async def key_statuses(
        self, key: str, identities: Collection[str], states: Collection[str]
    ) -> list[KeyStatus]:
        table = schema.key_status
        found: list[KeyStatus] = []
        for chunk in _chunks(sorted(set(identities))):
            result = await self.conn.execute(
                select(table).where(
                    table.c.key == key, table.c.identity.in_(chunk), table.c.state.in_(states)
                )
            )
            found.extend(rows.key_status(row) for row in result)
        return found

    async def shared_profiles(self, location: str) -> list[SharedProfiles]:
        result = await self.conn.execute(
            select(_profiles.c.identity, _profiles.c.state).where(
                _profiles.c.location == location,
                _profiles.c.replica != self.coordination.replica,
                _HELD_BY_OWNER,
            )
        )
        return [SharedProfiles(row.identity, row.state) for row in result]

    async def put_profiles(self, identity: str, location: str, state: Mapping[str, Any]) -> None:
        await self.coordination.put_profiles(identity, location, state, conn=self.conn)


class PgCoordination(Coordination):
    """The coordination of replicas sharing a PostgreSQL store; see the module.

    `engine` is the store's (for the shared tables); `url` is where the dedicated connection
    goes. `start` connects it; without it, claims fail (a replica that cannot lock serves no
    charger) and the replica keeps trying to connect.
    """

    shared = True

    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.replica = uuid.uuid4().hex[:12]
        self.pid: int | None = None
        """The dedicated connection's backend: what `pg_locks` names this replica by."""
        self._conn: Any = None  # asyncpg.Connection, untyped
        self._io = asyncio.Lock()
        self._held: set[int] = set()
        """Charger locks this replica holds in PostgreSQL."""
        self._claims: dict[int, set[Claim]] = {}
        self._letting_go: set[int] = set()
        self._released: dict[int, asyncio.Event] = {}
        self._answers: dict[str, asyncio.Future[None]] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._takeover: Takeover | None = None
        self._runner: CommandRunner | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._local_locks: dict[str, asyncio.Lock] = {}
        """Per decision scope: one decision of this replica at a time asks PostgreSQL."""
        self._gone = asyncio.Event()
        """Set when the dedicated connection is lost: the keeper reconnects at once."""
        self._closing = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self._connect()
        self._keeper = asyncio.create_task(self._keep(), name="replicas: lock connection")
        self._sender = asyncio.create_task(self._send_news(), name="replicas: news")

    async def close(self) -> None:
        self._closing = True
        for task in (self._keeper, self._sender, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._keeper, self._sender, *list(self._tasks)):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), IO_TIMEOUT)  # frees every lock we hold
        self._held.clear()

    async def _connect(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        url = self.url
        ssl = url.query.get("ssl")
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
            ssl=ssl if isinstance(ssl, str) else None,
            server_settings={"application_name": f"chargectl {self.replica}", **KEEPALIVE},
            timeout=IO_TIMEOUT,
        )
        self.pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        await conn.add_listener(CHANNEL, self._heard)
        conn.add_termination_listener(self._terminated)
        self._conn = conn
        self.epoch += 1
        self._gone.clear()
        self._connected.set()
        log.info("replica %s: lock connection up (backend %d)", self.replica, self.pid)

    async def _keep(self) -> None:
        """Check the dedicated connection; when it is gone, reconnect and lock again."""
        backoff = 0.5
        while True:
            if self._conn is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gone.wait(), CHECK_INTERVAL)
                if self._conn is None:
                    continue
                try:
                    async with self._io:
                        if self._conn is not None:
                            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), IO_TIMEOUT)
                except Exception as error:
                    self._lost(f"check failed: {error!r}")
                continue
            try:
                await self._connect()
            except Exception as error:
                log.warning(
                    "replica %s: cannot reach PostgreSQL for its locks (%s); retrying in %.1f s",
                    self.replica,
                    error,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, _RECONNECT_MAX)
                continue
            backoff = 0.5
            await self._lock_again()

    def _terminated(self, conn: Any) -> None:
        if conn is self._conn:
            self._lost("connection closed")

    def _lost(self, why: str) -> None:
        if self._conn is None or self._closing:
            return
        conn, self._conn = self._conn, None
        self._connected.clear()
        self._gone.set()
        self._held.clear()  # PostgreSQL freed them with the connection
        with contextlib.suppress(Exception):
            conn.terminate()
        log.error(
            "replica %s: lost its lock connection (%s): %d charger(s) held here until their "
            "locks are taken again",
            self.replica,
            why,
            len(self._claims),
        )

    async def _lock_again(self) -> None:
        """After a reconnection: lock every charger still connected here again; those another
        replica holds by now are let go of (their charger reconnected there)."""
        for key, claims in list(self._claims.items()):
            if not claims:
                continue
            identity = next(iter(claims)).identity
            try:
                async with self._io:
                    got = await self._try_lock(key)
            except Exception as error:
                self._lost(f"locking again failed: {error!r}")
                return
            if got:
                self._held.add(key)
            else:
                await self._let_go(identity, key, "held by another replica after a lost lock")

    # --- chargers ------------------------------------------------------------------------------

    def on_takeover(self, takeover: Takeover) -> None:
        self._takeover = takeover

    async def claim(self, identity: str, timeout: float = CLAIM_TIMEOUT) -> Claim | None:
        key = charger_key(identity)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        released = self._released.setdefault(key, asyncio.Event())
        asked_at: float | None = None
        while True:
            released.clear()
            try:
                async with self._io:
                    if key in self._held and key not in self._letting_go:
                        return self._add_claim(identity, key)  # another connection here has it
                    free = self._conn is not None and key not in self._letting_go
                    if free and await self._try_lock(key):
                        self._held.add(key)
                        return self._add_claim(identity, key)
            except Exception as error:
                self._lost(f"claim failed: {error!r}")
            now = loop.time()
            if now >= deadline:
                log.warning(
                    "replica %s: %s is held by another replica that did not let go within %g s",
                    self.replica,
                    identity,
                    timeout,
                )
                return None
            if asked_at is None or now - asked_at >= 1.0:  # again, in case it was reconnecting
                asked_at = now
                self._news("takeover", identity)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), min(deadline - now, 0.5))

    def _add_claim(self, identity: str, key: int) -> Claim:
        claim = Claim(identity, key)
        self._claims.setdefault(key, set()).add(claim)
        return claim

    async def _try_lock(self, key: int) -> bool:
        return bool(
            await asyncio.wait_for(
                self._conn.fetchval("SELECT pg_try_advisory_lock($1)", key), IO_TIMEOUT
            )
        )

    async def release(self, claim: Claim) -> None:
        if not claim.valid:
            return
        claim.valid = False
        async with self._io:
            claims = self._claims.get(claim.key)
            if claims is None:
                return
            claims.discard(claim)
            if claims:
                return  # a newer connection here holds it now
            del self._claims[claim.key]
            if claim.key in self._held:
                self._held.discard(claim.key)
                await self._unlock(claim.key)

    async def _unlock(self, key: int) -> None:
        """Hold `_io`."""
        if self._conn is None:
            return
        try:
            await asyncio.wait_for(
                self._conn.execute("SELECT pg_advisory_unlock($1)", key), IO_TIMEOUT
            )
        except Exception as error:
            self._lost(f"unlock failed: {error!r}")

    async def _let_go(self, identity: str, key: int, why: str) -> None:
        """Hand the charger over: the central system stops recording from its connection and
        writes what it buffered; then the lock goes, and the asker hears it."""
        if key in self._letting_go:
            return
        self._letting_go.add(key)
        try:
            if self._takeover is not None:
                try:
                    await self._takeover(identity, why)
                except Exception:
                    log.exception("replica %s: letting go of %s failed", self.replica, identity)
            async with self._io:
                for claim in self._claims.pop(key, set()):
                    claim.valid = False
                if key in self._held:
                    self._held.discard(key)
                    await self._unlock(key)
        finally:
            self._letting_go.discard(key)
        self._news("released", identity)

    async def owner(self, identity: str) -> int | None:
        hi, lo = lock_halves(charger_key(identity))
        async with self.engine.connect() as conn:
            found = (await conn.execute(_OWNER, {"hi": hi, "lo": lo})).scalar_one_or_none()
        return int(found) if found is not None else None

    def holds_here(self, identity: str) -> bool:
        return charger_key(identity) in self._held

    async def held(self) -> frozenset[int] | None:
        async with self.engine.connect() as conn:
            found = await conn.execute(_HELD)
        keys = ((int(hi) << 32) | int(lo) for hi, lo in found)
        return frozenset(key - (1 << 64) if key >= 1 << 63 else key for key in keys)

    # --- commands ------------------------------------------------------------------------------

    def serve_commands(self, runner: CommandRunner) -> None:
        self._runner = runner

    async def forward(
        self, identity: str, body: Mapping[str, Any], requester: str | None, timeout: float
    ) -> dict[str, Any]:
        if await self.owner(identity) is None:
            raise NotHeld(identity)
        command_id = uuid.uuid4().hex
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._answers[command_id] = answered
        now = datetime.now(UTC)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    delete(_forwarded).where(_forwarded.c.asked_at < now - FORWARDED_KEPT)
                )
                await conn.execute(
                    _forwarded.insert().values(
                        id=command_id,
                        identity=identity,
                        body=dict(body),
                        requester=requester,
                        asked_by=self.replica,
                        asked_at=now,
                        deadline=now + timedelta(seconds=timeout),
                    )
                )
                await conn.execute(
                    select(func.pg_notify(CHANNEL, self._payload("command", command_id, identity)))
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered, timeout)
            async with self.engine.connect() as conn:
                outcome = (
                    await conn.execute(
                        select(_forwarded.c.outcome).where(_forwarded.c.id == command_id)
                    )
                ).scalar_one_or_none()
            if not isinstance(outcome, dict):
                raise ForwardTimeout(identity)
            return outcome
        finally:
            self._answers.pop(command_id, None)
            with contextlib.suppress(Exception):
                async with self.engine.begin() as conn:
                    await conn.execute(delete(_forwarded).where(_forwarded.c.id == command_id))

    async def _run_command(self, command_id: str) -> None:
        runner = self._runner
        if runner is None:
            return
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(_forwarded)
                    .where(
                        _forwarded.c.id == command_id,
                        _forwarded.c.claimed_by.is_(None),
                        _forwarded.c.deadline > now,
                    )
                    .values(claimed_by=self.replica)
                    .returning(_forwarded.c.identity, _forwarded.c.body, _forwarded.c.requester)
                )
            ).first()
        if row is None:
            return  # another replica took it, or its asker gave up
        try:
            outcome = await runner.run(row.identity, row.body, row.requester)
        except Exception as error:
            log.exception("replica %s: forwarded command %s failed", self.replica, command_id)
            outcome = {"charger": row.identity, "ok": False, "error": str(error)}
        async with self.engine.begin() as conn:
            await conn.execute(
                update(_forwarded)
                .where(_forwarded.c.id == command_id)
                .values(outcome=outcome, answered_at=datetime.now(UTC))
            )
            await conn.execute(select(func.pg_notify(CHANNEL, self._payload("answer", command_id))))

    # --- news ----------------------------------------------------------------------------------

    def publish(self, topic: str, payload: str) -> None:
        self._news(topic, payload)

    def subscribe(self, topic: str, listener: Listener) -> None:
        self._listeners.setdefault(topic, []).append(listener)

    def _payload(self, topic: str, payload: str, identity: str | None = None) -> str:
        message = {"t": topic, "p": payload, "r": self.replica}
        if identity is not None:
            message["i"] = identity
        return json.dumps(message, separators=(",", ":"))

    def _news(self, topic: str, payload: str) -> None:
        """Queued for the dedicated connection; dropped while it is down (news only wakes, and
        a takeover asked of whoever holds a charger minutes later would be a stale one)."""
        if self._connected.is_set():
            self._outbox.put_nowait(self._payload(topic, payload))

    async def _send_news(self) -> None:
        while True:
            message = await self._outbox.get()
            await self._connected.wait()
            try:
                async with self._io:
                    if self._conn is not None:
                        await asyncio.wait_for(
                            self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message),
                            IO_TIMEOUT,
                        )
            except Exception as error:
                self._lost(f"notify failed: {error!r}")

    def _heard(self, conn: Any, pid: int, channel: str, text_payload: str) -> None:
        try:
            message = json.loads(text_payload)
            topic, payload, sender = message["t"], str(message["p"]), message["r"]
        except (ValueError, KeyError, TypeError):
            return
        if sender == self.replica:
            return
        if topic == "takeover":
            key = charger_key(payload)
            if key in self._held and key not in self._letting_go:
                log.info(
                    "replica %s: %s connected to replica %s; letting go of it here",
                    self.replica,
                    payload,
                    sender,
                )
                self._spawn(self._let_go(payload, key, f"taken over by replica {sender}"))
        elif topic == "released":
            event = self._released.get(charger_key(payload))
            if event is not None:
                event.set()
        elif topic == "command":
            identity = str(message.get("i", ""))
            runner = self._runner
            if runner is not None and runner.holds(identity):
                self._spawn(self._run_command(payload))
        elif topic == "answer":
            future = self._answers.get(payload)
            if future is not None and not future.done():
                future.set_result(None)
        else:
            for listener in self._listeners.get(topic, ()):
                try:
                    listener(payload)
                except Exception:
                    log.exception("replica %s: a listener of %s failed", self.replica, topic)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- decisions and shared rows -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _decision(self, scopes: Sequence[str]) -> AsyncIterator[Decision]:
        # The passes of this replica queue here, in the same order, rather than each holding
        # a pooled connection while PostgreSQL makes it wait: a storm of passes at one
        # location would otherwise take every connection of the store's pool.
        async with contextlib.AsyncExitStack() as held:
            for scope in dict.fromkeys(scopes):
                await held.enter_async_context(self._local_locks.setdefault(scope, asyncio.Lock()))
            async with self.engine.begin() as conn:
                for scope in dict.fromkeys(scopes):
                    await conn.execute(select(func.pg_advisory_xact_lock(scope_key(scope))))
                yield _PgDecision(conn, self)

    def decision(self, *scopes: str) -> contextlib.AbstractAsyncContextManager[Decision]:
        return self._decision(scopes)

    async def put_profiles(
        self,
        identity: str,
        location: str,
        state: Mapping[str, Any],
        *,
        conn: AsyncConnection | None = None,
    ) -> None:
        """Publish what this replica knows of a charger's profiles (see `Decision`)."""
        if self.pid is None:
            return
        hi, lo = lock_halves(charger_key(identity))
        values = {
            "identity": identity,
            "location": location,
            "replica": self.replica,
            "owner_pid": self.pid,
            "lock_hi": hi,
            "lock_lo": lo,
            "state": dict(state),
            "at": datetime.now(UTC),
        }
        insert = postgresql.insert(_profiles).values(values)
        statement = insert.on_conflict_do_update(
            index_elements=["identity"],
            set_={k: insert.excluded[k] for k in values if k != "identity"},
        )
        if conn is not None:
            await conn.execute(statement)
            return
        async with self.engine.begin() as own:
            await own.execute(statement)

    def forget_profiles(self, identity: str) -> None:
        self._spawn(self._forget_profiles(identity))

    async def _forget_profiles(self, identity: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(_profiles).where(
                    and_(_profiles.c.identity == identity, _profiles.c.replica == self.replica)
                )
            )


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[start : start + _IN_CHUNK] for start in range(0, len(values), _IN_CHUNK)]
