"""Power: every charger a circuit feeds gets the charging profiles of its share.

`PowerStep` runs in each reconcile pass of a charger. It computes its location's allocation
(`controller.planning.power.allocate`, pure) from the open transactions in the store, takes the
charger's profiles from it (`charging_limits`: the station maximum, a TxDefault per connector,
a Tx per session) and sends those that differ from what the charger last accepted from us.
What was sent is kept in memory per connected charger and dropped when it disconnects, so a
charger that reconnects gets everything again: it may have lost or been given profiles while
we were not looking.

The step is the I/O around pure plans: the allocation (`controller.planning.power`) and, per
charger, which profiles to send, which are raises, who holds them up and whether a composite
schedule shows ours in force (`controller.planning.profiles`). It reads the transactions, sends
the profiles, asks the composite schedules, arms the schedule timer and wakes chargers. Whether
a charger does smart charging at all is read from the keys of its OCPP version's capabilities
(`controller.resources.capabilities`).

The safe order
    Shares at one circuit move together: when a session starts, the others' shares fall and
    the new one rises. Applied in the wrong order, the circuit is over its limit for a moment
    (two sessions at 32 A behind 40 A). So a limit that may raise what a connector draws is
    sent only when no other charger at the location still has a decrease to apply:

    - a change is a *raise* when its amperes exceed what the charger may have in force for
      that profile: the last limit it accepted, or a raise sent without an answer yet (it may
      have applied it). A Tx profile for a new transaction is compared with the connector's
      TxDefault, which the session started on. A profile whose value we do not know (after a
      reconnect) counts as a raise, and so does clearing a profile;
    - every other change lowers or keeps the limit and is sent at once, first;
    - a charger with raises left checks every other charger the step knows at its location
      (and itself): if any has a profile above its target under this pass's allocation, the
      raises wait. The charger is then remembered as waiting, its pass is not synced ("Tx 20 A
      on connector 1 waits until cp-b has lowered its limits"), and it is woken when a pass at
      the location ends with no decrease left there, or when the charger holding it up
      disconnects. So a waiting charger is woken once, not once per decrease;
    - a decrease the charger refused keeps it holding up the others: it may still draw its old
      share. The raises wait until the allocation changes (a session stops, the fleet changes).

    Each check is made on one allocation; a transaction or fleet change while a pass was
    computing makes that allocation stale, and a stale pass sends only its decreases and runs
    again (a change wakes every charger at the location anyway). New sessions start on their
    TxDefault, which the allocation has already reserved room for.

When to recompute
    A transaction starting or stopping wakes every fed charger at its location
    (`wake_on_transaction`). A fleet edit wakes the fed chargers of every location whose
    circuits or chargers changed (`wake_on_fleet_change`, for the reconciler's `fleet_changed`).
    A scheduled limit beginning or ending wakes the fed chargers of the locations with a
    schedule at that moment, on a timer the step arms itself (`next_change`): the reconciler's
    resync would catch it too, but minutes late, and a lowered grid limit must hold on time.
    The passes a change wakes share one allocation of the location (computed once, from the
    open transactions of its fed chargers), rather than each reading them all again.

Verification
    Accepted is not enough: some chargers accept a profile and do not apply it, or lose it.
    After a charger accepts profiles, the step asks GetCompositeSchedule (in amperes, a minute
    ahead) of each connector they apply to, connector 0 for the station maximum, and compares
    the limit in force (a few seconds in: a charger's clock may lag ours) with the most ours
    allow there: the station maximum, and the connector's Tx or TxDefault, the higher of the
    two (a session may have begun or ended a moment ago). A lower composite limit is fine:
    another limit binds (another party's profile, the hardware's); 0.1 A above is rounding.

    Higher means ours are not in force. The pass is not synced and says so ("composite
    schedule of connector 1 is 32 A, expected at most 16 A"), the profiles it exceeds are
    forgotten so that the next pass sends them again, and the charger is woken once for that
    pass (one that keeps ignoring them gets them again at each resync, not in a loop).
    Meanwhile the charger may allow what it showed, so it holds up the raises at its location.
    A decrease it accepted holds them up too until its composite schedule shows it in force,
    which is asked in the same pass, before the charger itself raises anything: the safe
    order holds for what is in force, not only for what was answered.

    The composite schedule also settles what a reconnected charger has in force, where the
    profiles we would send count as raises because we know none of its own: when another
    charger holds those raises up, the step asks, and a profile no higher than the limit in
    force is sent at once, as the decrease it is. Otherwise a charger that ignores its
    profiles would keep every charger reconnecting at its location from being limited at all.

    A connector is asked once per change (and each pass while ours are not in force): every
    profile is sent again after a reconnect, so that is once per connection too. A charger that
    answers Rejected, a CALLERROR NotImplemented or NotSupported, or a schedule in watts, or
    whose reported configuration has no smart charging, is not asked again while it stays
    connected: for it, Accepted means in force. Another CALLERROR trusts the answer for that
    change; a timeout or disconnect aborts the pass like any other call.

Refusals
    Rejected, NotSupported or a CALLERROR for a profile is remembered with the profile and not
    sent again until the allocation gives that profile another value; the pass is not synced
    and says why. A timeout or disconnect aborts the pass (the reconciler retries with backoff)
    and an unanswered raise counts as possibly applied.

Known limits
    A charger that disconnects is forgotten, so a decrease it had not applied stops holding
    up the others, although it may keep charging on its old profiles while offline. A charger
    that never accepted a profile from us holds up no one, as we know nothing of its limits:
    one that does not do smart charging cannot be limited, and its circuit should be declared
    net of it. A charger that keeps ignoring the profiles it accepts holds up every raise at
    its location until it applies them or disconnects: it may draw its connectors' maximum.
    Profiles we sent to a charger that a fleet edit takes out of every circuit are cleared
    while it stays connected; after a restart of chargectl they are not known and stay.

Several replicas (PostgreSQL, `controller.store.coordination`)
    The allocation was always the location's: it is computed from the open transactions in
    the store of every fed charger there, wherever it is connected, and offers room to the
    idle connectors of all of them. What each replica knew alone is what its own chargers may
    have in force, and so it alone decided the safe order. Now:

    - each replica publishes, after every pass that changed it, what it knows of each charger
      it holds (`ChargerProfiles`: accepted, unconfirmed, the limit a decrease replaced,
      what a composite schedule showed) in `power_profiles`, and says so (topic `power`, by
      location): the replicas where raises wait at that location try them again;
    - a raise is decided under the location's advisory lock (transaction-scoped,
      `decision("location:<name>")`): inside it the allocation is computed again from the
      open transactions as the database has them, the raise must still be what that
      allocation gives, and no charger at the location - this replica's, or another's as it
      published (only while that replica still holds the charger's lock) - may allow more
      than the allocation gives it. The raise is then published as unconfirmed before the
      lock goes, and sent after. Two replicas thus never raise past each other, and a raise
      decided on an allocation without a session just begun elsewhere is held up by the
      other replica's charger until it has lowered its share, as within one process;
    - a transaction that begins or ends is published by the central system (topic
      `transaction`, by location): every replica re-plans that location and wakes its
      chargers there, as it does for its own.

    Decreases are sent without the lock, as before: they never overload. What a replica
    learns from a composite schedule is published at the end of the pass, so for that moment
    the others do not see it yet; and after a replica's lock connection comes back, what it
    published counts again from each charger's next pass.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.converge.base import (
    UNSUPPORTED_CODES,
    PassContext,
    Step,
    StepResult,
    TransportFailure,
)
from controller.fleet.model import Fleet, Loaded
from controller.planning.power import PowerPlan, allocate, charging_limits, next_change
from controller.planning.profiles import (
    COMPOSITE_SECONDS,
    ROUNDING_AMPERES,
    ChargerProfiles,
    FleetIndex,
    ProfileChange,
    Refusal,
    clear_changes,
    converged,
    describe,
    drift_text,
    drifted,
    exceeds,
    forget_ended,
    holding_up,
    in_force,
    lowered,
    max_amperes,
    plan_changes,
    record_accepted,
    sessions_from,
    settle,
    summary,
    trust_answers,
    where,
    without_smart_charging,
)
from controller.resources import Charger
from controller.resources.capabilities import capabilities
from controller.store.coordination import Coordination, SharedProfiles, coordination_of
from controller.values.commands import (
    CallFailed,
    ChargingLimit,
    FailureKind,
    LimitPeriod,
    LimitPurpose,
    Status,
)
from controller.values.records import Transaction

log = logging.getLogger("chargectl.power")

Wake = Callable[[str], None]
"""Reconcile a charger (by identity) again soon: the reconciler's `wake`."""

