"""A location's allocation as the web view computes it (`controller.web.view.power`) and the power
diagram drawn with it: one query for the open transactions of the fed chargers only, the power
step's plan, and each circuit's and connector's share in the diagram's tables (an unmanaged
connector, which nothing limits, drawn without one)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from controller.fleet.model import Fleet
from controller.planning.power import PowerPlan, allocate
from controller.planning.profiles import sessions_from
from controller.values.records import Transaction
from controller.web.view import charts
from controller.web.view.power import fed_chargers, location_allocation
from controller.web.view.site import View
from tests.unit.planning.test_power import Circuit, Conn, make_fleet

NOW = datetime(2024, 6, 8, 12, 0, tzinfo=UTC)


@dataclass
class _Store:
    open: list[Transaction]
    asked: list[list[str]] = field(default_factory=list)

    async def open_transactions_of(self, identities: Collection[str]) -> list[Transaction]:
        self.asked.append(sorted(identities))
        wanted = {i.lower() for i in identities}
        return [t for t in self.open if t.identity.lower() in wanted]


@dataclass
class _Central:
    store: _Store


@dataclass
class _View:
    fleet: Fleet
    central: _Central


def _view(fleet: Fleet, *open: Transaction) -> tuple[View, _Store]:
    store = _Store(list(open))
    return cast(View, _View(fleet, _Central(store))), store


def _open(identity: str, connector: int, tid: int, minutes: int) -> Transaction:
    return Transaction(
        id=tid,
        identity=identity,
        connector_id=connector,
        started_at=NOW - timedelta(minutes=minutes),
        meter_start_wh=0,
    )


def _fleet() -> Fleet:
    """40 A over a and b; c on no circuit; d with an AC and a DC connector, fed."""
    return make_fleet(
        {"a": [Conn()], "b": [Conn()], "c": [Conn()], "d": [Conn(), Conn(dc=True)]},
        [Circuit("grid", 40, chargers=["a", "b", "d"])],
    )


def _document(fleet: Fleet) -> dict[str, Any]:
    return {
        "name": "site",
        "displayName": "Site",
        "circuits": [{"name": "grid", "staticAmperes": 40, "chargers": ["a", "b", "d"]}],
        "chargers": [
            {
                "name": name,
                "identity": loaded.resource.identity,
                "connected": True,
                "connectors": [
                    {"id": c.id, "status": "Available"} for c in loaded.resource.spec.connectors
                ],
                "openTransactions": [],
            }
            for name, loaded in sorted(fleet.chargers.items())
        ],
    }


async def test_the_allocation_is_the_power_steps_from_one_query_of_fed_chargers() -> None:
    fleet = _fleet()
    a, b, c = (fleet.chargers[n].resource.identity for n in "abc")
    view, store = _view(fleet, _open(a, 1, 1, 10), _open(b, 1, 2, 5), _open(c, 1, 3, 1))
    plan = await location_allocation(view, "site", NOW)
    assert plan is not None
    assert [c.name for c in fed_chargers(fleet, "site")] == ["a", "b", "d"]
    assert store.asked == [sorted(fleet.chargers[n].resource.identity for n in "abd")]
    # Two sessions share the 40 A; c's session is not on a circuit and is not counted.
    assert plan.circuits["grid"].allocated == 40.0 and plan.circuits["grid"].sessions == 2
    assert [(x.amperes, x.state) for x in plan.for_charger("a")] == [(20.0, "Charging")]
    assert plan.for_charger("b")[0].transaction_id == "2"


async def test_a_location_without_a_circuit_has_no_allocation_and_reads_nothing() -> None:
    fleet = make_fleet({"a": [Conn()]}, [])
    view, store = _view(fleet)
    assert await location_allocation(view, "site", NOW) is None
    assert store.asked == []


def test_the_diagram_shows_the_plans_amperes_and_not_an_unmanaged_connectors() -> None:
    fleet = _fleet()
    a = fleet.chargers["a"].resource.identity
    sessions = sessions_from([(fleet.chargers["a"], [_open(a, 1, 1, 10)])])
    plan: charts.PlanLike = allocate(fleet, sessions, NOW, "site")  # PowerPlan is a PlanLike
    assert isinstance(plan, PowerPlan)
    diagram = charts.PowerDiagram.from_location(_document(fleet), plan)
    circuits = {r[0]: r for r in diagram.rows().rows}
    assert circuits["grid"][4] == "32"  # allocated: a's session at its connector's maximum
    connectors = {(r[0], r[2]): r for r in diagram.charger_rows().rows}
    assert connectors[("a", "1")][3:5] == ("Charging", "32")
    assert connectors[("b", "1")][3:5] == ("Idle", "6")  # offered the minimum for a new session
    assert connectors[("d", "2")][3:5] == ("Available", "")  # DC: nothing limits it
    assert connectors[("c", "1")][3:5] == ("Available", "")  # on no circuit
    svg = str(charts.power_diagram(diagram, chart_id="power-diagram"))
    assert 'id="power-diagram"' in svg and "Allocated 32 A" in svg and "Allocated – A" not in svg
