"""The demo: `chargectl serve examples/fleet --simulate`, in process, over real sockets.

Every example charger must boot and heartbeat, and every one not declared Inoperative must
run a transaction, visible in the store and in the log, including the chargers on security
profile 2 (TLS with a throwaway certificate) whose passwords live in Kubernetes Secrets and
files this machine does not have. The log names the web view's address, and the view
answers `GET /` there with the dashboard counting the simulated fleet.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import aiohttp
import pytest

from controller.fleet.model import resolve_charger
from controller.resources.settings import Availability
from controller.runtime.serve import Running, ServeOptions, SimulateOptions, running
from controller.values.records import ChargerRecord

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "fleet"


async def wait_until_every_charger_has_run(server: Running, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    fleet = server.central.fleet
    expected = {c.resource.identity for c in fleet.chargers.values()}
    # A charger declared Inoperative is made unavailable by the reconciler: no car may charge.
    operative = {
        c.resource.identity
        for c in fleet.chargers.values()
        if resolve_charger(fleet, c).availability is not Availability.INOPERATIVE
    }
    while True:
        await server.central.store.flush()
        records = {r.identity: r for r in await server.central.store.chargers()}
        with_transaction = {t.identity for t in await server.central.store.transactions()}
        if all(_ran(records.get(i)) for i in expected) and operative <= with_transaction:
            return
        if loop.time() > deadline:
            missing = sorted(i for i in expected if not _ran(records.get(i)))
            idle = sorted(operative - with_transaction)
            pytest.fail(f"not booted/heartbeating: {missing}; no transaction: {idle}")
        await asyncio.sleep(0.5)


async def assert_dashboard_counts_the_fleet(server: Running) -> None:
    """`GET /` of the web view: the dashboard, counting every declared charger as connected or
    offline (reboots during convergence may take one offline for a moment), some connected."""
    assert server.web is not None
    declared = len(server.central.fleet.chargers)
    async with aiohttp.ClientSession() as http, http.get(f"{server.web.url}/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert "<h1>Dashboard</h1>" in page
    assert f"{declared} chargers declared in the fleet." in page
    tiles = {
        name: int(value)
        for name, value in re.findall(
            r'data-count="(connected|offline)">\s*<a [^>]*><span class="value">(\d+)<', page
        )
    }
    assert tiles.keys() == {"connected", "offline"}, page
    assert tiles["connected"] + tiles["offline"] == declared
    assert tiles["connected"] > 0


def _ran(record: ChargerRecord | None) -> bool:
    return record is not None and record.boot is not None and record.last_heartbeat is not None


async def test_every_example_charger_boots_heartbeats_and_charges(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chargectl")
    options = ServeOptions(
        paths=[EXAMPLES],
        store_url=f"sqlite:///{tmp_path / 'demo.db'}",
        host="127.0.0.1",
        port=0,
        http_port=0,
        simulate=SimulateOptions(time_scale=600, sessions_per_hour=60, session_minutes=20, seed=7),
    )
    async with running(options) as server:
        assert server.url.startswith("wss://")  # profile 2 chargers need TLS
        await wait_until_every_charger_has_run(server, asyncio.get_running_loop().time() + 90)
        for charger in server.central.fleet.chargers.values():
            identity = charger.resource.identity
            assert f"{identity}: connected with OCPP {charger.resource.spec.ocpp_version}" in (
                caplog.text
            )
        assert "started on connector" in caplog.text
        await assert_dashboard_counts_the_fleet(server)
        assert server.web is not None
        assert (
            f"web: web view on {server.web.url}/ (local mode: no proxy configured, loopback "
            "only); status API at /api, metrics at /metrics" in caplog.text
        )
