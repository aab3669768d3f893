"""The convergence loop: every connected charger is brought to what the fleet declares.

A scheduler only. One task per connected charger, woken when it connects or boots, when its
desired state changes, when a step asks (a transaction, a notification, a timer of its own),
and by a resync timer. Each pass runs the convergence steps in order (configuration,
availability, reboot, power, local list, firmware: `controller.converge`), each on what the
steps before it learnt, and records the outcome: the charger's conditions (Connected, Synced,
Ready), the pass's outcome and duration, and how many values had drifted.

A transport failure (timeout, disconnect) aborts the pass and is retried with exponential
backoff and jitter. What a charger answered, even a CALLERROR, is an outcome the steps show
and keep, not a failure retried in a loop. A global semaphore bounds how many chargers are
reconciled at once, so a reconnect storm of thousands of chargers does not flood the store or
the loop.

What the reconciler reports goes to a `Reporter` (the Prometheus metrics satisfy it), so it
needs nothing of the web layer above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from controller.converge.base import PassContext, Step, TransportFailure
from controller.fleet.model import Fleet, Loaded
from controller.ocpp.central import CentralSystem, Observer
from controller.planning.keys import desired_extras
from controller.resources import Charger
from controller.values.commands import CallFailed, ChargerCommands, FailureKind
from controller.values.records import ChargerCondition, ChargerRecord, Transaction

log = logging.getLogger("chargectl.reconciler")

T = TypeVar("T")


class Outcome(StrEnum):
    IN_SYNC = "InSync"
    CONVERGED = "Converged"
    WAITING_FOR_REBOOT = "WaitingForReboot"
    """A step ended the pass to wait for the charger (the reboot step, for a reboot that
    applies changes, or for the reboot policy to allow one)."""
    BLOCKED = "Blocked"
    RETRY = "Retry"
    SKIPPED = "Skipped"


class Reporter(Protocol):
    """What the reconciler reports as it goes; `controller.web.metrics.Metrics` is one."""

    def reconcile(self, outcome: str, seconds: float) -> None:
        """One pass over one charger ended with `outcome` (an `Outcome` value)."""

    def drifted(self, keys: int) -> None:
        """`keys` values were found changed on a charger since they were applied."""


@dataclass
class ReconcilerOptions:
    resync_interval: float = 300.0
    """Seconds between passes over an idle, converged charger (catches drift)."""
    max_concurrent: int = 64
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    boot_grace: float = 3.0
    """Seconds a new connection is given to send BootNotification before the first pass."""
    jitter: Callable[[float, float], float] = random.uniform
    """Draws a retry's delay between the half ceiling and the ceiling of its backoff."""


@dataclass
class _Worker:
    identity: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    failures: int = 0
    passes: int = 0
    booted: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class ReconcileStats:
    """Counters for `/metrics` and the benchmark."""

    passes: int = 0
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    drifted_keys: int = 0
    last_duration: float = 0.0


