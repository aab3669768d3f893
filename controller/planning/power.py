"""Power: each circuit's limit divided among the charging sessions it feeds, as charging profiles.

`allocate(fleet, sessions, at)` is a pure function from the fleet, the sessions in progress and
the moment to a `PowerPlan`; `charging_limits(plan, charger)` says what to send to one charger.
The reconciler calls them when a session starts or stops, when the fleet changes and at
`next_change(fleet, at)`, when a scheduled limit begins or ends. The rules:

Circuits
    Every `PowerLimit` is a circuit. A charger is fed by each circuit that names or selects it
    (every charger of the location when the circuit selects none) and, through those, by all
    their parents. Every circuit that feeds a charger limits it.

Limit in force
    A circuit's static limit, in whole amperes per phase (a limit in watts is divided by phases
    x voltage and rounded down), lowered by every `schedule` window that covers the moment; of
    overlapping windows the lowest limit wins. Windows are wall-clock times in the location's
    timezone, so office hours stay 08:00-18:00 across daylight saving changes.

Phases
    Limits are per phase, and a connector's current counts against every phase of each circuit
    that feeds it, whatever its number of phases: a single-phase connector is counted as if it
    loaded all three. Which phase it is wired to does not matter then, so no phase is ever
    overloaded; the price is that single-phase cars may leave part of a three-phase circuit
    unused.

Equal share (max-min fairness)
    The shares of all charging sessions rise together, like water filling a basin. A session
    stops rising at its connector's maxCurrent, or when a circuit that feeds it is full; what it
    cannot use goes to the others. So no circuit is ever above its limit in force, no connector
    above its maximum, and no session could get more without taking from one that has less (or
    is at its minimum). Under one circuit with equal connectors this is the plain limit divided
    by the number of sessions.

Minimum current
    A share below the circuit's minimumCurrent (6 A: IEC 61851 cannot signal less) is not
    offered. Instead as few sessions as needed wait (offered 0 A) so that the others get at
    least the minimum, deepest circuit first; the most recent sessions wait: the latest start,
    a session whose start is unknown counting as the latest, ties broken by charger name and
    then connector id, highest first. A waiting session gets its turn when another one stops.
    A connector fed by several circuits needs the highest of their minimums; a connector whose
    maxCurrent is below that needs its maxCurrent.

Idle connectors
    A connector without a session is offered its minimum (as its default profile), so that a
    car plugged in starts charging at once, but only while every circuit feeding it has that
    much room left after the sessions' shares and the offers to idle connectors before it (by
    charger name, then connector id). Otherwise it is offered 0 A: the circuit is exhausted and
    a new session there waits for the next allocation. Even if every idle connector started a
    session before the next allocation, no circuit would be overloaded.

Rounding
    Shares are computed exactly and rounded down to 0.1 A, as sent, so they still fit: 32 A
    among three sessions is 3 x 10.6 A.

Not managed
    DC connectors: their maxCurrent is on the car's side of the rectifier and what they draw
    from the AC circuit is not known, so they are neither limited nor counted; declare an AC
    circuit's limit net of the DC chargers behind it. Chargers no circuit feeds are not limited
    either. chargectl sends no profiles to such connectors.

Charging profiles
    A charger fed by a circuit, with only AC connectors, gets a station-wide maximum (1.6
    ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile) at the static limit: the lowest
    static limit of the circuits feeding it, and at most the sum of its connectors' maxima. It
    does not follow schedules or sessions, so it rarely changes, and it still holds if the
    dynamic profiles are lost. (A station-wide limit in amperes would also cap a DC connector,
    so chargers with one get none.) Every managed connector gets a TxDefaultProfile: what a
    session may draw that starts there before the next allocation - the idle offer, the
    minimum for a connector whose current session is charging (its share is freed when it
    stops), 0 A for a waiting one, and the session's own share while its transaction id is not
    known yet. A session with a transaction id gets a TxProfile with its share.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import cached_property
from zoneinfo import ZoneInfo

from controller.fleet.model import Fleet
from controller.planning.wallclock import minute_of_week, offset_changes, wall_instants
from controller.resources.charger import CurrentType
from controller.resources.powerlimit import PowerLimitSpec
from controller.values.commands import ChargingLimit, LimitPeriod, LimitPurpose, limit_amperes

_HORIZON = timedelta(days=8)
"""How far `next_change` looks: a week, and a day to spare for daylight saving changes."""


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """A session on a connector: a car plugged in and authorised, with or without a transaction.

    `transaction_id` is None until the transaction is known (the session then gets a default
    profile rather than a transaction profile). `started_at` decides who waits when a circuit
    cannot give everyone the minimum: the most recent sessions; unknown counts as most recent.
    """

    charger: str
    connector: int
    transaction_id: str | None = None
    started_at: datetime | None = None


class State(StrEnum):
    """What a connector's allocation means."""

    CHARGING = "Charging"
    """A session with its share (at least the minimum)."""
    WAITING = "Waiting"
    """A session offered 0 A: its circuit cannot give it the minimum now."""
    IDLE = "Idle"
    """No session: offered the minimum for a new one, or 0 A when the circuit is exhausted."""
    UNMANAGED = "Unmanaged"
    """A DC connector, or a charger no circuit feeds: not limited, no profiles sent."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """One connector's share, in amperes per phase rounded down to 0.1 A, and why.

    `default_amperes` is its TxDefault limit: what a session starting there before the next
    allocation may draw. `circuit` is the circuit that decided the share, if one did.
    """

    charger: str
    connector: int
    amperes: float
    phases: int
    reason: str
    state: State
    default_amperes: float = 0.0
    transaction_id: str | None = None
    circuit: str | None = None


@dataclass(frozen=True, slots=True)
class CircuitLoad:
    """A circuit at the moment of the plan: its limit in force and what is given out under it.

    `allocated` sums the shares of the sessions it feeds (directly or through its children),
    `reserved` the offers to its idle connectors; together they never exceed `limit_amperes`.
    """

    circuit: str
    limit_amperes: int
    allocated: float
    sessions: int
    children: tuple[str, ...]
    location: str
    parent: str | None
    static_amperes: int
    reserved: float
    waiting: int


@dataclass(frozen=True)
class PowerPlan:
    """Every connector's allocation, every circuit's load, and each charger's static maximum."""

    allocations: Mapping[tuple[str, int], Allocation]
    circuits: Mapping[str, CircuitLoad]
    station_max: Mapping[str, float] = field(default_factory=dict)

    def for_charger(self, charger: str) -> tuple[Allocation, ...]:
        """The charger's allocations by connector id."""
        return self._by_charger.get(charger, ())

    @cached_property
    def _by_charger(self) -> dict[str, tuple[Allocation, ...]]:
        index: dict[str, list[Allocation]] = {}
        for key in sorted(self.allocations):
            index.setdefault(key[0], []).append(self.allocations[key])
        return {name: tuple(items) for name, items in index.items()}


