"""A charger's page, its transactions' CSV, a transaction's page and the live OCPP log over
HTTP (fixtures: test_view_dashboard): the real central system, store and web server, a raw
charger speaking real OCPP, and what a person would notice on the page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.planning.transactions import to_csv
from controller.values.records import KeyState, KeyStatus, MeterSample, ReportedKey
from controller.web.exports import export_rows
from tests.integration.test_view_dashboard import (  # noqa: F401 - the shared fixture
    BEE,
    Site,
    connect,
    parse,
    report_ground_failure,
    served,
    session,
    site,
    table_rows,
    write_view_fleet,
)

DEPOT_GRID = """---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata: {name: depot-grid}
spec: {location: depot, limit: {currentPerPhase: 40}, phases: 3}
"""
"""The depot's grid connection: 40 A shared by its chargers (the shared lot has no limit)."""


@pytest.fixture
async def powered(tmp_path: Path) -> AsyncIterator[Site]:
    """The dashboard's site with a power limit on the depot."""
    fleet = write_view_fleet(tmp_path)
    with (fleet / "fleet.yaml").open("a") as file:
        file.write(DEPOT_GRID)
    async with served(fleet) as started:
        yield started


async def test_the_charger_page_shows_boot_info_and_a_drifted_key(site: Site) -> None:  # noqa: F811
    cp = await connect(site, "CP-16")
    await report_ground_failure(cp, datetime.now(UTC))
    store = site.running.central.store
    loaded = site.running.central.fleet.chargers["cp-16"]
    desired = site.running.central.fleet.desired(loaded).configuration
    assert desired, "the built-in defaults declare keys"
    key = sorted(desired)[0]
    await store.record_configuration(
        "CP-16", [ReportedKey(key, "not-what-was-declared")], datetime.now(UTC)
    )
    await store.record_key_statuses(
        [
            KeyStatus(
                "CP-16", "firmware", KeyState.FAILED, "https://fw/2.bin", datetime.now(UTC), "Nope"
            )
        ]
    )
    await store.flush()
    page = await site.page("/chargers/cp-16")
    assert page.one("h1").attrs["data-charger"] == "cp-16"
    update = page.by_id("firmware-update")
    assert update.attrs["data-state"] == "Failed" and "Nope" in update.text
    assert page.one(attrs_boot := "dd", data_boot="vendor").text == "Alfen"
    assert attrs_boot and page.one("dd", data_boot="model").text == "NG910"
    assert page.by_id("connection").attrs["data-connected"] == "true"
    faulted = page.by_id("charger-connectors").one("tr", data_connector="2")
    assert "GroundFailure" in faulted.text and faulted.attrs["data-status"] == "Faulted"
    row = page.by_id("charger-configuration").one("tr", data_key=key)
    assert row.attrs["data-state"] == "differs" and "drifted" in row.attrs["class"].split()
    assert "not-what-was-declared" in row.text
    # The same page by OCPP identity.
    again = await site.page("/chargers/CP-16")
    assert again.one("h1").attrs["data-charger"] == "cp-16"
    # The frames it sent are in the log, with their actions in the filter.
    log = page.by_id("live-log")
    actions = [r.attrs["data-action"] for r in log.all("tr") if "data-log-id" in r.attrs]
    assert "BootNotification" in actions and "StatusNotification" in actions
    options = [o.attrs["value"] for o in page.by_id("log-action").all("option")]
    assert "BootNotification" in options
    await cp.close()


async def test_transactions_csv_and_a_transaction_page(site: Site) -> None:  # noqa: F811
    now = datetime.now(UTC)
    store = site.running.central.store
    for back in range(30):
        await session(site, "CP-16", now - timedelta(hours=2, minutes=back), 10, 1000)
    other = await session(site, "CP-201", now - timedelta(hours=1), 10, 500)
    tid = await session(site, "CP-16", now - timedelta(minutes=30), 20, 4000)
    await store.add_meter_values(
        [
            MeterSample(
                "CP-16",
                1,
                now - timedelta(minutes=25),
                "16.0",
                transaction_id=tid,
                measurand="Current.Import",
                phase=phase,
                unit="A",
            )
            for phase in ("L1", "L2", "L3")
        ]
    )
    await store.flush()
    page = await site.page("/chargers/cp-16")
    rows = page.by_id("charger-transactions").one("tbody").all("tr")
    assert len(rows) == 25 and rows[0].attrs["data-transaction"] == str(tid)
    assert "EUR" in rows[0].text
    # Page 2 (older) has the other 6, newest first, none of page 1's.
    assert page.by_id("transactions-page").text == "Page 1 of 2"
    older = (await site.page("/chargers/cp-16?page=2")).by_id("charger-transactions")
    second = [r.attrs["data-transaction"] for r in older.one("tbody").all("tr")]
    first = [r.attrs["data-transaction"] for r in rows]
    assert len(second) == 6 and not set(first) & set(second)
    assert second == sorted(second, key=int)  # made older one after another
    assert page.by_id("csv-export").attrs["href"] == "/chargers/cp-16/transactions.csv"

    text, headers = await site.fetch("/chargers/cp-16/transactions.csv")
    assert headers["Content-Type"].startswith("text/csv")
    expected = await export_rows(site.running.central.fleet, store, identity="CP-16")
    assert len(expected) == 31
    assert text == to_csv(expected)

    detail = await site.page(f"/chargers/cp-16/transactions/{tid}")
    assert detail.one("h1").attrs["data-transaction"] == str(tid)
    assert detail.one("dd", data_fact="energy").text == "4"
    assert detail.by_id("current-section").all("svg")
    table = table_rows(detail.by_id("table-current").one("table"))
    assert table and table[0][1:4] == ["16", "16", "16"]
    assert (
        detail.by_id("transaction-cost")
        .one("tr", data_cost="total")
        .text.endswith(expected[-1].total or "?")
    )
    # Another charger's transaction is not this charger's: missing.
    await site.page(f"/chargers/cp-16/transactions/{other}", status=404)
    await site.page("/chargers/cp-16/transactions/nope", status=404)


