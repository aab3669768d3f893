"""Power: every charger a circuit feeds gets the charging profiles of its share.

`PowerStep` runs in each reconcile pass of a charger. It computes its location's allocation
(`controller.planning.power.allocate`, pure) from the open transactions in the store, takes the
charger's profiles from it (`charging_limits`: the station maximum, a TxDefault per connector,
a Tx per session) and sends those that differ from what the charger last accepted from us.
What was sent is kept in memory per connected charger and dropped when it disconnects, so a
charger that reconnects gets everything again: it may have lost or been given profiles while
we were not looking.

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
    while it stays connected; after a restart of chargectl they are not known and stay. With
    several replicas, a transaction on a charger connected to another replica wakes no one
    here: its location is recomputed at the next resync.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from controller.converge.base import (
    UNSUPPORTED_CODES,
    PassContext,
    Step,
    StepResult,
    TransportFailure,
)
from controller.fleet.model import Fleet, Loaded
from controller.planning.power import (
    PowerPlan,
    Session,
    State,
    allocate,
    charging_limits,
    next_change,
)
from controller.resources import Charger
from controller.values.commands import ChargingLimit, LimitPurpose, Status
from controller.values.errors import CallFailed, FailureKind
from controller.values.records import ChargerRecord, Transaction

log = logging.getLogger("chargectl.power")

Wake = Callable[[str], None]
"""Reconcile a charger (by identity) again soon: the reconciler's `wake`."""

_TIMER_MAX_SECONDS = 3600.0
"""The schedule timer never sleeps longer: the event loop's clock and the wall clock drift."""
_TIMER_MARGIN_SECONDS = 0.05
"""Fire just after a schedule change, so the woken passes see the new limit in force."""
_PLAN_MAX_AGE = 5.0
"""Seconds one allocation serves the passes of a location (see `PowerStep._plan`)."""
_COMPOSITE_SECONDS = 60
"""How far ahead the composite schedule is asked: our profiles hold from now on."""
_CLOCK_SLACK_SECONDS = 5
"""The composite limit compared is the one in force this far into it: a profile starting
"now" by our clock starts a moment later by the clock of a charger that lags behind."""
_ROUNDING_AMPERES = 0.1
"""A composite limit this much above ours is rounding (one decimal), not another limit."""
_SMART_CHARGING_SWITCHES = frozenset({"smartchargingctrlr.available", "smartchargingctrlr.enabled"})
"""2.0.1 variables that, reported false, say the charger does no smart charging."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A profile (None: clearing it) the charger would not take, and what it answered."""

    limit: ChargingLimit | None
    answer: str