# --- the limit in force ------------------------------------------------------------------------


def limit_in_force(spec: PowerLimitSpec, at: datetime, timezone: str) -> int:
    """The circuit's limit at `at`, amperes per phase: the static limit, lowered by every
    schedule window covering the location's wall-clock time."""
    minute = minute_of_week(_aware(at), timezone)
    limit = spec.amperes_per_phase()
    for window in spec.schedule:
        if any(start <= minute < end for start, end in window.intervals()):
            limit = min(limit, window.limit.amperes_per_phase(spec.phases, spec.voltage))
    return limit


def next_change(fleet: Fleet, at: datetime) -> datetime | None:
    """The first instant after `at` at which some circuit's limit in force changes (UTC), or
    None when no schedule ever changes one."""
    at = _aware(at)
    scheduled = [
        (loaded.resource.spec, _timezone(fleet, loaded.resource.spec))
        for _, loaded in sorted(fleet.power_limits.items())
        if loaded.resource.spec.schedule
    ]
    if not scheduled:
        return None
    horizon = at + _HORIZON
    candidates: set[datetime] = set()
    for zone_name in sorted({zone for _, zone in scheduled}):
        zone = ZoneInfo(zone_name)
        minutes = {
            minute
            for spec, spec_zone in scheduled
            if spec_zone == zone_name
            for window in spec.schedule
            for interval in window.intervals()
            for minute in interval
        }
        candidates.update(wall_instants(minutes, zone, at, horizon))
        # When the clocks jump past a window's start or end, the limit changes at the jump.
        candidates.update(offset_changes(zone, at, horizon))

    def limits(moment: datetime) -> tuple[int, ...]:
        return tuple(limit_in_force(spec, moment, zone) for spec, zone in scheduled)

    just_before = timedelta(microseconds=1)
    for moment in sorted(c for c in candidates if at < c <= horizon):
        if limits(moment) != limits(moment - just_before):
            return moment
    return None