async def test_another_team_gets_404_everywhere(site: Site) -> None:  # noqa: F811
    tid = await session(site, "CP-16", datetime.now(UTC) - timedelta(hours=1), 10, 1000)
    for path in (
        "/chargers/cp-16",
        "/chargers/CP-16",
        "/chargers/cp-16/transactions.csv",
        f"/chargers/cp-16/transactions/{tid}",
        "/chargers/cp-16/log/stream",
        "/chargers/nowhere",
        "/chargers/nowhere/log/stream",
    ):
        await site.fetch(path, BEE, status=404)
    missing, _ = await site.fetch("/chargers/nowhere", BEE, status=404)
    theirs, _ = await site.fetch("/chargers/cp-16", BEE, status=404)
    assert parse(missing).one("h1").text == parse(theirs).one("h1").text
    await site.page("/chargers/cp-b", BEE)


async def test_the_stream_delivers_a_frame_sent_after_it_opened(site: Site) -> None:  # noqa: F811
    cp = await connect(site, "CP-16")
    url = site.web.url + "/chargers/cp-16/log/stream"
    async with site.http.get(url, headers={"X-Forwarded-Email": "ann@ops.example"}) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        await cp.call("Heartbeat", {})

        async def frames() -> list[dict[str, object]]:
            seen: list[dict[str, object]] = []
            event: dict[str, str] = {}
            async for raw in stream.content:
                line = raw.decode().rstrip("\n")
                if line == "":
                    if event.get("event") == "frame":
                        data = json.loads(event["data"])
                        assert int(event["id"]) == data["id"]
                        seen.append(data)
                        if data["action"] == "Heartbeat":
                            return seen
                    event = {}
                elif not line.startswith(":") and ":" in line:
                    name, _, value = line.partition(":")
                    event[name] = value.strip()
            return seen

        seen = await asyncio.wait_for(frames(), timeout=10)
    actions = [f["action"] for f in seen]
    assert "BootNotification" not in actions  # the page shows those; the stream starts after
    assert actions[-1] == "Heartbeat"
    await cp.close()


async def test_the_stream_resumes_after_last_event_id(site: Site) -> None:  # noqa: F811
    cp = await connect(site, "CP-16")
    await site.running.central.store.flush()
    url = site.web.url + "/chargers/cp-16/log/stream"
    headers = {"X-Forwarded-Email": "ann@ops.example", "Last-Event-ID": "0"}
    async with site.http.get(url, headers=headers) as stream:

        async def first_frame() -> dict[str, str]:
            event: dict[str, str] = {}
            async for raw in stream.content:
                line = raw.decode().rstrip("\n")
                if line == "" and event.get("event") == "frame":
                    return event
                if line == "":
                    event = {}
                elif not line.startswith(":") and ":" in line:
                    name, _, value = line.partition(":")
                    event[name] = value.strip()
            raise AssertionError("the stream ended")

        event = await asyncio.wait_for(first_frame(), timeout=10)
    assert json.loads(event["data"])["action"] == "BootNotification"
    await cp.close()


async def test_charging_profiles_are_the_locations_allocation(powered: Site) -> None:
    tid = await session(powered, "CP-16", datetime.now(UTC) - timedelta(minutes=5), None, 0)
    page = await powered.page("/chargers/cp-16")
    profiles = page.by_id("charger-profiles")
    purposes = {r.attrs["data-purpose"] for r in profiles.one("tbody").all("tr")}
    assert purposes >= {"TxDefault", "Tx"}
    tx = profiles.one("tr", data_purpose="Tx")
    assert str(tid) in tx.text and "Charging" in tx.text
    # The shared lot has no circuit: nothing is limited there.
    assert (await powered.page("/chargers/cp-s")).by_id("no-profiles")


async def test_a_stream_ends_when_the_server_stops(site: Site) -> None:  # noqa: F811
    url = site.web.url + "/chargers/cp-16/log/stream"
    async with site.http.get(url, headers={"X-Forwarded-Email": "ann@ops.example"}) as stream:
        assert stream.status == 200
        await stream.content.readuntil(b"\n\n")  # retry:, sent at once
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(site.web.close(), timeout=4)
        assert asyncio.get_running_loop().time() - started < 3
        assert await asyncio.wait_for(stream.content.read(), timeout=4) == b""