_TIMER_MAX_SECONDS = 3600.0
"""The schedule timer never sleeps longer: the event loop's clock and the wall clock drift."""
_TIMER_MARGIN_SECONDS = 0.05
"""Fire just after a schedule change, so the woken passes see the new limit in force."""
_PLAN_MAX_AGE = 5.0
"""Seconds one allocation serves the passes of a location (see `PowerStep._plan`)."""


@dataclass(frozen=True, slots=True)
class _CachedPlan:
    fleet: Fleet
    generation: int
    created: float
    """The event loop's time."""
    task: asyncio.Task[tuple[PowerPlan, datetime | None]]


def _usable(task: asyncio.Task[tuple[PowerPlan, datetime | None]]) -> bool:
    return not task.cancelled() and task.exception() is None


class PowerStep(Step):
    """Sends each fed charger the charging profiles of its share; see the module docstring.

    `wake` is the reconciler's `wake`; without it, chargers held up by the safe order and
    schedule changes wait for the reconciler's resync.
    """

    name = "power"

    def __init__(self, wake: Wake | None = None) -> None:
        self.wake = wake
        self._chargers: dict[str, ChargerProfiles] = {}
        self._at: dict[str, set[str]] = {}
        """Identities of the chargers in `_chargers`, by location."""
        self._waiting: dict[str, set[str]] = {}
        self._generations: dict[str, int] = {}
        self._plans: dict[str, _CachedPlan] = {}
        self._index_cache: FleetIndex | None = None
        self._change_cache: tuple[Fleet, datetime | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: datetime | None = None
        self._shared: Coordination | None = None
        """The other replicas, once a pass found the store shared (PostgreSQL)."""
        self._published: dict[str, tuple[int, dict[str, Any]]] = {}
        """What was last published of each charger here, with the coordination's epoch."""

    # --- hooks ---------------------------------------------------------------------------------

    def wake_on_transaction(
        self, fleet: Fleet, identity: str, transaction: Transaction
    ) -> Collection[str]:
        loaded = fleet.charger_by_identity(identity)
        index = self._index(fleet)
        if loaded is None or loaded.name not in index.fed:
            return ()
        location = loaded.resource.spec.location
        self._bump(location)
        return [c.resource.identity for c in index.fed_at(location)]

    def wake_on_fleet_change(self, old: Fleet, new: Fleet) -> Collection[str]:
        """Chargers to reconcile again after a fleet edit: the fed chargers, before or after,
        of every location whose circuits, chargers or timezone changed."""
        before, after = FleetIndex(old), self._index(new)
        locations = {
            place
            for fleet in (old, new)
            for place in (
                *(c.resource.spec.location for c in fleet.chargers.values()),
                *(p.resource.spec.location for p in fleet.power_limits.values()),
            )
        }
        identities: dict[str, None] = {}
        for location in sorted(locations):
            if before.signature(location) == after.signature(location):
                continue
            self._bump(location)
            for index in (before, after):
                identities.update((c.resource.identity, None) for c in index.fed_at(location))
        return list(identities)

    def forget(self, identity: str) -> None:
        if self._shared is not None and self._published.pop(identity, None) is not None:
            self._shared.forget_profiles(identity)
        state = self._drop(identity)
        for waiting in self._waiting.values():
            waiting.discard(identity)
        if state is not None:
            self._wake_waiting(state.location)

    def close(self) -> None:
        """Cancel the schedule timer (the event loop is ending)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    # --- one pass ------------------------------------------------------------------------------

    async def run(self, ctx: PassContext) -> StepResult:
        shared = self._bind(ctx)
        result = await self._run(ctx, shared)
        state = self._chargers.get(ctx.identity)
        if shared is not None and state is not None:
            await self._publish(shared, state)
        return result

    async def _run(self, ctx: PassContext, shared: Coordination | None) -> StepResult:
        fleet = ctx.fleet
        index = self._index(fleet)
        name = ctx.charger.name
        location = ctx.charger.resource.spec.location
        if name not in index.fed:
            return await self._unmanaged(ctx)
        generation = self._generations.get(location, 0)
        plan, valid_until = await self._plan(ctx, index, location, generation)

        state = self._chargers.get(ctx.identity)
        if state is None or state.location != location or state.name != name:
            self._drop(ctx.identity)
            state = ChargerProfiles(ctx.identity, name, location)
            self._chargers[ctx.identity] = state
            self._at.setdefault(location, set()).add(ctx.identity)
        forget_ended(state, plan)
        if state.unverifiable is None:
            state.unverifiable = without_smart_charging(
                ctx.record, capabilities(ctx.desired.version)
            )
        state.unverified.update(state.observed)  # asked again each pass until in force
        targets = {limit.profile_id: limit for limit in charging_limits(plan, name)}
        changes, skipped = plan_changes(state, targets)

        notes = [
            f"{describe([change])} refused earlier ({refusal.answer}): not sent again "
            "until its value changes"
            for change, refusal in skipped
        ]
        for change in (c for c in changes if not c.raises):
            notes.append(await self._apply(ctx, state, change))
        raises = [c for c in changes if c.raises]
        if raises:
            stale = (
                self._generations.get(location, 0) != generation
                or ctx.central.fleet is not fleet
                or (valid_until is not None and datetime.now(UTC) >= valid_until)
            )
            if stale:
                self._wake(ctx.identity)
                notes.append(f"{describe(raises)} on the next pass: the allocation changed")
            else:
                notes += await self._raise(ctx, state, plan, raises, shared)
        notes += await self._verify(ctx, state)
        if self._waiting.get(location) and not self._holding_up(plan, location):
            self._wake_waiting(location, besides=ctx.identity)

        synced = not skipped and not state.observed and converged(state, targets)
        if synced:
            text = summary(plan, name) if changes else ""
        else:
            text = "; ".join(note for note in notes if note)
        return StepResult(synced=synced, message=f"power: {text}" if text else "")

    async def _raise(
        self,
        ctx: PassContext,
        state: ChargerProfiles,
        plan: PowerPlan,
        raises: list[ProfileChange],
        shared: Coordination | None = None,
    ) -> list[str]:
        """Send the raises, unless a charger at the location may still allow more than the
        plan gives it: then they wait (see the module docstring)."""
        location = state.location
        # Nothing here rises before the decreases just sent are seen in force.
        notes = await self._verify(ctx, state)
        held_by = self._holding_up(plan, location)
        if held_by and await self._observe(ctx, state, raises):
            lowering = [c for c in raises if c.limit is not None and not state.raises(c.limit)]
            raises = [c for c in raises if c not in lowering]
            for change in lowering:
                change = ProfileChange(change.profile_id, change.limit, raises=False)
                notes.append(await self._apply(ctx, state, change))
            notes += await self._verify(ctx, state)
            held_by = self._holding_up(plan, location)
        if raises and held_by:
            self._waiting.setdefault(location, set()).add(ctx.identity)
            notes.append(f"{describe(raises)} waits until {lowered(held_by)}")
            return notes
        if raises and shared is not None:
            refused = await self._decide(ctx, shared, state, raises)
            if refused is not None:
                notes.append(refused)
                return notes
        self._waiting.get(location, set()).discard(ctx.identity)
        for change in raises:
            notes.append(await self._apply(ctx, state, change))
        return notes

    # --- several replicas ------------------------------------------------------------------------

    def _bind(self, ctx: PassContext) -> Coordination | None:
        """The other replicas sharing the store, if any; heard from the first pass on."""
        coordination = coordination_of(ctx.central)
        if not coordination.shared:
            return None
        if self._shared is not coordination:
            self._shared = coordination
            coordination.subscribe("transaction", self._heard_transaction)
            coordination.subscribe("power", self._heard_profiles)
        return coordination

    def _heard_transaction(self, location: str) -> None:
        """A session began or ended at `location` on another replica: plan it again here."""
        self._bump(location)
        for identity in sorted(self._at.get(location, ())):
            self._wake(identity)

    def _heard_profiles(self, location: str) -> None:
        """A charger on another replica changed what it may allow at `location` (it lowered
        its limits, say): the raises waiting here are tried again."""
        self._wake_waiting(location)

    async def _decide(
        self,
        ctx: PassContext,
        shared: Coordination,
        state: ChargerProfiles,
        raises: list[ProfileChange],
    ) -> str | None:
        """Whether these raises may go, decided under the location's lock from what the
        database says now (see the module docstring); None when they may, and then they are
        published as unconfirmed before the lock goes. Else what to say."""
        fleet, location = ctx.fleet, state.location
        fed = self._index(fleet).fed_at(location)
        async with shared.decision(f"location:{location}") as decision:
            found = await decision.open_transactions([c.resource.identity for c in fed])
            sessions = sessions_from(zip(fed, found, strict=True))
            plan = allocate(fleet, sessions, datetime.now(UTC), location)
            targets = {limit.profile_id: limit for limit in charging_limits(plan, state.name)}
            if any(targets.get(change.profile_id) != change.limit for change in raises):
                self._bump(location)
                self._wake(ctx.identity)
                return f"{describe(raises)} on the next pass: the allocation changed"
            others = [
                other
                for row in await decision.shared_profiles(location)
                if (other := _profiles_from(fleet, location, row)) is not None
                and other.identity not in self._chargers
            ]
            here = [self._chargers[i] for i in sorted(self._at.get(location, ()))]
            held_by = holding_up(plan, [*here, *others])
            if held_by:
                self._waiting.setdefault(location, set()).add(ctx.identity)
                return f"{describe(raises)} waits until {lowered(held_by)}"
            for change in raises:
                if change.limit is not None:  # from now on the charger may apply it
                    state.unconfirmed[change.profile_id] = change.limit
            document = _shared_state(state)
            await decision.put_profiles(ctx.identity, location, document)
        self._published[ctx.identity] = (shared.epoch, document)
        return None

    async def _publish(self, shared: Coordination, state: ChargerProfiles) -> None:
        """Publish what is known of the charger's profiles, if it changed, and tell the
        replicas waiting at its location."""
        document = _shared_state(state)
        if self._published.get(state.identity) == (shared.epoch, document):
            return
        await shared.put_profiles(state.identity, state.location, document)
        self._published[state.identity] = (shared.epoch, document)
        shared.publish("power", state.location)

    async def _unmanaged(self, ctx: PassContext) -> StepResult:
        """No circuit feeds the charger (any more): clear what we sent it, if anything."""
        state = self._chargers.get(ctx.identity)
        if state is None:
            return StepResult(synced=True)
        changes = clear_changes(state)
        notes = [await self._apply(ctx, state, change) for change in changes]
        notes += [
            f"clearing profile {pid} refused earlier ({refusal.answer})"
            for pid, refusal in sorted(state.refused.items())
            if refusal.limit is None
        ]
        left = [pid for pid in state.sent if state.sent[pid].purpose is not LimitPurpose.TX]
        if left:
            return StepResult(synced=False, message="power: " + "; ".join(n for n in notes if n))
        self._drop(ctx.identity)
        self._wake_waiting(state.location)
        return StepResult(synced=True, message="power: no circuit feeds it; profiles cleared")

    async def _plan(
        self, ctx: PassContext, index: FleetIndex, location: str, generation: int
    ) -> tuple[PowerPlan, datetime | None]:
        """The location's allocation now, and until when it holds (the next schedule change).

        One allocation serves every pass at the location until a transaction or fleet change
        (which bumps the generation), a schedule change, or `_PLAN_MAX_AGE`: a transaction
        wakes every charger there at once, and each would otherwise read every charger's
        transactions again. Passes that arrive while it is computed wait for the same one.
        """
        fleet = index.fleet
        loop = asyncio.get_running_loop()
        cached = self._plans.get(location)
        if (
            cached is None
            or cached.fleet is not fleet
            or cached.generation != generation
            or loop.time() - cached.created > _PLAN_MAX_AGE
            or (cached.task.done() and not _usable(cached.task))
        ):
            task = asyncio.create_task(
                self._compute(ctx, fleet, location, index.fed_at(location)),
                name=f"power allocation {location}",
            )
            cached = _CachedPlan(fleet, generation, loop.time(), task)
            self._plans[location] = cached
        plan, valid_until = await asyncio.shield(cached.task)
        if valid_until is not None and datetime.now(UTC) >= valid_until:
            self._plans.pop(location, None)  # a schedule change since: compute it again
            plan, valid_until = await self._compute(ctx, fleet, location, index.fed_at(location))
        return plan, valid_until

    async def _compute(
        self, ctx: PassContext, fleet: Fleet, location: str, chargers: Iterable[Loaded[Charger]]
    ) -> tuple[PowerPlan, datetime | None]:
        """The location's sessions (the open transactions of its fed chargers), allocated."""
        fed = list(chargers)
        # Asked at once, the store answers them in a few batched reads, not one per charger.
        found = await asyncio.gather(
            *(ctx.central.open_transactions(loaded.resource.identity) for loaded in fed)
        )
        sessions = sessions_from(zip(fed, found, strict=True))
        now = datetime.now(UTC)
        return allocate(fleet, sessions, now, location), self._arm_timer(fleet, now)

    async def _apply(self, ctx: PassContext, state: ChargerProfiles, change: ProfileChange) -> str:
        """Send one change; returns what to say about it ('' when accepted)."""
        pid, limit = change.profile_id, change.limit
        if limit is None:
            answer = await ctx.call(ctx.commands.clear_charging_profile(profile_id=pid))
            if answer in (Status.ACCEPTED, Status.UNKNOWN):  # Unknown: it was not there
                state.sent.pop(pid, None)
                state.unconfirmed.pop(pid, None)
                return ""
            return await self._refused(ctx, state, change, answer)
        before = None if change.raises else state.bound(limit)
        if change.raises:
            state.unconfirmed[pid] = limit  # from now on the charger may apply it
        answer = await ctx.call(ctx.commands.set_charging_profile(limit))
        if answer is Status.ACCEPTED:
            record_accepted(state, limit, before)
            log.info(
                "%s: %s",
                ctx.identity,
                describe([change]),
                extra={"charger": ctx.identity, "profile": pid, "amperes": max_amperes(limit)},
            )
            return ""
        if state.unconfirmed.get(pid) == limit:
            del state.unconfirmed[pid]
        return await self._refused(ctx, state, change, answer)

    async def _refused(
        self, ctx: PassContext, state: ChargerProfiles, change: ProfileChange, answer: object
    ) -> str:
        if isinstance(answer, CallFailed):
            text = " ".join(filter(None, ("CALLERROR", answer.code))) + f": {answer.description}"
        else:
            text = str(answer.value if isinstance(answer, Status) else answer)
        state.refused[change.profile_id] = Refusal(change.limit, text)
        what = describe([change])
        await ctx.central.event(
            ctx.identity,
            "ChargingProfileRefused",
            f"{what}: {text}",
            {"profile": change.profile_id, "answer": text},
        )
        return f"{what}: {text}"

    # --- verification --------------------------------------------------------------------------

    async def _verify(self, ctx: PassContext, state: ChargerProfiles) -> list[str]:
        """Ask the composite schedule of every connector whose profiles changed, or are not in
        force: the limit there must not exceed what the charger accepted from us. Returns
        what to say about those that do."""
        notes: list[str] = []
        for connector in sorted(state.unverified):
            if state.unverifiable is not None:
                break
            expected = state.expected(connector)
            if expected is None:  # nothing of ours applies there (any more)
                settle(state, connector)
                continue
            seen = await self._in_force(ctx, state, connector)
            if seen is None or not exceeds(seen, expected):
                if seen is not None and expected - seen > ROUNDING_AMPERES:
                    log.debug(
                        "%s: composite schedule of %s is %g A, below the %g A of ours",
                        ctx.identity,
                        where(connector),
                        seen,
                        expected,
                    )
                settle(state, connector)
                continue
            notes.append(await self._drifted(ctx, state, connector, seen, expected))
        return notes

    async def _observe(
        self, ctx: PassContext, state: ChargerProfiles, raises: list[ProfileChange]
    ) -> bool:
        """Ask what is in force where raises wait only because we know nothing of the
        charger's profiles there (it reconnected): sending a limit no higher than that lowers
        what it may draw. Returns whether anything was learnt."""
        connectors = {
            change.limit.connector
            for change in raises
            if change.limit is not None and state.bound(change.limit) is None
        }
        learnt = False
        for connector in sorted(connectors):
            if state.unverifiable is not None:
                break
            seen = await self._in_force(ctx, state, connector)
            if seen is not None:
                state.observed[connector] = max(state.observed.get(connector, 0.0), seen)
                learnt = True
        return learnt

    async def _in_force(
        self, ctx: PassContext, state: ChargerProfiles, connector: int
    ) -> float | None:
        """The limit in force on `connector` by its composite schedule (inf: none); None when
        the charger does not say (`state.unverifiable` tells if it never will)."""
        try:
            answer = await ctx.call(
                ctx.commands.get_composite_schedule(connector, COMPOSITE_SECONDS)
            )
        except TransportFailure as failure:
            if failure.failure.kind is FailureKind.DISCONNECTED:
                raise
            # No answer, or one that breaks the schema: firmware that drops actions it does
            # not implement instead of answering NotImplemented would do so every time, and
            # aborting the pass would keep this charger's decreases unverified, holding up
            # every raise at its location. Trusted from now on, like a refusal.
            self._unverifiable(ctx, state, f"unanswered ({failure.failure.description})")
            return None
        if isinstance(answer, CallFailed):  # a CALLERROR
            if answer.code in UNSUPPORTED_CODES:
                self._unverifiable(ctx, state, f"CALLERROR {answer.code}")
            else:
                log.info(
                    "%s: GetCompositeSchedule of %s: %s; trusting the charger's answers",
                    ctx.identity,
                    where(connector),
                    answer,
                    extra={"charger": ctx.identity},
                )
            return None
        if answer.status is not Status.ACCEPTED:
            self._unverifiable(ctx, state, answer.status.value)
            return None
        return in_force(answer)

    async def _drifted(
        self,
        ctx: PassContext,
        state: ChargerProfiles,
        connector: int,
        seen: float,
        expected: float,
    ) -> str:
        """The composite limit of `connector` exceeds ours: forget the profiles of ours that
        it exceeds, so the next pass sends them again, and remember what the charger may
        allow there meanwhile (it holds up raises at the location)."""
        text = drift_text(connector, seen, expected)
        first = drifted(state, connector, seen)
        if first:  # once per episode: a charger that keeps ignoring them waits for a resync
            self._wake(ctx.identity)
            await ctx.central.event(
                ctx.identity,
                "ChargingLimitNotInForce",
                text,
                {
                    "connector": connector,
                    "composite": None if math.isinf(seen) else seen,
                    "expected": expected,
                },
            )
        return text

    def _unverifiable(self, ctx: PassContext, state: ChargerProfiles, answer: str) -> None:
        """The charger does not give its composite schedule: trust its answers from now on."""
        log.info(
            "%s: GetCompositeSchedule %s: charging profiles are verified by the charger's "
            "answers only",
            ctx.identity,
            answer,
            extra={"charger": ctx.identity},
        )
        trust_answers(state, answer)

    # --- the safe order --------------------------------------------------------------------------

    def _holding_up(self, plan: PowerPlan, location: str) -> list[str]:
        """Chargers at the location (by name) that may allow more than this plan gives them."""
        return holding_up(plan, (self._chargers[i] for i in self._at.get(location, ())))

    def _drop(self, identity: str) -> ChargerProfiles | None:
        state = self._chargers.pop(identity, None)
        if state is not None:
            here = self._at.get(state.location, set())
            here.discard(identity)
            if not here:
                self._at.pop(state.location, None)
        return state

    def _wake_waiting(self, location: str, besides: str | None = None) -> None:
        waiting = self._waiting.pop(location, set())
        for identity in sorted(waiting):
            if identity != besides:
                self._wake(identity)
        if besides is not None and besides in waiting:
            self._waiting.setdefault(location, set()).add(besides)

    def _wake(self, identity: str) -> None:
        if self.wake is not None:
            self.wake(identity)

    def _bump(self, location: str) -> None:
        self._generations[location] = self._generations.get(location, 0) + 1
        self._plans.pop(location, None)

    # --- schedules -------------------------------------------------------------------------------

    def _arm_timer(self, fleet: Fleet, now: datetime) -> datetime | None:
        """Wake the scheduled locations' chargers at the next change of a limit in force;
        returns that moment (the plan of `now` holds until then)."""
        moment = self._next_change(fleet, now)
        if moment is None or moment == self._timer_at:
            return moment
        if self._timer is not None:
            self._timer.cancel()
        delay = min((moment - now).total_seconds(), _TIMER_MAX_SECONDS) + _TIMER_MARGIN_SECONDS
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)
        self._timer_at = moment
        return moment

    def _on_timer(self) -> None:
        self._timer = None
        moment, self._timer_at = self._timer_at, None
        cached = self._change_cache
        if moment is None or cached is None:
            return
        now = datetime.now(UTC)
        if now < moment:  # woke early (long wait, clock drift): sleep again
            self._arm_timer(cached[0], now)
            return
        for location in sorted(self._index(cached[0]).scheduled_locations):
            self._bump(location)
            for identity in sorted(self._at.get(location, ())):
                self._wake(identity)

    def _next_change(self, fleet: Fleet, now: datetime) -> datetime | None:
        cached = self._change_cache
        if cached is not None and cached[0] is fleet and (cached[1] is None or now < cached[1]):
            return cached[1]
        moment = next_change(fleet, now)
        self._change_cache = (fleet, moment)
        return moment

    def _index(self, fleet: Fleet) -> FleetIndex:
        if self._index_cache is None or self._index_cache.fleet is not fleet:
            self._index_cache = FleetIndex(fleet)
        return self._index_cache


