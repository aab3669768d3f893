"""Configuration keys: read what the fleet declares, plan, change, and read back to verify.

The first step of every pass: it reads the declared keys (GetConfiguration / GetVariables),
records them, plans the charger (`planning.keys.plan_charger`, pure) and hands the record and
the plan on to the steps after it (reboot, power, ...). Then it sends the plan's changes in the
plan's order, each key (ChangeConfiguration / SetVariables) and the availability
(`converge.availability`), and reads back what the charger accepted:
a charger that says Accepted but still reports the old value has not been converged, whatever
it said. What each answer means is `planning.answers`; this module is the I/O around it.

What the charger answered is kept per key (`KeyStatusBook`, written through to the store):
Rejected, NotSupported and "accepted but not applied" are terminal for that value until the
desired value changes, so they are shown and never retried in a loop.

A CALLERROR to the read is the charger's answer, not a lost connection: it is shown in the
charger's Synced condition with the charger's error code, and the pass ends there (the other
steps would act on a charger whose state the pass does not know). NotSupported and
NotImplemented are not asked again for the same keys during the session (a reconnect or a
reboot, as after a firmware update, asks again); another code is asked again at the next pass.
Timeouts and disconnects abort the pass and are retried with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from controller.converge.availability import change_availability
from controller.converge.base import UNSUPPORTED_CODES, PassContext, Step, StepResult
from controller.converge.statuses import KeyStatusBook
from controller.planning.answers import (
    blocked,
    change_event,
    change_status,
    failed_read,
    settled,
    undeclared,
    unverified,
    verdict,
    verified,
)
from controller.planning.keys import (
    AVAILABILITY_KEY,
    ActionKind,
    ChargerPlan,
    PlannedAction,
    PlanStatus,
    desired_extras,
    plan_charger,
)
from controller.values.commands import CallFailed, ConfigStatus, ConfigurationReport
from controller.values.records import ChargerRecord, KeyState, KeyStatus

log = logging.getLogger("chargectl.reconciler")

CONFIGURATION_STEP = "configuration"


class ConfigurationStep(Step):
    """Reads, plans, changes and verifies a charger's declared keys; see the module."""

    name = CONFIGURATION_STEP

    def __init__(self, statuses: KeyStatusBook) -> None:
        self.statuses = statuses
        self._unreadable: dict[str, tuple[tuple[str, ...], str]] = {}
        """Chargers that answered the read NotSupported / NotImplemented this session: the
        keys asked, and what the answer showed."""

    @property
    def status_keys(self) -> frozenset[str]:
        return frozenset()  # every key no other step owns

    async def run(self, ctx: PassContext) -> StepResult:
        identity = ctx.identity
        statuses = await self.statuses.of(identity)
        kept = ctx.owned_keys | {AVAILABILITY_KEY}  # statuses that are not of declared keys
        await self.statuses.forget(identity, undeclared(statuses, ctx.desired, kept))

        keys = tuple(sorted(ctx.desired.configuration))
        known = self._unreadable.get(identity)
        if known is not None and known[0] == keys:
            return await self._unread(ctx, known[1])
        report: ConfigurationReport | CallFailed = await ctx.call(
            ctx.commands.get_configuration(list(keys))
        )
        if isinstance(report, CallFailed):
            message = failed_read(report)
            if report.code in UNSUPPORTED_CODES:
                self._unreadable[identity] = (keys, message)
            log.warning("%s: %s", identity, message, extra={"charger": identity})
            return await self._unread(ctx, message)
        self._unreadable.pop(identity, None)

        record = await self._record(ctx, report)
        plan = plan_charger(
            ctx.desired, record, terminal=statuses, extras=desired_extras(ctx.fleet, ctx.charger)
        )
        await self.statuses.save(identity, settled(statuses, plan, kept, datetime.now(UTC)))
        ctx = replace(ctx, record=record, plan=plan)
        if plan.status is PlanStatus.IN_SYNC:
            return StepResult(True, context=ctx)
        updates = await self._change(ctx, plan)
        result = verdict(updates, blocked(plan, but=ctx.owned_keys))
        return StepResult(
            result.synced, result.message, differed=True, drifted=len(plan.drift), context=ctx
        )

    def booted(self, identity: str) -> None:
        self._unreadable.pop(identity, None)

    def forget(self, identity: str) -> None:
        self._unreadable.pop(identity, None)

    async def _unread(self, ctx: PassContext, message: str) -> StepResult:
        """The configuration could not be read: shown, and the pass ends here, since the steps
        after this one would act on a charger the pass knows nothing of."""
        return StepResult(False, message, final=True)

    async def _record(self, ctx: PassContext, report: ConfigurationReport) -> ChargerRecord:
        """What the store knows of the charger, with the configuration just read."""
        now = datetime.now(UTC)
        store = ctx.central.store
        await store.record_configuration(ctx.identity, report.values, now, partial=True)
        return replace(
            await self._stored(ctx), configuration=tuple(report.values), configuration_at=now
        )

    async def _stored(self, ctx: PassContext) -> ChargerRecord:
        # Boot info and connector statuses come from the store; the configuration just read
        # replaces the stored one, so it is not loaded (a thousand rows for some chargers).
        found = await ctx.central.store.chargers(identities=[ctx.identity], configuration=False)
        return found[0] if found else ChargerRecord(identity=ctx.identity, pending=False)

    async def _change(self, ctx: PassContext, plan: ChargerPlan) -> list[KeyStatus]:
        """Send the plan's key changes, read back the accepted ones, record the outcome."""
        updates: list[KeyStatus] = []
        changed: list[PlannedAction] = []
        for action in plan.actions:
            if action.kind is ActionKind.CHANGE_AVAILABILITY and action.wire_value:
                updates.append(await change_availability(ctx, action))
                continue
            if action.kind not in (ActionKind.SET_KEY, ActionKind.ADD_KEY):
                continue
            answer: ConfigStatus | CallFailed = await ctx.call(
                ctx.commands.change_configuration(action.key, action.wire_value or "")
            )
            status = change_status(ctx.identity, action, answer, datetime.now(UTC))
            event = change_event(action, status)
            await ctx.central.event(ctx.identity, event.kind, event.message, event.data)
            updates.append(status)
            if status.state is KeyState.PENDING:
                changed.append(action)
        if changed:
            read_back = {s.key: s for s in await self._verify(ctx, plan, changed)}
            updates = [read_back.get(u.key, u) for u in updates]
        await self.statuses.save(ctx.identity, updates)
        return updates

    async def _verify(
        self, ctx: PassContext, plan: ChargerPlan, changed: Sequence[PlannedAction]
    ) -> list[KeyStatus]:
        """Read back what the charger accepted: Accepted and still the old value is not done."""
        report: ConfigurationReport | CallFailed = await ctx.call(
            ctx.commands.get_configuration([a.key for a in changed])
        )
        now = datetime.now(UTC)
        if isinstance(report, CallFailed):
            log.warning("%s: %s", ctx.identity, failed_read(report))
            return unverified(ctx.identity, changed, report, now)
        await ctx.central.store.record_configuration(ctx.identity, report.values, now, partial=True)
        statuses = verified(ctx.identity, plan.version, changed, report.values, now)
        for status in statuses:
            if status.state is KeyState.FAILED:
                log.warning("%s: %s %s", ctx.identity, status.key, status.detail)
        return statuses
