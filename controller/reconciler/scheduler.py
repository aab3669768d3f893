"""The convergence loop: every connected charger is brought to what the fleet declares.

One task per connected charger, woken when it connects or boots, when its desired state
changes, and by a resync timer. Each pass reads the declared keys from the charger, plans
(`planning.plan_charger`, pure), acts (ChangeConfiguration / SetVariables, ChangeAvailability,
a soft Reset when a change needs a reboot and the reboot policy allows it), and reads back
what it changed to verify: a charger that says Accepted but still reports the old value has
not been converged, whatever it said.

What the charger answered is kept per key in the store (`KeyStatus`): Rejected, NotSupported
and "accepted but not applied" are terminal for that value until the desired value changes, so
they are shown and never retried in a loop. A transport failure (timeout, disconnect) is retried
with exponential backoff and jitter. A global semaphore bounds how many chargers are reconciled
at once, so a reconnect storm of thousands of chargers does not flood the store or the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from controller.converge.base import PassContext, Step, TransportFailure
from controller.fleet.model import DesiredCharger, Fleet, Loaded
from controller.ocpp.central import CentralSystem, Observer
from controller.planning.keys import (
    AVAILABILITY_KEY,
    ActionKind,
    ChargerPlan,
    PlannedAction,
    PlanStatus,
    desired_extras,
    plan_charger,
    reads_as_declared,
)
from controller.planning.maintenance import may_reboot
from controller.resources import Charger
from controller.resources.charger import ChargerSpec
from controller.resources.settings import OcppVersion
from controller.values.commands import ChargerCommands, ConfigStatus, ConfigurationReport, Status
from controller.values.errors import CallFailed, FailureKind
from controller.values.records import (
    ChargerCondition,
    ChargerRecord,
    KeyState,
    KeyStatus,
    Transaction,
)

if TYPE_CHECKING:
    from controller.web.metrics import Metrics

log = logging.getLogger("chargectl.reconciler")

T = TypeVar("T")

TERMINAL = frozenset({KeyState.REJECTED, KeyState.NOT_SUPPORTED, KeyState.FAILED})


class Outcome(StrEnum):
    IN_SYNC = "InSync"
    CONVERGED = "Converged"
    WAITING_FOR_REBOOT = "WaitingForReboot"
    BLOCKED = "Blocked"
    RETRY = "Retry"
    SKIPPED = "Skipped"


@dataclass
class ReconcilerOptions:
    resync_interval: float = 300.0
    """Seconds between passes over an idle, converged charger (catches drift)."""
    max_concurrent: int = 64
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    boot_grace: float = 3.0
    """Seconds a new connection is given to send BootNotification before the first pass."""


@dataclass
class _Worker:
    identity: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    failures: int = 0
    reboot_requested: bool = False
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
        metrics: Metrics | None = None,
        steps: Sequence[Step] = (),
    ) -> None:
        self.central = central
        self.metrics = metrics
        self.steps = list(steps)
        self._step_keys = frozenset(step.name for step in self.steps)
        """The key statuses the steps own (one each, named after the step)."""
        self.options = options or ReconcilerOptions()
        self.stats = ReconcileStats()
        self._workers: dict[str, _Worker] = {}
        self._slots = asyncio.Semaphore(self.options.max_concurrent)
        self._statuses: dict[str, dict[str, KeyStatus]] = {}
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
            worker.reboot_requested = False
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
                self._count(outcome, time.monotonic() - started)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.options.backoff_max, self.options.backoff_initial * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter spreads a storm of retries

    def _count(self, outcome: Outcome, seconds: float) -> None:
        self.stats.passes += 1
        self.stats.outcomes[outcome.value] = self.stats.outcomes.get(outcome.value, 0) + 1
        self.stats.last_duration = seconds
        if self.metrics is not None:
            self.metrics.reconcile(outcome.value, seconds)

    # --- one pass ------------------------------------------------------------------------------

    async def reconcile(self, identity: str) -> Outcome:
        """Read, plan, act, verify — once. Raises TransportFailure when the charger fails us."""
        fleet = self.central.fleet
        loaded = fleet.charger_by_identity(identity)
        commands = self.central.connections.get(identity)
        if loaded is None or commands is None:
            return Outcome.SKIPPED
        desired = fleet.desired(loaded)
        extras = desired_extras(fleet, loaded)
        statuses = await self._statuses_of(identity)
        await self._forget_undeclared(identity, statuses, desired)

        record = await self._read(identity, commands, desired)
        plan = plan_charger(desired, record, terminal=statuses, extras=extras)
        self.stats.drifted_keys += len(plan.drift)
        if self.metrics is not None and plan.drift:
            self.metrics.drifted(len(plan.drift))
        await self._settle(identity, plan, statuses)

        outcome, synced, message = await self._configure(identity, commands, loaded, plan)
        if outcome is Outcome.WAITING_FOR_REBOOT:
            return outcome
        context = PassContext(
            identity, commands, fleet, loaded, desired, record, self.central, self._call
        )
        messages = [message] if message else []
        for step in self.steps:
            result = await step.run(context)
            synced = synced and result.synced
            if result.message:
                messages.append(result.message)
        text = "; ".join(messages) or ("in sync" if synced else "")
        await self._conditions(identity, plan, synced=synced, message=text)
        if not synced:
            return Outcome.BLOCKED
        return Outcome.IN_SYNC if plan.status is PlanStatus.IN_SYNC else Outcome.CONVERGED

    async def _configure(
        self, identity: str, commands: ChargerCommands, loaded: Loaded[Charger], plan: ChargerPlan
    ) -> tuple[Outcome, bool, str]:
        """Keys and availability; returns (outcome, synced, message)."""
        if plan.status is PlanStatus.IN_SYNC:
            return Outcome.IN_SYNC, True, ""
        statuses = self._statuses.get(identity, {})
        changed: list[PlannedAction] = []
        reboot_needed = any(s.state is KeyState.REBOOT_REQUIRED for s in statuses.values())
        updates: list[KeyStatus] = []
        for action in plan.actions:
            if action.kind in (ActionKind.SET_KEY, ActionKind.ADD_KEY):
                status = await self._change(identity, commands, action)
                updates.append(status)
                if status.state is KeyState.PENDING:
                    changed.append(action)
                elif status.state is KeyState.REBOOT_REQUIRED:
                    reboot_needed = True
            elif action.kind is ActionKind.CHANGE_AVAILABILITY and action.wire_value:
                updates.append(await self._availability(identity, commands, action))
        if changed:
            verified = {
                v.key: v for v in await self._verify(identity, commands, plan.version, changed)
            }
            updates = [verified.get(u.key, u) for u in updates]
        await self._save(identity, updates)
        if reboot_needed:
            outcome = await self._maybe_reboot(identity, commands, loaded.resource.spec, plan)
            return outcome, False, ""
        pending = [u for u in updates if u.state is not KeyState.APPLIED]
        cannot = [
            a for a in plan.actions if a.kind is ActionKind.CANNOT and a.key not in self._step_keys
        ]
        if not pending and not cannot:
            return Outcome.CONVERGED, True, f"converged: {_summary(updates)}" if updates else ""
        message = "; ".join(
            [f"{u.key}: {u.state.value} {u.detail}".strip() for u in pending]
            + [f"{a.key}: {a.reason}" for a in cannot]
        )
        return Outcome.BLOCKED, False, message

    async def _settle(
        self, identity: str, plan: ChargerPlan, statuses: dict[str, KeyStatus]
    ) -> None:
        """Keys that were waiting (for a reboot, a read-back) and now read as desired are done."""
        open_keys = {a.key for a in plan.actions}
        now = datetime.now(UTC)
        done = [
            replace(status, state=KeyState.APPLIED, at=now, detail="read back after reboot")
            for key, status in statuses.items()
            if key not in open_keys
            and key != AVAILABILITY_KEY
            and key not in self._step_keys  # steps own their statuses
            and status.state in (KeyState.REBOOT_REQUIRED, KeyState.PENDING, KeyState.FAILED)
        ]
        await self._save(identity, done)

    async def _statuses_of(self, identity: str) -> dict[str, KeyStatus]:
        if identity not in self._statuses:
            stored = await self.central.store.key_statuses(identity)
            self._statuses[identity] = {s.key: s for s in stored}
        return self._statuses[identity]

    async def _forget_undeclared(
        self, identity: str, statuses: dict[str, KeyStatus], desired: DesiredCharger
    ) -> None:
        """Statuses of keys no longer declared mean nothing any more."""
        gone = [
            key
            for key in statuses
            if key not in desired.configuration
            and key != AVAILABILITY_KEY
            and key not in self._step_keys
        ]
        if gone:
            for key in gone:
                del statuses[key]
            await self.central.store.forget_key_statuses(identity, gone)

    async def _read(
        self, identity: str, commands: ChargerCommands, desired: DesiredCharger
    ) -> ChargerRecord:
        keys = sorted(desired.configuration)
        report = await self._call(commands.get_configuration(keys))
        assert isinstance(report, ConfigurationReport)
        now = datetime.now(UTC)
        await self.central.store.record_configuration(identity, report.values, now, partial=True)
        # Boot info and connector statuses come from the store; the configuration just read
        # replaces the stored one, so it is not loaded (a thousand rows for some chargers).
        found = await self.central.store.chargers(identities=[identity], configuration=False)
        base = found[0] if found else ChargerRecord(identity=identity, pending=False)
        return replace(base, configuration=tuple(report.values), configuration_at=now)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Count the call; a timeout or disconnect aborts the pass (a CALLERROR does not)."""
        self.stats.calls += 1
        result = await awaitable
        if isinstance(result, CallFailed) and result.kind is not FailureKind.CALL_ERROR:
            raise TransportFailure(result)
        return result

    async def _change(
        self, identity: str, commands: ChargerCommands, action: PlannedAction
    ) -> KeyStatus:
        value = action.wire_value or ""
        answer = await self._call(commands.change_configuration(action.key, value))
        now = datetime.now(UTC)
        if isinstance(answer, CallFailed):
            state, detail = KeyState.FAILED, f"CALLERROR {answer.code}: {answer.description}"
        else:
            assert isinstance(answer, ConfigStatus)
            state = {
                ConfigStatus.ACCEPTED: KeyState.PENDING,
                ConfigStatus.REBOOT_REQUIRED: KeyState.REBOOT_REQUIRED,
                ConfigStatus.REJECTED: KeyState.REJECTED,
                ConfigStatus.NOT_SUPPORTED: KeyState.NOT_SUPPORTED,
            }[answer]
            detail = f"{answer.value}"
        await self.central.event(
            identity,
            "ConfigurationChanged" if state is not KeyState.REJECTED else "ConfigurationRejected",
            f"{action.key}: {action.reported!r} -> {value!r} ({_layer(action)}): {detail}",
            {"key": action.key, "value": value, "answer": detail, "drift": action.drift},
        )
        return KeyStatus(identity, action.key, state, value, now, detail)

    async def _verify(
        self,
        identity: str,
        commands: ChargerCommands,
        version: OcppVersion,
        changed: Sequence[PlannedAction],
    ) -> list[KeyStatus]:
        """Read back what the charger accepted: Accepted and still the old value is not done."""
        report = await self._call(commands.get_configuration([a.key for a in changed]))
        assert isinstance(report, ConfigurationReport)
        now = datetime.now(UTC)
        await self.central.store.record_configuration(identity, report.values, now, partial=True)
        reported = {v.key.lower(): v.value for v in report.values}
        statuses = []
        for action in changed:
            value = action.wire_value or ""
            seen = reported.get(action.key.lower())
            applied = (
                reads_as_declared(version, action.desired, seen)
                if action.desired is not None
                else seen == action.wire_value
            )
            if applied:
                statuses.append(KeyStatus(identity, action.key, KeyState.APPLIED, value, now))
            else:
                detail = f"accepted, but the charger still reports {seen!r}"
                log.warning("%s: %s %s", identity, action.key, detail)
                statuses.append(
                    KeyStatus(identity, action.key, KeyState.FAILED, value, now, detail)
                )
        return statuses

    async def _availability(
        self, identity: str, commands: ChargerCommands, action: PlannedAction
    ) -> KeyStatus:
        operative = action.wire_value == "Operative"
        answer = await self._call(commands.change_availability(0, operative))
        now = datetime.now(UTC)
        value = action.wire_value or ""
        if isinstance(answer, CallFailed):
            return KeyStatus(identity, AVAILABILITY_KEY, KeyState.FAILED, value, now, str(answer))
        state = {
            Status.ACCEPTED: KeyState.APPLIED,
            Status.SCHEDULED: KeyState.PENDING,
            Status.REJECTED: KeyState.REJECTED,
        }.get(answer if isinstance(answer, Status) else Status.REJECTED, KeyState.REJECTED)
        await self.central.event(
            identity, "AvailabilityChanged", f"availability -> {value}: {answer}", {}
        )
        return KeyStatus(identity, AVAILABILITY_KEY, state, value, now, str(answer))

    async def _maybe_reboot(
        self, identity: str, commands: ChargerCommands, spec: ChargerSpec, plan: ChargerPlan
    ) -> Outcome:
        fleet = self.central.fleet
        location = fleet.locations.get(spec.location)
        windows = location.resource.spec.maintenance_window if location else []
        timezone = location.resource.spec.timezone if location else "UTC"
        idle = not await self.central.open_transactions(identity)
        decision = may_reboot(
            spec.reboot_policy,
            idle=idle,
            windows=windows,
            timezone=timezone,
            at=datetime.now(UTC),
        )
        worker = self._workers.get(identity)
        if not decision.allowed:
            await self._conditions(
                identity, plan, synced=False, message=f"reboot required: {decision.reason}"
            )
            return Outcome.WAITING_FOR_REBOOT
        if worker is not None and worker.reboot_requested:
            return Outcome.WAITING_FOR_REBOOT
        answer = await self._call(commands.reset(hard=False))
        await self.central.event(
            identity, "Reboot", f"soft reset for changes that need a reboot: {answer}", {}
        )
        if worker is not None:
            worker.reboot_requested = True
        await self._conditions(identity, plan, synced=False, message="rebooting to apply changes")
        return Outcome.WAITING_FOR_REBOOT

    async def _save(self, identity: str, updates: Sequence[KeyStatus]) -> None:
        if not updates:
            return
        statuses = self._statuses.setdefault(identity, {})
        for status in updates:
            statuses[status.key] = status
        await self.central.store.record_key_statuses(updates)

    async def _conditions(
        self, identity: str, plan: ChargerPlan, *, synced: bool, message: str
    ) -> None:
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
        log.info(
            "%s: %s",
            identity,
            message,
            extra={"charger": identity, "synced": synced, "plan": plan.status.value},
        )


def _accepted_cards(fleet: Fleet, charger: Loaded[Charger]) -> list[object]:
    """The cards a charger's location accepts (the local list follows them)."""
    return [c.resource for c in fleet.cards_accepted_at(charger.resource.spec.location)]


def _layer(action: PlannedAction) -> str:
    return action.layer.value if action.layer is not None else "declared"


def _summary(updates: Sequence[KeyStatus]) -> str:
    tally: dict[str, int] = {}
    for status in updates:
        tally[status.state.value] = tally.get(status.state.value, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(tally.items())) or "nothing to do"
