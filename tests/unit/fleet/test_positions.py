"""Where each fleet-wide rule points: the file, line and column of the value that breaks it.

A fleet engineer reads `case.yaml:9:22` and puts the cursor there; the caret must be under the
value to change (the child circuit's `currentPerPhase`, the one measurand that is not one),
not under the mapping or list around it. One case per rule, each with a small fleet written to
a temporary directory and run through `check_paths`, as `chargectl validate` runs it.

Every case document starts with the five lines `head()` writes (apiVersion, kind, metadata,
name on line 4 at column 9, spec), so its spec's first line is line 6. `base.yaml` is read
first and is valid on its own: team `ops`, location `garage` (accepting the cards of `ops`, no
maintenance window), charger `bay-1` (OCPP 1.6, label `level: p1`, one 16 A connector), card
`badge-1` and the 63 A circuit `garage-grid`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.fleet.checking import check_paths
from controller.fleet.loading import Locator
from controller.fleet.problems import Aim, Problem, Source

BASE = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: ops
spec:
  displayName: Ops
  handle: ops
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata:
  name: garage
spec:
  team: ops
  displayName: Garage
  acceptedCards: {teams: [ops]}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata:
  name: bay-1
  labels: {level: p1}
spec:
  location: garage
  ocppVersion: "1.6"
  connectors: [{id: 1, type: Type2, maxCurrent: 16}]
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata:
  name: badge-1
spec:
  team: ops
  idTag: 04A1B2C3
---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata:
  name: garage-grid
spec:
  location: garage
  limit: {currentPerPhase: 63}
"""

CONNECTORS = "  connectors: [{id: 1, type: Type2, maxCurrent: 16}]\n"


def head(kind: str, name: str) -> str:
    """Lines 1 to 5 of a case document; its spec begins on line 6."""
    return f"apiVersion: chargectl.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"


def document(kind: str, name: str, spec: str) -> str:
    return head(kind, name) + textwrap.indent(textwrap.dedent(spec), "  ")


def charger(name: str, version: str, spec: str) -> str:
    """A charger at `garage`: location on line 6, ocppVersion on 7, connectors on 8, and
    `spec` from line 9."""
    body = f'  location: garage\n  ocppVersion: "{version}"\n' + CONNECTORS
    return head("Charger", name) + body + textwrap.indent(textwrap.dedent(spec), "  ")


@dataclass(frozen=True)
class Case:
    code: str
    case: str
    """The text of `case.yaml`."""
    at: tuple[tuple[int, int], ...]
    """Every (line, column) in `case.yaml` where `code` is reported."""
    others: dict[str, str] = field(default_factory=dict)
    """More files beside `base.yaml` and `case.yaml`."""


