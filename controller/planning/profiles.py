"""Power as charging profiles on one charger: which to send, in which order, and whether the
charger's composite schedule shows them in force. Pure; the power step
(`controller.converge.power`, whose docstring tells the safe order and the verification rules)
reads the transactions, sends the profiles and asks the composite schedules.

`ChargerProfiles` is what is known of one connected charger's profiles: those it accepted,
raises sent without an answer, refusals, and what its composite schedules showed. From it and
the targets of an allocation (`controller.planning.power.charging_limits`), `plan_changes`
gives the changes, each a raise or not (`ChargerProfiles.raises`); `holding_up` names the
chargers at a location that may still allow more than the plan gives them, so raises wait;
`exceeds` compares a composite limit with ours, and `drifted`, `settle`, `trust_answers` and
`record_accepted` keep the record after each answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from controller.fleet.model import Fleet, Loaded
from controller.planning.power import PowerPlan, Session, State, charging_limits
from controller.resources import Charger
from controller.resources.capabilities import Capabilities
from controller.values.commands import ChargingLimit, CompositeSchedule, LimitPurpose
from controller.values.records import ChargerRecord, Transaction

COMPOSITE_SECONDS = 60
"""How far ahead the composite schedule is asked: our profiles hold from now on."""
CLOCK_SLACK_SECONDS = 5
"""The composite limit compared is the one in force this far into it: a profile starting
"now" by our clock starts a moment later by the clock of a charger that lags behind."""
ROUNDING_AMPERES = 0.1
"""A composite limit this much above ours is rounding (one decimal), not another limit."""


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
        return bound is None or max_amperes(limit) > bound

    def lowers(self, limit: ChargingLimit) -> bool:
        """Whether the charger may allow more than `limit` now (a decrease still to apply,
        or one applied but not yet seen in force)."""
        bound = self.bound(limit)
        previous = self.previous.get(limit.connector)
        if previous is not None:
            bound = previous if bound is None else max(bound, previous)
        return bound is not None and bound > max_amperes(limit)

    def expected(self, connector: int) -> float | None:
        """The most the composite schedule of `connector` may show when the profiles of ours
        it accepted are in force; None: none of them applies there.

        The station maximum caps every connector; a connector's own limit is its Tx profile
        during a session and its TxDefault otherwise. Which one the charger applies depends on
        a transaction it may have started or ended a moment ago, so the higher of the two
        counts: a connector drawing more than both has neither in force.
        """
        caps = [
            max(max_amperes(known) for known in group)
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
                return max(max_amperes(known) for known in same)
            defaults = [
                known
                for known in self._all()
                if known.purpose is LimitPurpose.TX_DEFAULT and known.connector == limit.connector
            ]
            return max((max_amperes(known) for known in defaults), default=None)
        known = self._known(limit.profile_id)
        return max((max_amperes(k) for k in known), default=None)

    def _known(self, profile_id: int) -> list[ChargingLimit]:
        return [
            known
            for known in (self.sent.get(profile_id), self.unconfirmed.get(profile_id))
            if known is not None
        ]


@dataclass(frozen=True)
class FleetIndex:
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
class ProfileChange:
    """One profile to send (`limit`) or to clear (`limit` None, `profile_id` given)."""

    profile_id: int
    limit: ChargingLimit | None
    raises: bool


def forget_ended(state: ChargerProfiles, plan: PowerPlan) -> None:
    """Tx profiles end with their transaction on the charger: nothing to clear."""
    current = {
        (a.connector, a.transaction_id) for a in plan.for_charger(state.name) if a.transaction_id
    }
    for known in (state.sent, state.unconfirmed):
        for pid, limit in list(known.items()):
            if (
                limit.purpose is LimitPurpose.TX
                and (limit.connector, limit.transaction_id) not in current
            ):
                del known[pid]


def plan_changes(
    state: ChargerProfiles, targets: Mapping[int, ChargingLimit]
) -> tuple[list[ProfileChange], list[tuple[ProfileChange, Refusal]]]:
    """What to send: changed profiles, and profiles we set that are no longer wanted.
    Profiles refused with the same value are left out and returned apart."""
    for pid in list(state.refused):
        if state.refused[pid].limit != targets.get(pid):
            del state.refused[pid]  # the allocation changed: try again
    changes: list[ProfileChange] = []
    refused: list[tuple[ProfileChange, Refusal]] = []
    for pid, limit in sorted(targets.items()):
        if state.sent.get(pid) == limit and pid not in state.unconfirmed:
            continue
        change = ProfileChange(pid, limit, state.raises(limit))
        refusal = state.refused.get(pid)
        if refusal is not None:
            refused.append((change, refusal))
        else:
            changes.append(change)
    for pid, limit in sorted(state.sent.items()):
        if pid in targets or limit.purpose is LimitPurpose.TX:
            continue
        change = ProfileChange(pid, None, raises=True)
        refusal = state.refused.get(pid)
        if refusal is not None:
            refused.append((change, refusal))
        else:
            changes.append(change)
    return changes, refused


# --- the record, after each answer ---------------------------------------------------------------


def record_accepted(state: ChargerProfiles, limit: ChargingLimit, before: float | None) -> None:
    """The charger accepted `limit`; `before` is what it may have allowed there until then
    (None: a raise, or unknown). Its connector is to be verified, and a decrease keeps the
    old limit as what the charger may still allow until it is seen in force."""
    pid = limit.profile_id
    state.sent[pid] = limit
    state.unconfirmed.pop(pid, None)
    if state.unverifiable is None:
        connector = limit.connector
        state.unverified.add(connector)
        if before is not None and before > max_amperes(limit):
            state.previous[connector] = max(state.previous.get(connector, 0.0), before)


def in_force(schedule: CompositeSchedule) -> float:
    """The limit an Accepted composite schedule shows in force (inf: none), a few seconds in:
    a profile starting "now" by our clock starts a moment later by a charger's that lags."""
    seen = schedule.amperes_at(CLOCK_SLACK_SECONDS)
    return math.inf if seen is None else seen