# --- what replicas publish of a charger's profiles ------------------------------------------------


def _shared_state(state: ChargerProfiles) -> dict[str, Any]:
    """What other replicas need of `state` to tell whether the charger may allow more than an
    allocation gives it (`ChargerProfiles.lowers`), as JSON."""
    return {
        "sent": [_limit_document(limit) for _, limit in sorted(state.sent.items())],
        "unconfirmed": [_limit_document(limit) for _, limit in sorted(state.unconfirmed.items())],
        "previous": {str(c): _amperes_document(a) for c, a in sorted(state.previous.items())},
        "observed": {str(c): _amperes_document(a) for c, a in sorted(state.observed.items())},
    }


def _profiles_from(fleet: Fleet, location: str, row: SharedProfiles) -> ChargerProfiles | None:
    """Another replica's charger as `_shared_state` published it; None when the fleet no
    longer declares it."""
    loaded = fleet.charger_by_identity(row.identity)
    if loaded is None:
        return None
    document = row.state
    try:
        sent = [_limit_from(item) for item in document.get("sent", ())]
        unconfirmed = [_limit_from(item) for item in document.get("unconfirmed", ())]
        previous = {int(c): _amperes_from(a) for c, a in document.get("previous", {}).items()}
        observed = {int(c): _amperes_from(a) for c, a in document.get("observed", {}).items()}
    except (KeyError, TypeError, ValueError):
        log.warning("%s: the profiles another replica published are unreadable", row.identity)
        return None
    state = ChargerProfiles(row.identity, loaded.name, location)
    state.sent = {limit.profile_id: limit for limit in sent}
    state.unconfirmed = {limit.profile_id: limit for limit in unconfirmed}
    state.previous, state.observed = previous, observed
    return state


