"""A configuration key that differs from the fleet is highlighted on the charger page, and
shows in sync once the reconciler has converged it.

Its own `serve`, on a fleet in tmp (local mode, no proxy), and the charger simulated by a
`chargectl simulate` process of its own: the charger is taken away while its declared value
is edited, so the page can be looked at while the key differs (a connected charger converges
within a moment), then comes back and is converged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.harness import ContextFactory, Served, start_serve, wait_for
from tests.processes import CHARGECTL, LoggedProcess

KEY = "LightIntensity"
CHARGER = "bay-1"

FLEET = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {{name: ops}}
spec:
  displayName: Ops
  handle: ops
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: depot}}
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: bay-1}}
spec:
  ocppIdentity: BAY-1
  location: depot
  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
  configuration:
    LightIntensity: {light}
"""


def start_simulator(served: Served, fleet: Path, log: Path) -> LoggedProcess:
    """`chargectl simulate --fleet` as a process: the chargers declared in `fleet`, connected
    to `served` until stopped. Each start begins from `fleet`'s values: nothing is kept."""
    command = [
        str(CHARGECTL),
        *("simulate", "--fleet", str(fleet)),
        *("--url", served.process.url, "--time-scale", "60"),
    ]
    return LoggedProcess("chargectl simulate", command, log=log, cwd=log.parent, append=True)


@pytest.fixture
def depot(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """`serve` (local mode: no proxy, no sign-in) on a fleet of one charger declaring
    LightIntensity 50, converging every 2 s once in sync; and the fleet directory it watches."""
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "fleet.yaml").write_text(FLEET.format(light=50))
    served = start_serve(tmp_path, fleet, "--resync", "2", trusted_proxy=False, name="depot")
    try:
        yield served, fleet
    finally:
        served.stop()


def key_state(served: Served) -> str | None:
    """The key's data-state on the charger page as the server renders it now."""
    status, body = served.get(f"/chargers/{CHARGER}", email=None)
    marker = f'data-key="{KEY}" data-state="'
    if status != 200 or marker not in body:
        return None
    return body.split(marker, 1)[1].split('"', 1)[0]


def connected(served: Served) -> bool | None:
    """Whether the status API has the charger connected now (None while it does not answer)."""
    document = served.json(f"/api/chargers/{CHARGER}", email=None)
    return None if document is None else bool(document.get("connected"))


def background(row: Any) -> str:
    """The computed background of a configuration row's first cell (the highlight is on the
    cells, tr.drifted td)."""
    return str(row.locator("td").first.evaluate("c => getComputedStyle(c).backgroundColor"))


def test_a_drifted_key_is_highlighted_and_then_shows_in_sync(
    open_context: ContextFactory, depot: tuple[Served, Path], tmp_path: Path
) -> None:
    """What a support engineer relies on: a key the charger reports otherwise than declared
    stands out on its page, and stops standing out once the reconciler has set it.

    The charger is away while its declared value is edited (a connected one converges within
    a moment), so the page shows the store's old report against the new value. The simulator
    always starts from a copy of the fleet as first declared (50), so the 80 it reports at the
    end is there only because the reconciler sent it."""
    served, fleet = depot
    original = tmp_path / "simulated"
    original.mkdir()
    (original / "fleet.yaml").write_text(FLEET.format(light=50))
    simulator = start_simulator(served, original, tmp_path / "simulate.log")
    try:
        wait_for(
            "report of the key in sync",
            lambda: simulator.running() and key_state(served) == "in-sync",
            served.process,
        )
        simulator.stop()
        wait_for("the charger offline", lambda: connected(served) is False, served.process)
        (fleet / "fleet.yaml").write_text(FLEET.format(light=80))
        wait_for(
            "the key differing after the fleet's reload",
            lambda: key_state(served) not in (None, "in-sync"),
            served.process,
        )

        page: Any = open_context(served, None).new_page()
        page.goto(f"/chargers/{CHARGER}")
        table = page.locator("#charger-configuration")
        # another row, in sync all along: what an unhighlighted row looks like
        in_sync = table.locator(f'tbody tr:not(.drifted):not([data-key="{KEY}"])').first
        drifted = table.locator(f'tr.drifted[data-key="{KEY}"]')
        expect(drifted).to_be_visible()
        expect(drifted.locator("td").nth(0)).to_have_text("80")  # desired
        expect(drifted.locator("td").nth(1)).to_have_text("50")  # reported
        expect(in_sync).to_have_attribute("data-state", "in-sync")
        assert background(drifted) != background(in_sync), "the drifted row is highlighted"

        simulator = start_simulator(served, original, tmp_path / "simulate.log")
        wait_for(
            "the key converged",
            lambda: simulator.running() and key_state(served) == "in-sync",
            served.process,
        )
        page.reload()
        row = table.locator(f'tr[data-key="{KEY}"]')
        expect(row).to_have_attribute("data-state", "in-sync")
        expect(row).not_to_have_class(re.compile(r"\bdrifted\b"))
        expect(row.locator("td").nth(0)).to_have_text("80")
        expect(row.locator("td").nth(1)).to_have_text("80")
        assert background(row) == background(in_sync), "the row is no longer highlighted"
    finally:
        simulator.stop()
