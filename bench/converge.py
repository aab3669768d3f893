"""How long a drifted fleet takes to converge, and how many OCPP calls it costs.

    python bench/converge.py                    # 1,000 then 10,000 chargers
    python bench/converge.py --chargers 2000

`chargectl serve` runs in its own process with a generated fleet; this process runs the
simulated chargers (the same simulator as the demo). Every charger connects with five declared
keys at other values and one more (WebSocketPingInterval) that answers RebootRequired, so each
needs five changes, a read-back, a soft reset and a verification after it boots again.

Reported: the time from the first connection until every charger is Synced (read from the
store's conditions), the OCPP calls the central system sent (from /metrics) against the
minimum the plan needs (read, 6 changes, read-back, reset, read after reboot: 10 a charger),
and the server's peak resident memory. Figures for a note, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CALLS_PER_CHARGER = 10
"""GetConfiguration, 6 changes, read-back, Reset, GetConfiguration after the reboot."""

DECLARED = {
    "HeartbeatInterval": ("600", "300"),
    "MeterValueSampleInterval": ("30", "60"),
    "ConnectionTimeOut": ("90", "60"),
    "ClockAlignedDataInterval": ("900", "0"),
    "LightIntensity": ("70", "100"),
    "WebSocketPingInterval": ("45", "60"),
}
"""Declared value, and the value the simulated chargers start with."""


def _fleet(root: Path, chargers: int) -> Path:
    fleet = root / "fleet"
    fleet.mkdir()
    head = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: bench}
spec: {displayName: Bench, handle: bench}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: site}
spec: {team: bench, displayName: Site}
"""
    keys = "".join(f"    {key}: {value}\n" for key, (value, _) in DECLARED.items())
    body = "".join(
        f"""---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-{i:05d}}}
spec:
  ocppIdentity: CP-{i:05d}
  location: site
  ocppVersion: "1.6"
  rebootPolicy: WhenIdle
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
  configuration:
{keys}"""
        for i in range(chargers)
    )
    (fleet / "fleet.yaml").write_text(head + body)
    return fleet


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _synced(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute(
                "SELECT count(*) FROM charger_conditions WHERE type = 'Synced' AND status = 'True'"
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def _calls_sent(metrics_url: str) -> int:
    text = urllib.request.urlopen(metrics_url, timeout=30).read().decode()
    total = 0.0
    for line in text.splitlines():
        sent_call = 'direction="sent"' in line and 'type="call"' in line
        if line.startswith("chargectl_ocpp_messages_total{") and sent_call:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("server did not start")


async def run(chargers: int, deadline: float) -> dict[str, float]:
    from controller.checking import check_paths
    from controller.simulator import SimClock, chargers_from_fleet, run_simulation
    from controller.simulator.profile import DEFAULT_PROFILE

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fleet = _fleet(root, chargers)
        db = root / "bench.db"
        port, http = _free_port(), _free_port()
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("chargectl")),
                "serve",
                str(fleet),
                "--listen",
                f"127.0.0.1:{port}",
                "--http",
                f"127.0.0.1:{http}",
                "--store",
                f"sqlite:///{db}",
                "--log-level",
                "warning",
                "--resync",
                "3600",
            ]
        )
        try:
            await _wait_listening(port, server)
            loaded = check_paths([fleet]).fleet
            profile = dataclasses.replace(
                DEFAULT_PROFILE,
                overrides={key: start for key, (_, start) in DECLARED.items()},
                reboot_seconds=1.0,
                validate_messages=False,
                ignored=frozenset(),
            )
            sims = chargers_from_fleet(
                loaded, f"ws://127.0.0.1:{port}/ocpp", profile=profile, clock=SimClock(1.0)
            )
            started = time.perf_counter()
            simulation = asyncio.create_task(
                run_simulation(sims, stagger=min(20.0, chargers / 500))
            )
            converged = None
            while time.perf_counter() - started < deadline:
                await asyncio.sleep(1.0)
                if _synced(db) >= chargers:
                    converged = time.perf_counter() - started
                    break
            calls = _calls_sent(f"http://127.0.0.1:{http}/metrics")
            peak = _peak_rss_mb(server.pid)
            simulation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await simulation
        finally:
            server.terminate()
            server.wait(60)
    return {
        "chargers": chargers,
        "seconds": converged if converged is not None else float("nan"),
        "synced": _synced(db) if db.exists() else chargers if converged else 0,
        "calls": calls,
        "minimum": CALLS_PER_CHARGER * chargers,
        "peak_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after seconds")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    rows = [asyncio.run(run(n, args.deadline)) for n in args.chargers]
    print(
        f"\n{'chargers':>9} {'converged s':>12} {'OCPP calls':>11} {'minimum':>8} "
        f"{'ratio':>6} {'server peak MB':>15}"
    )
    for r in rows:
        print(
            f"{r['chargers']:9.0f} {r['seconds']:12.1f} {r['calls']:11.0f} {r['minimum']:8.0f}"
            f" {r['calls'] / r['minimum']:6.2f} {r['peak_mb']:15.0f}"
        )
    print("\ngoal: 10,000 chargers converged in under 60 s; calls no more than the minimum")


if __name__ == "__main__":
    main()
