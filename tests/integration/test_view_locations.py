"""The locations list and a location's page over HTTP (fixtures: test_view_dashboard): what
each shows, the CSV export being `chargectl export`'s rows, the live power fragment, and a
location out of scope answering 404 like a missing one on every route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.planning.transactions import to_csv
from controller.web.exports import export_rows
from tests.integration.test_view_charger import powered  # noqa: F401 - the depot on 40 A
from tests.integration.test_view_dashboard import (  # noqa: F401 - the shared fixture
    BEE,
    Node,
    Site,
    connect,
    parse,
    session,
    site,
    table_rows,
)


async def test_the_locations_list_shows_what_the_viewer_sees_with_counts(site: Site) -> None:  # noqa: F811
    await connect(site, "CP-16")
    await session(site, "CP-16", datetime.now(UTC) - timedelta(minutes=5), None, 0)
    page = await site.page("/locations")
    rows = {
        r.attrs["data-location"]: r
        for r in page.by_id("locations-table").all("tr")
        if "data-location" in r.attrs
    }
    assert set(rows) == {"depot", "bravo-yard", "shared-lot"}
    depot = rows["depot"]
    cells = {c.attrs.get("data-key"): c.text for c in depot.all("td")}
    assert (cells["total"], cells["connected"], cells["charging"]) == ("3", "1", "1")
    assert "Kade 1" in rows["shared-lot"].text and "Ops" in rows["shared-lot"].text
    assert depot.one("a").attrs["href"] == "/locations/depot"
    theirs = await site.page("/locations", BEE)
    shown = [r.attrs["data-location"] for r in theirs.all("tr") if "data-location" in r.attrs]
    assert shown == ["bravo-yard", "shared-lot"]


async def test_a_location_page_shows_its_parts(site: Site) -> None:  # noqa: F811
    now = datetime.now(UTC)
    await connect(site, "CP-16")
    await connect(site, "CP-NEW", "depot")
    for back in range(30):
        await session(site, "CP-201", now - timedelta(days=2, minutes=back), 10, 1000)
    await session(site, "CP-16", now - timedelta(minutes=30), 20, 4000)
    page = await site.page("/locations/depot")
    assert page.one("h1").text == "Depot"
    chargers = [
        r.attrs["data-charger"]
        for r in page.by_id("location-chargers").all("tr")
        if "data-charger" in r.attrs
    ]
    assert chargers == ["cp-16", "cp-201", "cp-auth"]
    assert [
        r.attrs["data-pending"]
        for r in page.by_id("pending-chargers").all("tr")
        if "data-pending" in r.attrs
    ] == ["CP-NEW"]
    energy = table_rows(page.by_id("table-energy").one("table"))
    assert len(energy) == 30 and sum(float(r[1]) for r in energy) == 34.0
    assert len(table_rows(page.by_id("table-utilisation").one("table"))) == 24
    assert page.by_id("power-live").all("svg")
    # 31 transactions: a page of 25, newest first, priced by the tariff.
    rows = page.by_id("location-transactions").one("tbody").all("tr")
    assert len(rows) == 25
    assert "EUR" in rows[0].text and "good" in rows[0].text
    older = await site.page("/locations/depot?page=2")
    assert len(older.by_id("location-transactions").one("tbody").all("tr")) == 6
    ids = [r.attrs["data-transaction"] for r in rows] + [
        r.attrs["data-transaction"]
        for r in older.by_id("location-transactions").one("tbody").all("tr")
    ]
    assert len(set(ids)) == 31
    cards = [
        r.attrs["data-card"]
        for r in page.by_id("location-cards").all("tr")
        if "data-card" in r.attrs
    ]
    assert "good" in cards and "foreign" not in cards
    assert "04AABBCC" not in str(page.by_id("location-cards").text)
    assert "••••BBCC" in page.by_id("location-cards").text
    assert "0.30 EUR / kWh" in page.by_id("tariff").text


async def test_the_csv_export_is_chargectl_exports(site: Site) -> None:  # noqa: F811
    now = datetime.now(UTC)
    await session(site, "CP-16", now - timedelta(days=3), 30, 7000)
    await session(site, "CP-16", now - timedelta(hours=1), 30, 2000)
    await session(site, "CP-S", now - timedelta(hours=1), 30, 2000)
    text, headers = await site.fetch("/locations/depot/transactions.csv")
    assert headers["Content-Type"].startswith("text/csv")
    central = site.running.central
    assert text == to_csv(await export_rows(central.fleet, central.store, location="depot"))
    assert len(text.splitlines()) == 3
    since = (now - timedelta(days=1)).date().isoformat()
    recent, _ = await site.fetch(f"/locations/depot/transactions.csv?since={since}")
    assert len(recent.splitlines()) == 2
    await site.fetch("/locations/depot/transactions.csv?since=yesterday", status=400)


async def test_the_power_diagram_is_served_alone_and_as_a_fragment(site: Site) -> None:  # noqa: F811
    svg, headers = await site.fetch("/locations/depot/power.svg")
    assert headers["Content-Type"].startswith("image/svg+xml") and svg.startswith("<svg")
    fragment, _ = await site.fetch("/locations/depot/power")
    assert parse(fragment).all("svg") and parse(fragment).by_id("power-chargers")


async def test_the_power_diagram_shows_the_allocation_the_charger_pages_profiles_give(
    powered: Site,  # noqa: F811
) -> None:
    now = datetime.now(UTC)
    tid = await session(powered, "CP-16", now - timedelta(minutes=10), None, 0)
    await session(powered, "CP-201", now - timedelta(minutes=5), None, 0)
    page = await powered.page("/locations/depot")
    # One id per element: the section is "power", its diagram "power-diagram".
    assert len(page.all(id="power")) == 1 and page.by_id("power").tag == "section"
    assert page.by_id("power-live").one("svg").attrs["id"] == "power-diagram"
    # The 40 A of depot-grid shared by the two sessions, in the accessible tables.
    circuits = {r[0]: r for r in table_rows(page.by_id("power-circuits").one("table"))}
    assert circuits["depot-grid"][4] == "40" and circuits["depot-grid"][5] == "2"
    connectors = {(r[0], r[2]): r for r in table_rows(page.by_id("power-chargers").one("table"))}
    assert connectors[("cp-16", "1")][4] == connectors[("cp-201", "1")][4] == "20"
    assert connectors[("cp-auth", "1")][4] == "0"  # the circuit is exhausted: none to offer
    svg = page.by_id("power-live").one("svg").text
    assert "Allocated 40 A" in svg and "Allocated – A" not in svg
    # The charger page's profiles are that same allocation.
    profiles = (await powered.page("/chargers/cp-16")).by_id("charger-profiles")
    tx = profiles.one("tr", data_purpose="Tx")
    assert str(tid) in tx.text and float(table_cells(tx)[3]) == 20.0
    # The fragment and the SVG alone draw it too.
    fragment, _ = await powered.fetch("/locations/depot/power")
    live = {r[0]: r for r in table_rows(parse(fragment).by_id("power-circuits").one("table"))}
    assert live["depot-grid"][4] == "40"
    alone, _ = await powered.fetch("/locations/depot/power.svg")
    assert "Allocated 40 A" in alone


def table_cells(row: Node) -> list[str]:
    return [cell.text for cell in row.all() if cell.tag in ("th", "td")]


async def test_out_of_scope_and_unknown_locations_are_404_everywhere(site: Site) -> None:  # noqa: F811
    for suffix in ("", "/transactions.csv", "/power.svg", "/power"):
        await site.fetch(f"/locations/depot{suffix}", BEE, status=404)
        await site.fetch(f"/locations/nowhere{suffix}", BEE, status=404)
    await site.page("/locations/shared-lot", BEE)  # a member team sees it
