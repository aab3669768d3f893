"""The central system's shared state: the fleet in force, the store, the connected chargers.

The version packages (`v16`, `v201`) turn OCPP messages into calls on this object, which
decides (boot, authorisation), records (store) and tells observers (the reconciler and the power
allocator of later layers) what happened. It knows nothing of message shapes.

Chargers not in the fleet, when admitted at all (`unknown_admission`), are kept within bounds:

- They are recorded as pending, at the location whose URL they came through, at most
  `max_pending` of them: for a new one beyond that, the oldest pending charger (first seen
  longest ago) is forgotten, in the store and, if it is connected, by closing its connection,
  of which nothing more is recorded. The count is kept in this process, from the store's
  pending chargers when it first needs them (`load_pending`); with several replicas, each one
  keeps its own count within the bound.
- Their transactions are answered as OCPP asks, but are not transactions of the fleet: a start
  is not stored, and is answered with an id below zero, which no stored transaction has; its
  updates, stop and meter values are not stored either. An event on the charger says so, and
  the message log keeps the frames.

With several replicas on one PostgreSQL store (`store.coordination`), a connection is served
only while its replica holds the charger's lock (`connection.serve_connection` claims it). When
the charger connects to another replica, this one lets go (`hand_over`): nothing more from the
old connection is recorded (as for a forgotten pending charger), observers hear it left, what
is buffered is written, and the connection is closed; the new replica records the connection.
A transaction that begins or ends is published to the other replicas, by location (topic
`transaction`): their power step re-plans that location.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from controller.fleet.authorization import AuthDecision, authorize
from controller.fleet.model import Fleet
from controller.ocpp.passwords import PasswordBook
from controller.ocpp.session import Session
from controller.resources.settings import DEFAULT_HEARTBEAT_INTERVAL, OcppVersion, setting_key
from controller.store.base import Store
from controller.store.coordination import Coordination, coordination_of
from controller.values.commands import BootReply, BootStatus, ChargerCommands
from controller.values.records import (
    BootInfo,
    ConnectorStatus,
    Event,
    LogEntry,
    MeterSample,
    Transaction,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)

log = logging.getLogger("chargectl.ocpp")

PENDING_RETRY_INTERVAL = 60
"""Seconds a Pending charger waits before booting again."""

DEFAULT_MAX_PENDING = 1000
"""Pending chargers kept at most, unless told otherwise; the oldest is forgotten for a new one."""

_REFUSED_IDS = 2**31 - 1
"""Ids of transactions not recorded run from -1 down to -_REFUSED_IDS (a 32-bit int), then
again: chargers keep a transaction id in 32 bits."""


class Observer:
    """What later layers (reconciler, power allocation) hear about; override what you need.

    Observers are awaited in the message's path, so they must only note and wake their own
    tasks, never send a command inline (the charger is waiting for our answer).
    """

    async def charger_connected(self, identity: str, commands: ChargerCommands) -> None:
        return None

    async def charger_booted(self, identity: str) -> None:
        return None

    async def charger_disconnected(self, identity: str) -> None:
        return None

    async def transaction_changed(self, identity: str, transaction: Transaction) -> None:
        return None

    async def charger_reported(self, identity: str, kind: str, data: dict[str, Any]) -> None:
        return None

    async def fleet_changed(self, old: Fleet, new: Fleet) -> None:
        return None


BootOverride = Callable[[str], BootStatus | None]
"""Lets the reconciler hold a charger in Pending while it configures it."""


class CentralSystem:
    """Owner of the fleet in force, the store, and the registry of connected chargers."""

    def __init__(
        self,
        fleet: Fleet,
        store: Store,
        *,
        allow_unknown: bool = False,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._fleet = fleet
        self.store = store
        self.coordination: Coordination = coordination_of(store)
        """How this replica agrees with the others on the store (one process: nothing)."""
        self.coordination.on_takeover(self.hand_over)
        self.allow_unknown_flag = allow_unknown
        self.max_pending = max_pending
        """Pending chargers kept at most (see the module's docstring)."""
        self.connections: dict[str, ChargerCommands] = {}
        self.observers: list[Observer] = []
        self.boot_override: BootOverride | None = None
        self.pending_locations: dict[str, str | None] = {}
        """Unknown chargers admitted by `unknown_admission`: the location each came through,
        until `connected` records it (at most `max_pending`, the oldest dropped first)."""
        self.pending_forgotten = 0
        """Pending chargers forgotten to make room for newer ones, since this process began."""
        self._pending: dict[str, datetime | None] | None = None
        """Pending chargers not in the fleet, oldest first, with when each was first seen;
        None until read from the store."""
        self._pending_lock = asyncio.Lock()
        self._forgotten: dict[str, ChargerCommands] = {}
        """Connections closed because their charger was forgotten, until they end."""
        self._closing: set[asyncio.Task[None]] = set()
        self._refused_ids = itertools.count()
        self.passwords = PasswordBook()
        """The passwords each charger may connect with while its password rotates; the
        endpoint gives it the resolver of declared passwords."""

    # --- the fleet -----------------------------------------------------------------------------

    @property
    def fleet(self) -> Fleet:
        return self._fleet

    async def replace_fleet(self, fleet: Fleet) -> None:
        """A new valid fleet takes effect for every message from now on.

        Pending chargers it declares no longer count as pending: they are adopted when they
        next connect. Connected chargers it no longer declares are disconnected."""
        old, self._fleet = self._fleet, fleet
        if self._pending is not None:
            for identity in [i for i in self._pending if fleet.charger_by_identity(i)]:
                del self._pending[identity]
        for loaded in old.chargers.values():
            if fleet.charger_by_identity(loaded.resource.identity) is None:
                self.passwords.forget(loaded.resource.identity)  # refused from now on
        for observer in self.observers:
            await observer.fleet_changed(old, fleet)
        await self._close_undeclared(old, fleet)

    async def _close_undeclared(self, old: Fleet, new: Fleet) -> None:
        """A charger taken out of the fleet is no longer managed: its session ends now (not
        at its next reconnect), and its next handshake is refused, or admitted as pending
        where unknown chargers may be. Nothing is sent to it first: no reset, no clearing."""
        removed = [
            (identity, commands)
            for identity, commands in list(self.connections.items())
            if old.charger_by_identity(identity) is not None
            and new.charger_by_identity(identity) is None
        ]
        for identity, commands in removed:
            log.info("%s: no longer in the fleet; closing its connection", identity)
            await close_connection(commands, 1000, "no longer in the fleet")

    def allows_unknown(self) -> bool:
        return self.allow_unknown_flag or any(
            loc.resource.spec.allow_unknown_chargers for loc in self._fleet.locations.values()
        )

    def unknown_admission(self, identity: str, location: str | None) -> bool:
        """May a charger not in the fleet connect through `location`'s URL (None: the plain
        `/ocpp/<identity>`)? The server-wide `--allow-unknown` admits it anywhere; a location's
        `allowUnknownChargers` admits it only through that location's own URL, so that the
        location it is recorded at means something. When admitted, the location is noted for
        `connected` to record the pending charger at."""
        admitted = self.allow_unknown_flag
        if location is not None:
            loaded = self._fleet.locations.get(location)
            admitted = loaded is not None and (
                admitted or loaded.resource.spec.allow_unknown_chargers
            )
        if admitted:
            self.pending_locations.pop(identity, None)  # the newest note goes last
            self.pending_locations[identity] = location
            while len(self.pending_locations) > self.max_pending:  # handshakes that failed
                del self.pending_locations[next(iter(self.pending_locations))]
        return admitted

    def declared_version(self, identity: str) -> OcppVersion | None:
        charger = self._fleet.charger_by_identity(identity)
        return charger.resource.spec.ocpp_version if charger is not None else None

    def heartbeat_interval(self, identity: str) -> int:
        """The interval BootNotification answers with: the charger's resolved heartbeat."""
        charger = self._fleet.charger_by_identity(identity)
        if charger is None:
            return DEFAULT_HEARTBEAT_INTERVAL
        key = setting_key("heartbeat_interval", charger.resource.spec.ocpp_version)
        value = self._fleet.desired(charger).configuration.get(key) if key else None
        if value is not None and isinstance(value.value, int):
            return value.value
        return DEFAULT_HEARTBEAT_INTERVAL

    # --- connections ---------------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        """Pending chargers not in the fleet, as this process counts them (see `load_pending`)."""
        return len(self._pending) if self._pending is not None else 0

    async def load_pending(self) -> None:
        """Read the pending chargers from the store, if not read yet, and forget the oldest of
        them beyond `max_pending`. Called at start, the count (`/metrics`) holds from the first
        scrape; otherwise the first connection of an unknown charger reads them."""
        async with self._pending_lock:
            await self._pending_chargers()

    async def connected(
        self, identity: str, commands: ChargerCommands, version: str, remote: str | None
    ) -> ChargerCommands | None:
        """Register a connection; returns the one it replaces (the caller closes it).

        A charger not in the fleet is recorded as pending, at the location `unknown_admission`
        noted, the oldest pending charger forgotten first if there are `max_pending` already.
        """
        previous = self.connections.get(identity)
        self.connections[identity] = commands
        location = self.pending_locations.pop(identity, None)
        if self._fleet.charger_by_identity(identity) is None:
            async with self._pending_lock:
                pending = await self._pending_chargers()
                now = datetime.now(UTC)
                if identity not in pending:
                    while len(pending) >= self.max_pending:
                        await self._forget_pending(next(iter(pending)))
                    pending[identity] = now
                await self.store.record_connected(identity, now, remote, version)
                await self.store.record_pending(identity, now, remote, location)
        else:
            if self._pending is not None:
                self._pending.pop(identity, None)
            await self.store.record_connected(identity, datetime.now(UTC), remote, version)
        await self.event(identity, "Connected", f"connected with OCPP {version} from {remote}")
        for observer in self.observers:
            await observer.charger_connected(identity, commands)
        return previous

    async def _pending_chargers(self) -> dict[str, datetime | None]:
        """The pending chargers, read from the store the first time; hold `_pending_lock`."""
        if self._pending is None:
            records = await self.store.pending_chargers()
            self._pending = {
                r.identity: r.pending_since
                for r in records
                if self._fleet.charger_by_identity(r.identity) is None
            }
            while len(self._pending) > self.max_pending:
                await self._forget_pending(next(iter(self._pending)))
        return self._pending

    async def _forget_pending(self, identity: str) -> None:
        """Forget a pending charger to make room: in the store, and by closing its connection,
        of which nothing more is recorded; hold `_pending_lock`."""
        assert self._pending is not None
        first_seen = self._pending.pop(identity, None)
        self.pending_forgotten += 1
        commands = self.connections.pop(identity, None)
        if commands is not None:
            self._forgotten[identity] = commands
            closing = asyncio.create_task(
                close_connection(commands, 1000, "forgotten: too many pending chargers"),
                name=f"close forgotten {identity}",
            )
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            for observer in self.observers:
                await observer.charger_disconnected(identity)
        await self.store.forget_pending(identity)
        log.warning(
            "%s: forgotten, the oldest of %d pending chargers (first seen %s), to make room "
            "for a new one; declare chargers in the fleet or raise the limit to keep more",
            identity,
            self.max_pending,
            first_seen.isoformat() if first_seen is not None else "before records began",
            extra={"charger": identity, "event": "PendingForgotten"},
        )

    async def hand_over(self, identity: str, why: str) -> None:
        """Another replica takes the charger over (it connected there): stop recording from its
        connection here, tell observers it left, close it, and write what is buffered, so that
        nothing written here lands after what the new replica writes."""
        lowered = identity.lower()
        for connected in [i for i in self.connections if i.lower() == lowered]:
            await self.event(connected, "Disconnected", why)
            commands = self.connections.pop(connected)
            self._forgotten[connected] = commands
            log.info(
                "%s: %s; closing its connection here",
                connected,
                why,
                extra={"charger": connected, "event": "HandedOver"},
            )
            closing = asyncio.create_task(
                close_connection(commands, 1000, "replaced by a connection to another replica"),
                name=f"close handed over {connected}",
            )
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            for observer in self.observers:
                await observer.charger_disconnected(connected)
        await self.store.flush()

    def _recorded(self, identity: str) -> bool:
        """Whether what `identity` says is recorded: not if the charger was forgotten while
        connected and has not connected again since (its old connection is closing)."""
        return identity not in self._forgotten or identity in self.connections

    async def disconnected(self, identity: str, commands: ChargerCommands, reason: str) -> None:
        if self._forgotten.get(identity) is commands:
            del self._forgotten[identity]  # observers heard when it was forgotten
            return
        if self.connections.get(identity) is not commands:
            return  # a newer connection of the same charger took over
        del self.connections[identity]
        await self.store.record_disconnected(identity, datetime.now(UTC), reason)
        await self.event(identity, "Disconnected", reason)
        for observer in self.observers:
            await observer.charger_disconnected(identity)

    # --- what chargers tell us -----------------------------------------------------------------

    async def boot(self, identity: str, boot: BootInfo) -> BootReply:
        now = datetime.now(UTC)
        if self._recorded(identity):
            await self.store.record_boot(identity, boot, now)
        known = self._fleet.charger_by_identity(identity) is not None
        if not known:
            reply = BootReply(BootStatus.PENDING, PENDING_RETRY_INTERVAL)
        else:
            override = self.boot_override(identity) if self.boot_override else None
            status = override or BootStatus.ACCEPTED
            interval = (
                self.heartbeat_interval(identity)
                if status is BootStatus.ACCEPTED
                else PENDING_RETRY_INTERVAL
            )
            reply = BootReply(status, interval)
        await self.event(
            identity,
            "Booted",
            f"{boot.vendor} {boot.model} firmware {boot.firmware_version or '?'}: "
            f"{reply.status.value}",
            {"serial": boot.serial_number, "status": reply.status.value},
        )
        if reply.status is BootStatus.ACCEPTED:
            for observer in self.observers:
                await observer.charger_booted(identity)
        return reply

    def is_accepted(self, identity: str) -> bool:
        return self._fleet.charger_by_identity(identity) is not None

    async def heartbeat(self, identity: str) -> datetime:
        now = datetime.now(UTC)
        if self._recorded(identity):
            await self.store.record_heartbeat(identity, now)
        return now

    async def status(self, status: ConnectorStatus) -> None:
        if self._recorded(status.identity):
            await self.store.record_status(status)

    def authorize(self, identity: str, id_tag: str) -> AuthDecision:
        return authorize(self._fleet, identity, id_tag, datetime.now(UTC))

    async def start_transaction(self, start: TransactionStart) -> Transaction:
        """The transaction, committed; for a charger not in the fleet, one that is not
        recorded, with an id below zero (see the module's docstring)."""
        if not self.is_accepted(start.identity):
            refused = self._not_recorded(
                start.identity,
                start.connector_id,
                start.started_at,
                start.meter_start_wh,
                start.id_tag,
                start.charger_transaction_id,
            )
            theirs = start.charger_transaction_id  # 2.0.1: the answer carries no id of ours
            await self.event(
                start.identity,
                "TransactionRefused",
                f"transaction {theirs + ' ' if theirs else ''}on connector "
                f"{start.connector_id} with id tag {start.id_tag or '-'} not recorded: the "
                "charger is not in the fleet"
                + ("" if theirs else f" (answered with transaction id {refused.id})"),
                {
                    "transaction": refused.id,
                    "chargerTransactionId": start.charger_transaction_id,
                    "connector": start.connector_id,
                    "idTag": start.id_tag,
                },
            )
            return refused
        transaction = await self.store.start_transaction(start)
        await self.event(
            start.identity,
            "TransactionStarted",
            f"transaction {transaction.id} started on connector {start.connector_id}"
            f" with id tag {start.id_tag or '-'}",
            {"transaction": transaction.id, "connector": start.connector_id},
        )
        await self._transaction_changed(start.identity, transaction)
        return transaction

    async def update_transaction(self, update: TransactionUpdate) -> Transaction | None:
        """The updated transaction; None if unknown. For a charger not in the fleet, a
        transaction not recorded (it never began as one of the fleet, so it is not
        recovered from its updates either)."""
        refused = update.transaction_id is not None and update.transaction_id < 0
        transaction = None if refused else await self.store.update_transaction(update)
        if transaction is None and (refused or not self.is_accepted(update.identity)):
            return self._not_recorded(
                update.identity,
                update.connector_id or 0,
                update.at,
                update.meter_wh,
                update.id_tag,
                update.charger_transaction_id,
            )
        return transaction

    async def stop_transaction(self, stop: TransactionStop) -> Transaction | None:
        """The stopped transaction; None if it is not recorded."""
        refused = stop.transaction_id is not None and stop.transaction_id < 0
        transaction = None if refused else await self.store.stop_transaction(stop)
        if transaction is None and (refused or not self.is_accepted(stop.identity)):
            why = (
                "it began while the charger was not in the fleet"
                if refused
                else "the charger is not in the fleet"
            )
            await self.event(
                stop.identity,
                "TransactionRefused",
                f"stop of transaction {stop.transaction_id or stop.charger_transaction_id} "
                f"not recorded: {why}",
                {
                    "transaction": stop.transaction_id,
                    "chargerTransactionId": stop.charger_transaction_id,
                },
            )
        elif transaction is None:
            await self.event(
                stop.identity,
                "UnknownTransaction",
                f"stop of unknown transaction {stop.transaction_id or stop.charger_transaction_id}",
            )
        else:
            energy = (
                f"{transaction.energy_wh / 1000:.3f} kWh"
                if transaction.energy_wh is not None
                else "energy unknown"
            )
            await self.event(
                stop.identity,
                "TransactionStopped",
                f"transaction {transaction.id} stopped ({stop.reason or 'Local'}): {energy}",
                {"transaction": transaction.id, "energy_wh": transaction.energy_wh},
            )
            await self._transaction_changed(stop.identity, transaction)
        return transaction

    async def open_transactions(self, identity: str) -> list[Transaction]:
        return await self.store.open_transactions(identity)

    async def meter_values(self, samples: Sequence[MeterSample]) -> None:
        """Kept for chargers in the fleet only: a charger not in it has no transaction they
        could count in (the message log keeps its frames)."""
        if samples and self.is_accepted(samples[0].identity):
            await self.store.add_meter_values(samples)

    async def reported(self, identity: str, kind: str, message: str, data: dict[str, Any]) -> None:
        """A notification worth keeping (firmware, diagnostics, security events, ...)."""
        await self.event(identity, kind, message, data)
        for observer in self.observers:
            await observer.charger_reported(identity, kind, data)

    async def event(
        self, identity: str | None, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        log.info(
            "%s: %s",
            identity or "central system",
            message,
            extra={"charger": identity, "event": kind},
        )
        if identity is None or self._recorded(identity):
            await self.store.add_event(
                Event(datetime.now(UTC), kind, message, identity, dict(data or {}))
            )

    async def log_message(self, entry: LogEntry) -> None:
        if self._recorded(entry.identity):
            await self.store.log_message(entry)

    async def _transaction_changed(self, identity: str, transaction: Transaction) -> None:
        loaded = self._fleet.charger_by_identity(identity)
        if loaded is not None:  # the other replicas re-plan its location's power
            self.coordination.publish("transaction", loaded.resource.spec.location)
        for observer in self.observers:
            await observer.transaction_changed(identity, transaction)

    def _not_recorded(
        self,
        identity: str,
        connector_id: int,
        at: datetime,
        meter_wh: int | None,
        id_tag: str | None,
        charger_transaction_id: str | None,
    ) -> Transaction:
        """A transaction answered as OCPP asks but not recorded: its id, below zero, names no
        stored transaction."""
        return Transaction(
            id=-(next(self._refused_ids) % _REFUSED_IDS + 1),
            identity=identity,
            connector_id=connector_id,
            started_at=at,
            meter_start_wh=meter_wh,
            id_tag=id_tag,
            charger_transaction_id=charger_transaction_id,
            meter_last_wh=meter_wh,
        )


async def close_connection(commands: ChargerCommands, code: int, reason: str) -> None:
    """Close a charger's connection: the websocket under its session, if it has one."""
    session = getattr(commands, "session", None)
    if isinstance(session, Session):
        await session.close(code, reason)