@dataclass(slots=True)
class ChargerProfiles:
    """What the step knows of the profiles of one connected charger, by profile id, and of
    what its composite schedules showed, by connector (0: the whole charger)."""

    identity: str
    name: str
    location: str
    sent: dict[int, ChargingLimit] = field(default_factory=dict)
    """Accepted by the charger."""
    unconfirmed: dict[int, ChargingLimit] = field(default_factory=dict)
    """Raises sent without an answer (in flight, or lost with the connection)."""
    refused: dict[int, Refusal] = field(default_factory=dict)
    unverified: set[int] = field(default_factory=set)
    """Connectors with profiles accepted since their composite schedule was last asked."""
    previous: dict[int, float] = field(default_factory=dict)
    """The limit an accepted decrease replaced, until the composite schedule shows the
    decrease in force: the charger may still allow it (see `lowers`)."""
    observed: dict[int, float] = field(default_factory=dict)
    """A composite limit seen where ours are not in force (above them, or where we know none
    of ours yet); inf: no limit. The charger may allow this much until ours are seen in force."""
    drifting: set[int] = field(default_factory=set)
    """Connectors whose composite schedule showed ours not in force (reported once)."""
    unverifiable: str | None = None
    """Why the composite schedule is not asked (the charger refused it): answers are trusted."""

    def bound(self, limit: ChargingLimit) -> float | None:
        """The most the charger may allow now where `limit` would apply; None: unknown."""
        known = self._accepted_bound(limit)
        seen = self.observed.get(limit.connector)
        if seen is None:
            return known
        return seen if known is None else max(known, seen)

    def raises(self, limit: ChargingLimit) -> bool:
        bound = self.bound(limit)
        return bound is None or _amperes(limit) > bound

    def lowers(self, limit: ChargingLimit) -> bool:
        """Whether the charger may allow more than `limit` now (a decrease still to apply,
        or one applied but not yet seen in force)."""
        bound = self.bound(limit)
        previous = self.previous.get(limit.connector)
        if previous is not None:
            bound = previous if bound is None else max(bound, previous)
        return bound is not None and bound > _amperes(limit)

    def expected(self, connector: int) -> float | None:
        """The most the composite schedule of `connector` may show when the profiles of ours
        it accepted are in force; None: none of them applies there.

        The station maximum caps every connector; a connector's own limit is its Tx profile
        during a session and its TxDefault otherwise. Which one the charger applies depends on
        a transaction it may have started or ended a moment ago, so the higher of the two
        counts: a connector drawing more than both has neither in force.
        """
        caps = [
            max(_amperes(known) for known in group)
            for group in (self._station(), self._own(connector))
            if group
        ]
        return min(caps) if caps else None

    def _station(self) -> list[ChargingLimit]:
        return [k for k in self._all() if k.purpose is LimitPurpose.STATION_MAX]

    def _own(self, connector: int) -> list[ChargingLimit]:
        if connector == 0:
            return []
        return [
            k
            for k in self._all()
            if k.connector == connector and k.purpose is not LimitPurpose.STATION_MAX
        ]

    def _all(self) -> list[ChargingLimit]:
        return [*self.sent.values(), *self.unconfirmed.values()]

    def _accepted_bound(self, limit: ChargingLimit) -> float | None:
        if limit.purpose is LimitPurpose.TX:
            same = [
                known
                for known in self._known(limit.profile_id)
                if known.transaction_id == limit.transaction_id
            ]
            if same:
                return max(_amperes(known) for known in same)
            defaults = [
                known
                for known in self._all()
                if known.purpose is LimitPurpose.TX_DEFAULT and known.connector == limit.connector
            ]
            return max((_amperes(known) for known in defaults), default=None)
        known = self._known(limit.profile_id)
        return max((_amperes(k) for k in known), default=None)

    def _known(self, profile_id: int) -> list[ChargingLimit]:
        return [
            known
            for known in (self.sent.get(profile_id), self.unconfirmed.get(profile_id))
            if known is not None
        ]


@dataclass(frozen=True)
class _FleetIndex:
    """What the step looks up in one fleet, computed once per fleet (fleets are immutable)."""

    fleet: Fleet

    @cached_property
    def fed(self) -> frozenset[str]:
        """Chargers (by name) some circuit feeds."""
        return frozenset(
            charger.name
            for name in self.fleet.power_limits
            for charger in self.fleet.chargers_fed_by(name)
        )

    @cached_property
    def scheduled_locations(self) -> frozenset[str]:
        return frozenset(
            loaded.resource.spec.location
            for loaded in self.fleet.power_limits.values()
            if loaded.resource.spec.schedule
        )

    def fed_at(self, location: str) -> list[Loaded[Charger]]:
        """The fed chargers of a location, by name."""
        return sorted(
            (c for c in self.fleet.chargers_at(location) if c.name in self.fed),
            key=lambda c: c.name,
        )

    def signature(self, location: str) -> tuple[object, ...]:
        """Everything at a location the allocation depends on, to compare two fleets."""
        circuits = sorted(
            (name, loaded.resource.spec)
            for name, loaded in self.fleet.power_limits.items()
            if loaded.resource.spec.location == location
        )
        chargers = [
            (
                c.name,
                c.resource.identity,
                sorted(c.resource.metadata.labels.items()),
                list(c.resource.spec.connectors),
                c.name in self.fed,
            )
            for c in sorted(self.fleet.chargers_at(location), key=lambda c: c.name)
        ]
        place = self.fleet.locations.get(location)
        timezone = place.resource.spec.timezone if place is not None else None
        return (timezone, circuits, chargers)


@dataclass(frozen=True, slots=True)
class _CachedPlan:
    fleet: Fleet
    generation: int
    created: float
    """The event loop's time."""
    task: asyncio.Task[tuple[PowerPlan, datetime | None]]


