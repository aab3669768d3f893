"""What the store costs per OCPP message, against what the `ocpp` library itself costs.

    python bench/store.py                                  # SQLite file, 10,000 chargers
    python bench/store.py --url postgresql://postgres@127.0.0.1:5432/bench
    python bench/store.py --chargers 2000 --rounds 3

In one process, timed with the process's CPU clock (all threads: aiosqlite works in one):

1. baseline: the `ocpp` library's ChargePoint routing a Heartbeat and a StatusNotification
   (parse, validate, handler, validate, serialise), with a transport that does nothing;
2. hot path: what the endpoint asks of the store per such message (heartbeat or status, plus
   the request and the reply in the message log), for every charger, `--rounds` times, flushes
   included: the write-behind buffer at work;
3. reconnection storm: every charger connects and boots (record_connected, record_boot and
   two events, all buffered), flushes included;
4. transactions: start and stop, each committed before returning.

For PostgreSQL the server's own CPU is not in these figures (another process). Results are
figures for a note, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.store.sql import SqlStore  # noqa: E402
from controller.values.records import (  # noqa: E402
    BootInfo,
    ConnectorStatus,
    Direction,
    Event,
    LogEntry,
    MessageType,
    TransactionStart,
    TransactionStop,
)


class _NoTransport:
    async def send(self, message: str) -> None:
        pass

    async def recv(self) -> str:
        await asyncio.Event().wait()
        return ""


async def ocpp_baseline(messages: int) -> float:
    """CPU µs the ocpp library spends per incoming call, half Heartbeat, half status."""
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result

    class Central(ChargePoint):
        @on("Heartbeat")
        async def heartbeat(self) -> Any:
            return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

        @on("StatusNotification")
        async def status(self, **_: Any) -> Any:
            return call_result.StatusNotification()

    central = Central("CP-1", _NoTransport())
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
    heartbeat: list[Any] = ["Heartbeat", {}]
    notification: list[Any] = ["StatusNotification", status]
    frames = [
        json.dumps([2, str(n), *(heartbeat if n % 2 else notification)]) for n in range(messages)
    ]
    started = time.process_time()
    for raw in frames:
        await central.route_message(raw)
    return (time.process_time() - started) / messages * 1e6


def _frame(identity: str, n: int, direction: Direction) -> LogEntry:
    kind = MessageType.CALL if direction is Direction.RECEIVED else MessageType.CALL_RESULT
    text = f'[2,"{n}","Heartbeat",{{}}]' if kind is MessageType.CALL else f'[3,"{n}",{{}}]'
    return LogEntry(identity, datetime.now(UTC), direction, kind, str(n), text, "Heartbeat")


async def hot_path(store: SqlStore, identities: list[str], rounds: int) -> tuple[float, float]:
    """CPU µs per message and messages per second, for heartbeats and status notifications."""
    messages = 0
    started, wall = time.process_time(), time.perf_counter()
    for r in range(rounds):
        for n, identity in enumerate(identities):
            now = datetime.now(UTC)
            if (n + r) % 2:
                await store.record_heartbeat(identity, now)
            else:
                await store.record_status(ConnectorStatus(identity, 1, "Charging", now))
            await store.log_message(_frame(identity, messages, Direction.RECEIVED))
            await store.log_message(_frame(identity, messages, Direction.SENT))
            messages += 1
            if messages % 200 == 0:
                await asyncio.sleep(0)  # a real endpoint awaits its sockets: the flusher runs
    await store.flush()
    cpu, elapsed = time.process_time() - started, time.perf_counter() - wall
    return cpu / messages * 1e6, messages / elapsed


async def per_call(
    calls: list[Callable[[], Awaitable[object]]],
    then: Callable[[], Awaitable[object]] | None = None,
) -> tuple[float, float]:
    """CPU µs and wall µs per call, one call after the other (and `then`, once, included)."""
    started, wall = time.process_time(), time.perf_counter()
    for n, call in enumerate(calls):
        await call()
        if n % 200 == 199:
            await asyncio.sleep(0)  # let the flusher run, as it would between messages
    if then is not None:
        await then()
    n = len(calls)
    return (time.process_time() - started) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


async def run(url: str, chargers: int, rounds: int) -> None:
    identities = [f"CP-{n:05d}" for n in range(chargers)]
    baseline = await ocpp_baseline(20_000)
    print(f"store: {url}\nchargers: {chargers}, rounds: {rounds}\n")
    print(f"ocpp library, per incoming call:            {baseline:8.1f} µs CPU")

    async with SqlStore(url) as store:
        now = datetime.now(UTC)
        boot = BootInfo("Vendor", "Model", "SN", "1.0")

        def storm(identity: str) -> Callable[[], Awaitable[object]]:
            async def connect() -> None:
                await store.record_connected(identity, now, "10.0.0.1:1234", "1.6")
                await store.add_event(Event(now, "Connected", "connected", identity))
                await store.record_boot(identity, boot, now)
                await store.add_event(Event(now, "Booted", "booted", identity, {"s": "x"}))

            return connect

        cpu, wall = await per_call([storm(i) for i in identities], then=store.flush)
        print(f"connect + boot + 2 events, per charger:     {cpu:8.1f} µs CPU {wall:8.1f} µs wall")

        cpu_msg, rate = await hot_path(store, identities, rounds)
        print(
            f"store per heartbeat/status (+2 log rows):   {cpu_msg:8.1f} µs CPU "
            f"({cpu_msg / baseline:.0%} of the ocpp library), {rate:,.0f} messages/s"
        )

        started: list[int] = []

        def start(n: int) -> Callable[[], Awaitable[object]]:
            async def call() -> None:
                transaction = await store.start_transaction(
                    TransactionStart(identities[n % chargers], 1, datetime.now(UTC), n, "TAG")
                )
                started.append(transaction.id)

            return call

        def stop(transaction_id: int) -> Callable[[], Awaitable[object]]:
            async def call() -> None:
                await store.stop_transaction(
                    TransactionStop(
                        identities[(transaction_id - started[0]) % chargers],
                        datetime.now(UTC),
                        transaction_id=transaction_id,
                        meter_stop_wh=10**6,
                    )
                )

            return call

        n = min(chargers, 2000)
        cpu, wall = await per_call([start(k) for k in range(n)])
        print(f"start_transaction:                          {cpu:8.1f} µs CPU {wall:8.1f} µs wall")
        cpu, wall = await per_call([stop(t) for t in started])
        print(f"stop_transaction:                           {cpu:8.1f} µs CPU {wall:8.1f} µs wall")
        print(f"rows dropped from the buffer:               {store.dropped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="store URL (default: a SQLite file in a temp directory)")
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or str(Path(tmp) / "bench.db")
        asyncio.run(run(url, args.chargers, args.rounds))


if __name__ == "__main__":
    main()
