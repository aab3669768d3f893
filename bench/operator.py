"""`chargectl operator` on a fleet of custom resources: time to Synced=True, status patches.

    python bench/operator.py                         # 10,000 chargers
    python bench/operator.py --chargers 1000 --runs 3
    python bench/operator.py --chargers 50 --window 60 --settle 20

Three kinds of process, so the load generator stays out of the server's:

- the Kubernetes API: kmock's emulator (`tests/kube.py`'s registration: our six CRDs for
  discovery, namespaces, Secrets, Events) in a child process of its own (this file with
  `--emulator PORT`), which also counts the PATCH requests to `.../status` it serves and
  answers `/_bench/stats` (counts, and how many chargers show Synced=True) from its memory;
- `chargectl operator --kube-url` in its own process, SQLite store in a temporary directory;
- this process: creates the resources over HTTP (one Team; a Location per 50 chargers, each
  with a PowerLimit over its chargers and 5 Cards it accepts by name; the Chargers, each with
  six declared keys the chargers start with at other values, one of which needs a reboot, as
  bench/converge.py), then starts the operator and runs the chargers (bench/lean_charger.py,
  plus heartbeats, charging profiles and a local list version, below).

Reported (medians over `--runs`):

- seconds from the operator's start until every Charger shows Synced=True in its status, as
  read from the emulator's objects every second;
- status patches to converge: PATCH requests to `/status` the emulator served until `--settle`
  seconds after that (so the trailing Location/Team summaries count), per charger, for the
  Chargers alone and for all kinds together (Locations and Teams are summed into it);
- status patches per charger per hour once steady: all PATCHes to `/status` over a window of
  `--window` seconds, divided by the chargers, scaled to an hour. Time is not compressed (the
  operator has no clock to speed up), so to let the window see what an hour does, the chargers
  are declared `heartbeatInterval: --heartbeat` (60 s: every charger heartbeats several times
  in the window) and the operator runs with `--resync` (120 s: a convergence pass over every
  in-sync charger, also several in the window). One thing no window of minutes can show: the
  status writer refreshes `reported.lastHeartbeat` on its own every 6 hours, 1/6 patch per
  charger per hour by design, printed as "+ refresh";
- the operator's peak resident memory (VmHWM), and the CPU it and the emulator used.

kmock specifics that bound what this shows: see `tests/kube.py`. The emulator keeps every
request it served and matches each new one against all of them (O(requests) per request);
this bench's emulator forgets served requests (it counts what it needs), or the emulator, not
the operator, is what a 10,000-charger run measures. kmock bumps no resourceVersion, so the
operator's watch events are not filtered by version; every watch (re)connection streams every
object again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from harness import free_port, wait_listening
from lean_charger import LeanCharger, run_lean
from websockets.exceptions import InvalidHandshake

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "default"
GROUP = "/apis/chargectl.io/v1alpha1"
PER_LOCATION = 50
CARDS_PER_LOCATION = 5
HEARTBEAT_REFRESH_PER_HOUR = 1 / 6
"""The status writer's own `reported.lastHeartbeat` refresh (StatusOptions.heartbeat_refresh)."""

DECLARED = {
    "MeterValueSampleInterval": ("30", "60"),
    "ConnectionTimeOut": ("90", "60"),
    "ClockAlignedDataInterval": ("900", "0"),
    "LightIntensity": ("70", "100"),
    "WebSocketPingInterval": ("45", "60"),
}
"""Declared value, and the value the chargers start with (HeartbeatInterval is added)."""
REBOOT_KEYS = frozenset({"WebSocketPingInterval"})


# --- the emulator, in its own process -------------------------------------------------------


