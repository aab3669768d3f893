"""Custom resources → the fleet in force: each resource refused alone, its last good version
kept, with validate's own messages (`controller.sources.kubernetes.objects`)."""

from __future__ import annotations

import copy
from typing import Any

from controller.fleet.loading import parse_document
from controller.fleet.model import Fleet, Loaded
from controller.fleet.problems import Source
from controller.fleet.validation import check_fleet
from controller.sources.kubernetes.objects import (
    ObjectBook,
    ObjectKey,
    Settlement,
    declared,
    describe,
    settle,
)

API = "chargectl.io/v1alpha1"


def obj(
    kind: str, name: str, spec: dict[str, Any], ns: str = "default", **meta: Any
) -> dict[str, Any]:
    generation = meta.pop("generation", 1)
    return {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "generation": generation, "uid": name, **meta},
        "spec": spec,
    }


TEAM = obj("Team", "ops", {"displayName": "Ops", "handle": "ops"})
DEPOT = obj("Location", "depot", {"team": "ops", "displayName": "Depot", "timezone": "UTC"})
GRID = obj(
    "PowerLimit", "depot-grid", {"location": "depot", "limit": {"currentPerPhase": 40}, "phases": 3}
)


def charger(
    name: str, location: str = "depot", max_current: int = 32, **spec: Any
) -> dict[str, Any]:
    return obj(
        "Charger",
        name,
        {
            "location": location,
            "ocppVersion": "1.6",
            "connectors": [{"id": 1, "type": "Type2", "maxCurrent": max_current}],
            **spec,
        },
    )


class Cluster:
    """An ObjectBook fed as the watch would feed it, settled after each change."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.book = ObjectBook()
        for raw in objects:
            self.book.observe(raw["kind"], raw)
        self.last = self.settle()

    def settle(self) -> Settlement:
        latest = dict(self.book.latest)
        self.last = settle(self.book.in_force, latest, self.book.order)
        self.book.apply(self.last, latest)
        return self.last

    def put(self, raw: dict[str, Any]) -> Settlement:
        self.book.observe(raw["kind"], raw)
        return self.settle()

    def delete(self, raw: dict[str, Any]) -> Settlement:
        self.book.forget(raw["kind"], raw)
        return self.settle()

    def state(self, kind: str, name: str, ns: str = "default") -> Any:
        return self.last.states[ObjectKey(kind, ns, name)]


def validate_messages(*objects: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, message) of what `chargectl validate` finds in these documents as one fleet
    (what they declare, as a fleet file would say it)."""
    loaded = []
    for i, raw in enumerate(objects):
        resource, problems = parse_document(declared(raw["kind"], raw), Source("f.yaml", i))
        assert resource is not None, problems
        loaded.append(Loaded(resource, Source("f.yaml", i)))
    fleet, duplicates = Fleet.build(loaded)
    return [(p.code, p.message) for p in [*duplicates, *check_fleet(fleet)]]


def test_a_valid_set_of_resources_is_the_fleet() -> None:
    cluster = Cluster(TEAM, DEPOT, GRID, charger("cp-1"))
    fleet = cluster.last.fleet
    assert set(fleet.chargers) == {"cp-1"} and set(fleet.locations) == {"depot"}
    assert all(state.ready for state in cluster.last.states.values())
    assert fleet.chargers["cp-1"].resource.metadata.namespace == "default"


def test_a_new_resource_that_breaks_a_rule_is_absent_and_the_rest_is_in_force() -> None:
    lost = charger("cp-2", location="nowhere")
    cluster = Cluster(TEAM, DEPOT, charger("cp-1"), lost)
    assert set(cluster.last.fleet.chargers) == {"cp-1"}
    state = cluster.state("Charger", "cp-2")
    assert not state.in_force and not state.ready
    expected = validate_messages(TEAM, DEPOT, lost)
    assert [(p.code, p.message) for p in state.errors] == expected
    assert describe(state.problems, state.key) == (
        f"error[unresolved-reference]: {expected[0][1]} (at spec.location)"
    )


def test_a_bad_edit_keeps_the_last_good_version_while_other_edits_take_effect() -> None:
    cluster = Cluster(TEAM, DEPOT, charger("cp-1"), charger("cp-2"))
    cluster.book.observe("Charger", charger("cp-1", location="nowhere") | {"metadata": {
        "name": "cp-1", "namespace": "default", "generation": 2}})  # fmt: skip
    cluster.put(charger("cp-2", max_current=16))
    fleet = cluster.last.fleet
    assert fleet.chargers["cp-1"].resource.spec.location == "depot"  # the last good one
    assert fleet.chargers["cp-2"].resource.spec.connectors[0].max_current == 16
    state = cluster.state("Charger", "cp-1")
    assert state.generation == 2 and not state.in_force
    assert [p.code for p in state.errors] == ["unresolved-reference"]
    assert cluster.last.refused == (state.key,)