CASES: dict[str, Case] = {
    # --- references
    "unresolved-reference": Case(
        "unresolved-reference",
        document("Charger", "bay-2", 'location: garag\nocppVersion: "1.6"\n' + CONNECTORS[2:]),
        ((6, 13),),  # `garag`
    ),
    "unresolved-reference-in-a-list": Case(
        "unresolved-reference",
        document(
            "Location",
            "hall",
            """\
              team: ops
              displayName: Hall
              acceptedCards:
                names: [badge-1, badge-9]
            """,
        ),
        ((9, 22),),  # `badge-9`, the second name
    ),
    "circuit-location-mismatch": Case(
        "circuit-location-mismatch",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: hall-grid
              limit: {currentPerPhase: 32}
            """,
        ),
        ((7, 11),),  # `hall-grid`
        {
            "hall.yaml": document("Location", "hall", "  team: ops\n  displayName: Hall\n")
            + "---\n"
            + document("PowerLimit", "hall-grid", "  location: hall\n  limit: {power: 43470}\n")
        },
    ),
    "empty-selector": Case(
        "empty-selector",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: garage-grid
              chargers:
                selector: {}
              limit: {currentPerPhase: 32}
            """,
        ),
        ((9, 15),),  # `{}`
    ),
    "selector-matches-nothing": Case(
        "selector-matches-nothing",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: garage-grid
              chargers:
                selector:
                  matchLabels: {level: p1, bay: east}
              limit: {currentPerPhase: 32}
            """,
        ),
        ((10, 37),),  # `east`: bay-1 has level p1, no charger has bay east
    ),
    "selector-matches-nothing-by-expression": Case(
        "selector-matches-nothing",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: garage-grid
              chargers:
                selector:
                  matchExpressions:
                    - {key: level, operator: In, values: [p2, p3]}
              limit: {currentPerPhase: 32}
            """,
        ),
        ((11, 11),),  # the expression
    ),
    # --- identities and names
    "invalid-identity": Case(
        "invalid-identity",
        charger("bay-1-" + "x" * 44, "1.6", ""),  # a 49-character name and no ocppIdentity
        ((4, 9),),  # metadata.name's value
    ),
    "duplicate-identity": Case(
        "duplicate-identity",
        document("Charger", "bay-2", 'ocppIdentity: BAY-1\nlocation: garage\nocppVersion: "1.6"\n')
        + CONNECTORS,
        ((6, 17),),  # `BAY-1`, bay-1's identity in other letters
    ),
    "duplicate-handle": Case(
        "duplicate-handle",
        document("Team", "ops-2", "  displayName: Ops 2\n  handle: ops\n"),
        ((7, 11),),  # `ops`
    ),
    "duplicate-name": Case(
        "duplicate-name",
        document("Team", "ops", "  displayName: Ops again\n  handle: ops-again\n"),
        ((4, 9),),  # `ops`
    ),
    # --- configuration
    "invalid-key-value": Case(
        "invalid-key-value",
        charger("bay-2", "1.6", "configuration:\n  HeartbeatInterval: soon\n"),
        ((10, 24),),  # `soon`
    ),
    "invalid-key-value-in-a-list": Case(
        "invalid-key-value",
        charger(
            "bay-2",
            "1.6",
            """\
            settings:
              meterValuesSampledData:
                - Energy.Active.Import.Register
                - Voltge
            """,
        ),
        ((12, 9),),  # `Voltge`
    ),
    "invalid-key-value-in-a-comma-separated-text": Case(
        "invalid-key-value",
        charger(
            "bay-2",
            "1.6",
            """\
            configuration:
              MeterValuesSampledData: Energy.Active.Import.Register, Voltge, SoC
            """,
        ),
        ((10, 60),),  # `Voltge`, inside the text
    ),
    "invalid-key-value-phase-in-a-quoted-2.0.1-list": Case(
        "invalid-key-value",
        charger(
            "bay-2",
            "2.0.1",
            'configuration:\n  SampledDataCtrlr.TxStartedMeasurands: "SoC,Current.Import.L1"\n',
        ),
        ((10, 48),),  # `Current.Import.L1`, inside the quotes
    ),
    "invalid-key-value-phase-in-a-2.0.1-setting": Case(
        "invalid-key-value",
        charger(
            "bay-2",
            "2.0.1",
            """\
            settings:
              meterValuesSampledData: [SoC, Current.Import.L1]
            """,
        ),
        ((10, 35),),  # `Current.Import.L1`
    ),
    "invalid-key": Case(
        "invalid-key",
        charger("bay-2", "2.0.1", "configuration:\n  OCPPCommCtrlr.: 30\n"),
        ((10, 5),),  # the key
    ),
    "unknown-key": Case(
        "unknown-key",
        charger("bay-2", "1.6", "configuration:\n  HeartbeatIntervall: 30\n"),
        ((10, 5),),  # the key
    ),
    "unknown-variable": Case(
        "unknown-variable",
        charger("bay-2", "2.0.1", "configuration:\n  OCPPCommCtrlr.HeartbeatIntervall: 30\n"),
        ((10, 5),),  # the key
    ),
    "read-only-key": Case(
        "read-only-key",
        charger("bay-2", "1.6", "configuration:\n  NumberOfConnectors: 2\n"),
        ((10, 5),),  # the key: it cannot be declared at all
    ),
    "wrong-version-key": Case(
        "wrong-version-key",
        charger("bay-2", "2.0.1", "configuration:\n  HeartbeatInterval: 30\n"),
        ((10, 5),),  # the key: its name is a 1.6 name
    ),
    "setting-conflict": Case(
        "setting-conflict",
        charger(
            "bay-2",
            "1.6",
            """\
            settings:
              meterValuesSampledData: [SoC]
            configuration:
              MeterValuesSampledData: [Voltage]
            """,
        ),
        ((12, 29),),  # the raw key's list
    ),
    "unmanaged-declared": Case(
        "unmanaged-declared",
        charger(
            "bay-2",
            "1.6",
            """\
            settings:
              heartbeatInterval: 60
            unmanagedKeys: [HeartbeatInterval]
            """,
        ),
        ((11, 19),),  # `HeartbeatInterval` in unmanagedKeys
    ),
    # --- circuits
    "circuit-over-parent": Case(
        "circuit-over-parent",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: garage-grid
              limit:
                currentPerPhase: 80
            """,
        ),
        ((9, 22),),  # `80`, not `limit:`
    ),
    "circuit-over-parent-in-watts": Case(
        "circuit-over-parent",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: garage-grid
              limit:
                power: 60000
            """,
        ),
        ((9, 12),),  # `60000` (86 A per phase at 3 x 230 V)
    ),
    "schedule-over-limit": Case(
        "schedule-over-limit",
        document(
            "PowerLimit",
            "sub",
            """\
              location: garage
              parent: garage-grid
              limit: {currentPerPhase: 32}
              schedule:
                - start: "17:00"
                  end: "21:00"
                  limit: {currentPerPhase: 40}
            """,
        ),
        ((12, 32),),  # `40`
    ),
    "connector-over-circuit": Case(
        "connector-over-circuit",
        document(
            "Charger",
            "bay-2",
            """\
              location: garage
              ocppVersion: "1.6"
              connectors:
                - {id: 1, type: Type2, maxCurrent: 80}
            """,
        ),
        ((9, 40),),  # `80`
    ),
    "circuit-cycle": Case(
        "circuit-cycle",
        document("PowerLimit", "loop-a", "  location: garage\n  parent: loop-b\n")
        + "  limit: {currentPerPhase: 32}\n---\n"
        + document("PowerLimit", "loop-b", "  location: garage\n  parent: loop-a\n")
        + "  limit: {currentPerPhase: 32}\n",
        ((7, 11), (16, 11)),  # each circuit's `parent`
    ),
    # --- tariffs
    "tariff-overlap-at-the-start": Case(
        "tariff-overlap",
        document(
            "Tariff",
            "standard",
            """\
              currency: EUR
              periods:
                - {start: "08:00", end: "18:00", energyPrice: "0.30"}
                - {start: "12:00", end: "20:00", energyPrice: "0.40"}
            """,
        ),
        ((9, 15),),  # the second period's start, inside the first period
    ),
    "tariff-overlap-at-the-end": Case(
        "tariff-overlap",
        document(
            "Tariff",
            "standard",
            """\
              currency: EUR
              periods:
                - {start: "12:00", end: "20:00", energyPrice: "0.30"}
                - {start: "08:00", end: "18:00", energyPrice: "0.40"}
            """,
        ),
        ((9, 29),),  # the second period's end, which runs on into the first period
    ),
    # --- cards
    "duplicate-id-tag": Case(
        "duplicate-id-tag",
        document("Card", "badge-2", "  team: ops\n  idTag: 04a1b2c3\n"),
        ((7, 10),),  # badge-1's id tag in other letters
    ),
    "id-tag-too-long": Case(
        "id-tag-too-long",
        document("Card", "badge-2", "  team: ops\n  idTag: 0123456789ABCDEF012345\n"),
        ((7, 10),),  # 22 characters where bay-1 (OCPP 1.6) takes 20
    ),
    "card-expired": Case(
        "card-expired",
        document(
            "Card", "badge-2", "  team: ops\n  idTag: 04D5E6F7\n  expiresAt: 2020-01-01T00:00:00Z\n"
        ),
        ((8, 14),),  # the date
    ),
    # --- maintenance windows
    "no-maintenance-window": Case(
        "no-maintenance-window",
        charger("bay-2", "1.6", "rebootPolicy: MaintenanceWindow\n"),
        ((9, 17),),  # the charger's policy; garage's missing window has no line
    ),
    "empty-window": Case(
        "empty-window",
        document(
            "Location",
            "depot",
            """\
              team: ops
              displayName: Depot
              maintenanceWindow:
                - {start: "03:00", end: "03:00"}
            """,
        ),
        ((9, 29),),  # the end, equal to the start
    ),
}