# --- allocation --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Point:
    """A managed connector: AC, fed by at least one circuit."""

    charger: str
    connector: int
    max_current: int
    phases: int
    minimum: int
    circuits: tuple[str, ...]
    session: Session | None


@dataclass(slots=True)
class _Circuit:
    name: str
    limit: int
    depth: int
    members: list[_Point] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A session's exact share, and the circuit that stopped it rising (None: its maximum)."""

    share: Fraction
    circuit: str | None
    at_minimum: bool = False
    """Frozen at its minimum, above the level where its circuit became full."""


def allocate(
    fleet: Fleet, sessions: Collection[Session], at: datetime, location: str | None = None
) -> PowerPlan:
    """Divide every circuit's limit in force at `at` among the sessions it feeds (see the
    module's rules). Sessions on chargers or connectors the fleet does not declare are ignored;
    of two sessions on one connector, one with a transaction id is kept.

    With `location`, only its circuits and chargers: a circuit and everything it feeds stand at
    one location (validate's circuit-location-mismatch), so its allocations are the same, and
    a pass over one charger no longer costs the whole fleet's chargers (10,000 chargers
    reconciled that way were O(N²))."""
    at = _aware(at)
    specs = {
        name: loaded.resource.spec
        for name, loaded in sorted(fleet.power_limits.items())
        if location is None or loaded.resource.spec.location == location
    }
    limits = {
        name: limit_in_force(spec, at, _timezone(fleet, spec)) for name, spec in specs.items()
    }
    ancestry = {name: _ancestors(specs, name) for name in specs}
    circuits = {
        name: _Circuit(name, limits[name], len(ancestry[name]))
        for name in sorted(specs, key=lambda n: (-len(ancestry[n]), n))
    }

    fed_by: dict[str, set[str]] = {}
    for name in specs:
        for charger in fleet.chargers_fed_by(name):
            fed_by.setdefault(charger.name, set()).update((name, *ancestry[name]))

    by_connector = _sessions_by_connector(sessions)
    allocations: dict[tuple[str, int], Allocation] = {}
    points: list[_Point] = []
    station_max: dict[str, float] = {}
    order = {name: index for index, name in enumerate(circuits)}  # deepest first
    chargers = (
        fleet.chargers.items()
        if location is None
        else ((loaded.name, loaded) for loaded in fleet.chargers_at(location))
    )
    for name, loaded in sorted(chargers):
        spec = loaded.resource.spec
        feeding = tuple(sorted(fed_by.get(name, ()), key=order.__getitem__))
        for connector in sorted(spec.connectors, key=lambda c: c.id):
            session = by_connector.get((name, connector.id))
            if connector.current_type is CurrentType.DC or not feeding:
                reason = (
                    "DC connector: its draw on the AC circuit is not known; not limited"
                    if connector.current_type is CurrentType.DC
                    else f"no PowerLimit feeds this charger: only its connector max "
                    f"{connector.max_current} A limits it"
                )
                allocations[(name, connector.id)] = Allocation(
                    name,
                    connector.id,
                    float(connector.max_current),
                    connector.phases,
                    reason,
                    State.UNMANAGED,
                    default_amperes=float(connector.max_current),
                    transaction_id=session.transaction_id if session else None,
                )
                continue
            minimum = max(specs[c].minimum_current for c in feeding)
            point = _Point(
                name,
                connector.id,
                connector.max_current,
                connector.phases,
                min(minimum, connector.max_current),
                feeding,
                session,
            )
            points.append(point)
            for circuit in feeding:
                circuits[circuit].members.append(point)
        if feeding and all(c.current_type is CurrentType.AC for c in spec.connectors):
            static = min(specs[c].amperes_per_phase() for c in feeding)
            station_max[name] = float(min(static, sum(c.max_current for c in spec.connectors)))

    for component in _components(points):
        allocations.update(_allocate_component(component, circuits))

    loads = _loads(specs, circuits, allocations)
    ordered = {key: allocations[key] for key in sorted(allocations)}
    return PowerPlan(ordered, loads, station_max)


