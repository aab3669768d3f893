"""The README's main command as a user runs it: `chargectl serve examples/fleet --simulate`.

Other end-to-end tests run the central system in-process on pytest's event loop; this one
starts the installed console script, so it runs what only the command does: the event loop
`serve` picks (uvloop where installed), the collector policy of a serving process, signal
handling, and flushing the store on the way out.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(what: str, check: Any, server: subprocess.Popen[str]) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if server.poll() is not None:
            pytest.fail(f"chargectl serve exited with {server.returncode} before {what}")
        try:
            found = check()
        except (OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"no {what} within {DEADLINE:.0f} s")


@dataclass
class Served:
    process: subprocess.Popen[str]
    base: str
    """The read-only status API."""
    admin: str
    """The admin channel, where commands go with the token serve wrote."""
    store: Path
    home: Path
    """Where XDG_CONFIG_HOME points for the server and the CLI (the admin token file)."""


def config_home(tmp_path: Path) -> dict[str, str]:
    """The environment with the user's configuration (the admin token file) under tmp_path."""
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    script = Path(sys.executable).parent / "chargectl"
    http = f"127.0.0.1:{free_port()}"
    admin = f"127.0.0.1:{free_port()}"
    store = tmp_path / "chargectl.db"
    command = [
        str(script),
        "serve",
        str(ROOT / "examples" / "fleet"),
        "--simulate",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--http",
        http,
        "--admin",
        admin,
        "--store",
        f"sqlite:///{store}",
    ]
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=config_home(tmp_path),
    )
    try:
        yield Served(server, f"http://{http}", f"http://{admin}", store, tmp_path)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def test_the_demo_connects_every_declared_charger_and_stops_cleanly_on_sigterm(
    served: Served,
) -> None:
    server, base, store = served.process, served.base, served.store

    def all_connected() -> dict[str, Any] | None:
        status, body = get(f"{base}/api/chargers")
        listing = json.loads(body) if status == 200 else None
        if not listing or not listing["total"] or listing["connected"] < listing["total"]:
            return None
        # a charger is connected a moment before its boot is recorded: wait for both
        return dict(listing) if all(c["boot"] for c in listing["chargers"]) else None

    listing = wait_for("connection and boot of every declared charger", all_connected, server)
    assert all(c["connected"] and c["boot"] for c in listing["chargers"])
    assert get(f"{base}/readyz")[0] == 200
    reconciled = wait_for(
        "reconcile pass counted in /metrics",
        lambda: "chargectl_reconciles_total{" in get(f"{base}/metrics")[1],
        server,
    )
    assert reconciled

    # `chargectl command` through the admin channel, with the token serve wrote on start
    identity = listing["chargers"][0]["identity"]
    sent = subprocess.run(
        [str(Path(sys.executable).parent / "chargectl"), "command", identity, "trigger"]
        + ["Heartbeat", "--server", served.admin],
        capture_output=True,
        text=True,
        env=config_home(served.home),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith(f"{identity}: trigger: Accepted")

    server.send_signal(signal.SIGTERM)
    output, _ = server.communicate(timeout=30)

    assert server.returncode == 0, output
    assert "stopping: closing connections and flushing the store" in output
    with sqlite3.connect(store) as db:
        logged = {row[0] for row in db.execute("SELECT DISTINCT identity FROM message_log")}
    assert logged == {c["identity"] for c in listing["chargers"]}
