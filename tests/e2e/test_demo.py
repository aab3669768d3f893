"""The demo: `chargectl serve examples/fleet --simulate`, in process, over real sockets.

Every example charger must boot and heartbeat, and every one not declared Inoperative must
run a transaction, visible in the store and in the log, including the chargers on security
profile 2 (TLS with a throwaway certificate) whose passwords live in Kubernetes Secrets and
files this machine does not have.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

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