def _allocate_component(
    points: list[_Point], circuits: Mapping[str, _Circuit]
) -> dict[tuple[str, int], Allocation]:
    """Shares for one group of connectors that share circuits (usually one location)."""
    names = {c for p in points for c in p.circuits}
    involved = [circuits[n] for n in sorted(names, key=lambda n: (-circuits[n].depth, n))]
    active = [p for p in points if p.session is not None]

    waiting: dict[tuple[str, int], str] = {}
    for circuit in involved:
        kept = [p for p in circuit.members if p.session is not None and _key(p) not in waiting]
        need = sum(p.minimum for p in kept)
        for p in sorted(kept, key=_recency, reverse=True):
            if need <= circuit.limit:
                break
            waiting[_key(p)] = circuit.name
            need -= p.minimum
    charging = [p for p in active if _key(p) not in waiting]
    outcome = _water_fill(charging, involved)
    reasons = _Reasons(circuits, outcome)

    result: dict[tuple[str, int], Allocation] = {}
    tenths: dict[tuple[str, int], int] = {}
    for p in charging:
        share = outcome[_key(p)]
        tenths[_key(p)] = math.floor(share.share * 10)
        amperes = _amperes(tenths[_key(p)])
        assert p.session is not None
        has_id = p.session.transaction_id is not None
        result[_key(p)] = Allocation(
            p.charger,
            p.connector,
            amperes,
            p.phases,
            reasons.share(p, share),
            State.CHARGING,
            default_amperes=float(p.minimum) if has_id else amperes,
            transaction_id=p.session.transaction_id,
            circuit=share.circuit,
        )
    for p in active:
        if _key(p) in waiting:
            assert p.session is not None
            name = waiting[_key(p)]
            under = sum(1 for q in circuits[name].members if q.session is not None)
            result[_key(p)] = Allocation(
                p.charger,
                p.connector,
                0.0,
                p.phases,
                f"circuit exhausted: waits; {name} ({circuits[name].limit} A) cannot give each "
                f"of its {_sessions(under)} {p.minimum} A, so the most recent wait",
                State.WAITING,
                default_amperes=0.0,
                transaction_id=p.session.transaction_id,
                circuit=name,
            )

    # Room left in each circuit, in tenths of an ampere, for offers to idle connectors.
    room = {c.name: c.limit * 10 - sum(tenths.get(_key(p), 0) for p in c.members) for c in involved}
    for p in points:
        if p.session is not None:
            continue
        full = next((c for c in p.circuits if room[c] < p.minimum * 10), None)
        if p.minimum > 0 and full is None:
            for c in p.circuits:
                room[c] -= p.minimum * 10
            offer, reason = float(p.minimum), f"idle: a new session may start at {p.minimum} A"
        elif p.minimum == 0:
            offer, reason = 0.0, "idle: a new session waits for the next allocation (minimum 0 A)"
        else:
            assert full is not None
            offer = 0.0
            reason = (
                f"idle, circuit exhausted: a new session waits for the next allocation; {full} "
                f"({circuits[full].limit} A) has {_amperes(max(room[full], 0))} A left"
            )
        result[_key(p)] = Allocation(
            p.charger,
            p.connector,
            offer,
            p.phases,
            reason,
            State.IDLE,
            default_amperes=offer,
            circuit=full,
        )
    return result


