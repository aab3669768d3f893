"""The depot fleet and its cards, as YAML, that the local list tests share: the pure plan's
(tests/unit/planning/test_locallist.py) and the step's (tests/unit/converge/test_locallist.py).

Real YAML, loaded the way `serve` loads it, in a fresh directory for each fleet.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from controller.fleet.loading import load_paths
from controller.fleet.model import Fleet
from controller.resources import Card

HEADER = "apiVersion: chargectl.io/v1alpha1\n"


def doc(kind: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n"


def card(name: str, id_tag: str, extra: str = "", team: str = "ops") -> str:
    return doc("Card", name, f"idTag: {id_tag}\nteam: {team}\n{textwrap.dedent(extra)}")


def charger(name: str, version: str = "1.6", settings: str = "") -> str:
    spec = (
        f'location: depot\nocppVersion: "{version}"\nocppIdentity: {name.upper()}\n'
        "connectors: [{id: 1, type: Type2, maxCurrent: 32}]\n"
    )
    if settings:
        spec += "settings:\n" + textwrap.indent(textwrap.dedent(settings), "  ")
    return doc("Charger", name, spec)


BASE = [
    doc("Team", "ops", "displayName: Ops\nhandle: ops"),
    doc("Team", "guests", "displayName: Guests\nhandle: guests"),
    doc("Location", "depot", "team: ops\ndisplayName: Depot\nacceptedCards: {teams: [ops]}"),
    charger("cp-16"),
    charger("cp-201", "2.0.1"),
]

CARDS = [
    card("alice", "AA01", "parentIdTag: FLEET\nexpiresAt: 2027-01-01T00:00:00Z"),
    card("bob", "BB02"),
    card("carol", "CC03", "status: Blocked"),
    card("dave", "DD04", "expiresAt: 2026-01-01T00:00:00+01:00"),
    card("guest", "EE05", team="guests"),  # not accepted at the depot
]

Build = Callable[..., Fleet]


def fleet_builder(tmp_path: Path) -> Build:
    """Builds a fleet from YAML documents, in a fresh directory under `tmp_path` each time."""
    counter = iter(range(1000))

    def build(*documents: str) -> Fleet:
        root = tmp_path / f"fleet-{next(counter)}"
        root.mkdir()
        for i, text in enumerate(documents):
            (root / f"{i:02d}.yaml").write_text(text, encoding="utf-8")
        loaded = load_paths([root])
        assert loaded.problems == ()
        fleet, problems = Fleet.build(loaded.resources)
        assert problems == []
        return fleet

    return build


def cards_of(fleet: Fleet) -> list[Card]:
    return [c.resource for c in fleet.cards_accepted_at("depot")]