def _usable(task: asyncio.Task[tuple[PowerPlan, datetime | None]]) -> bool:
    return not task.cancelled() and task.exception() is None


@dataclass(frozen=True, slots=True)
class _Change:
    """One profile to send (`limit`) or to clear (`limit` None, `profile_id` given)."""

    profile_id: int
    limit: ChargingLimit | None
    raises: bool


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
        self._index_cache: _FleetIndex | None = None
        self._change_cache: tuple[Fleet, datetime | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: datetime | None = None

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
        before, after = _FleetIndex(old), self._index(new)
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
        self._forget_ended(state, plan)
        if state.unverifiable is None:
            state.unverifiable = _without_smart_charging(ctx.record)
        state.unverified.update(state.observed)  # asked again each pass until in force
        targets = {limit.profile_id: limit for limit in charging_limits(plan, name)}
        changes, skipped = self._changes(state, targets)

        notes = [
            f"{_describe([change])} refused earlier ({refusal.answer}): not sent again "
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
                notes.append(f"{_describe(raises)} on the next pass: the allocation changed")
            else:
                notes += await self._raise(ctx, state, plan, raises)
        notes += await self._verify(ctx, state)
        if self._waiting.get(location) and not self._holding_up(plan, location):
            self._wake_waiting(location, besides=ctx.identity)

        synced = not skipped and not state.observed and _converged(state, targets)
        if synced:
            text = _summary(plan, name) if changes else ""
        else:
            text = "; ".join(note for note in notes if note)
        return StepResult(synced=synced, message=f"power: {text}" if text else "")

    async def _raise(
        self, ctx: PassContext, state: ChargerProfiles, plan: PowerPlan, raises: list[_Change]
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
                change = _Change(change.profile_id, change.limit, raises=False)
                notes.append(await self._apply(ctx, state, change))
            notes += await self._verify(ctx, state)
            held_by = self._holding_up(plan, location)
        if raises and held_by:
            self._waiting.setdefault(location, set()).add(ctx.identity)
            notes.append(f"{_describe(raises)} waits until {_lowered(held_by)}")
            return notes
        self._waiting.get(location, set()).discard(ctx.identity)
        for change in raises:
            notes.append(await self._apply(ctx, state, change))
        return notes

    async def _unmanaged(self, ctx: PassContext) -> StepResult:
        """No circuit feeds the charger (any more): clear what we sent it, if anything."""
        state = self._chargers.get(ctx.identity)
        if state is None:
            return StepResult(synced=True)
        changes = [
            _Change(pid, None, raises=True)
            for pid, limit in sorted(state.sent.items())
            if limit.purpose is not LimitPurpose.TX and pid not in state.refused
        ]
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
        self, ctx: PassContext, index: _FleetIndex, location: str, generation: int
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
                self._compute(ctx, fleet, index.fed_at(location)),
                name=f"power allocation {location}",
            )
            cached = _CachedPlan(fleet, generation, loop.time(), task)
            self._plans[location] = cached
        plan, valid_until = await asyncio.shield(cached.task)
        if valid_until is not None and datetime.now(UTC) >= valid_until:
            self._plans.pop(location, None)  # a schedule change since: compute it again
            plan, valid_until = await self._compute(ctx, fleet, index.fed_at(location))
        return plan, valid_until

    async def _compute(
        self, ctx: PassContext, fleet: Fleet, chargers: Iterable[Loaded[Charger]]
    ) -> tuple[PowerPlan, datetime | None]:
        """The location's sessions (the open transactions of its fed chargers), allocated."""
        sessions: list[Session] = []
        fed = list(chargers)
        # Asked at once, the store answers them in a few batched reads, not one per charger.
        found = await asyncio.gather(
            *(ctx.central.open_transactions(loaded.resource.identity) for loaded in fed)
        )
        for loaded, transactions in zip(fed, found, strict=True):
            for transaction in transactions:
                sessions.append(
                    Session(
                        loaded.name,
                        transaction.connector_id,
                        str(transaction.id),
                        transaction.started_at,
                    )
                )
        now = datetime.now(UTC)
        return allocate(fleet, sessions, now), self._arm_timer(fleet, now)

    @staticmethod
    def _forget_ended(state: ChargerProfiles, plan: PowerPlan) -> None:
        """Tx profiles end with their transaction on the charger: nothing to clear."""
        current = {
            (a.connector, a.transaction_id)
            for a in plan.for_charger(state.name)
            if a.transaction_id
        }
        for known in (state.sent, state.unconfirmed):
            for pid, limit in list(known.items()):
                if (
                    limit.purpose is LimitPurpose.TX
                    and (limit.connector, limit.transaction_id) not in current
                ):
                    del known[pid]

    @staticmethod
    def _changes(
        state: ChargerProfiles, targets: Mapping[int, ChargingLimit]
    ) -> tuple[list[_Change], list[tuple[_Change, Refusal]]]:
        """What to send: changed profiles, and profiles we set that are no longer wanted.
        Profiles refused with the same value are left out and returned apart."""
        for pid in list(state.refused):
            if state.refused[pid].limit != targets.get(pid):
                del state.refused[pid]  # the allocation changed: try again
        changes: list[_Change] = []
        refused: list[tuple[_Change, Refusal]] = []
        for pid, limit in sorted(targets.items()):
            if state.sent.get(pid) == limit and pid not in state.unconfirmed:
                continue
            change = _Change(pid, limit, state.raises(limit))
            refusal = state.refused.get(pid)
            if refusal is not None:
                refused.append((change, refusal))
            else:
                changes.append(change)
        for pid, limit in sorted(state.sent.items()):
            if pid in targets or limit.purpose is LimitPurpose.TX:
                continue
            change = _Change(pid, None, raises=True)
            refusal = state.refused.get(pid)
            if refusal is not None:
                refused.append((change, refusal))
            else:
                changes.append(change)
        return changes, refused

    async def _apply(self, ctx: PassContext, state: ChargerProfiles, change: _Change) -> str:
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
            state.sent[pid] = limit
            state.unconfirmed.pop(pid, None)
            if state.unverifiable is None:
                connector = limit.connector
                state.unverified.add(connector)
                if before is not None and before > _amperes(limit):
                    state.previous[connector] = max(state.previous.get(connector, 0.0), before)
            log.info(
                "%s: %s",
                ctx.identity,
                _describe([change]),
                extra={"charger": ctx.identity, "profile": pid, "amperes": _amperes(limit)},
            )
            return ""
        if state.unconfirmed.get(pid) == limit:
            del state.unconfirmed[pid]
        return await self._refused(ctx, state, change, answer)

    async def _refused(
        self, ctx: PassContext, state: ChargerProfiles, change: _Change, answer: object
    ) -> str:
        if isinstance(answer, CallFailed):
            text = " ".join(filter(None, ("CALLERROR", answer.code))) + f": {answer.description}"
        else:
            text = str(answer.value if isinstance(answer, Status) else answer)
        state.refused[change.profile_id] = Refusal(change.limit, text)
        what = _describe([change])
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
                _settled(state, connector)
                continue
            seen = await self._in_force(ctx, state, connector)
            if seen is None or not _exceeds(seen, expected):
                if seen is not None and expected - seen > _ROUNDING_AMPERES:
                    log.debug(
                        "%s: composite schedule of %s is %g A, below the %g A of ours",
                        ctx.identity,
                        _where(connector),
                        seen,
                        expected,
                    )
                _settled(state, connector)
                continue
            notes.append(await self._drifted(ctx, state, connector, seen, expected))
        return notes

    async def _observe(
        self, ctx: PassContext, state: ChargerProfiles, raises: list[_Change]
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
                ctx.commands.get_composite_schedule(connector, _COMPOSITE_SECONDS)
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
                    _where(connector),
                    answer,
                    extra={"charger": ctx.identity},
                )
            return None
        if answer.status is not Status.ACCEPTED:
            self._unverifiable(ctx, state, answer.status.value)
            return None
        seen = answer.amperes_at(_CLOCK_SLACK_SECONDS)
        return math.inf if seen is None else seen

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
        shown = "has no limit" if math.isinf(seen) else f"is {seen:g} A"
        text = (
            f"composite schedule of {_where(connector)} {shown}, expected at most "
            f"{expected:g} A: profiles not in force, sent again"
        )
        forgotten = [
            (known, pid)
            for known in (state.sent, state.unconfirmed)
            for pid, limit in known.items()
            if (limit.purpose is LimitPurpose.STATION_MAX or limit.connector == connector)
            and _exceeds(seen, _amperes(limit))
        ]
        connectors = {known[pid].connector for known, pid in forgotten} | {connector}
        first = connector not in state.drifting
        state.drifting.add(connector)
        for known, pid in forgotten:
            del known[pid]
        for where in connectors:
            state.observed[where] = max(state.observed.get(where, 0.0), seen)
            state.previous.pop(where, None)
        state.unverified.discard(connector)
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
        state.unverifiable = answer
        state.unverified.clear()
        state.previous.clear()
        state.observed.clear()
        state.drifting.clear()

    # --- the safe order --------------------------------------------------------------------------

    def _holding_up(self, plan: PowerPlan, location: str) -> list[str]:
        """Chargers at the location (by name) that may allow more than this plan gives them."""
        held: list[str] = []
        for identity in self._at.get(location, ()):
            state = self._chargers[identity]
            if any(state.lowers(limit) for limit in charging_limits(plan, state.name)):
                held.append(state.name)
        return sorted(held)

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

    def _index(self, fleet: Fleet) -> _FleetIndex:
        if self._index_cache is None or self._index_cache.fleet is not fleet:
            self._index_cache = _FleetIndex(fleet)
        return self._index_cache


# --- words -------------------------------------------------------------------------------------


def _amperes(limit: ChargingLimit) -> float:
    """The most a limit allows at any time of its schedule."""
    return max((p.amperes for p in limit.periods), default=math.inf)


def _describe(changes: Iterable[_Change]) -> str:
    words = []
    for change in changes:
        if change.limit is None:
            words.append(f"clearing profile {change.profile_id}")
            continue
        limit = change.limit
        where = "the charger" if limit.connector == 0 else f"connector {limit.connector}"
        words.append(f"{limit.purpose.value} {_amperes(limit):g} A on {where}")
    return ", ".join(words)


def _where(connector: int) -> str:
    return "the charger" if connector == 0 else f"connector {connector}"


def _exceeds(seen: float, expected: float) -> bool:
    """Whether a composite limit (inf: none) is above ours by more than rounding."""
    return round(seen - expected, 3) > _ROUNDING_AMPERES


def _settled(state: ChargerProfiles, connector: int) -> None:
    """The composite schedule of `connector` was asked (or will not be): nothing pending."""
    state.unverified.discard(connector)
    state.previous.pop(connector, None)
    state.observed.pop(connector, None)
    state.drifting.discard(connector)


def _without_smart_charging(record: ChargerRecord) -> str | None:
    """Why the charger has no composite schedules to give, from its reported configuration
    (the keys the fleet declares); None when it may have them."""
    for key in record.configuration or ():
        value = (key.value or "").strip()
        if key.key.casefold() == "supportedfeatureprofiles" and value:
            profiles = {item.strip().casefold() for item in value.split(",")}
            if "smartcharging" not in profiles:
                return "SupportedFeatureProfiles without SmartCharging"
        if key.key.casefold() in _SMART_CHARGING_SWITCHES and value.casefold() == "false":
            return f"{key.key} false"
    return None


def _lowered(names: list[str]) -> str:
    if len(names) == 1:
        return f"{names[0]} has lowered its limits"
    return f"{', '.join(names)} have lowered theirs"


def _converged(state: ChargerProfiles, targets: Mapping[int, ChargingLimit]) -> bool:
    """Every profile accepted as it should be, and none of ours left that should not be."""
    return (
        all(state.sent.get(pid) == limit for pid, limit in targets.items())
        and not any(pid in targets for pid in state.unconfirmed)
        and all(pid in targets or k.purpose is LimitPurpose.TX for pid, k in state.sent.items())
    )


def _summary(plan: PowerPlan, charger: str) -> str:
    """Each managed connector's share and why, as the operator reads it."""
    parts = [
        f"connector {a.connector} {a.amperes:g} A ({a.reason})"
        for a in plan.for_charger(charger)
        if a.state is not State.UNMANAGED
    ]
    return "; ".join(parts)