def _water_fill(points: list[_Point], circuits: list[_Circuit]) -> dict[tuple[str, int], _Outcome]:
    """Max-min fair shares with lower bounds, by progressive filling, in exact arithmetic.

    A level rises from 0; a connector not yet frozen holds max(its minimum, level). It freezes
    at its maximum, or when a circuit feeding it is full: at the level, or at its minimum if
    that is still above the level. The minimums fit in every circuit (the caller made sessions
    wait until they do), so no circuit is ever over. `circuits` come deepest first, so the most
    specific full circuit is the one named.
    """
    by_key = {_key(p): p for p in points}
    members: dict[str, list[_Point]] = {c.name: [] for c in circuits}
    for p in points:
        for name in p.circuits:
            members[name].append(p)
    limit = {c.name: Fraction(c.limit) for c in circuits}
    used = {c.name: Fraction(0) for c in circuits}  # shares of frozen connectors
    held = {c.name: 0 for c in circuits}  # minimums of connectors not rising yet
    rising = {c.name: 0 for c in circuits}  # connectors rising with the level
    is_rising: set[tuple[str, int]] = set()
    caps: list[tuple[int, str, int]] = []  # heap of rising connectors by maximum
    floors: list[tuple[int, str, int]] = []  # heap of waiting-to-rise connectors by minimum
    result: dict[tuple[str, int], _Outcome] = {}

    def start_rising(p: _Point, first: bool) -> None:
        is_rising.add(_key(p))
        heapq.heappush(caps, (p.max_current, *_key(p)))
        for name in p.circuits:
            rising[name] += 1
            if not first:
                held[name] -= p.minimum

    def freeze(p: _Point, share: Fraction, circuit: str | None, at_minimum: bool = False) -> None:
        key = _key(p)
        result[key] = _Outcome(share, circuit, at_minimum)
        for name in p.circuits:
            used[name] += share
            if key in is_rising:
                rising[name] -= 1
            else:
                held[name] -= p.minimum
        is_rising.discard(key)

    for p in points:
        if p.minimum <= 0:
            start_rising(p, first=True)
        else:
            heapq.heappush(floors, (p.minimum, *_key(p)))
            for name in p.circuits:
                held[name] += p.minimum

    level = Fraction(0)
    while len(result) < len(points):
        while caps and (caps[0][1], caps[0][2]) in result:
            heapq.heappop(caps)
        while floors and (floors[0][1], floors[0][2]) in result:
            heapq.heappop(floors)
        events = [Fraction(heap[0][0]) for heap in (caps, floors) if heap]
        full: dict[str, Fraction] = {}
        for c in circuits:
            room = limit[c.name] - used[c.name] - held[c.name]
            if rising[c.name] > 0:
                full[c.name] = max(level, room / rising[c.name])
            elif held[c.name] > 0 and room <= 0:
                full[c.name] = level
        events.extend(full.values())
        level = max(level, min(events))
        for c in circuits:
            if full.get(c.name) == level:
                for p in members[c.name]:
                    if _key(p) not in result:
                        if _key(p) in is_rising:
                            freeze(p, level, c.name)
                        else:
                            freeze(p, Fraction(p.minimum), c.name, at_minimum=True)
        while caps and caps[0][0] == level:
            p = by_key[(caps[0][1], caps[0][2])]
            heapq.heappop(caps)
            if _key(p) not in result:
                freeze(p, level, None)
        while floors and floors[0][0] == level:
            p = by_key[(floors[0][1], floors[0][2])]
            heapq.heappop(floors)
            if _key(p) in result:
                continue
            if p.max_current == p.minimum:
                freeze(p, level, None)
            else:
                start_rising(p, first=False)
    return result


