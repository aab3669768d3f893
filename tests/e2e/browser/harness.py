"""What the browser tests share: `chargectl serve` as a process (`tests.processes`), the
people who look at it, the deadline poll, and the axe-core check.

The web view in a real browser: Debian's chromium driven by Playwright, against `chargectl
serve` with simulated chargers, as a support engineer or a customer would see it.

One server for the whole package (the example fleet, a SQLite store in tmp, the loopback proxy
trusted so each browser context names its viewer with X-Forwarded-Email), one browser for the
whole package, a fresh context (cookies, language, identity) per test. Nothing is downloaded:
the browser is the machine's `chromium`, axe-core comes from this directory's node_modules
(`npm ci`, done by `python3 dev.py test`). Either one missing skips, saying which, unless
CHARGECTL_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.processes import ChargectlProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
EXAMPLES = ROOT / "examples" / "fleet"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
DEADLINE = 60.0
POLL_SECONDS = 0.2

OPERATOR = "noc@voltway.nl"
"""A teammate of the team that owns every example location: sees the whole fleet."""
CUSTOMER = "facility@acme-logistics.com"
"""A teammate of Acme Logistics: a member of acme-hq only."""
STRANGER = "someone@example.org"
"""In no team at all."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    # this machine refuses outside connections: a browser that tries them stalls or logs errors
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

T = TypeVar("T")
ContextFactory = Callable[..., Any]
"""`open_context(served, email, **options)`: see conftest's fixture."""


def unavailable(reason: str) -> None:
    """Skip, or fail where the browser tests must run (CI sets CHARGECTL_REQUIRE_BROWSER=1)."""
    if os.environ.get("CHARGECTL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (CHARGECTL_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def wait_for(what: str, check: Callable[[], T | None], server: ChargectlProcess | None = None) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline, or
    at once with the server's output if it has ended."""
    end = time.monotonic() + DEADLINE
    while True:
        if server is not None and server.process.poll() is not None:
            pytest.fail(f"{server.name} exited {server.process.returncode}:\n{server.tail()}")
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            tail = f"\n{server.tail()}" if server is not None else ""
            pytest.fail(f"no {what} within {DEADLINE:.0f} s{tail}")
        time.sleep(POLL_SECONDS)


@dataclass
class Served:
    """A running `chargectl serve` and how to reach its web view."""

    process: ChargectlProcess
    fleet: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.process.http}"

    def get(self, path: str, email: str | None = OPERATOR) -> tuple[int, str]:
        """A GET as the trusted proxy would send it for `email`: status and body."""
        headers = {"X-Forwarded-Email": email} if email else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def json(self, path: str, email: str | None = OPERATOR) -> Any:
        """A document of the JSON API, or None while it does not answer 200."""
        status, body = self.get(path, email)
        return json.loads(body) if status == 200 else None

    def stop(self) -> None:
        self.process.stop()


def start_serve(
    tmp: Path, fleet: Path, *extra: str, trusted_proxy: bool = True, name: str = "serve"
) -> Served:
    """`chargectl serve FLEET` on free loopback ports with a SQLite store in `tmp`; ready once
    its status API answers."""
    tokens = tmp / "admin-token"
    tokens.write_text("tests:browser-tests-token\n")
    tokens.chmod(0o600)
    args = ["serve", str(fleet), "--store", f"sqlite:///{tmp / 'chargectl.db'}", *extra]
    if trusted_proxy:
        args += ["--trusted-proxy", "127.0.0.1"]
    process = ChargectlProcess(
        name,
        args,
        tokens=tokens,
        log=tmp / f"{name}.log",
        cwd=tmp,
        env={"XDG_CONFIG_HOME": str(tmp / "config")},
    )
    served = Served(process, fleet)
    try:
        wait_for("answer of the status API", lambda: served.json("/api/chargers"), process)
    except BaseException:
        served.stop()
        raise
    return served


def every_charger_connected(served: Served) -> dict[str, Any]:
    """The chargers listing once every declared charger is connected and booted."""

    def check() -> dict[str, Any] | None:
        listing = served.json("/api/chargers")
        if not listing or not listing["total"] or listing["connected"] < listing["total"]:
            return None
        return dict(listing) if all(c["boot"] for c in listing["chargers"]) else None

    return wait_for("connection and boot of every declared charger", check, served.process)


def assert_accessible(page: Any, axe: Path) -> None:
    """Run axe-core in the page as it is now; fail listing every serious or critical
    violation: its rule, what it asks for and the elements that break it."""
    page.evaluate(axe.read_text())  # as devtools would: the page's CSP stays in force
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    if serious:
        lines = [f"{len(serious)} serious or critical accessibility violations on {page.url}:"]
        for violation in serious:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            lines.extend(
                f"    {json.dumps(node['target'])}: {node.get('failureSummary', '')}".replace(
                    "\n", " "
                )
                for node in violation["nodes"]
            )
        pytest.fail("\n".join(lines))