def serve_emulator(port: int) -> None:
    """The child: kmock with our kinds registered (tests/kube.py), on 127.0.0.1:`port`."""
    sys.path.insert(0, str(REPO))
    import attrs
    import kmock
    from aiohttp import web

    from tests.kube import CORE_KINDS, Cluster

    chargers_resource = kmock.resource("chargectl.io/v1alpha1/chargers")

    @attrs.define(kw_only=True)
    class Emulator(kmock.KubernetesEmulator):  # type: ignore[misc]
        inflight: dict[int, Any] = attrs.field(factory=dict, init=False)
        patches: Counter[str] = attrs.field(factory=Counter, init=False)
        by_object: Counter[str] = attrs.field(factory=Counter, init=False)
        served: Counter[str] = attrs.field(factory=Counter, init=False)

        async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
            if raw.path == "/_bench/stats":
                return web.json_response(self.stats())
            self.served[raw.method] += 1
            if raw.method == "PATCH" and raw.path.endswith("/status"):
                parts = raw.path.split("/")
                self.patches[parts[-3]] += 1
                self.by_object[f"{parts[-3]}/{parts[-2]}"] += 1
            try:
                return await super().__call__(raw)
            finally:
                self._requests.clear()  # see __iter__

        async def _handle(self, request: Any) -> web.StreamResponse:
            self.inflight[id(request)] = request
            try:
                return await super()._handle(request)
            finally:
                self.inflight.pop(id(request), None)

        def __iter__(self) -> Any:
            # kmock matches a request by looking for it among every request served so far:
            # only the ones being handled are kept, so that costs O(in flight), not O(served).
            yield from list(self.inflight.values())

        def stats(self) -> dict[str, Any]:
            synced = chargers = 0
            for (kind, _, _), stored in self.objects.items():
                if kind != chargers_resource or stored.deleted:
                    continue
                chargers += 1
                conditions = (stored.raw.get("status") or {}).get("conditions") or []
                synced += any(
                    c.get("type") == "Synced" and c.get("status") == "True" for c in conditions
                )
            return {
                "chargers": chargers,
                "synced": synced,
                "patches": dict(self.patches),
                "most_per_object": dict(_most(self)),
                "served": dict(self.served),
            }

    def _most(emulator: Emulator) -> Counter[str]:
        most: Counter[str] = Counter()
        for key, count in emulator.by_object.items():
            kind = key.split("/", 1)[0]
            most[kind] = max(most[kind], count)
        return most

    async def main() -> None:
        async with Emulator() as emulator, kmock.Server(emulator, port=port) as server:
            cluster = Cluster(emulator, server, NAMESPACE)
            for kind in CORE_KINDS:
                cluster.register(kind)
            cluster.register_crds()
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# --- the fleet, created over HTTP ----------------------------------------------------------