def _limit_document(limit: ChargingLimit) -> dict[str, Any]:
    return {
        "id": limit.profile_id,
        "purpose": limit.purpose.value,
        "periods": [[p.start_seconds, p.amperes, p.phases] for p in limit.periods],
        "connector": limit.connector,
        "stackLevel": limit.stack_level,
        "transaction": limit.transaction_id,
        "startsAt": limit.starts_at.isoformat() if limit.starts_at is not None else None,
        "daily": limit.recurring_daily,
    }


def _limit_from(document: Mapping[str, Any]) -> ChargingLimit:
    starts = document.get("startsAt")
    return ChargingLimit(
        profile_id=int(document["id"]),
        purpose=LimitPurpose(document["purpose"]),
        periods=tuple(
            LimitPeriod(int(start), float(amperes), None if phases is None else int(phases))
            for start, amperes, phases in document["periods"]
        ),
        connector=int(document["connector"]),
        stack_level=int(document.get("stackLevel", 0)),
        transaction_id=document.get("transaction"),
        starts_at=datetime.fromisoformat(starts) if isinstance(starts, str) else None,
        recurring_daily=bool(document.get("daily", False)),
    )


def _amperes_document(amperes: float) -> float | None:
    return None if math.isinf(amperes) else amperes  # JSON has no infinity: None is no limit


def _amperes_from(value: object) -> float:
    return math.inf if value is None else float(value)  # type: ignore[arg-type]
