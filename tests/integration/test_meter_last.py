"""An open OCPP 1.6 transaction's last meter reading follows its MeterValues.

A real endpoint and store (SQLite and PostgreSQL, `store_url`), the status API next to it, and a
bare OCPP-J 1.6 charger (tests/integration/rawclient.py): StartTransaction, then MeterValues with
the energy register, and `meterLastWh` of the open transaction in `/api/chargers` and in the
charger's document moves with them, up only, and stops at the stop reading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.runtime.serve import Running, ServeOptions, running
from controller.web.app import WebOptions, WebServer
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

pytestmark = pytest.mark.asyncio

NOW = "2026-11-25T10:00:00Z"
BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}


@dataclass
class Api:
    running: Running
    web: WebServer
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.http.get(self.web.url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def open_transaction(self) -> dict[str, Any]:
        """CP-16's one open transaction, as `/api/chargers` and its own document show it."""
        listed = {c["identity"]: c for c in (await self.get("/api/chargers"))["chargers"]}
        [in_list] = listed["CP-16"]["openTransactions"]
        [in_document] = (await self.get("/api/chargers/CP-16"))["openTransactions"]
        assert in_list == in_document
        return dict(in_list)


@pytest.fixture
async def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> AsyncIterator[Api]:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    options = ServeOptions(
        reconcile=False,  # the test speaks for the charger itself
        paths=[write_fleet(tmp_path)],
        store_url=store_url,
        host="127.0.0.1",
        port=0,
        call_timeout=2.0,
    )
    async with running(options) as started:
        web = WebServer(started.central, started.endpoint, WebOptions(host="127.0.0.1", port=0))
        await web.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Api(started, web, http)
        finally:
            await web.close()


def meter_values(transaction_id: int, minute: int, *sampled: dict[str, str]) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {"timestamp": f"2026-11-25T10:{minute:02d}:00Z", "sampledValue": list(sampled)}
        ],
    }


async def test_meter_values_move_an_open_transactions_last_reading(api: Api) -> None:
    cp = await RawCharger.connect(api.running.url, "CP-16", subprotocols=["ocpp1.6"])
    assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "04AABBCC", "meterStart": 1000, "timestamp": NOW},
    )
    transaction_id = int(started[2]["transactionId"])
    before = await api.open_transaction()
    assert (before["meterStartWh"], before["meterLastWh"]) == (1000, 1000)

    # Read straight after the answer: the reading may still wait in the store's buffer.
    await cp.call(
        "MeterValues",
        meter_values(
            transaction_id,
            5,
            {"value": "2500", "measurand": "Energy.Active.Import.Register"},
            {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
            {"value": "9000", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
        ),
    )
    moved = await api.open_transaction()
    assert moved["meterLastWh"] == 2500
    assert moved["updatedAt"] == "2026-11-25T10:05:00.000Z"

    # kWh is converted; a lower reading after it does not take the transaction back.
    await cp.call(
        "MeterValues",
        meter_values(transaction_id, 10, {"value": "4.25", "unit": "kWh"}),  # the register
    )
    await cp.call("MeterValues", meter_values(transaction_id, 11, {"value": "4000"}))
    assert (await api.open_transaction())["meterLastWh"] == 4250
    await api.running.central.store.flush()
    assert (await api.open_transaction())["meterLastWh"] == 4250

    await cp.call(
        "StopTransaction",
        {"transactionId": transaction_id, "meterStop": 4300, "timestamp": "2026-11-25T10:12:00Z"},
    )
    await cp.call("MeterValues", meter_values(transaction_id, 13, {"value": "9999"}))
    await api.running.central.store.flush()
    document = await api.get("/api/chargers/CP-16")
    assert document["openTransactions"] == []
    [stopped] = [t for t in document["transactions"] if t["id"] == transaction_id]
    assert (stopped["meterLastWh"], stopped["meterStopWh"], stopped["energyWh"]) == (
        4300,
        4300,
        3300,
    )
    await cp.connection.close()