def fleet(chargers: int, heartbeat: int) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, document) for every resource, Team first, Chargers last."""
    ns = f"/namespaces/{NAMESPACE}"
    team = {"kind": "Team", "metadata": {"name": "bench"}}
    team["spec"] = {"displayName": "Bench", "handle": "bench"}
    documents: list[tuple[str, dict[str, Any]]] = [(f"{GROUP}{ns}/teams", team)]
    locations = max(1, -(-chargers // PER_LOCATION))
    configuration = {key: value for key, (value, _) in DECLARED.items()}
    for site in range(locations):
        name = f"site-{site:04d}"
        cards = [f"card-{site:04d}-{c}" for c in range(CARDS_PER_LOCATION)]
        for c, card in enumerate(cards):
            spec = {"idTag": f"{site:08X}{c:04X}", "team": "bench", "holder": {"name": card}}
            documents.append(
                (f"{GROUP}{ns}/cards", {"kind": "Card", "metadata": {"name": card}, "spec": spec})
            )
        location = {
            "team": "bench",
            "displayName": f"Site {site}",
            "acceptedCards": {"names": cards},
        }
        documents.append(
            (
                f"{GROUP}{ns}/locations",
                {"kind": "Location", "metadata": {"name": name}, "spec": location},
            )
        )
        limit = {"location": name, "limit": {"currentPerPhase": 250}, "phases": 3}
        documents.append(
            (
                f"{GROUP}{ns}/powerlimits",
                {"kind": "PowerLimit", "metadata": {"name": f"{name}-grid"}, "spec": limit},
            )
        )
    for i in range(chargers):
        spec = {
            "ocppIdentity": f"CP-{i:05d}",
            "location": f"site-{i // PER_LOCATION:04d}",
            "ocppVersion": "1.6",
            "connectors": [{"id": 1, "type": "Type2", "maxCurrent": 32, "phases": 3}],
            "rebootPolicy": "WhenIdle",
            "settings": {"heartbeatInterval": heartbeat},
            "configuration": configuration,
        }
        documents.append(
            (
                f"{GROUP}{ns}/chargers",
                {"kind": "Charger", "metadata": {"name": f"cp-{i:05d}"}, "spec": spec},
            )
        )
    return documents


async def create(url: str, documents: list[tuple[str, dict[str, Any]]]) -> None:
    """POST every document with the metadata an API server would give it (kmock does not)."""
    slots = asyncio.Semaphore(16)
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    async with aiohttp.ClientSession(url) as session:

        async def post(revision: int, path: str, document: dict[str, Any]) -> None:
            document["apiVersion"] = "chargectl.io/v1alpha1"
            document["metadata"].update(
                namespace=NAMESPACE,
                uid=str(uuid.uuid4()),
                creationTimestamp=now,
                generation=1,
                resourceVersion=str(revision),
            )
            async with slots, session.post(path, json=document) as reply:
                if reply.status >= 400:
                    raise SystemExit(f"POST {path}: {reply.status} {await reply.text()}")

        await asyncio.gather(*(post(i + 1, path, doc) for i, (path, doc) in enumerate(documents)))


async def stats(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_bench/stats") as reply:
        found: dict[str, Any] = await reply.json()
        return found


# --- the chargers -----------------------------------------------------------------------------


class BenchCharger(LeanCharger):
    """The lean charger, plus what this fleet asks of it: Heartbeat at its HeartbeatInterval,
    charging profiles accepted, and the local list version it was last sent."""

    list_version: int = 0
    heartbeats: int = 0

    async def _session(self) -> bool:
        """A handshake the server drops or refuses (busy, or the fleet not read yet) is
        tried again, as a real charger does."""
        try:
            return await super()._session()
        except InvalidHandshake:
            return False

    async def _read(self, ws: Any) -> bool:
        beat = asyncio.create_task(self._beat(ws))
        try:
            return await super()._read(ws)
        finally:
            beat.cancel()

    async def _beat(self, ws: Any) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(float(self.configuration.get("HeartbeatInterval", "300")))
                await self._call(ws, "Heartbeat", {})
                self.heartbeats += 1

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if action in ("SetChargingProfile", "ClearChargingProfile"):
            return {"status": "Accepted"}
        if action == "GetLocalListVersion":
            return {"listVersion": self.list_version}
        if action == "SendLocalList":
            self.list_version = int(payload.get("listVersion", 0))
            return {"status": "Accepted"}
        return super()._answer(action, payload)


# --- one run ----------------------------------------------------------------------------------


def _proc(pid: int) -> tuple[float, float]:
    """(peak RSS MB, CPU seconds) of a running process, from /proc."""
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return peak, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sum(counts: dict[str, int]) -> int:
    return sum(counts.values())


async def run(n: int, args: argparse.Namespace) -> dict[str, float]:
    kube_port = free_port()
    emulator = subprocess.Popen([sys.executable, __file__, "--emulator", str(kube_port)])
    kube = f"http://127.0.0.1:{kube_port}"
    operator: subprocess.Popen[bytes] | None = None
    simulation: asyncio.Task[None] | None = None
    try:
        await wait_listening(kube_port, emulator)
        began = time.perf_counter()
        await create(kube, fleet(n, args.heartbeat))
        print(f"{n} chargers: resources created in {time.perf_counter() - began:.1f} s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            port, http = free_port(), free_port()
            command = [
                str(Path(sys.executable).with_name("chargectl")),
                "operator",
                "--kube-url",
                kube,
                "-n",
                NAMESPACE,
                "--listen",
                f"127.0.0.1:{port}",
                "--http",
                f"127.0.0.1:{http}",
                "--admin",
                "off",
                "--store",
                f"sqlite:///{Path(tmp) / 'bench.db'}",
                "--log-level",
                "warning",
                "--resync",
                str(args.resync),
            ]
            started = time.perf_counter()
            operator = subprocess.Popen(command)
            await wait_listening(port, operator)
            listening = time.perf_counter() - started
            chargers = [
                BenchCharger(
                    identity=f"CP-{i:05d}",
                    url=f"ws://127.0.0.1:{port}/ocpp",
                    configuration={
                        "HeartbeatInterval": "300",
                        **{key: start for key, (_, start) in DECLARED.items()},
                    },
                    reboot_keys=REBOOT_KEYS,
                )
                for i in range(n)
            ]
            simulation = asyncio.create_task(run_lean(chargers, min(20.0, n / 500)))
            converged = float("nan")
            while time.perf_counter() - started < args.deadline:
                await asyncio.sleep(1.0)
                now = await stats(kube)
                if now["synced"] >= n:
                    converged = time.perf_counter() - started
                    break
                if simulation.done():
                    simulation.result()
            at_converged = await stats(kube)
            print(
                f"{n} chargers: Synced {at_converged['synced']}/{n} after"
                f" {time.perf_counter() - started:.0f} s; status patches so far"
                f" {at_converged['patches']}",
                flush=True,
            )
            await asyncio.sleep(args.settle)
            before = await stats(kube)
            beats_before = sum(c.heartbeats for c in chargers)
            await asyncio.sleep(args.window)
            after = await stats(kube)
            beats = sum(c.heartbeats for c in chargers) - beats_before
            peak, operator_cpu = _proc(operator.pid)
            _, emulator_cpu = _proc(emulator.pid)
            window = {k: v - before["patches"].get(k, 0) for k, v in after["patches"].items()}
            print(
                f"{n} chargers: to converge (+{args.settle:.0f} s) patches {before['patches']},"
                f" most on one object {before['most_per_object']}; in the {args.window:.0f} s"
                f" window {window} with {beats} heartbeats; still Synced {after['synced']};"
                f" requests served {after['served']}",
                flush=True,
            )
    finally:
        if simulation is not None:
            simulation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await simulation  # whatever it died of, the child processes still go
        for process in (operator, emulator):
            if process is not None:
                process.terminate()
                process.wait(60)
    scale = 3600 / args.window / n
    return {
        "chargers": n,
        "seconds": converged,
        "listening": listening,
        "charger_patches": before["patches"].get("chargers", 0) / n,
        "all_patches": _sum(before["patches"]) / n,
        "steady_hour": _sum(window) * scale,
        "steady_charger_hour": window.get("chargers", 0) * scale,
        "heartbeats_hour": beats * scale,
        "peak_mb": peak,
        "operator_cpu": operator_cpu,
        "emulator_cpu": emulator_cpu,
    }


def _table(rows: list[dict[str, float]], runs: int) -> None:
    print(
        f"\nmedians of {runs} run(s)\n{'chargers':>8} {'synced s':>9} {'patches/ch':>11}"
        f" {'(chargers)':>11} {'steady/ch/h':>12} {'(chargers)':>11} {'beats/ch/h':>11}"
        f" {'operator MB':>12} {'op CPU s':>9} {'kmock CPU s':>12}"
    )
    for r in rows:
        print(
            f"{r['chargers']:8.0f} {r['seconds']:9.1f} {r['all_patches']:11.2f}"
            f" {r['charger_patches']:11.2f} {r['steady_hour']:12.2f}"
            f" {r['steady_charger_hour']:11.2f} {r['heartbeats_hour']:11.0f}"
            f" {r['peak_mb']:12.0f} {r['operator_cpu']:9.1f} {r['emulator_cpu']:12.1f}"
        )
    print(
        f"steady/ch/h + refresh: add {HEARTBEAT_REFRESH_PER_HOUR:.2f} for the 6-hourly"
        " lastHeartbeat refresh no window of minutes sees"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, nargs="*", default=[10_000])
    parser.add_argument("--runs", type=int, default=1, help="runs per size; medians reported")
    parser.add_argument("--deadline", type=float, default=1200.0, help="give up after seconds")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after Synced")
    parser.add_argument("--window", type=float, default=180.0, help="steady window, seconds")
    parser.add_argument("--heartbeat", type=int, default=60, help="declared heartbeatInterval")
    parser.add_argument("--resync", type=float, default=120.0, help="the operator's --resync")
    parser.add_argument("--emulator", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emulator is not None:
        serve_emulator(args.emulator)
        return
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    from controller.runtime.serve import event_loop_factory

    results: dict[int, list[dict[str, float]]] = {n: [] for n in args.chargers}
    for _ in range(args.runs):
        for n in args.chargers:
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                results[n].append(runner.run(run(n, args)))
    rows = [
        {k: statistics.median(r[k] for r in results[n]) for k in results[n][0]} for n in results
    ]
    _table(rows, args.runs)
    print("goals: <= 3 status patches per charger to converge, <= 1 per charger per hour steady")


if __name__ == "__main__":
    main()
