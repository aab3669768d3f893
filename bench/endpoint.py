"""The OCPP endpoint under load, against a bare `ocpp`-library central system, in one go.

    python bench/endpoint.py                      # 10,000 chargers, 5 Heartbeats + 1 status each
    python bench/endpoint.py --chargers 2000 --messages 10

For each server (chargectl serve with its SQLite store, then the baseline: the `ocpp` library's
ChargePoint answering only BootNotification and Heartbeat, storing nothing), in its own process:

1. N raw websocket chargers connect and boot (connections accepted per second);
2. they go idle: the server's resident memory per connection is measured;
3. each sends Heartbeats (and, for chargectl, a StatusNotification) back to back, all chargers
   at once: messages per second, p50/p99 round-trip latency, and the server's CPU time per
   message (from /proc: user + system time of the server process over the phase).

The load comes from this process, with raw frames (no OCPP library on the client side) so the
client costs little. Prints a table and the chargectl / baseline ratios. Figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import free_port, wait_listening, write_fleet
from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

BASELINE = """
import asyncio, sys, datetime, resource
from websockets.asyncio.server import serve
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import RegistrationStatus

resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))

class CentralSystem(ChargePoint):
    @on("BootNotification")
    async def boot(self, charge_point_vendor, charge_point_model, **kw):
        return call_result.BootNotification(
            current_time=datetime.datetime.now(datetime.timezone.utc).isoformat(),
            interval=300, status=RegistrationStatus.accepted)

    @on("Heartbeat")
    async def heartbeat(self):
        return call_result.Heartbeat(
            current_time=datetime.datetime.now(datetime.timezone.utc).isoformat())

async def handler(ws):
    cp = CentralSystem(ws.request.path.rsplit("/", 1)[-1], ws)
    try:
        await cp.start()
    except Exception:
        pass

async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), subprotocols=["ocpp1.6"],
                     compression=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


@dataclass
class Result:
    name: str
    connect_rate: float
    messages_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_message: float
    rss_per_connection_kb: float
    messages: int


async def _exchange(ws: ClientConnection, frame: str) -> float:
    started = time.perf_counter()
    await ws.send(frame)
    reply = await ws.recv()
    elapsed = time.perf_counter() - started
    if not isinstance(reply, str) or not reply.startswith("[3"):
        raise SystemExit(f"unexpected reply {reply!r}")
    return elapsed


async def _load(
    name: str, url: str, pid: int, chargers: int, messages: int, with_status: bool
) -> Result:
    boot = json.dumps(
        [2, "b", "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B1"}]
    )
    rss_before = _rss_bytes(pid)
    connections: list[ClientConnection] = []
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(200)  # connect in waves: a SYN flood measures nothing

    async def open_one(i: int) -> ClientConnection:
        async with semaphore:
            ws = await connect(
                f"{url}/CP-{i:05d}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                compression=None,
                ping_interval=None,
                open_timeout=120,
                max_queue=4,
            )
            await _exchange(ws, boot)
            return ws

    connections = list(await asyncio.gather(*(open_one(i) for i in range(chargers))))
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(2)
    rss_idle = _rss_bytes(pid)

    heartbeat = json.dumps([2, "h", "Heartbeat", {}])
    status = json.dumps(
        [
            2,
            "s",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        ]
    )
    latencies: list[float] = []

    async def talk(ws: ClientConnection) -> None:
        for _ in range(messages):
            latencies.append(await _exchange(ws, heartbeat))
        if with_status:
            latencies.append(await _exchange(ws, status))

    cpu_before = _cpu_seconds(pid)
    started = time.perf_counter()
    await asyncio.gather(*(talk(ws) for ws in connections))
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(pid) - cpu_before
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    latencies.sort()
    count = len(latencies)
    return Result(
        name=name,
        connect_rate=chargers / connect_seconds,
        messages_per_second=count / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(count - 1, int(count * 0.99))] * 1000,
        cpu_us_per_message=cpu / count * 1e6,
        rss_per_connection_kb=(rss_idle - rss_before) / chargers / 1024,
        messages=count,
    )


async def _run_chargectl(root: Path, chargers: int, messages: int) -> Result:
    port = free_port()
    fleet = write_fleet(root, chargers)
    chargectl = str(Path(sys.executable).with_name("chargectl"))
    process = subprocess.Popen(
        [
            chargectl,
            "serve",
            str(fleet),
            "--listen",
            f"127.0.0.1:{port}",
            "--store",
            f"sqlite:///{root / 'bench.db'}",
            "--log-level",
            "warning",
            "--no-reconcile",  # measures the endpoint: the raw chargers answer no commands
            "--http",
            "off",
        ],
    )
    try:
        await wait_listening(port, process)
        return await _load(
            "chargectl",
            f"ws://127.0.0.1:{port}/ocpp",
            process.pid,
            chargers,
            messages,
            with_status=True,
        )
    finally:
        process.terminate()
        process.wait(30)


async def _run_baseline(chargers: int, messages: int) -> Result:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", BASELINE, str(port)], stdout=subprocess.DEVNULL
    )
    try:
        await wait_listening(port, process)
        return await _load(
            "ocpp library (baseline)",
            f"ws://127.0.0.1:{port}/ocpp",
            process.pid,
            chargers,
            messages,
            with_status=False,
        )
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=5, help="Heartbeats per charger")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.chargers + 100 > hard:
        raise SystemExit(f"open file limit {hard} is too low for {args.chargers} chargers")
    with tempfile.TemporaryDirectory() as tmp:
        ours = asyncio.run(_run_chargectl(Path(tmp), args.chargers, args.messages))
    base = asyncio.run(_run_baseline(args.chargers, args.messages))
    print(
        f"\n{args.chargers} chargers, {args.messages} Heartbeats each"
        " (+1 StatusNotification for chargectl)\n"
    )
    header = f"{'server':26} {'conn/s':>8} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    header += f" {'CPU us/msg':>11} {'KB/conn':>8}"
    print(header)
    for r in (ours, base):
        print(
            f"{r.name:26} {r.connect_rate:8.0f} {r.messages_per_second:8.0f} {r.p50_ms:8.2f}"
            f" {r.p99_ms:8.2f} {r.cpu_us_per_message:11.1f} {r.rss_per_connection_kb:8.1f}"
        )
    print(
        f"\nCPU per message, chargectl / baseline: "
        f"{ours.cpu_us_per_message / base.cpu_us_per_message:.2f} (goal <= 0.33)"
    )
    print(f"memory per idle connection, chargectl: {ours.rss_per_connection_kb:.1f} KB (goal < 50)")


if __name__ == "__main__":
    main()
