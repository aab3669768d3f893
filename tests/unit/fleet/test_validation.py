"""Fleet-wide rules the example files do not pin down: edges of time, units and versions.

`tests/e2e/test_examples.py` shows every problem code once; these tests are about the cases
next to them, where a wrong answer would be a false alarm or a silent miss.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from controller.fleet.checking import check_paths
from controller.fleet.loading import load_paths
from controller.fleet.model import Fleet
from controller.fleet.problems import Problem
from controller.fleet.validation import check_fleet

ROOT = Path(__file__).resolve().parents[3]
HEADER = "apiVersion: chargectl.io/v1alpha1\n"


def doc(kind: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n"


TEAM = doc("Team", "ops", "displayName: Ops\nhandle: ops")


def location(extra: str = "") -> str:
    return doc("Location", "garage", "team: ops\ndisplayName: Garage\n" + textwrap.dedent(extra))


def charger(name: str, version: str = "1.6", extra: str = "") -> str:
    spec = (
        f'location: garage\nocppVersion: "{version}"\n'
        "connectors: [{id: 1, type: Type2, maxCurrent: 16}]\n" + textwrap.dedent(extra)
    )
    return doc("Charger", name, spec)


def check(tmp_path: Path, *documents: str) -> list[Problem]:
    """The fleet-wide problems of a fleet that loads without schema problems."""
    path = tmp_path / "fleet.yaml"
    path.write_text("---\n".join(documents), encoding="utf-8")
    loaded = load_paths([path])
    assert loaded.problems == ()
    fleet, duplicates = Fleet.build(loaded.resources)
    assert duplicates == []
    return check_fleet(fleet)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


# --- tariffs -----------------------------------------------------------------------------------


def tariff(*periods: str) -> str:
    body = 'currency: EUR\nenergyPrice: "0.30"\nperiods:\n' + "".join(f"  - {p}\n" for p in periods)
    return doc("Tariff", "standard", body)


def test_period_past_sunday_midnight_overlaps_monday_morning(tmp_path: Path) -> None:
    problems = check(
        tmp_path,
        tariff(
            '{days: [Sunday], start: "22:00", end: "02:00", energyPrice: "0.20"}',
            '{days: [Monday], start: "01:00", end: "03:00", energyPrice: "0.25"}',
        ),
    )
    assert codes(problems) == ["tariff-overlap"]
    assert problems[0].path == ("spec", "periods", 1, "start")
    assert "Monday at 01:00" in problems[0].message


def test_adjacent_periods_do_not_overlap(tmp_path: Path) -> None:
    problems = check(
        tmp_path,
        tariff(
            '{start: "10:00", end: "12:00", energyPrice: "0.40"}',
            '{start: "12:00", end: "14:00", energyPrice: "0.45"}',
            '{start: "22:00", end: "10:00", energyPrice: "0.20"}',
        ),
    )
    assert problems == []


# --- circuits ----------------------------------------------------------------------------------


def circuits(child_limit: str, parent_amps: int, *, phases: int = 3) -> str:
    parent = doc(
        "PowerLimit", "grid", f"location: garage\nlimit: {{currentPerPhase: {parent_amps}}}"
    )
    child = doc(
        "PowerLimit",
        "board",
        f"location: garage\nparent: grid\nlimit: {child_limit}\nphases: {phases}\nvoltage: 230",
    )
    return parent + "---\n" + child


@pytest.mark.parametrize(
    ("watts", "phases"),
    [(22080, 3), (7360, 1)],
    ids=["3x230V", "1x230V"],
)
def test_power_limit_in_watts_equal_to_parent_current_fits(
    tmp_path: Path, watts: int, phases: int
) -> None:
    fleet = circuits(f"{{power: {watts}}}", 32, phases=phases)
    assert check(tmp_path, TEAM, location(), fleet) == []


def test_power_limit_in_watts_above_parent_current_is_reported_in_amperes(
    tmp_path: Path,
) -> None:
    problems = check(tmp_path, TEAM, location(), circuits("{power: 22080}", 31))
    assert codes(problems) == ["circuit-over-parent"]
    assert "32 A per phase" in problems[0].message
    assert "31 A per phase" in problems[0].message


def test_dc_connector_is_not_compared_with_the_ac_circuit(tmp_path: Path) -> None:
    dc = doc(
        "Charger",
        "fast-1",
        """\
        location: garage
        ocppVersion: "2.0.1"
        connectors:
          - {id: 1, type: CCS2, format: Cable, currentType: DC, maxCurrent: 200}
        """,
    )
    grid = doc("PowerLimit", "grid", "location: garage\nlimit: {currentPerPhase: 63}")
    assert check(tmp_path, TEAM, location(), dc, grid) == []


def test_ac_connector_above_the_circuit_is_reported(tmp_path: Path) -> None:
    grid = doc("PowerLimit", "grid", "location: garage\nlimit: {currentPerPhase: 10}")
    problems = check(tmp_path, TEAM, location(), charger("bay-1"), grid)
    assert codes(problems) == ["connector-over-circuit"]
    assert problems[0].path == ("spec", "connectors", 0, "maxCurrent")


# --- configuration -----------------------------------------------------------------------------

MEASURANDS = """\
chargerDefaults:
  settings:
    meterValuesSampledData: [Energy.Active.Import.Register, {extra}]
"""


def test_16_only_measurand_in_defaults_of_a_16_only_location_is_valid(tmp_path: Path) -> None:
    defaults = location(MEASURANDS.format(extra="Temperature"))
    assert check(tmp_path, TEAM, defaults, charger("bay-1"), charger("bay-2")) == []


def test_16_only_measurand_in_defaults_of_a_mixed_location_is_reported(tmp_path: Path) -> None:
    defaults = location(MEASURANDS.format(extra="Temperature"))
    problems = check(tmp_path, TEAM, defaults, charger("bay-1"), charger("bay-2", "2.0.1"))
    assert codes(problems) == ["invalid-key-value"]
    assert "2.0.1" in problems[0].message


@pytest.mark.parametrize("versions", [(), ("1.6", "2.0.1")], ids=["no-chargers", "both-versions"])
def test_bad_measurand_in_location_defaults_is_reported_once(
    tmp_path: Path, versions: tuple[str, ...]
) -> None:
    chargers = [charger(f"bay-{i}", v) for i, v in enumerate(versions)]
    problems = check(tmp_path, TEAM, location(MEASURANDS.format(extra="Bogus")), *chargers)
    assert codes(problems) == ["invalid-key-value"]
    assert problems[0].path == ("spec", "chargerDefaults", "settings", "meterValuesSampledData", 1)


def test_setting_and_raw_key_agreeing_after_normalisation_are_no_conflict(
    tmp_path: Path,
) -> None:
    agreeing = charger(
        "bay-1",
        extra='settings:\n  heartbeatInterval: 60\nconfiguration:\n  HeartbeatInterval: "060"\n',
    )
    assert check(tmp_path, TEAM, location(), agreeing) == []


def test_setting_and_raw_key_disagreeing_are_a_conflict(tmp_path: Path) -> None:
    disagreeing = charger(
        "bay-1",
        extra='settings:\n  heartbeatInterval: 60\nconfiguration:\n  HeartbeatInterval: "61"\n',
    )
    problems = check(tmp_path, TEAM, location(), disagreeing)
    assert codes(problems) == ["setting-conflict"]


# --- the example fleet -------------------------------------------------------------------------


def test_example_fleet_has_no_problem_at_all() -> None:
    report = check_paths([ROOT / "examples" / "fleet"])
    assert report.problems == ()
    assert len(report.fleet) > 0