def drift_text(connector: int, seen: float, expected: float) -> str:
    """What to say when the composite limit of `connector` exceeds ours."""
    shown = "has no limit" if math.isinf(seen) else f"is {seen:g} A"
    return (
        f"composite schedule of {where(connector)} {shown}, expected at most "
        f"{expected:g} A: profiles not in force, sent again"
    )


def drifted(state: ChargerProfiles, connector: int, seen: float) -> bool:
    """The composite limit of `connector` exceeds ours: forget the profiles of ours that it
    exceeds, so the next pass sends them again, and remember what the charger may allow there
    meanwhile (it holds up raises at the location). Returns whether this is the first time
    in this episode (then the charger is woken and an event said, once)."""
    forgotten = [
        (known, pid)
        for known in (state.sent, state.unconfirmed)
        for pid, limit in known.items()
        if (limit.purpose is LimitPurpose.STATION_MAX or limit.connector == connector)
        and exceeds(seen, max_amperes(limit))
    ]
    connectors = {known[pid].connector for known, pid in forgotten} | {connector}
    first = connector not in state.drifting
    state.drifting.add(connector)
    for known, pid in forgotten:
        del known[pid]
    for place in connectors:
        state.observed[place] = max(state.observed.get(place, 0.0), seen)
        state.previous.pop(place, None)
    state.unverified.discard(connector)
    return first


def trust_answers(state: ChargerProfiles, why: str) -> None:
    """The charger does not give its composite schedule (`why`): its answers are trusted from
    now on, and nothing waits for a verification."""
    state.unverifiable = why
    state.unverified.clear()
    state.previous.clear()
    state.observed.clear()
    state.drifting.clear()


# --- the safe order ------------------------------------------------------------------------------


