"""The web view at fleet scale: server time per page with 10,000 chargers, 200,000 transactions.

    python bench/web.py                                   # 10,000 chargers, 200,000 transactions
    python bench/web.py --chargers 1000 --transactions 20000 --requests 50
    python bench/web.py --json > web.json
    python bench/web.py --keep                            # leave the server up to look around

Two processes, so the load generator stays out of the server's:

- this one seeds a store once (a SQLite file cached under `--cache` by the parameters, so a
  rerun skips it; or `--store-url`, seeded if it has no transactions yet), then requests the
  pages one after another;
- `chargectl serve FLEET --store URL` (no charger connects), started once the store is seeded
  and asked for /readyz until it answers 200.

The fleet is bench/operator.py's (a Location per 50 chargers, each with a PowerLimit and five
Cards), written as YAML with a timezone per location. Seeding uses the store's batched paths:
charger state and meter values through the write-behind buffer, transactions (which the store
writes one at a time, committed, as chargers start them) as one executemany per 20,000 rows on
the store's engine. Transactions start at random over the last 365 days, 20 minutes to 8 hours
long, 1 to 60 kWh; one charger in ten has an open one, begun within the last three hours, with
a meter sample (power, current per phase, energy register) every five minutes; one stopped
transaction in twenty has samples too.

Each page is requested `--warmup` times, then `--requests` times, sequentially. Server time
is the `Server-Timing: app;dur=<ms>` header the web view sets on every answer; a page without
it is timed by this process's wall clock instead, and the table says so (`client`). A page
answering 404 (not written yet) is skipped and reported. Figures for a note, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from harness import free_port
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.store import open_store, schema  # noqa: E402
from controller.store.bulk import BulkStatement  # noqa: E402
from controller.store.sql import SqlStore  # noqa: E402
from controller.values.records import (  # noqa: E402
    BootInfo,
    ConnectorStatus,
    MeterSample,
)

SEED_VERSION = 2
"""Part of the cache key: bump it when the seeded data changes."""
TIMEZONES = ("Europe/Amsterdam", "Europe/London", "America/New_York", "Asia/Kolkata")
OPEN_SHARE = 10
"""One charger in this many has an open transaction."""
SAMPLED_SHARE = 20
"""One stopped transaction in this many has meter samples."""
SAMPLE_EVERY = timedelta(minutes=5)
TRANSACTION_ROWS = 20_000
SERVER_TIMING = re.compile(r"(?:^|,)\s*app;dur=([0-9.]+)")


def _operator_bench() -> Any:
    """bench/operator.py, whose fleet this bench shares (its name is the stdlib's too)."""
    spec = importlib.util.spec_from_file_location(
        "bench_operator", Path(__file__).parent / "operator.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_fleet(root: Path, chargers: int) -> tuple[Path, list[dict[str, Any]]]:
    """The fleet as YAML under `root/fleet`, and its documents."""
    documents = [document for _, document in _operator_bench().fleet(chargers, 300)]
    locations = 0
    for document in documents:
        document["apiVersion"] = "chargectl.io/v1alpha1"
        if document["kind"] == "Location":
            document["spec"]["timezone"] = TIMEZONES[locations % len(TIMEZONES)]
            locations += 1
    fleet = root / "fleet"
    fleet.mkdir(parents=True, exist_ok=True)
    (fleet / "fleet.yaml").write_text(yaml.dump_all(documents, Dumper=_Quoted, sort_keys=False))
    return fleet, documents


class _Quoted(yaml.SafeDumper):
    """Every string quoted: id tags such as 0000009E0001 would otherwise read back as numbers."""


_Quoted.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
)


# --- seeding ---------------------------------------------------------------------------------


async def seed(url: str, documents: list[dict[str, Any]], transactions: int) -> float:
    """Charger state, transactions and meter samples; returns the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(12)
    now = datetime.now(UTC).replace(microsecond=0)
    chargers = [d for d in documents if d["kind"] == "Charger"]
    id_tags = [d["spec"]["idTag"] for d in documents if d["kind"] == "Card"]
    store = open_store(url)
    async with store:
        assert isinstance(store, SqlStore)
        for n, charger in enumerate(chargers):
            identity = charger["spec"]["ocppIdentity"]
            at = now - timedelta(hours=rng.uniform(1, 48))
            await store.record_connected(identity, at, f"10.0.{n // 250}.{n % 250}:5000", "1.6")
            await store.record_boot(identity, BootInfo("Bench", "Lean", f"SN-{n:05d}", "1.0"), at)
            await store.record_heartbeat(identity, at + timedelta(minutes=50))
            status = "Charging" if n % OPEN_SHARE == 0 else "Available"
            await store.record_status(ConnectorStatus(identity, 1, status, at))
            if n % 7 == 3:  # some offline, for the chargers page's filter
                await store.record_disconnected(identity, at + timedelta(hours=1), "bench")
        await store.flush()

        identities = [c["spec"]["ocppIdentity"] for c in chargers]
        opened = [identities[n] for n in range(0, len(identities), OPEN_SHARE)]
        rows = list(_stopped_rows(rng, now, identities, id_tags, transactions - len(opened)))
        rows.sort(key=lambda row: row["started_at"])
        rows += [_open_row(rng, now, identity, id_tags) for identity in opened]
        columns = tuple(rows[0])
        bulk = BulkStatement(schema.transactions.insert(), store.engine.dialect, columns)
        for start in range(0, len(rows), TRANSACTION_ROWS):
            async with store.engine.begin() as conn:
                await bulk.execute(conn, rows[start : start + TRANSACTION_ROWS])

        tx = schema.transactions
        async with store.engine.connect() as conn:
            stored = list(await conn.execute(tx.select().order_by(tx.c.id)))
        samples: list[MeterSample] = []
        for row in stored:
            if row.stopped_at is None or row.id % SAMPLED_SHARE == 0:
                samples.extend(_samples(row, now))
            if len(samples) >= 50_000:
                await store.add_meter_values(samples)
                await store.flush()
                samples = []
        await store.add_meter_values(samples)
    return time.perf_counter() - started


def _stopped_rows(
    rng: random.Random, now: datetime, identities: list[str], id_tags: list[str], count: int
) -> Iterator[dict[str, Any]]:
    for _ in range(count):
        started = now - timedelta(seconds=rng.uniform(3 * 3600, 365 * 86400))
        stopped = started + timedelta(minutes=rng.uniform(20, 480))
        meter_start = rng.randrange(0, 10_000_000)
        meter_stop = meter_start + rng.randrange(1_000, 60_000)
        yield {
            "identity": rng.choice(identities),
            "connector_id": 1,
            "id_tag": rng.choice(id_tags),
            "started_at": started,
            "meter_start_wh": meter_start,
            "meter_last_wh": meter_stop,
            "updated_at": stopped,
            "stopped_at": stopped,
            "meter_stop_wh": meter_stop,
            "stop_reason": rng.choice(("Local", "EVDisconnected", "Remote")),
            "energy_wh": meter_stop - meter_start,
        }


def _open_row(
    rng: random.Random, now: datetime, identity: str, id_tags: list[str]
) -> dict[str, Any]:
    started = now - timedelta(minutes=rng.uniform(10, 180))
    meter_start = rng.randrange(0, 10_000_000)
    return {
        "identity": identity,
        "connector_id": 1,
        "id_tag": rng.choice(id_tags),
        "started_at": started,
        "meter_start_wh": meter_start,
        "meter_last_wh": meter_start,
        "updated_at": started,
        "stopped_at": None,
        "meter_stop_wh": None,
        "stop_reason": None,
        "energy_wh": None,
    }


def _samples(row: Any, now: datetime) -> Iterator[MeterSample]:
    """Power, current per phase and the register every SAMPLE_EVERY, 11 kW throughout."""
    end = row.stopped_at or now
    at, wh = row.started_at, float(row.meter_start_wh)
    while at <= end:
        sample = {"identity": row.identity, "connector_id": 1, "timestamp": at}
        tx = {"transaction_id": row.id, "context": "Sample.Periodic"}
        yield MeterSample(**sample, value=f"{wh / 1000:.3f}", unit="kWh", **tx)
        yield MeterSample(**sample, value="11040", measurand="Power.Active.Import", unit="W", **tx)
        for phase in ("L1", "L2", "L3"):
            yield MeterSample(
                **sample, value="16.0", measurand="Current.Import", unit="A", phase=phase, **tx
            )
        at += SAMPLE_EVERY
        wh += 11_040 * SAMPLE_EVERY.total_seconds() / 3600


async def stored_transactions(url: str) -> int:
    async with open_store(url) as store:
        assert isinstance(store, SqlStore)
        async with store.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(schema.transactions))
    return int(count or 0)


# --- the server and the requests -------------------------------------------------------------


def start_server(fleet: Path, url: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    http = free_port()
    command = [
        str(Path(sys.executable).parent / "chargectl"),
        "serve",
        str(fleet),
        *("--store", url, "--listen", f"127.0.0.1:{free_port()}"),
        *("--http", f"127.0.0.1:{http}", "--admin", "off", "--log-level", "warning"),
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return process, http


async def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() - started < 600:
            if process.poll() is not None:
                raise SystemExit(f"chargectl serve exited {process.returncode}:\n{_tail(log)}")
            try:
                async with http.get(f"{base}/readyz") as reply:
                    if reply.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"chargectl serve not ready after 600 s:\n{_tail(log)}")


def pages(documents: list[dict[str, Any]]) -> list[str]:
    chargers = [d for d in documents if d["kind"] == "Charger"]
    location = chargers[len(chargers) // 2]["spec"]["location"]
    charger = chargers[len(chargers) // 2]["metadata"]["name"]
    text = chargers[len(chargers) // 3]["spec"]["ocppIdentity"][:-1]  # ten chargers match
    return [
        "/",
        "/chargers",
        f"/chargers?location={location}&connection=offline",
        f"/chargers?q={text}",
        f"/locations/{location}",
        f"/chargers/{charger}",
        "/api/chargers",
        f"/api/locations/{location}",
    ]


async def measure(base: str, paths: list[str], requests: int, warmup: int) -> list[dict[str, Any]]:
    results = []
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for path in paths:
            server: list[float] = []
            client: list[float] = []
            statuses: dict[int, int] = {}
            size = 0
            for n in range(warmup + requests):
                started = time.perf_counter()
                async with http.get(base + path) as reply:
                    body = await reply.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    timing = SERVER_TIMING.search(reply.headers.get("Server-Timing", ""))
                status = reply.status
                if n == 0 and status == 404:
                    break
                if n < warmup:
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                size = len(body)
                client.append(elapsed)
                if timing is not None:
                    server.append(float(timing.group(1)))
            result: dict[str, Any] = {"page": path, "requests": len(client), "statuses": statuses}
            if not client:
                result.update(skipped="404: no such page yet")
            else:
                source = server if len(server) == len(client) else client
                result.update(
                    timing="server" if source is server else "client",
                    p50_ms=_percentile(source, 50),
                    p99_ms=_percentile(source, 99),
                    max_ms=round(max(source), 2),
                    client_p50_ms=_percentile(client, 50),
                    bytes=size,
                )
            results.append(result)
            print(f"  {path}: done", file=sys.stderr)
    return results


def _percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return round(ordered[int(rank) - 1], 2)


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'page':<48} {'n':>5} {'timing':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"
        f" {'client p50':>10} {'bytes':>9}"
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"{r['page']:<48} {'-':>5} skipped: {r['skipped']}")
            continue
        bad = {s: n for s, n in r["statuses"].items() if s != 200}
        lines.append(
            f"{r['page']:<48} {r['requests']:>5} {r['timing']:>7} {r['p50_ms']:>9.2f}"
            f" {r['p99_ms']:>9.2f} {r['max_ms']:>9.2f} {r['client_p50_ms']:>10.2f} {r['bytes']:>9}"
            + (f"  statuses {bad}" if bad else "")
        )
    return "\n".join(lines)


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    key = f"web-v{SEED_VERSION}-{args.chargers}c-{args.transactions}t"
    cache = Path(args.cache) / key
    fleet, documents = write_fleet(cache, args.chargers)
    url = args.store_url or f"sqlite:///{cache / 'store.db'}"
    seeded = None
    if args.store_url is None and not (cache / "seeded").exists():
        for stale in cache.glob("store.db*"):
            stale.unlink()
    if await stored_transactions(url) == 0:
        print(f"seeding {url} ...", file=sys.stderr)
        seeded = round(await seed(url, documents, args.transactions), 1)
        if args.store_url is None:
            (cache / "seeded").write_text(str(seeded))
    log = cache / "serve.log"
    process, port = start_server(fleet, url, log)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = await wait_ready(base, process, log)
        print(f"server ready in {ready:.1f} s at {base}", file=sys.stderr)
        results = await measure(base, pages(documents), args.requests, args.warmup)
    finally:
        if args.keep:
            print(f"server left running at {base} (pid {process.pid}); log {log}", file=sys.stderr)
        else:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    return {
        "chargers": args.chargers,
        "transactions": args.transactions,
        "store": url,
        "seed_seconds": seeded,
        "ready_seconds": round(ready, 1),
        "requests": args.requests,
        "warmup": args.warmup,
        "pages": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200, help="per page, after the warm-up")
    parser.add_argument("--warmup", type=int, default=5, help="requests per page not counted")
    parser.add_argument("--keep", action="store_true", help="leave the server running")
    parser.add_argument("--store-url", help="seed (if empty) and serve this store instead")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "chargectl-bench-web"),
        help="where the fleet and the seeded SQLite file are kept between runs",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    seeded = f" (seeded in {report['seed_seconds']} s)" if report["seed_seconds"] else " (cached)"
    print(
        f"{report['chargers']} chargers, {report['transactions']} transactions,"
        f" {report['store']}{seeded}; server ready in {report['ready_seconds']} s"
    )
    print(f"{report['requests']} requests per page after {report['warmup']} warm-up, sequential")
    print(_table(report["pages"]))


if __name__ == "__main__":
    main()
