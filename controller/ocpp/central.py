"""The central system's shared state: the fleet in force, the store, the connected chargers.

The version packages (`v16`, `v201`) turn OCPP messages into calls on this object, which
decides (boot, authorisation), records (store) and tells observers (the reconciler and the power
allocator of later layers) what happened. It knows nothing of message shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from controller.fleet.authorization import AuthDecision, authorize
from controller.fleet.model import Fleet
from controller.resources.settings import DEFAULT_HEARTBEAT_INTERVAL, OcppVersion, setting_key
from controller.store.base import Store
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

    def __init__(self, fleet: Fleet, store: Store, *, allow_unknown: bool = False) -> None:
        self._fleet = fleet
        self.store = store
        self.allow_unknown_flag = allow_unknown
        self.connections: dict[str, ChargerCommands] = {}
        self.observers: list[Observer] = []
        self.boot_override: BootOverride | None = None
        self.pending_locations: dict[str, str | None] = {}
        """Unknown chargers admitted by `unknown_admission`: the location each came through."""

    # --- the fleet -----------------------------------------------------------------------------

    @property
    def fleet(self) -> Fleet:
        return self._fleet

    async def replace_fleet(self, fleet: Fleet) -> None:
        """A new valid fleet takes effect for every message from now on."""
        old, self._fleet = self._fleet, fleet
        for observer in self.observers:
            await observer.fleet_changed(old, fleet)

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
            self.pending_locations[identity] = location
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

    async def connected(
        self, identity: str, commands: ChargerCommands, version: str, remote: str | None
    ) -> ChargerCommands | None:
        """Register a connection; returns the one it replaces (the caller closes it)."""
        previous = self.connections.get(identity)
        self.connections[identity] = commands
        now = datetime.now(UTC)
        await self.store.record_connected(identity, now, remote, version)
        if self._fleet.charger_by_identity(identity) is None:
            await self.store.record_pending(identity, now, remote)
        await self.event(identity, "Connected", f"connected with OCPP {version} from {remote}")
        for observer in self.observers:
            await observer.charger_connected(identity, commands)
        return previous

    async def disconnected(self, identity: str, commands: ChargerCommands, reason: str) -> None:
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
        await self.store.record_heartbeat(identity, now)
        return now

    async def status(self, status: ConnectorStatus) -> None:
        await self.store.record_status(status)

    def authorize(self, identity: str, id_tag: str) -> AuthDecision:
        return authorize(self._fleet, identity, id_tag, datetime.now(UTC))

    async def start_transaction(self, start: TransactionStart) -> Transaction:
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
        return await self.store.update_transaction(update)

    async def stop_transaction(self, stop: TransactionStop) -> Transaction | None:
        transaction = await self.store.stop_transaction(stop)
        if transaction is None:
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
        if samples:
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
        await self.store.add_event(
            Event(datetime.now(UTC), kind, message, identity, dict(data or {}))
        )

    async def log_message(self, entry: LogEntry) -> None:
        await self.store.log_message(entry)

    async def _transaction_changed(self, identity: str, transaction: Transaction) -> None:
        for observer in self.observers:
            await observer.transaction_changed(identity, transaction)