def located(tmp_path: Path, case: Case) -> list[Problem]:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "case.yaml").write_text(case.case, encoding="utf-8")
    for name, text in case.others.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return list(check_paths([tmp_path], freeze=False).problems)


def test_the_base_fleet_is_valid(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    assert check_paths([tmp_path], freeze=False).problems == ()


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_rule_points_at_the_offending_value(tmp_path: Path, case: Case) -> None:
    problems = located(tmp_path, case)
    assert [p.code for p in problems] == [case.code] * len(case.at), [
        f"{p.file}:{p.line}:{p.column}: {p.code}: {p.message}" for p in problems
    ]
    assert [(Path(p.file or "").name, p.line, p.column) for p in problems] == [
        ("case.yaml", line, column) for line, column in case.at
    ]


def test_every_fleet_wide_code_has_a_case() -> None:
    """A new rule comes with a case here."""
    import re

    import controller.fleet.model
    import controller.fleet.validation

    codes: set[str] = set()
    for module in (controller.fleet.validation, controller.fleet.model):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        codes.update(re.findall(r'(?:Problem|_problem|_value_problem)\(\s*"([a-z-]+)"', source))
    assert codes == {case.code for case in CASES.values()}


# --- the locator, where a path or an offset does not fit the text -----------------------------


def locate(tmp_path: Path, text: str, problem: Problem) -> tuple[int | None, int | None]:
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    at = Locator().locate(Problem(**{**_fields(problem), "source": Source(str(path))}))
    return at.line, at.column


def _fields(problem: Problem) -> dict[str, object]:
    return {name: getattr(problem, name) for name in Problem.__dataclass_fields__}


def test_a_missing_key_is_pointed_at_through_its_closest_container(tmp_path: Path) -> None:
    text = "spec:\n  limit:\n    power: 60000\n"
    problem = Problem("x", "y", path=("spec", "limit", "currentPerPhase"), aim=Aim.VALUE)
    assert locate(tmp_path, text, problem) == (2, 3)  # `limit:`


def test_a_container_is_pointed_at_by_its_key_or_by_its_value(tmp_path: Path) -> None:
    text = "spec:\n  limit:\n    power: 60000\n"
    node = Problem("x", "y", path=("spec", "limit"))
    assert locate(tmp_path, text, node) == (2, 3)
    value = Problem("x", "y", path=("spec", "limit"), aim=Aim.VALUE)
    assert locate(tmp_path, text, value) == (3, 5)


def test_an_offset_the_line_does_not_hold_as_written_points_at_the_text(tmp_path: Path) -> None:
    """An escape before the member: the text in the file is not the value, so the column
    stays at the start of the value rather than land on the wrong character."""
    text = 'key: "\\u0053oC,Voltge"\n'
    problem = Problem("x", "y", path=("key",), offset=4)
    assert locate(tmp_path, text, problem) == (1, 6)
    plain = Problem("x", "y", path=("key",), offset=4)
    assert locate(tmp_path, "key: SoC, Voltge\n", plain) == (1, 10)