def test_a_schema_error_keeps_the_last_good_version_with_the_schema_problem() -> None:
    cluster = Cluster(TEAM, DEPOT, charger("cp-1"))
    broken = charger("cp-1", maxCurent=3)
    cluster.put(broken)
    assert cluster.last.fleet.chargers["cp-1"].resource.spec.ocpp_version.value == "1.6"
    _, problems = parse_document(declared("Charger", broken), Source("x"))
    state = cluster.state("Charger", "cp-1")
    assert [(p.code, p.message) for p in state.errors] == [(p.code, p.message) for p in problems]


def test_fixing_a_refused_resource_takes_effect() -> None:
    cluster = Cluster(TEAM, DEPOT, charger("cp-1", location="nowhere"))
    assert "cp-1" not in cluster.last.fleet.chargers
    cluster.put(charger("cp-1"))
    assert "cp-1" in cluster.last.fleet.chargers and cluster.state("Charger", "cp-1").ready


def test_a_resource_that_arrives_before_what_it_names_is_taken_once_that_arrives() -> None:
    cluster = Cluster(TEAM, charger("cp-1"))
    assert not cluster.last.fleet.chargers
    cluster.put(DEPOT)
    assert set(cluster.last.fleet.chargers) == {"cp-1"}
    assert all(state.ready for state in cluster.last.states.values())


def test_a_circuit_lowered_below_a_charger_is_refused_and_the_charger_stays() -> None:
    cluster = Cluster(TEAM, DEPOT, GRID, charger("cp-1", max_current=32))
    lowered = copy.deepcopy(GRID)
    lowered["spec"]["limit"]["currentPerPhase"] = 16
    cluster.put(lowered)
    fleet = cluster.last.fleet
    assert fleet.power_limits["depot-grid"].resource.spec.limit.current_per_phase == 40
    assert "cp-1" in fleet.chargers and cluster.state("Charger", "cp-1").ready
    grid = cluster.state("PowerLimit", "depot-grid")
    assert not grid.in_force
    assert [p.code for p in grid.errors] == ["connector-over-circuit"]
    assert "in Charger/cp-1" in describe(grid.problems, grid.key)


def test_a_location_deleted_under_its_chargers_stays_until_nothing_names_it() -> None:
    cluster = Cluster(TEAM, DEPOT, charger("cp-1"))
    cluster.delete(DEPOT)
    assert "depot" in cluster.last.fleet.locations  # held: cp-1 still stands there
    assert "cp-1" in cluster.last.fleet.chargers
    state = cluster.state("Charger", "cp-1")
    assert [p.code for p in state.errors] == ["unresolved-reference"]
    assert cluster.last.held == (ObjectKey("Location", "default", "depot"),)
    cluster.delete(charger("cp-1"))
    assert not cluster.last.fleet.locations and not cluster.last.fleet.chargers


def test_a_deleted_charger_leaves_the_fleet_even_when_a_circuit_names_it() -> None:
    named = obj(
        "PowerLimit",
        "bay",
        {"location": "depot", "limit": {"currentPerPhase": 40}, "chargers": {"names": ["cp-1"]}},
    )
    cluster = Cluster(TEAM, DEPOT, charger("cp-1"), named)
    cluster.delete(charger("cp-1"))
    assert "cp-1" not in cluster.last.fleet.chargers
    assert [p.code for p in cluster.state("PowerLimit", "bay").errors] == ["unresolved-reference"]


def test_the_same_name_in_another_namespace_is_refused_and_the_first_keeps_it() -> None:
    cluster = Cluster(TEAM, DEPOT, charger("cp-1"))
    other = charger("cp-1", max_current=16)
    other["metadata"]["namespace"] = "other"
    cluster.put(other)
    fleet = cluster.last.fleet
    assert fleet.chargers["cp-1"].resource.metadata.namespace == "default"
    refused = cluster.state("Charger", "cp-1", "other")
    assert [p.code for p in refused.errors] == ["duplicate-name"]
    assert "default/chargers/cp-1" in refused.errors[0].message
    kept = cluster.state("Charger", "cp-1")
    assert kept.ready and [p.code for p in kept.problems] == ["duplicate-name"]
    assert "other/chargers/cp-1" in kept.problems[0].message


def test_a_second_charger_with_a_taken_identity_is_the_one_refused() -> None:
    cluster = Cluster(TEAM, DEPOT, charger("cp-b", ocppIdentity="CP-1"))
    cluster.put(charger("cp-a", ocppIdentity="cp-1"))
    assert set(cluster.last.fleet.chargers) == {"cp-b"}
    assert [p.code for p in cluster.state("Charger", "cp-a").errors] == ["duplicate-identity"]


def test_a_status_write_is_not_a_change() -> None:
    book = ObjectBook()
    book.observe("Charger", charger("cp-1"))
    written = charger("cp-1") | {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    written["metadata"]["resourceVersion"] = "7"
    written["metadata"]["managedFields"] = [{"manager": "chargectl"}]
    assert not book.observe("Charger", written)


def test_a_label_change_is_a_change() -> None:
    book = ObjectBook()
    book.observe("Charger", charger("cp-1"))
    relabelled = charger("cp-1")
    relabelled["metadata"]["labels"] = {"level": "p2"}
    assert book.observe("Charger", relabelled)