class Reconciler(Observer):
    """Owns one worker task per connected charger; see the module docstring."""

    def __init__(
        self,
        central: CentralSystem,
        options: ReconcilerOptions | None = None,
        *,
        reporter: Reporter | None = None,
        steps: Sequence[Step] = (),
    ) -> None:
        self.central = central
        self.reporter = reporter
        self.steps = list(steps)
        self._owned_keys = frozenset(key for step in self.steps for key in step.status_keys)
        """The key statuses the steps own; the configuration step's are all the others."""
        self.options = options or ReconcilerOptions()
        self.stats = ReconcileStats()
        self._workers: dict[str, _Worker] = {}
        self._slots = asyncio.Semaphore(self.options.max_concurrent)
        central.observers.append(self)

    async def close(self) -> None:
        for step in self.steps:
            step.close()
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()

    def passes(self, identity: str) -> int:
        """Passes over the charger since it connected (finished ones, whatever the outcome)."""
        worker = self._workers.get(identity)
        return worker.passes if worker is not None else 0

    # --- what wakes a charger ------------------------------------------------------------------

    async def charger_connected(self, identity: str, commands: ChargerCommands) -> None:
        worker = self._workers.get(identity)
        if worker is None or worker.task is None or worker.task.done():
            worker = _Worker(identity)
            self._workers[identity] = worker
            worker.task = asyncio.create_task(self._run(worker), name=f"reconcile {identity}")
        worker.wake.set()

    async def charger_booted(self, identity: str) -> None:
        worker = self._workers.get(identity)
        if worker is not None:
            for step in self.steps:
                step.booted(identity)
            worker.booted.set()
            worker.wake.set()

    async def charger_disconnected(self, identity: str) -> None:
        for step in self.steps:
            step.forget(identity)
        worker = self._workers.pop(identity, None)
        if worker is not None and worker.task is not None:
            worker.task.cancel()

    async def fleet_changed(self, old: Fleet, new: Fleet) -> None:
        for step in self.steps:
            for identity in step.wake_on_fleet_change(old, new):
                self.wake(identity)
        for identity, worker in self._workers.items():
            before, after = old.charger_by_identity(identity), new.charger_by_identity(identity)
            if before is None or after is None:
                worker.wake.set()
                continue
            if (
                old.desired(before) != new.desired(after)
                or desired_extras(old, before) != desired_extras(new, after)
                or _accepted_cards(old, before) != _accepted_cards(new, after)
            ):
                worker.wake.set()

    async def transaction_changed(self, identity: str, transaction: Transaction) -> None:
        fleet = self.central.fleet
        for step in self.steps:
            for other in step.wake_on_transaction(fleet, identity, transaction):
                self.wake(other)

    async def charger_reported(self, identity: str, kind: str, data: dict[str, Any]) -> None:
        fleet = self.central.fleet
        for step in self.steps:
            for other in await step.charger_reported(fleet, identity, kind, data):
                self.wake(other)

    def wake(self, identity: str) -> None:
        worker = self._workers.get(identity)
        if worker is not None:
            worker.wake.set()

    # --- the worker ----------------------------------------------------------------------------

    async def _run(self, worker: _Worker) -> None:
        # A charger that (re)booted sends BootNotification right after connecting; reading its
        # configuration before that would be read again after it (one pass, not two).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.booted.wait(), self.options.boot_grace)
        delay = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wake.wait(), delay or self.options.resync_interval)
            worker.wake.clear()
            async with self._slots:
                started = time.monotonic()
                try:
                    outcome = await self.reconcile(worker.identity)
                except TransportFailure as failure:
                    outcome = Outcome.RETRY
                    worker.failures += 1
                    delay = self._backoff(worker.failures)
                    log.info(
                        "%s: %s; retrying in %.0f s",
                        worker.identity,
                        failure,
                        delay,
                        extra={"charger": worker.identity, "outcome": outcome.value},
                    )
                except Exception:
                    log.exception("%s: reconcile failed", worker.identity)
                    outcome = Outcome.RETRY
                    worker.failures += 1
                    delay = self._backoff(worker.failures)
                else:
                    worker.failures = 0
                    delay = 0.0
                worker.passes += 1
                self._count(outcome, time.monotonic() - started)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.options.backoff_max, self.options.backoff_initial * 2 ** (failures - 1))
        return self.options.jitter(ceiling / 2, ceiling)  # jitter spreads a storm of retries

    def _count(self, outcome: Outcome, seconds: float) -> None:
        self.stats.passes += 1
        self.stats.outcomes[outcome.value] = self.stats.outcomes.get(outcome.value, 0) + 1
        self.stats.last_duration = seconds
        if self.reporter is not None:
            self.reporter.reconcile(outcome.value, seconds)

    def _drifted(self, keys: int) -> None:
        self.stats.drifted_keys += keys
        if self.reporter is not None and keys:
            self.reporter.drifted(keys)

    # --- one pass ------------------------------------------------------------------------------

    async def reconcile(self, identity: str) -> Outcome:
        """Run the steps over the charger once. Raises TransportFailure when the charger fails
        us (a timeout or a disconnect); whatever else a step raises aborts the pass too."""
        fleet = self.central.fleet
        loaded = fleet.charger_by_identity(identity)
        commands = self.central.connections.get(identity)
        if loaded is None or commands is None:
            return Outcome.SKIPPED
        ctx = PassContext(
            identity,
            commands,
            fleet,
            loaded,
            fleet.desired(loaded),
            ChargerRecord(identity=identity, pending=False),
            self.central,
            self._call,
            owned_keys=self._owned_keys,
        )
        for step in self.steps:
            reason = step.awaited(identity)
            if reason is not None:  # e.g. a Reset accepted: nothing goes out before the boot
                await self._conditions(ctx, synced=False, message=reason)
                return Outcome.WAITING_FOR_REBOOT
        synced, differed, messages = True, False, []
        for step in self.steps:
            result = await step.run(ctx)
            self._drifted(result.drifted)
            if result.halt:
                await self._conditions(ctx, synced=False, message=result.message)
                return Outcome.WAITING_FOR_REBOOT
            ctx = result.context or ctx
            synced = synced and result.synced
            differed = differed or result.differed
            if result.message:
                messages.append(result.message)
            if result.final:
                break
        text = "; ".join(messages) or ("in sync" if synced else "")
        await self._conditions(ctx, synced=synced, message=text)
        if not synced:
            return Outcome.BLOCKED
        return Outcome.CONVERGED if differed else Outcome.IN_SYNC

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Count the call; a timeout or disconnect aborts the pass (a CALLERROR does not)."""
        self.stats.calls += 1
        result = await awaitable
        if isinstance(result, CallFailed) and result.kind is not FailureKind.CALL_ERROR:
            raise TransportFailure(result)
        return result

    async def _conditions(self, ctx: PassContext, *, synced: bool, message: str) -> None:
        identity = ctx.identity
        now = datetime.now(UTC)
        connected = identity in self.central.connections
        conditions = [
            ChargerCondition(
                identity,
                "Connected",
                "True" if connected else "False",
                "Connected" if connected else "Disconnected",
                "",
                now,
            ),
            ChargerCondition(
                identity,
                "Synced",
                "True" if synced else "False",
                "InSync" if synced else "Pending",
                message,
                now,
            ),
            ChargerCondition(
                identity,
                "Ready",
                "True" if synced and connected else "False",
                "Ready" if synced and connected else "NotReady",
                message,
                now,
            ),
        ]
        await self.central.store.record_conditions(conditions)
        plan = ctx.plan.status.value if ctx.plan is not None else None
        log.info(
            "%s: %s", identity, message, extra={"charger": identity, "synced": synced, "plan": plan}
        )


def _accepted_cards(fleet: Fleet, charger: Loaded[Charger]) -> list[object]:
    """The cards a charger's location accepts (the local list follows them)."""
    return [c.resource for c in fleet.cards_accepted_at(charger.resource.spec.location)]
