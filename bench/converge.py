"""How long a drifted fleet takes to converge, and how many OCPP calls it costs.

    python bench/converge.py                    # 1,000 then 10,000 chargers
    python bench/converge.py --chargers 2000
    python bench/converge.py --runs 3 --baseline ../base   # interleaved with another commit

`chargectl serve` runs in its own process with a generated fleet; this process runs the
simulated chargers (the same simulator as the demo). Every charger connects with five declared
keys at other values and one more (WebSocketPingInterval) that answers RebootRequired, so each
needs six changes, a read-back, a soft reset and a verification after it boots again, plus
the local authorisation list check before and after.

Reported: the time from the first connection until every charger is Synced (read from the
store's conditions), the OCPP calls the central system sent (from /metrics) against the
minimum the plan needs (12 a charger, see CALLS_PER_CHARGER),
and the server's peak resident memory. Figures for a note, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from harness import free_port, wait_listening, write_fleet
from lean_charger import LeanCharger, run_lean

CALLS_PER_CHARGER = 12
"""What the plan needs: GetConfiguration, 6 changes, the read-back, Reset, GetConfiguration
after the reboot, and GetLocalListVersion before and after it (the local list check)."""

DECLARED = {
    "HeartbeatInterval": ("600", "300"),
    "MeterValueSampleInterval": ("30", "60"),
    "ConnectionTimeOut": ("90", "60"),
    "ClockAlignedDataInterval": ("900", "0"),
    "LightIntensity": ("70", "100"),
    "WebSocketPingInterval": ("45", "60"),
}
"""Declared value, and the value the simulated chargers start with."""
REBOOT_KEYS = frozenset({"WebSocketPingInterval"})
"""Keys the chargers answer RebootRequired for (the full simulator's profile says the same)."""


def _synced(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute(
                "SELECT count(*) FROM charger_conditions WHERE type = 'Synced' AND status = 'True'"
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def _calls_sent(metrics_url: str) -> dict[str, int]:
    """CALLs the central system sent, by action."""
    text = urllib.request.urlopen(metrics_url, timeout=30).read().decode()
    calls: dict[str, int] = {}
    for line in text.splitlines():
        sent_call = 'direction="sent"' in line and 'type="call"' in line
        if line.startswith("chargectl_ocpp_messages_total{") and sent_call:
            action = line.split('action="', 1)[1].split('"', 1)[0]
            calls[action] = calls.get(action, 0) + int(float(line.rsplit(" ", 1)[1]))
    return calls


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (from /proc, so it works for a child still running)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _profile(pid: int) -> subprocess.Popen[bytes] | None:
    """With BENCH_PROFILE=FILE, py-spy samples the server into FILE (collapsed stacks)."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "-o", out, "-r", "100"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _full_simulation(fleet: Path, port: int, stagger: float) -> Coroutine[Any, Any, None]:
    """The demo's simulator (controller.simulator) as the chargers, ready to start."""
    from controller.fleet.checking import check_paths
    from controller.simulator import SimClock, chargers_from_fleet, run_simulation
    from controller.simulator.profile import DEFAULT_PROFILE

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
    return run_simulation(sims, stagger=stagger)


async def run(
    chargers: int, deadline: float, simulator: str, tree: Path | None = None
) -> dict[str, float]:
    """One convergence of `chargers`; the server is this checkout's `chargectl`, or the one
    in `tree` (another checkout, e.g. a `git worktree` of an older commit) when given."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        keys = "".join(f"    {key}: {value}\n" for key, (value, _) in DECLARED.items())
        fleet = write_fleet(root, chargers, keys)
        db = root / "bench.db"
        port, http = free_port(), free_port()
        if tree is None:
            command = [str(Path(sys.executable).with_name("chargectl"))]
            environment = None
        else:
            command = [sys.executable, "-c", "from controller.cli.app import main; main()"]
            environment = {**os.environ, "PYTHONPATH": str(tree.resolve())}
        server = subprocess.Popen(
            [
                *command,
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
            ],
            env=environment,
        )
        try:
            await wait_listening(port, server)
            profiler = _profile(server.pid)
            stagger = min(20.0, chargers / 500)
            if simulator == "lean":
                lean = [
                    LeanCharger(
                        identity=f"CP-{i:05d}",
                        url=f"ws://127.0.0.1:{port}/ocpp",
                        configuration={key: start for key, (_, start) in DECLARED.items()},
                        reboot_keys=REBOOT_KEYS,
                    )
                    for i in range(chargers)
                ]
                work = run_lean(lean, stagger)
            else:
                work = _full_simulation(fleet, port, stagger)
            started = time.perf_counter()
            server_cpu_before = _cpu_seconds(server.pid)
            sim_cpu_before = time.process_time()
            simulation = asyncio.create_task(work)
            converged = None
            while time.perf_counter() - started < deadline:
                await asyncio.sleep(1.0)
                if _synced(db) >= chargers:
                    converged = time.perf_counter() - started
                    break
            by_action = _calls_sent(f"http://127.0.0.1:{http}/metrics")
            calls = sum(by_action.values())
            print(f"{chargers} chargers, calls by action: {by_action}", flush=True)
            peak = _peak_rss_mb(server.pid)
            server_cpu = _cpu_seconds(server.pid) - server_cpu_before
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(60)
            sim_cpu = time.process_time() - sim_cpu_before
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
        "server_cpu": server_cpu,
        "sim_cpu": sim_cpu,
    }


def _run(work: Coroutine[Any, Any, dict[str, float]]) -> dict[str, float]:
    """The chargers' side on the same event loop `chargectl serve` uses (uvloop where it
    installs): the load generator shares the machine's two cores with the server, and should
    take as little of them as it can."""
    from controller.runtime.serve import event_loop_factory

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(work)


def _table(title: str, rows: list[dict[str, float]]) -> None:
    print(
        f"\n{title}\n{'chargers':>9} {'converged s':>12} {'OCPP calls':>11} {'minimum':>8} "
        f"{'ratio':>6} {'server peak MB':>15} {'server CPU s':>13} {'sim CPU s':>10}"
    )
    for r in rows:
        print(
            f"{r['chargers']:9.0f} {r['seconds']:12.1f} {r['calls']:11.0f} {r['minimum']:8.0f}"
            f" {r['calls'] / r['minimum']:6.2f} {r['peak_mb']:15.0f}"
            f" {r['server_cpu']:13.1f} {r['sim_cpu']:10.1f}"
        )


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument(
        "--simulator",
        choices=["lean", "full"],
        default="lean",
        help="lean: bench/lean_charger.py (cheap load); full: the demo's simulator",
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after seconds")
    parser.add_argument("--runs", type=int, default=1, help="runs per size; medians reported")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit (git worktree add DIR COMMIT) to run interleaved "
        "with this one, for a ratio measured in the same go",
    )
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    ours: dict[int, list[dict[str, float]]] = {n: [] for n in args.chargers}
    theirs: dict[int, list[dict[str, float]]] = {n: [] for n in args.chargers}
    for _ in range(args.runs):
        for n in args.chargers:
            if args.baseline is not None:
                theirs[n].append(_run(run(n, args.deadline, args.simulator, args.baseline)))
            ours[n].append(_run(run(n, args.deadline, args.simulator)))
    _table("this checkout (medians)", [_median(ours[n]) for n in args.chargers])
    if args.baseline is not None:
        _table(f"baseline {args.baseline} (medians)", [_median(theirs[n]) for n in args.chargers])
        print("\nthis / baseline, medians:")
        for n in args.chargers:
            a, b = _median(ours[n]), _median(theirs[n])
            print(
                f"{n:9d} chargers: converged {a['seconds'] / b['seconds']:.2f}x, "
                f"server CPU {a['server_cpu'] / b['server_cpu']:.2f}x, "
                f"peak memory {a['peak_mb'] / b['peak_mb']:.2f}x"
            )
    print("\ngoal: 10,000 chargers converged in under 60 s; calls no more than the minimum")


if __name__ == "__main__":
    main()