class _Reasons:
    """Why charging sessions get their shares, in the words an operator reads on the web view.

    A circuit's counts are computed once: a grid connection may feed a thousand sessions.
    """

    def __init__(
        self, circuits: Mapping[str, _Circuit], outcomes: Mapping[tuple[str, int], _Outcome]
    ) -> None:
        self.circuits = circuits
        self.outcomes = outcomes
        self.counts: dict[str, tuple[Counter[Fraction], int]] = {}

    def share(self, p: _Point, outcome: _Outcome) -> str:
        if outcome.circuit is None:
            return f"capped at connector max {p.max_current} A"
        circuit = self.circuits[outcome.circuit]
        if circuit.name not in self.counts:
            shares = Counter(
                self.outcomes[_key(q)].share for q in circuit.members if _key(q) in self.outcomes
            )
            waiting = sum(
                1 for q in circuit.members if q.session is not None and _key(q) not in self.outcomes
            )
            self.counts[circuit.name] = (shares, waiting)
        shares, waiting = self.counts[circuit.name]
        lower = sum(n for share, n in shares.items() if share < outcome.share)
        if outcome.at_minimum and lower:
            return f"its minimum {p.minimum} A: {circuit.name} ({circuit.limit} A) is full"
        text = (
            f"equal share of {circuit.name} ({circuit.limit} A) among "
            f"{_sessions(shares[outcome.share])}"
        )
        higher = sum(n for share, n in shares.items() if share > outcome.share)
        if lower:
            text += f"; {lower} held lower by their own limits"
        if higher:
            text += f"; {_sessions(higher)} at a higher minimum"
        if waiting:
            text += f"; {waiting} waiting"
        return text


def _loads(
    specs: Mapping[str, PowerLimitSpec],
    circuits: Mapping[str, _Circuit],
    allocations: Mapping[tuple[str, int], Allocation],
) -> dict[str, CircuitLoad]:
    children: dict[str, list[str]] = {}
    for name, spec in specs.items():
        if spec.parent is not None and spec.parent in specs:
            children.setdefault(spec.parent, []).append(name)
    loads: dict[str, CircuitLoad] = {}
    for name, spec in specs.items():
        mine = [allocations[_key(p)] for p in circuits[name].members]
        given = [a for a in mine if a.state is State.CHARGING]
        idle = [a for a in mine if a.state is State.IDLE]
        loads[name] = CircuitLoad(
            circuit=name,
            limit_amperes=circuits[name].limit,
            allocated=_amperes(sum(round(a.amperes * 10) for a in given)),
            sessions=sum(1 for a in mine if a.state in (State.CHARGING, State.WAITING)),
            children=tuple(sorted(children.get(name, ()))),
            location=spec.location,
            parent=spec.parent,
            static_amperes=spec.amperes_per_phase(),
            reserved=_amperes(sum(round(a.amperes * 10) for a in idle)),
            waiting=sum(1 for a in mine if a.state is State.WAITING),
        )
    return loads


# --- charging profiles -------------------------------------------------------------------------


def default_profile_id(purpose: LimitPurpose, connector: int) -> int:
    """Fixed profile ids, so a new limit replaces the old one: 1 for the station maximum,
    100 + connector for a default, 200 + connector for a transaction (connector ids < 100)."""
    if purpose is LimitPurpose.STATION_MAX:
        return 1
    return (100 if purpose is LimitPurpose.TX_DEFAULT else 200) + connector


