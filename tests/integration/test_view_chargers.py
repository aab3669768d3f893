"""The chargers table over HTTP (fixtures: test_view_dashboard): what it lists for whom, its
filters and sort from the URL (the dashboard's tiles link here), and pages."""

from __future__ import annotations

import asyncio

import pytest

from controller.web.view import shared
from tests.integration.test_view_dashboard import (  # noqa: F401 - the shared fixture
    BEE,
    Node,
    Site,
    connect,
    site,
    synced,
)


def listed(page: Node) -> list[str]:
    return [
        r.attrs["data-charger"]
        for r in page.by_id("chargers-table").all("tr")
        if "data-charger" in r.attrs
    ]


async def test_the_table_lists_what_the_viewer_sees(site: Site) -> None:  # noqa: F811
    page = await site.page("/chargers")
    assert listed(page) == ["cp-16", "cp-201", "cp-auth", "cp-b", "cp-s"]
    assert page.by_id("chargers-count").attrs["data-total"] == "5"
    assert listed(await site.page("/chargers", BEE)) == ["cp-b", "cp-s"]


async def test_connection_and_sync_filters_are_the_dashboards_links(site: Site) -> None:  # noqa: F811
    await connect(site, "CP-16")
    await synced(site, "CP-16", "True")
    await synced(site, "CP-201", "False")
    assert listed(await site.page("/chargers?connection=connected")) == ["cp-16"]
    assert "cp-16" not in listed(await site.page("/chargers?connection=offline"))
    assert listed(await site.page("/chargers?sync=Synced")) == ["cp-16"]
    assert listed(await site.page("/chargers?sync=OutOfSync")) == ["cp-201"]


async def test_location_search_and_model_filters_combine(site: Site) -> None:  # noqa: F811
    await connect(site, "CP-16")  # boots as Alfen NG910
    assert listed(await site.page("/chargers?location=depot&q=auth")) == ["cp-auth"]
    assert listed(await site.page("/chargers?model=Alfen+NG910")) == ["cp-16"]
    page = await site.page("/chargers")
    options = [o.text for o in page.by_id("filter-model").all("option")]
    assert "Alfen NG910" in options


async def test_a_location_out_of_scope_filters_to_nothing(site: Site) -> None:  # noqa: F811
    assert listed(await site.page("/chargers?location=depot", BEE)) == []


async def test_sorting_by_a_column_and_its_header_link(site: Site) -> None:  # noqa: F811
    page = await site.page("/chargers?sort=location&order=desc")
    assert listed(page)[:2] == ["cp-s", "cp-16"]
    header = [th for th in page.by_id("chargers-table").all("th") if th.attrs.get("aria-sort")]
    assert [th.attrs["aria-sort"] for th in header] == ["descending"]
    link = page.by_id("chargers-table").one("a", **{"data-sort": "location"}).attrs["href"]
    assert "order" not in link and "sort=location" in link  # flips back to ascending


async def test_pages_keep_the_filters_in_their_links(site: Site) -> None:  # noqa: F811
    page = await site.page("/chargers?location=depot&per=2")
    assert listed(page) == ["cp-16", "cp-201"]
    nxt = page.one("a", rel="next").attrs["href"]
    assert "location=depot" in nxt and "page=2" in nxt
    assert listed(await site.page(nxt)) == ["cp-auth"]


async def test_a_large_fleet_shares_one_snapshot_of_rows(
    site: Site,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From SHARED_FROM chargers (here 1) every viewer gets the same rows while they are fresh,
    cut to their scope; once stale, they are still shown while a refresh reads the store."""
    monkeypatch.setattr(shared, "SHARED_FROM", 1)
    monkeypatch.setattr(shared, "FRESH", 3600.0)

    def state(page: Node, key: str) -> str:
        return page.by_id("chargers-table").one("tr", data_charger=key).attrs["data-connection"]

    assert state(await site.page("/chargers"), "cp-16") == "offline"
    cp = await connect(site, "CP-16")
    assert state(await site.page("/chargers"), "cp-16") == "offline"  # the shared rows
    assert listed(await site.page("/chargers", BEE)) == ["cp-b", "cp-s"]  # cut to the viewer
    monkeypatch.setattr(shared, "FRESH", 0.0)
    deadline = asyncio.get_running_loop().time() + 10
    while state(await site.page("/chargers"), "cp-16") == "offline":
        assert asyncio.get_running_loop().time() < deadline, "the snapshot was never refreshed"
    await cp.close()
