"""The README's screenshots of the web view: `python3 dev.py screenshots` (or `python -m
tests.e2e.browser.screenshots [OUT_DIR]`, default docs/).

`chargectl serve examples/fleet --simulate` as the browser tests start it (harness.py: free
loopback ports, a SQLite store in a temporary directory), in local single-user mode (no trusted
proxy) as `python3 dev.py demo` runs it. Once every charger is connected and converged (nothing
left to change but what waits for a maintenance window or the charger cannot take) and the
garage has sessions with meter values and a finished one, headless chromium (the machine's, no
download) saves at 1280x900:

    dashboard.png       /
    location-power.png  /locations/centrum-garage, scrolled to its power diagram (the location
                        with a sub-circuit under its grid connection)
    charger.png         /chargers/NAME, a garage charger with a session running

Every wait is on a condition, with harness.wait_for's deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.e2e.browser.harness import (
    CHROMIUM_ARGS,
    DEADLINE,
    EXAMPLES,
    ROOT,
    Served,
    every_charger_connected,
    start_serve,
    wait_for,
)

LOCATION = "centrum-garage"
"""The example location with circuits: a grid connection and level P2's sub-board under it."""
VIEWPORT = {"width": 1280, "height": 900}
MAX_BYTES = 400_000
"""A screenshot larger than this fails: the README should stay light to clone."""
SETTLED = ("Firmware", "Cannot")
"""Plan changes that stay after convergence: firmware waiting for the maintenance window, and
values the charger refused or does not support (not retried until the declaration changes)."""


def converged(served: Served) -> bool:
    """Whether every charger has been reconciled and only settled changes remain."""
    plan = served.json("/api/plan")
    if not plan or plan["summary"]["notReported"] or plan["summary"]["neverConnected"]:
        return False
    return all(
        change["kind"] in SETTLED for charger in plan["chargers"] for change in charger["changes"]
    )


def metered_session(served: Served, name: str) -> bool:
    """Whether charger `name` has a session open with at least three meter readings for it."""
    charger = served.json(f"/api/chargers/{name}")
    if not charger or not charger["openTransactions"]:
        return False
    log = served.json(f"/api/chargers/{name}/log?limit=200")
    readings = [
        entry
        for entry in (log or {}).get("entries", [])
        if entry["action"] == "MeterValues" and entry["direction"] == "received"
    ]
    return len(readings) >= 3


def garage_busy(served: Served) -> str | None:
    """A garage charger to show (the first with a metered session), once the garage has
    three sessions open and one finished; None until then."""
    location = served.json(f"/api/locations/{LOCATION}")
    if not location:
        return None
    names = [charger["name"] for charger in location["chargers"] if charger["name"]]
    open_sessions = sum(len(charger["openTransactions"]) for charger in location["chargers"])
    if open_sessions < 3:
        return None
    finished = any(
        transaction["stoppedAt"]
        for name in names
        for transaction in (served.json(f"/api/chargers/{name}") or {}).get("transactions", [])
    )
    if not finished:
        return None
    return next((name for name in names if metered_session(served, name)), None)


def shoot(browser: Any, served: Served, charger: str, out: Path) -> list[Path]:
    context = browser.new_context(
        base_url=served.base,
        viewport=VIEWPORT,
        device_scale_factor=1,
        locale="en-GB",
        timezone_id="Europe/Amsterdam",
    )
    context.set_default_timeout(DEADLINE * 1000 / 2)
    page = context.new_page()
    saved = []

    def save(name: str) -> None:
        path = out / name
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        saved.append(path)

    page.goto("/")
    page.locator("#connection-tiles").wait_for()
    save("dashboard.png")

    page.goto(f"/locations/{LOCATION}")
    diagram = page.locator("section#power svg")
    diagram.wait_for()
    page.locator("section#power").evaluate("section => window.scrollTo(0, section.offsetTop - 8)")
    save("location-power.png")

    page.goto(f"/chargers/{charger}")
    page.locator("#diagnostics").wait_for()
    save("charger.png")

    context.close()
    return saved


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else ROOT / "docs"
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chargectl-screenshots-") as tmp:
        served = start_serve(
            Path(tmp),
            EXAMPLES,
            *("--simulate", "--seed", "7", "--sessions-per-hour", "6", "--time-scale", "120"),
            trusted_proxy=False,
            name="screenshots",
        )
        try:
            every_charger_connected(served)
            wait_for("convergence of every charger", lambda: converged(served), served.process)
            charger = wait_for(
                f"sessions with meter values at {LOCATION}",
                lambda: garage_busy(served),
                served.process,
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    saved = shoot(browser, served, charger, out)
                finally:
                    browser.close()
        finally:
            served.stop()
    for path in saved:
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {size} bytes")
        if size > MAX_BYTES:
            sys.exit(f"{path} is larger than {MAX_BYTES} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