def holding_up(plan: PowerPlan, states: Iterable[ChargerProfiles]) -> list[str]:
    """Chargers (by name) among `states` that may allow more than this plan gives them."""
    held = [
        state.name
        for state in states
        if any(state.lowers(limit) for limit in charging_limits(plan, state.name))
    ]
    return sorted(held)


def clear_changes(state: ChargerProfiles) -> list[ProfileChange]:
    """No circuit feeds the charger (any more): clear what we sent it, but Tx profiles (they
    end with their transaction) and those whose clearing it refused."""
    return [
        ProfileChange(pid, None, raises=True)
        for pid, limit in sorted(state.sent.items())
        if limit.purpose is not LimitPurpose.TX and pid not in state.refused
    ]


def sessions_from(
    found: Iterable[tuple[Loaded[Charger], Sequence[Transaction]]],
) -> list[Session]:
    """The sessions of these chargers' open transactions, for the allocation."""
    return [
        Session(loaded.name, transaction.connector_id, str(transaction.id), transaction.started_at)
        for loaded, transactions in found
        for transaction in transactions
    ]


# --- words ---------------------------------------------------------------------------------------


def max_amperes(limit: ChargingLimit) -> float:
    """The most a limit allows at any time of its schedule."""
    return max((p.amperes for p in limit.periods), default=math.inf)


def describe(changes: Iterable[ProfileChange]) -> str:
    words = []
    for change in changes:
        if change.limit is None:
            words.append(f"clearing profile {change.profile_id}")
            continue
        limit = change.limit
        where = "the charger" if limit.connector == 0 else f"connector {limit.connector}"
        words.append(f"{limit.purpose.value} {max_amperes(limit):g} A on {where}")
    return ", ".join(words)


def where(connector: int) -> str:
    return "the charger" if connector == 0 else f"connector {connector}"


def exceeds(seen: float, expected: float) -> bool:
    """Whether a composite limit (inf: none) is above ours by more than rounding."""
    return round(seen - expected, 3) > ROUNDING_AMPERES


def settle(state: ChargerProfiles, connector: int) -> None:
    """The composite schedule of `connector` was asked (or will not be): nothing pending."""
    state.unverified.discard(connector)
    state.previous.pop(connector, None)
    state.observed.pop(connector, None)
    state.drifting.discard(connector)


def without_smart_charging(record: ChargerRecord, keys: Capabilities) -> str | None:
    """Why the charger has no composite schedules to give, from its reported configuration
    (the keys the fleet declares) and the capability keys of its OCPP version; None when it
    may have them."""
    feature_profiles = (keys.feature_profiles or "").casefold()
    switches = {switch.casefold() for switch in keys.smart_charging_switches}
    for key in record.configuration or ():
        value = (key.value or "").strip()
        name = key.key.casefold()
        if feature_profiles and name == feature_profiles and value and keys.smart_charging_profile:
            profiles = {item.strip().casefold() for item in value.split(",")}
            if keys.smart_charging_profile.casefold() not in profiles:
                return f"{keys.feature_profiles} without {keys.smart_charging_profile}"
        if name in switches and value.casefold() == "false":
            return f"{key.key} false"
    return None


def lowered(names: list[str]) -> str:
    if len(names) == 1:
        return f"{names[0]} has lowered its limits"
    return f"{', '.join(names)} have lowered theirs"


def converged(state: ChargerProfiles, targets: Mapping[int, ChargingLimit]) -> bool:
    """Every profile accepted as it should be, and none of ours left that should not be."""
    return (
        all(state.sent.get(pid) == limit for pid, limit in targets.items())
        and not any(pid in targets for pid in state.unconfirmed)
        and all(pid in targets or k.purpose is LimitPurpose.TX for pid, k in state.sent.items())
    )


def summary(plan: PowerPlan, charger: str) -> str:
    """Each managed connector's share and why, as the operator reads it."""
    parts = [
        f"connector {a.connector} {a.amperes:g} A ({a.reason})"
        for a in plan.for_charger(charger)
        if a.state is not State.UNMANAGED
    ]
    return "; ".join(parts)
