"""Power allocation: hand-computed car parks, schedules across DST, and the allocation's promises.

The hand-computed cases are the ones an operator checks on the web view; the properties are
what the rules in `controller/planning/power.py` promise for any circuit tree: no circuit over
its limit in force (counting offers to idle connectors too), no connector over its maximum,
every offer 0 A or at least the minimum, max-min fairness, as few waiting sessions as possible,
and the same plan whatever order the sessions come in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.fleet.loading import load_paths
from controller.fleet.model import Fleet, Loaded
from controller.fleet.problems import Source
from controller.planning.power import (
    Allocation,
    PowerPlan,
    Session,
    State,
    allocate,
    charging_limits,
    default_profile_id,
    limit_in_force,
    next_change,
)
from controller.resources import Charger, Location, PowerLimit
from controller.resources.powerlimit import PowerLimitSpec
from controller.values.commands import LimitPurpose, limit_amperes

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SATURDAY_NOON = datetime(2024, 6, 8, 12, 0, tzinfo=UTC)
SOURCE = Source("test.yaml")
API = "chargectl.io/v1alpha1"


# --- building fleets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Conn:
    """A connector as the tests declare it."""

    max_current: int = 32
    phases: int = 3
    dc: bool = False


@dataclass(frozen=True)
class Circuit:
    """A PowerLimit as the tests declare it; `chargers` None feeds the whole location."""

    name: str
    limit: int | dict[str, int]
    chargers: Sequence[str] | None = None
    parent: str | None = None
    phases: int = 3
    minimum: int = 6
    schedule: Sequence[dict[str, Any]] = ()


def make_fleet(
    chargers: Mapping[str, Sequence[Conn]],
    circuits: Sequence[Circuit],
    timezone: str = "UTC",
) -> Fleet:
    location = Location.model_validate(
        {
            "apiVersion": API,
            "kind": "Location",
            "metadata": {"name": "site"},
            "spec": {"team": "ops", "displayName": "Site", "timezone": timezone},
        }
    )
    resources: list[Loaded[Any]] = [Loaded(location, SOURCE)]
    for name, connectors in chargers.items():
        charger = Charger.model_validate(
            {
                "apiVersion": API,
                "kind": "Charger",
                "metadata": {"name": name},
                "spec": {
                    "location": "site",
                    "ocppVersion": "1.6",
                    "connectors": [
                        {
                            "id": index,
                            "type": "CCS2" if c.dc else "Type2",
                            "currentType": "DC" if c.dc else "AC",
                            "maxCurrent": c.max_current,
                            "phases": c.phases,
                        }
                        for index, c in enumerate(connectors, start=1)
                    ],
                },
            }
        )
        resources.append(Loaded(charger, SOURCE))
    for circuit in circuits:
        limit = (
            {"currentPerPhase": circuit.limit} if isinstance(circuit.limit, int) else circuit.limit
        )
        spec: dict[str, Any] = {
            "location": "site",
            "limit": limit,
            "phases": circuit.phases,
            "minimumCurrent": circuit.minimum,
            "schedule": list(circuit.schedule),
        }
        if circuit.chargers is not None:
            spec["chargers"] = {"names": list(circuit.chargers)}
        if circuit.parent is not None:
            spec["parent"] = circuit.parent
        resource = PowerLimit.model_validate(
            {
                "apiVersion": API,
                "kind": "PowerLimit",
                "metadata": {"name": circuit.name},
                "spec": spec,
            }
        )
        resources.append(Loaded(resource, SOURCE))
    fleet, problems = Fleet.build(resources)
    assert problems == []
    return fleet


def car_park(chargers: int = 6, connectors: int = 1, limit: int = 63) -> Fleet:
    """The example office car park: chargers of 32 A behind a 3 x 63 A grid connection."""
    return make_fleet(
        {f"cp-{i}": [Conn()] * connectors for i in range(1, chargers + 1)},
        [Circuit("grid", limit)],
    )


def sessions_on(*chargers: str, connector: int = 1) -> list[Session]:
    return [Session(name, connector, f"tx-{name}-{connector}") for name in chargers]


def amps(plan: PowerPlan, state: State | None = None) -> dict[tuple[str, int], float]:
    return {
        key: a.amperes for key, a in plan.allocations.items() if state is None or a.state is state
    }


# --- the office car park -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "share", "reason"),
    [
        (1, 32.0, "capped at connector max 32 A"),
        (2, 31.5, "equal share of grid (63 A) among 2 sessions"),
        (3, 21.0, "equal share of grid (63 A) among 3 sessions"),
        (6, 10.5, "equal share of grid (63 A) among 6 sessions"),
    ],
)
def test_car_park_equal_share(active: int, share: float, reason: str) -> None:
    charging = [f"cp-{i}" for i in range(1, active + 1)]
    plan = allocate(car_park(), sessions_on(*charging), SATURDAY_NOON)

    for name in charging:
        allocation = plan.allocations[(name, 1)]
        assert (allocation.state, allocation.amperes, allocation.reason) == (
            State.CHARGING,
            share,
            reason,
        )
    load = plan.circuits["grid"]
    assert (load.limit_amperes, load.allocated, load.sessions, load.waiting) == (
        63,
        share * active,
        active,
        0,
    )


def test_idle_connectors_offered_the_minimum_while_it_fits() -> None:
    # One session takes 32 A; the 31 A left hold 5 x 6 A for cars that plug in meanwhile.
    plan = allocate(car_park(), sessions_on("cp-1"), SATURDAY_NOON)
    idle = amps(plan, State.IDLE)
    assert idle == {(f"cp-{i}", 1): 6.0 for i in range(2, 7)}
    assert plan.circuits["grid"].reserved == 30.0

    # Two sessions use all 63 A: a third car waits for the next allocation.
    plan = allocate(car_park(), sessions_on("cp-1", "cp-2"), SATURDAY_NOON)
    assert set(amps(plan, State.IDLE).values()) == {0.0}
    assert plan.allocations[("cp-3", 1)].reason.startswith("idle, circuit exhausted")


def test_twelve_sessions_ten_charge_two_wait() -> None:
    # 63 A / 12 = 5.25 A < 6 A: floor(63 / 6) = 10 sessions charge at 6.3 A, the 2 most
    # recently started wait at 0 A.
    fleet = car_park(chargers=6, connectors=2)
    start = datetime(2024, 6, 4, 7, 0, tzinfo=UTC)
    sessions = []
    for minute, (i, connector) in enumerate(itertools.product(range(1, 7), (1, 2))):
        started = start + timedelta(minutes=minute)
        sessions.append(Session(f"cp-{i}", connector, f"tx{minute}", started))
    plan = allocate(fleet, sessions, SATURDAY_NOON)

    assert amps(plan, State.WAITING) == {("cp-6", 1): 0.0, ("cp-6", 2): 0.0}
    charging = amps(plan, State.CHARGING)
    assert len(charging) == 10 and set(charging.values()) == {6.3}
    assert plan.allocations[("cp-6", 2)].reason.startswith("circuit exhausted: waits")
    assert plan.allocations[("cp-1", 1)].reason == (
        "equal share of grid (63 A) among 10 sessions; 2 waiting"
    )
    load = plan.circuits["grid"]
    assert (load.allocated, load.sessions, load.waiting) == (63.0, 12, 2)
    assert plan.station_max == {f"cp-{i}": 63.0 for i in range(1, 7)}  # min(63, 2 x 32)


def test_the_most_recent_sessions_wait() -> None:
    # 63 A holds 10 sessions of 6 A. Unknown starts count as the latest; among those, the
    # highest charger name, then connector id, waits first.
    fleet = car_park(chargers=6, connectors=2)
    early = datetime(2024, 6, 4, 7, 0, tzinfo=UTC)
    sessions = [
        Session(f"cp-{i}", c, f"tx-{i}-{c}", early + timedelta(minutes=i))
        for i, c in itertools.product(range(1, 7), (1, 2))
        if (i, c) not in {(1, 1), (2, 2)}
    ]
    sessions += [Session("cp-1", 1, None), Session("cp-2", 2, None)]  # starts unknown
    plan = allocate(fleet, sessions, SATURDAY_NOON)
    assert set(amps(plan, State.WAITING)) == {("cp-1", 1), ("cp-2", 2)}

    sessions = [Session(f"cp-{i}", c, None) for i, c in itertools.product(range(1, 7), (1, 2))]
    plan = allocate(fleet, sessions, SATURDAY_NOON)
    assert set(amps(plan, State.WAITING)) == {("cp-6", 1), ("cp-6", 2)}


# --- circuit trees -----------------------------------------------------------------------------


def garage() -> Fleet:
    """A 125 A grid connection; a sub-circuit of 80 A feeds s1..s6, o1..o3 hang on the grid."""
    inside = [f"s{i}" for i in range(1, 7)]
    outside = ["o1", "o2", "o3"]
    return make_fleet(
        {name: [Conn()] for name in inside + outside},
        [Circuit("grid", 125), Circuit("level-2", 80, chargers=inside, parent="grid")],
    )


def test_sub_circuit_binding_and_the_rest_to_the_others() -> None:
    # level-2 is full at 80 / 4 = 20 A; the grid's other 45 A go to o1, o2: 22.5 A each.
    plan = allocate(garage(), sessions_on("s1", "s2", "s3", "s4", "o1", "o2"), SATURDAY_NOON)
    assert amps(plan, State.CHARGING) == {
        **{(f"s{i}", 1): 20.0 for i in range(1, 5)},
        ("o1", 1): 22.5,
        ("o2", 1): 22.5,
    }
    assert plan.allocations[("s1", 1)].reason == "equal share of level-2 (80 A) among 4 sessions"
    assert plan.allocations[("o1", 1)].reason == (
        "equal share of grid (125 A) among 2 sessions; 4 held lower by their own limits"
    )
    assert plan.circuits["grid"].children == ("level-2",)
    assert plan.circuits["level-2"].parent == "grid"
    assert (plan.circuits["grid"].allocated, plan.circuits["level-2"].allocated) == (125.0, 80.0)


def test_sub_circuit_full_of_sessions() -> None:
    # level-2: 80 / 6 = 13.33 -> 13.3 A; the grid's 125 - 80 = 45 A: 15 A for each outside.
    sessions = sessions_on("s1", "s2", "s3", "s4", "s5", "s6", "o1", "o2", "o3")
    plan = allocate(garage(), sessions, SATURDAY_NOON)
    assert {k: v for k, v in amps(plan).items() if k[0].startswith("s")} == {
        (f"s{i}", 1): 13.3 for i in range(1, 7)
    }
    assert {k: v for k, v in amps(plan).items() if k[0].startswith("o")} == {
        ("o1", 1): 15.0,
        ("o2", 1): 15.0,
        ("o3", 1): 15.0,
    }


def test_grid_binding_over_a_sub_circuit() -> None:
    # 4 x 32 = 128 > 125: the grid is the limit for all four, 31.25 -> 31.2 A each.
    plan = allocate(garage(), sessions_on("s1", "o1", "o2", "o3"), SATURDAY_NOON)
    assert set(amps(plan, State.CHARGING).values()) == {31.2}
    assert plan.allocations[("s1", 1)].circuit == "grid"


def test_small_connector_capped_and_its_share_redistributed() -> None:
    # 63 / 3 = 21 A, but one connector takes at most 16 A: the other two share 47 A.
    fleet = make_fleet(
        {"small": [Conn(16)], "big-1": [Conn()], "big-2": [Conn()], "big-3": [Conn()]},
        [Circuit("grid", 63)],
    )
    plan = allocate(fleet, sessions_on("small", "big-1", "big-2"), SATURDAY_NOON)
    assert amps(plan, State.CHARGING) == {
        ("small", 1): 16.0,
        ("big-1", 1): 23.5,
        ("big-2", 1): 23.5,
    }
    assert plan.allocations[("small", 1)].reason == "capped at connector max 16 A"
    assert plan.allocations[("big-1", 1)].reason == (
        "equal share of grid (63 A) among 2 sessions; 1 held lower by their own limits"
    )
    assert plan.allocations[("big-3", 1)].amperes == 0.0  # 16 + 2 x 23.5 = 63: exhausted


def test_single_phase_connector_counts_on_every_phase() -> None:
    fleet = make_fleet({"one": [Conn(32, phases=1)], "three": [Conn(32)]}, [Circuit("grid", 40)])
    plan = allocate(fleet, sessions_on("one", "three"), SATURDAY_NOON)
    assert amps(plan) == {("one", 1): 20.0, ("three", 1): 20.0}
    assert plan.allocations[("one", 1)].phases == 1


def test_deepest_circuit_decides_who_waits_first() -> None:
    # grid holds 2 sessions of 6 A, wallbox-pair only 1. Pausing the newest (c) for the grid
    # first would leave a and b fighting over the pair: two waiting instead of one.
    fleet = make_fleet(
        {"a": [Conn()], "b": [Conn()], "c": [Conn()]},
        [Circuit("grid", 12), Circuit("pair", 6, chargers=["a", "b"], parent="grid")],
    )
    start = datetime(2024, 6, 4, 7, 0, tzinfo=UTC)
    sessions = [Session(n, 1, n, start + timedelta(minutes=m)) for m, n in enumerate("abc")]
    plan = allocate(fleet, sessions, SATURDAY_NOON)
    assert amps(plan) == {("a", 1): 6.0, ("b", 1): 0.0, ("c", 1): 6.0}
    assert plan.allocations[("b", 1)].circuit == "pair"


def test_higher_minimum_of_a_sub_circuit_is_kept() -> None:
    # a needs 10 A (its sub-circuit's minimum), b 6 A; 18 A fit both: a at 10, b gets 8.
    fleet = make_fleet(
        {"a": [Conn()], "b": [Conn()]},
        [Circuit("grid", 18), Circuit("fussy", 18, chargers=["a"], parent="grid", minimum=10)],
    )
    plan = allocate(fleet, sessions_on("a", "b"), SATURDAY_NOON)
    assert amps(plan) == {("a", 1): 10.0, ("b", 1): 8.0}
    assert plan.allocations[("a", 1)].reason == "its minimum 10 A: grid (18 A) is full"
    assert plan.allocations[("b", 1)].reason == (
        "equal share of grid (18 A) among 1 session; 1 session at a higher minimum"
    )


def test_rounding_down_keeps_the_sum_within_the_circuit() -> None:
    plan = allocate(car_park(limit=32), sessions_on("cp-1", "cp-2", "cp-3"), SATURDAY_NOON)
    assert set(amps(plan, State.CHARGING).values()) == {10.6}  # 3 x 10.7 would be 32.1
    assert plan.circuits["grid"].allocated == 31.8


def test_power_limit_in_watts() -> None:
    # 43 000 W / (3 x 230 V) = 62.3 -> 62 A per phase; two sessions 31 A each.
    fleet = make_fleet({"a": [Conn()], "b": [Conn()]}, [Circuit("grid", {"power": 43_000})])
    plan = allocate(fleet, sessions_on("a", "b"), SATURDAY_NOON)
    assert plan.circuits["grid"].limit_amperes == 62
    assert amps(plan) == {("a", 1): 31.0, ("b", 1): 31.0}
    # A single-phase 7 360 W fuse is 32 A.
    fleet = make_fleet({"a": [Conn(32, phases=1)]}, [Circuit("fuse", {"power": 7360}, phases=1)])
    assert allocate(fleet, [], SATURDAY_NOON).circuits["fuse"].limit_amperes == 32


def test_dc_connectors_and_unfed_chargers_are_not_managed() -> None:
    fleet = make_fleet(
        {"combo": [Conn(32), Conn(200, dc=True)], "lone": [Conn()], "fed": [Conn()]},
        [Circuit("grid", 40, chargers=["combo", "fed"])],
    )
    sessions = [
        *sessions_on("lone", "fed"),
        Session("combo", 2, "tx-dc"),
        Session("combo", 1, "tx"),
    ]
    plan = allocate(fleet, sessions, SATURDAY_NOON)
    dc = plan.allocations[("combo", 2)]
    assert (dc.state, dc.amperes) == (State.UNMANAGED, 200.0)
    assert dc.reason.startswith("DC connector")
    assert plan.allocations[("lone", 1)].state is State.UNMANAGED
    assert amps(plan, State.CHARGING) == {("combo", 1): 20.0, ("fed", 1): 20.0}
    assert plan.circuits["grid"].sessions == 2
    # A station-wide limit in amperes would cap the DC connector too: none for combo.
    assert plan.station_max == {"fed": 32.0}
    assert charging_limits(plan, "lone") == []
    assert [(x.purpose, x.connector) for x in charging_limits(plan, "combo")] == [
        (LimitPurpose.TX_DEFAULT, 1),
        (LimitPurpose.TX, 1),
    ]


def test_zero_limit_makes_everyone_wait() -> None:
    plan = allocate(car_park(limit=0), sessions_on("cp-1", "cp-2"), SATURDAY_NOON)
    assert set(amps(plan).values()) == {0.0}
    assert plan.circuits["grid"].waiting == 2


def test_sessions_on_unknown_chargers_are_ignored_and_duplicates_merged() -> None:
    sessions = [
        Session("nowhere", 1, "tx-1"),
        Session("cp-1", 9, "tx-2"),
        Session("cp-1", 1, None),
        Session("cp-1", 1, "tx-3"),
    ]
    plan = allocate(car_park(), sessions, SATURDAY_NOON)
    assert plan.circuits["grid"].sessions == 1
    assert plan.allocations[("cp-1", 1)].transaction_id == "tx-3"
    assert ("nowhere", 1) not in plan.allocations and ("cp-1", 9) not in plan.allocations


def test_naive_moment_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        allocate(car_park(), [], datetime(2024, 6, 8, 12))


# --- schedules ---------------------------------------------------------------------------------

OFFICE_HOURS = {
    "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "start": "08:00",
    "end": "18:00",
    "limit": {"currentPerPhase": 40},
}


def office() -> Fleet:
    return make_fleet(
        {f"cp-{i}": [Conn()] for i in range(1, 7)},
        [Circuit("grid", 63, schedule=[OFFICE_HOURS])],
        timezone="Europe/Amsterdam",
    )


def grid_spec(fleet: Fleet) -> PowerLimitSpec:
    return fleet.power_limits["grid"].resource.spec


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        ("2024-06-04T05:59", 63),  # Tuesday 07:59 CEST (UTC+2)
        ("2024-06-04T06:00", 40),  # 08:00 CEST
        ("2024-06-04T15:59", 40),  # 17:59 CEST
        ("2024-06-04T16:00", 63),  # 18:00 CEST
        ("2024-01-09T06:30", 63),  # Tuesday 07:30 CET (UTC+1): not yet
        ("2024-01-09T07:00", 40),  # 08:00 CET
        ("2024-01-09T17:00", 63),  # 18:00 CET
        ("2024-06-08T10:00", 63),  # Saturday
        ("2024-03-29T16:59", 40),  # Friday before the clocks go forward, 17:59 CET
    ],
)
def test_office_hours_in_local_time(utc: str, expected: int) -> None:
    at = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert limit_in_force(grid_spec(office()), at, "Europe/Amsterdam") == expected


def test_office_hours_lower_the_shares() -> None:
    tuesday_ten = datetime(2024, 6, 4, 10, 0, tzinfo=AMSTERDAM)
    plan = allocate(office(), sessions_on("cp-1", "cp-2", "cp-3"), tuesday_ten)
    assert plan.circuits["grid"].limit_amperes == 40
    assert plan.circuits["grid"].static_amperes == 63
    assert set(amps(plan, State.CHARGING).values()) == {13.3}  # 40 / 3
    assert plan.station_max["cp-1"] == 32.0  # the static limit, not the scheduled one


def test_overlapping_windows_lowest_wins_and_midnight_wraps() -> None:
    spec = PowerLimitSpec.model_validate(
        {
            "location": "site",
            "limit": {"currentPerPhase": 63},
            "schedule": [
                {"start": "22:00", "end": "02:00", "limit": {"currentPerPhase": 50}},
                {"days": ["Sunday"], "start": "23:00", "end": "24:00", "limit": {"power": 23_000}},
            ],
        }
    )
    sunday = datetime(2024, 6, 9, 22, 30, tzinfo=UTC)
    assert limit_in_force(spec, sunday, "UTC") == 50
    assert limit_in_force(spec, sunday + timedelta(hours=1), "UTC") == 33  # 23000 / 690
    assert limit_in_force(spec, sunday + timedelta(hours=2), "UTC") == 50  # Monday 00:30
    assert limit_in_force(spec, sunday + timedelta(hours=4), "UTC") == 63


@pytest.mark.parametrize(
    ("local", "expected_local"),
    [
        ("2024-06-04T10:00", "2024-06-04T18:00"),
        ("2024-06-04T18:00", "2024-06-05T08:00"),
        ("2024-06-07T18:30", "2024-06-10T08:00"),  # Friday evening -> Monday
        ("2024-03-29T18:00", "2024-04-01T08:00"),  # across the clocks going forward
        ("2024-10-25T18:00", "2024-10-28T08:00"),  # across the clocks going back
    ],
)
def test_next_change_at_window_edges(local: str, expected_local: str) -> None:
    at = datetime.fromisoformat(local).replace(tzinfo=AMSTERDAM)
    expected = datetime.fromisoformat(expected_local).replace(tzinfo=AMSTERDAM)
    assert next_change(office(), at) == expected


def test_next_change_across_dst_in_utc() -> None:
    # Monday 1 April 2024 08:00 CEST is 06:00 UTC; a week earlier, 08:00 CET was 07:00 UTC.
    friday = datetime(2024, 3, 29, 17, 0, tzinfo=UTC)
    assert next_change(office(), friday) == datetime(2024, 4, 1, 6, 0, tzinfo=UTC)
    assert next_change(office(), friday - timedelta(days=7, hours=1)) == datetime(
        2024, 3, 22, 17, 0, tzinfo=UTC
    )


def test_next_change_when_the_clocks_jump_into_a_window() -> None:
    # A window from 02:30: on 31 March 2024 the clocks jump from 02:00 to 03:00 CET/CEST
    # (01:00 UTC), straight into the window.
    night = {"start": "02:30", "end": "04:00", "limit": {"currentPerPhase": 20}}
    fleet = make_fleet(
        {"cp": [Conn()]}, [Circuit("grid", 63, schedule=[night])], timezone="Europe/Amsterdam"
    )
    at = datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
    assert next_change(fleet, at) == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)


def test_no_schedule_no_change() -> None:
    assert next_change(car_park(), SATURDAY_NOON) is None
    always = {"start": "00:00", "end": "00:00", "limit": {"currentPerPhase": 40}}
    fleet = make_fleet({"cp": [Conn()]}, [Circuit("grid", 63, schedule=[always])])
    assert next_change(fleet, SATURDAY_NOON) is None


def test_example_fleet_office_hours() -> None:
    loaded = load_paths([Path(__file__).resolve().parents[3] / "examples" / "fleet"])
    fleet, _ = Fleet.build(loaded.resources)
    tuesday_ten = datetime(2024, 6, 4, 10, 0, tzinfo=AMSTERDAM)
    plan = allocate(fleet, sessions_on("acme-hq-01", "acme-hq-02", "acme-hq-03"), tuesday_ten)
    assert plan.circuits["acme-hq-grid"].limit_amperes == 40
    assert plan.allocations[("acme-hq-01", 1)].amperes == 13.3
    assert next_change(fleet, tuesday_ten) == datetime(2024, 6, 4, 17, 0, tzinfo=AMSTERDAM)


# --- charging profiles -------------------------------------------------------------------------


def test_charging_limits_for_one_charger() -> None:
    fleet = car_park(chargers=6, connectors=2)
    sessions = [Session("cp-1", 1, "41"), Session("cp-1", 2, None), Session("cp-2", 1, "42")]
    plan = allocate(fleet, sessions, SATURDAY_NOON)
    limits = charging_limits(plan, "cp-1")
    summary = [
        (x.profile_id, x.purpose, x.connector, x.transaction_id, [p.amperes for p in x.periods])
        for x in limits
    ]
    assert summary == [
        (1, LimitPurpose.STATION_MAX, 0, None, [63.0]),
        (101, LimitPurpose.TX_DEFAULT, 1, None, [6.0]),  # for a session after this one
        (201, LimitPurpose.TX, 1, "41", [21.0]),
        (102, LimitPurpose.TX_DEFAULT, 2, None, [21.0]),  # no transaction id yet: its share
    ]
    idle = charging_limits(plan, "cp-3")
    assert [(x.purpose, x.connector, x.periods[0].amperes) for x in idle] == [
        (LimitPurpose.STATION_MAX, 0, 63.0),
        (LimitPurpose.TX_DEFAULT, 1, 0.0),  # 3 x 21 A = 63 A: exhausted
        (LimitPurpose.TX_DEFAULT, 2, 0.0),
    ]
    assert charging_limits(plan, "nowhere") == []


def test_waiting_session_limited_to_zero() -> None:
    fleet = car_park(chargers=6, connectors=2)
    sessions = [Session(f"cp-{i}", c, f"{i}{c}") for i, c in itertools.product(range(1, 7), (1, 2))]
    plan = allocate(fleet, sessions, SATURDAY_NOON)
    limits = charging_limits(plan, "cp-6")
    assert {(x.purpose, x.connector): x.periods[0].amperes for x in limits} == {
        (LimitPurpose.STATION_MAX, 0): 63.0,
        (LimitPurpose.TX_DEFAULT, 1): 0.0,
        (LimitPurpose.TX, 1): 0.0,
        (LimitPurpose.TX_DEFAULT, 2): 0.0,
        (LimitPurpose.TX, 2): 0.0,
    }


def test_custom_profile_ids() -> None:
    plan = allocate(car_park(), sessions_on("cp-1"), SATURDAY_NOON)
    limits = charging_limits(plan, "cp-1", profile_ids=lambda purpose, c: 9000 + c)
    assert [x.profile_id for x in limits] == [9000, 9001, 9001]
    assert default_profile_id(LimitPurpose.TX, 7) == 207


# --- properties --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    fleet: Fleet
    sessions: tuple[Session, ...]
    under: Mapping[str, frozenset[str]]
    """Chargers each circuit feeds, directly or through its children, computed independently."""


def _descendants(circuits: Sequence[Circuit], name: str) -> set[str]:
    found = {name}
    for circuit in circuits:
        if circuit.parent in found:
            found |= _descendants(circuits, circuit.name)
    return found


def _under(circuits: Sequence[Circuit], chargers: Sequence[str]) -> dict[str, frozenset[str]]:
    result = {}
    for circuit in circuits:
        fed: set[str] = set()
        for name in _descendants(circuits, circuit.name):
            selected = next(c for c in circuits if c.name == name).chargers
            fed |= set(chargers) if selected is None else set(selected)
        result[circuit.name] = frozenset(fed)
    return result


STARTS = [None, *(datetime(2024, 6, 4, 7, m, tzinfo=UTC) for m in range(4))]


CONNECTORS = st.builds(Conn, st.integers(1, 40), st.sampled_from([1, 3])) | st.just(
    Conn(100, dc=True)
)
UNIFORM_CONNECTORS = st.builds(Conn, st.integers(6, 40), st.sampled_from([1, 3]))


@st.composite
def scenarios(draw: st.DrawFn, laminar: bool = False) -> Scenario:
    """A location with up to 5 chargers and up to 4 circuits, and some sessions.

    Laminar scenarios are the common case, a tree: the root feeds the whole location and every
    charger hangs on one circuit, with minimum 6 A and no connector below it. Otherwise
    circuits select any chargers (several roots, a charger named by two siblings, chargers no
    circuit feeds), minimums differ and some connectors are DC or below the minimum.
    """
    names = [f"c{i}" for i in range(draw(st.integers(1, 5)))]
    kinds = UNIFORM_CONNECTORS if laminar else CONNECTORS
    connectors = {name: draw(st.lists(kinds, min_size=1, max_size=3)) for name in names}
    count = draw(st.integers(1, 4))
    home = {name: draw(st.integers(0, count - 1)) for name in names}
    circuits: list[Circuit] = []
    for index in range(count):
        limit = draw(st.integers(0, 40 if laminar else 70))
        earlier = [c.name for c in circuits]
        chosen: list[str] | None
        if laminar:
            parent = draw(st.sampled_from(earlier)) if earlier else None
            chosen = None if index == 0 else [n for n in names if home[n] == index]
            minimum = 6
        else:
            parent = draw(st.sampled_from([None, *earlier]))
            chosen = draw(st.none() | st.lists(st.sampled_from(names), min_size=1, unique=True))
            minimum = draw(st.sampled_from([6, 6, 0, 10]))
        circuits.append(Circuit(f"p{index}", limit, chosen, parent, minimum=minimum))
    fleet = make_fleet(connectors, circuits)
    plugs = [(n, i) for n in names for i in range(1, len(connectors[n]) + 1)]
    active = draw(st.lists(st.sampled_from(plugs), min_size=1, unique=True))
    sessions = tuple(
        Session(n, i, draw(st.sampled_from([None, f"tx-{n}-{i}"])), draw(st.sampled_from(STARTS)))
        for n, i in active
    )
    return Scenario(fleet, sessions, _under(circuits, names))


def _tenths(value: float) -> int:
    exact = Decimal(repr(value)) * 10
    assert exact == exact.to_integral_value(), f"{value} is not in tenths"
    return int(exact)


def _managed(plan: PowerPlan) -> list[Allocation]:
    return [a for a in plan.allocations.values() if a.state is not State.UNMANAGED]


def _minimum(scenario: Scenario, a: Allocation) -> int:
    fleet = scenario.fleet
    spec = fleet.chargers[a.charger].resource.spec
    maximum = next(c.max_current for c in spec.connectors if c.id == a.connector)
    feeding = [n for n, chargers in scenario.under.items() if a.charger in chargers]
    wanted = max(fleet.power_limits[n].resource.spec.minimum_current for n in feeding)
    return min(wanted, maximum)


def _maximum(scenario: Scenario, a: Allocation) -> int:
    spec = scenario.fleet.chargers[a.charger].resource.spec
    return next(c.max_current for c in spec.connectors if c.id == a.connector)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_limits_maxima_and_minimums_hold(scenario: Scenario) -> None:
    plan = allocate(scenario.fleet, scenario.sessions, SATURDAY_NOON)
    for name, chargers in scenario.under.items():
        load = plan.circuits[name]
        given_out = [a for a in _managed(plan) if a.charger in chargers]
        charging = sum(_tenths(a.amperes) for a in given_out if a.state is State.CHARGING)
        idle = sum(_tenths(a.amperes) for a in given_out if a.state is State.IDLE)
        assert charging + idle <= load.limit_amperes * 10
        # Until the next allocation, a connector draws at most its share or, should its session
        # end and a new one start, its default: the sum of those fits too.
        worst = sum(_tenths(max(a.amperes, a.default_amperes)) for a in given_out)
        assert worst <= load.limit_amperes * 10
        assert (_tenths(load.allocated), _tenths(load.reserved)) == (charging, idle)
        assert load.sessions == sum(1 for a in given_out if a.state is not State.IDLE)
    for a in plan.allocations.values():
        assert limit_amperes(a.amperes) == a.amperes
        if a.state is State.UNMANAGED:
            spec = scenario.fleet.chargers[a.charger].resource.spec
            dc = any(c.id == a.connector and c.current_type == "DC" for c in spec.connectors)
            assert dc or not any(a.charger in chargers for chargers in scenario.under.values())
            continue
        assert a.amperes <= _maximum(scenario, a)
        minimum = _minimum(scenario, a)
        if a.state is State.CHARGING:
            assert a.amperes >= minimum
        elif a.state is State.WAITING:
            assert a.amperes == 0.0
        else:
            assert a.amperes in (0.0, float(minimum))


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_allocation_is_max_min_fair(scenario: Scenario) -> None:
    # Every charging session below its maximum has a full circuit in which nobody charging
    # gets more, except sessions held at their (higher) minimum.
    plan = allocate(scenario.fleet, scenario.sessions, SATURDAY_NOON)
    charging = [a for a in plan.allocations.values() if a.state is State.CHARGING]
    for a in charging:
        if a.amperes == _maximum(scenario, a):
            continue
        bottlenecks = []
        for name, chargers in scenario.under.items():
            if a.charger not in chargers:
                continue
            others = [b for b in charging if b.charger in chargers]
            room = plan.circuits[name].limit_amperes * 10 - sum(_tenths(b.amperes) for b in others)
            full = room < len(others)  # each share lost less than 0.1 A to rounding
            most = all(b.amperes <= a.amperes or b.amperes == _minimum(scenario, b) for b in others)
            bottlenecks.append(full and most)
        assert any(bottlenecks), f"{a} could get more"


@settings(max_examples=200, deadline=None)
@given(scenarios(laminar=True))
def test_as_few_sessions_wait_as_possible(scenario: Scenario) -> None:
    # With one minimum everywhere and a tree of circuits, nothing beats the plan's count.
    plan = allocate(scenario.fleet, scenario.sessions, SATURDAY_NOON)
    waiting = sum(1 for a in plan.allocations.values() if a.state is State.WAITING)
    managed = [
        (s.charger, s.connector)
        for s in scenario.sessions
        if plan.allocations[(s.charger, s.connector)].state is not State.UNMANAGED
    ]
    limits = {n: plan.circuits[n].limit_amperes for n in scenario.under}

    def fits(kept: Sequence[tuple[str, int]]) -> bool:
        return all(
            6 * sum(1 for c, _ in kept if c in chargers) <= limits[n]
            for n, chargers in scenario.under.items()
        )

    fewest = next(
        len(managed) - size
        for size in range(len(managed), -1, -1)
        if any(fits(kept) for kept in itertools.combinations(managed, size))
    )
    assert waiting == fewest


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_deterministic_whatever_the_order(scenario: Scenario, random: Any) -> None:
    first = allocate(scenario.fleet, scenario.sessions, SATURDAY_NOON)
    shuffled = list(scenario.sessions)
    random.shuffle(shuffled)
    again = allocate(scenario.fleet, shuffled, SATURDAY_NOON)
    assert again == first
    assert list(again.allocations) == list(first.allocations)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_charging_limits_are_valid(scenario: Scenario) -> None:
    plan = allocate(scenario.fleet, scenario.sessions, SATURDAY_NOON)
    for name, loaded in scenario.fleet.chargers.items():
        limits = charging_limits(plan, name)
        assert len({limit.profile_id for limit in limits}) == len(limits)
        for limit in limits:
            assert len(limit.periods) == 1 and limit.periods[0].start_seconds == 0
            amperes = limit.periods[0].amperes
            assert limit_amperes(amperes) == amperes and amperes >= 0
            if limit.purpose is LimitPurpose.STATION_MAX:
                assert limit.connector == 0 and limit.transaction_id is None
                continue
            allocation = plan.allocations[(name, limit.connector)]
            assert allocation.state is not State.UNMANAGED and limit.connector >= 1
            if limit.purpose is LimitPurpose.TX:
                assert limit.transaction_id is not None
                assert limit.transaction_id == allocation.transaction_id
                assert amperes == allocation.amperes
            else:
                assert amperes <= max(allocation.amperes, _minimum(scenario, allocation))
        dc = any(c.current_type == "DC" for c in loaded.resource.spec.connectors)
        fed = [n for n, chargers in scenario.under.items() if name in chargers]
        assert (name in plan.station_max) == (bool(fed) and not dc)
        if fed and not dc:
            static = min(
                scenario.fleet.power_limits[n].resource.spec.amperes_per_phase() for n in fed
            )
            assert plan.station_max[name] <= static


def test_one_locations_allocation_is_the_fleets_for_that_location() -> None:
    """The power step and the status writer ask for one location; the answer must not differ
    from the whole fleet's for it."""
    fleet = car_park(chargers=4, connectors=2)
    sessions = sessions_on("cp-1", "cp-2", "cp-3")
    whole = allocate(fleet, sessions, SATURDAY_NOON)
    here = allocate(fleet, sessions, SATURDAY_NOON, "site")
    assert here.allocations == whole.allocations
    assert here.circuits == whole.circuits
    elsewhere = allocate(fleet, sessions, SATURDAY_NOON, "another-site")
    assert not elsewhere.allocations and not elsewhere.circuits