def charging_limits(
    plan: PowerPlan,
    charger: str,
    *,
    profile_ids: Callable[[LimitPurpose, int], int] = default_profile_id,
) -> list[ChargingLimit]:
    """The profiles one charger should have: its station maximum, each managed connector's
    default, and a transaction profile for each session with a transaction id."""
    limits: list[ChargingLimit] = []
    if charger in plan.station_max:
        limits.append(
            ChargingLimit(
                profile_id=profile_ids(LimitPurpose.STATION_MAX, 0),
                purpose=LimitPurpose.STATION_MAX,
                periods=(LimitPeriod(0, limit_amperes(plan.station_max[charger])),),
                connector=0,
            )
        )
    for allocation in plan.for_charger(charger):
        if allocation.state is State.UNMANAGED:
            continue
        connector = allocation.connector
        limits.append(
            ChargingLimit(
                profile_id=profile_ids(LimitPurpose.TX_DEFAULT, connector),
                purpose=LimitPurpose.TX_DEFAULT,
                periods=(LimitPeriod(0, limit_amperes(allocation.default_amperes)),),
                connector=connector,
            )
        )
        if allocation.transaction_id is not None:
            limits.append(
                ChargingLimit(
                    profile_id=profile_ids(LimitPurpose.TX, connector),
                    purpose=LimitPurpose.TX,
                    periods=(LimitPeriod(0, limit_amperes(allocation.amperes)),),
                    connector=connector,
                    transaction_id=allocation.transaction_id,
                )
            )
    return limits


# --- helpers -----------------------------------------------------------------------------------


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no timezone: give an aware datetime")
    return at


def _timezone(fleet: Fleet, spec: PowerLimitSpec) -> str:
    location = fleet.locations.get(spec.location)
    return location.resource.spec.timezone if location is not None else "UTC"


def _ancestors(specs: Mapping[str, PowerLimitSpec], name: str) -> tuple[str, ...]:
    """The circuit's parents, nearest first; a loop (refused by validation) is cut."""
    found: list[str] = []
    parent = specs[name].parent
    while parent is not None and parent in specs and parent != name and parent not in found:
        found.append(parent)
        parent = specs[parent].parent
    return tuple(found)


def _sessions_by_connector(sessions: Iterable[Session]) -> dict[tuple[str, int], Session]:
    chosen: dict[tuple[str, int], Session] = {}
    for session in sorted(sessions, key=_session_rank):
        chosen.setdefault((session.charger, session.connector), session)
    return chosen


def _session_rank(session: Session) -> tuple[bool, str, bool, datetime]:
    started = session.started_at
    return (
        session.transaction_id is None,
        session.transaction_id or "",
        started is None,
        _aware(started).astimezone(UTC)
        if started is not None
        else datetime.min.replace(tzinfo=UTC),
    )


def _recency(p: _Point) -> tuple[bool, datetime, str, int]:
    """Sort key: the later, the sooner it waits."""
    assert p.session is not None
    started = p.session.started_at
    moment = _aware(started).astimezone(UTC) if started else datetime.min.replace(tzinfo=UTC)
    return (started is None, moment, p.charger, p.connector)


def _components(points: list[_Point]) -> list[list[_Point]]:
    """Groups of connectors that share a circuit, directly or through others (union-find)."""
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        root = parent.setdefault(name, name)
        while root != parent[root]:
            root = parent[root]
        while parent[name] != root:
            parent[name], name = root, parent[name]
        return root

    for p in points:
        first = find(p.circuits[0])
        for other in p.circuits[1:]:
            parent[find(other)] = first
    groups: dict[str, list[_Point]] = {}
    for p in points:
        groups.setdefault(find(p.circuits[0]), []).append(p)
    return list(groups.values())


def _sessions(count: int) -> str:
    return "1 session" if count == 1 else f"{count} sessions"


def _key(p: _Point) -> tuple[str, int]:
    return (p.charger, p.connector)


def _amperes(tenths: int) -> float:
    return limit_amperes(tenths / 10)
