"""`chargectl export transactions`: transactions recorded over OCPP, priced by the tariff.

The depot's tariff (tests/integration/fleets.py): 0.30 EUR/kWh, start fee 0.50, VAT 21 %,
prices excluding VAT. A transaction from meter 1000 Wh to 13300 Wh, 10:00 to 11:00 UTC:
    energy   12.3 kWh x 0.30 = 3.69
    start fee                  0.50
    net                        4.19
    VAT      4.19 x 21 % = 0.8799 -> 0.88 (ROUND_HALF_UP, once)
    total                      5.07
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from controller.cli.app import main
from controller.runtime.serve import ServeOptions, running
from tests.integration.fleets import write_fleet
from tests.integration.rawclient import RawCharger


async def record_one_transaction(fleet: Path, store_url: str) -> int:
    options = ServeOptions(
        paths=[fleet], store_url=store_url, host="127.0.0.1", port=0, reconcile=False
    )
    async with running(options) as server:
        cp = await RawCharger.connect(server.url, "CP-16", subprotocols=["ocpp1.6"])
        started = await cp.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "04AABBCC",
                "meterStart": 1000,
                "timestamp": "2026-11-25T10:00:00Z",
            },
        )
        transaction_id: int = started[2]["transactionId"]
        await cp.call(
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 13300,
                "timestamp": "2026-11-25T11:00:00Z",
                "reason": "Local",
            },
        )
        await cp.close()
    return transaction_id


def test_export_as_csv_prices_the_transaction_by_the_tariff(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    transaction_id = asyncio.run(record_one_transaction(fleet, store_url))
    result = CliRunner().invoke(
        main,
        [
            "export",
            "transactions",
            "--fleet",
            str(fleet),
            "--store",
            store_url,
            "--location",
            "depot",
            "--from",
            "2026-11-25",
            "--to",
            "2026-11-26",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 1
    row = rows[0]
    assert row["transaction_id"] == str(transaction_id)
    assert (row["charger"], row["location"], row["card"], row["team"]) == (
        "cp-16",
        "depot",
        "good",
        "ops",
    )
    assert row["energy_kwh"] == "12.3"
    assert row["duration_minutes"] == "60.0"
    assert (row["currency"], row["energy_cost"], row["start_fee"]) == ("EUR", "3.69", "0.50")
    assert (row["net"], row["vat"], row["total"]) == ("4.19", "0.88", "5.07")


def test_export_as_json_and_outside_the_window_is_empty(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    asyncio.run(record_one_transaction(fleet, store_url))
    inside = CliRunner().invoke(
        main,
        ["export", "transactions", "--fleet", str(fleet), "--store", store_url, "--format", "json"],
    )
    document = json.loads(inside.output)
    assert document["transactions"][0]["total"] == "5.07"
    outside = CliRunner().invoke(
        main,
        [
            "export",
            "transactions",
            "--fleet",
            str(fleet),
            "--store",
            store_url,
            "--format",
            "json",
            "--from",
            "2026-12-01",
        ],
    )
    assert json.loads(outside.output)["transactions"] == []


def test_export_refuses_a_location_not_in_the_fleet(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    result = CliRunner().invoke(
        main,
        [
            "export",
            "transactions",
            "--fleet",
            str(fleet),
            "--location",
            "nowhere",
            "--store",
            f"sqlite:///{tmp_path / 'x.db'}",
        ],
    )
    assert result.exit_code == 2 and "no location 'nowhere'" in result.output
