"""The fleet as one value: indexes, and each charger's desired state resolved across layers.

What `plan` and the OCPP sessions act on is decided here: which key a setting becomes on each
OCPP version, which layer wins, what is left alone, which cards a location accepts and which
chargers a circuit feeds.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.fleet.loading import load_paths
from controller.fleet.model import BUILTIN_SETTINGS, Fleet, Layer, resolve_charger
from controller.fleet.problems import Source
from controller.resources.settings import OcppVersion

Build = Callable[..., Fleet]

HEADER = "apiVersion: chargectl.io/v1alpha1\n"


def doc(kind: str, name: str, spec: str, labels: dict[str, str] | None = None) -> str:
    meta = f"metadata:\n  name: {name}\n"
    if labels:
        meta += "  labels:\n" + "".join(f"    {k}: {v}\n" for k, v in labels.items())
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\n{meta}spec:\n{body}\n"


def team(name: str = "ops") -> str:
    return doc("Team", name, f"displayName: {name}\nhandle: {name}")


def location(name: str = "garage", extra: str = "") -> str:
    return doc("Location", name, "team: ops\ndisplayName: Garage\n" + textwrap.dedent(extra))


def charger(
    name: str,
    version: str = "1.6",
    extra: str = "",
    *,
    at: str = "garage",
    labels: dict[str, str] | None = None,
) -> str:
    spec = (
        f'location: {at}\nocppVersion: "{version}"\n'
        "connectors: [{id: 1, type: Type2, maxCurrent: 32}]\n" + textwrap.dedent(extra)
    )
    return doc("Charger", name, spec, labels)


def card(name: str, owner: str = "ops", labels: dict[str, str] | None = None) -> str:
    return doc("Card", name, f"idTag: {name.upper()}\nteam: {owner}", labels)


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """A fleet from YAML documents, written as one file per argument."""

    def build(*documents: str) -> Fleet:
        for i, text in enumerate(documents):
            (tmp_path / f"{i:02d}.yaml").write_text(text, encoding="utf-8")
        loaded = load_paths([tmp_path])
        assert loaded.problems == ()
        fleet, problems = Fleet.build(loaded.resources)
        assert problems == []
        return fleet

    return build


# --- building ----------------------------------------------------------------------------------


def test_duplicate_name_is_reported_and_the_first_declaration_kept(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text(team("ops").replace("displayName: ops", "displayName: First"), "utf-8")
    second.write_text(
        team("other") + "---\n" + team("ops").replace("displayName: ops", "displayName: Second"),
        "utf-8",
    )
    fleet, problems = Fleet.build(load_paths([first, second]).resources)

    assert [(p.code, p.source, p.path) for p in problems] == [
        ("duplicate-name", Source(str(second), 1), ("metadata", "name"))
    ]
    assert f"{first} (document 1)" in problems[0].message
    assert fleet.teams["ops"].resource.spec.display_name == "First"
    assert sorted(fleet.teams) == ["ops", "other"]


# --- layering ----------------------------------------------------------------------------------


def test_builtin_heartbeat_applies_when_nothing_is_declared(build: Build) -> None:
    fleet = build(team(), location(), charger("bay-1"))
    value = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration["HeartbeatInterval"]
    assert value.value == BUILTIN_SETTINGS.heartbeat_interval == 300
    assert value.origin.layer is Layer.BUILTIN
    assert value.origin.source is None


def test_location_default_overrides_builtin(build: Build) -> None:
    fleet = build(
        team(),
        location(extra="chargerDefaults:\n  settings:\n    heartbeatInterval: 120\n"),
        charger("bay-1"),
    )
    value = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration["HeartbeatInterval"]
    assert value.value == 120
    assert value.origin.layer is Layer.LOCATION
    assert value.origin.source == fleet.locations["garage"].source
    assert value.origin.path == ("spec", "chargerDefaults", "settings", "heartbeatInterval")
    assert value.origin.setting == "heartbeat_interval"


def test_charger_spec_overrides_location_default(build: Build) -> None:
    fleet = build(
        team(),
        location(extra="chargerDefaults:\n  settings:\n    heartbeatInterval: 120\n"),
        charger("bay-1", extra="settings:\n  heartbeatInterval: 60\n"),
    )
    value = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration["HeartbeatInterval"]
    assert value.value == 60
    assert value.origin.layer is Layer.CHARGER
    assert value.origin.source == fleet.chargers["bay-1"].source
    assert value.origin.path == ("spec", "settings", "heartbeatInterval")


def test_raw_key_in_other_case_overrides_the_same_key_not_a_second_one(build: Build) -> None:
    fleet = build(
        team(),
        location(extra="chargerDefaults:\n  configuration:\n    heartbeatinterval: 90\n"),
        charger("bay-1"),
    )
    configuration = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration
    assert [k for k in configuration if k.lower() == "heartbeatinterval"] == ["HeartbeatInterval"]
    assert configuration["HeartbeatInterval"].value == 90
    assert configuration["HeartbeatInterval"].origin.path == (
        "spec",
        "chargerDefaults",
        "configuration",
        "heartbeatinterval",
    )


def test_location_raw_keys_apply_only_to_chargers_of_their_version(build: Build) -> None:
    defaults = """\
        chargerDefaults:
          configuration:
            MaxEnergyOnInvalidId: 0
            TxCtrlr.StopTxOnInvalidId: true
        """
    fleet = build(team(), location(extra=defaults), charger("v16"), charger("v201", "2.0.1"))
    on_16 = resolve_charger(fleet, fleet.chargers["v16"]).configuration
    on_201 = resolve_charger(fleet, fleet.chargers["v201"]).configuration
    assert "MaxEnergyOnInvalidId" in on_16
    assert "TxCtrlr.StopTxOnInvalidId" not in on_16
    assert "TxCtrlr.StopTxOnInvalidId" in on_201
    assert "MaxEnergyOnInvalidId" not in on_201


@pytest.mark.parametrize(
    ("version", "key"),
    [("1.6", "HeartbeatInterval"), ("2.0.1", "OCPPCommCtrlr.HeartbeatInterval")],
)
def test_setting_becomes_the_key_of_the_chargers_version(
    build: Build, version: str, key: str
) -> None:
    fleet = build(
        team(), location(), charger("bay-1", version, "settings:\n  heartbeatInterval: 60\n")
    )
    configuration = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration
    assert list(configuration) == [key]
    assert configuration[key].value == 60


def test_free_charging_disables_authorization_on_201(build: Build) -> None:
    fleet = build(
        team(), location(), charger("bay-1", "2.0.1", "settings:\n  freeCharging: true\n")
    )
    desired = resolve_charger(fleet, fleet.chargers["bay-1"])
    assert desired.version is OcppVersion.V201
    assert desired.configuration["AuthCtrlr.Enabled"].value is False
    assert desired.free_charging is True


def test_free_charging_on_16_sets_no_key_but_is_remembered(build: Build) -> None:
    fleet = build(team(), location(), charger("bay-1", "1.6", "settings:\n  freeCharging: true\n"))
    desired = resolve_charger(fleet, fleet.chargers["bay-1"])
    assert set(desired.configuration) == {"HeartbeatInterval"}
    assert desired.free_charging is True


# --- unmanaged keys ----------------------------------------------------------------------------


def test_unmanaged_16_key_is_matched_case_insensitively(build: Build) -> None:
    fleet = build(
        team(),
        location(extra="chargerDefaults:\n  configuration:\n    ResetRetries: 2\n"),
        charger("bay-1", extra="unmanagedKeys: [resetretries, heartbeatinterval]\n"),
    )
    desired = resolve_charger(fleet, fleet.chargers["bay-1"])
    assert dict(desired.configuration) == {}


def test_unmanaged_201_variable_stops_the_setting_that_maps_to_it(build: Build) -> None:
    fleet = build(
        team(),
        location(extra="chargerDefaults:\n  settings:\n    meterValueSampleInterval: 30\n"),
        charger("bay-1", "2.0.1", "unmanagedKeys: [SampledDataCtrlr.TxUpdatedInterval]\n"),
    )
    configuration = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration
    assert "SampledDataCtrlr.TxUpdatedInterval" not in configuration
    assert "OCPPCommCtrlr.HeartbeatInterval" in configuration


def test_unmanaged_setting_name_stops_that_setting(build: Build) -> None:
    fleet = build(
        team(),
        location(extra="chargerDefaults:\n  settings:\n    meterValueSampleInterval: 30\n"),
        charger("bay-1", "2.0.1", "unmanagedKeys: [meterValueSampleInterval]\n"),
    )
    configuration = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration
    assert "SampledDataCtrlr.TxUpdatedInterval" not in configuration
    assert "OCPPCommCtrlr.HeartbeatInterval" in configuration


def test_unmanaged_setting_name_also_protects_its_raw_201_variable(build: Build) -> None:
    fleet = build(
        team(),
        location(
            extra="chargerDefaults:\n  configuration:\n    OCPPCommCtrlr.HeartbeatInterval: 120\n"
        ),
        charger("bay-1", "2.0.1", "unmanagedKeys: [heartbeatInterval]\n"),
    )
    configuration = resolve_charger(fleet, fleet.chargers["bay-1"]).configuration
    assert "OCPPCommCtrlr.HeartbeatInterval" not in configuration


def test_unmanaged_vendor_key_is_not_applied(build: Build) -> None:
    defaults = """\
        chargerDefaults:
          vendorConfiguration:
            Alfen-Station-Name: Garage
            Alfen-Max-Station-Current: 64
        """
    fleet = build(
        team(),
        location(extra=defaults),
        charger("bay-1", extra="unmanagedKeys: [alfen-station-name]\n"),
    )
    vendor = resolve_charger(fleet, fleet.chargers["bay-1"]).vendor_configuration
    assert list(vendor) == ["Alfen-Max-Station-Current"]


# --- cards -------------------------------------------------------------------------------------

CARDS = (
    team("ops"),
    team("guests"),
    card("van-1", labels={"fleet": "acme", "vehicle": "van"}),
    card("van-2", labels={"fleet": "acme", "vehicle": "van"}),
    card("car-1", labels={"fleet": "acme", "vehicle": "car"}),
    card("visitor", "guests", labels={"pass": "day"}),
    card("unlabelled", "guests"),
)


def accepted(build: Build, accepted_cards: str) -> list[str]:
    fleet = build(
        *CARDS, location(extra="acceptedCards:\n" + textwrap.indent(accepted_cards, "  "))
    )
    return [c.name for c in fleet.cards_accepted_at("garage")]


def test_cards_accepted_by_name(build: Build) -> None:
    assert accepted(build, "names: [visitor, car-1]\n") == ["car-1", "visitor"]


def test_cards_accepted_by_owning_team(build: Build) -> None:
    assert accepted(build, "teams: [guests]\n") == ["unlabelled", "visitor"]


def test_cards_accepted_by_match_labels(build: Build) -> None:
    selector = "selector:\n  matchLabels: {fleet: acme, vehicle: van}\n"
    assert accepted(build, selector) == ["van-1", "van-2"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{key: vehicle, operator: In, values: [car, bike]}", ["car-1"]),
        ("{key: vehicle, operator: NotIn, values: [van]}", ["car-1", "unlabelled", "visitor"]),
        ("{key: pass, operator: Exists}", ["visitor"]),
        ("{key: fleet, operator: DoesNotExist}", ["unlabelled", "visitor"]),
    ],
    ids=["In", "NotIn", "Exists", "DoesNotExist"],
)
def test_cards_accepted_by_match_expressions(
    build: Build, expression: str, expected: list[str]
) -> None:
    assert accepted(build, f"selector:\n  matchExpressions:\n    - {expression}\n") == expected


def test_cards_accepted_by_all_three_ways_at_once_are_listed_once(build: Build) -> None:
    ways = "names: [van-1]\nteams: [guests]\nselector:\n  matchLabels: {vehicle: van}\n"
    assert accepted(build, ways) == ["unlabelled", "van-1", "van-2", "visitor"]


def test_empty_selector_accepts_no_card(build: Build) -> None:
    assert accepted(build, "selector: {}\n") == []


def test_cards_accepted_at_an_unknown_location_is_empty(build: Build) -> None:
    fleet = build(*CARDS, location(extra="acceptedCards:\n  teams: [ops]\n"))
    assert fleet.cards_accepted_at("elsewhere") == []


# --- circuits ----------------------------------------------------------------------------------


def fed_by(build: Build, chargers: str) -> list[str]:
    spec = "location: garage\nlimit: {currentPerPhase: 63}\n" + chargers
    fleet = build(
        team(),
        location(),
        location("depot"),
        charger("p1-a", labels={"level": "p1"}),
        charger("p1-b", labels={"level": "p1"}),
        charger("p2-a", labels={"level": "p2"}),
        charger("depot-1", at="depot", labels={"level": "p1"}),
        doc("PowerLimit", "board", spec),
    )
    return sorted(c.name for c in fleet.chargers_fed_by("board"))


def test_circuit_without_selection_feeds_its_whole_location(build: Build) -> None:
    assert fed_by(build, "") == ["p1-a", "p1-b", "p2-a"]


def test_circuit_feeds_the_chargers_it_names(build: Build) -> None:
    assert fed_by(build, "chargers:\n  names: [p1-b, p2-a]\n") == ["p1-b", "p2-a"]


def test_circuit_feeds_the_chargers_its_selector_matches_at_its_location(build: Build) -> None:
    assert fed_by(build, "chargers:\n  selector:\n    matchLabels: {level: p1}\n") == [
        "p1-a",
        "p1-b",
    ]


# --- identities --------------------------------------------------------------------------------


def test_charger_found_by_identity_in_any_case(build: Build) -> None:
    fleet = build(
        team(),
        location(),
        charger("bay-1", extra="ocppIdentity: CTR-P1-01\n"),
        charger("bay-2"),
    )
    found = fleet.charger_by_identity("ctr-p1-01")
    assert found is not None and found.name == "bay-1"
    by_name = fleet.charger_by_identity("BAY-2")
    assert by_name is not None and by_name.name == "bay-2"
    assert fleet.charger_by_identity("bay-1") is None
