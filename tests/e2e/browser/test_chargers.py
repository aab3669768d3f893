"""The chargers table as a support engineer uses it: filter, sort, and follow a charger."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.e2e.browser.harness import Served

CENTRUM = "centrum-garage"


def rows(page: Any) -> list[str]:
    """The chargers the table lists, in its order (their data-charger)."""
    return [
        str(key)
        for key in page.locator("#chargers-table tbody tr[data-charger]").evaluate_all(
            "rows => rows.map(r => r.dataset.charger)"
        )
    ]


def fleet_chargers(served: Served, location: str | None = None) -> set[str]:
    listing = served.json("/api/chargers" + (f"?location={location}" if location else ""))
    assert listing is not None
    return {c["name"] or c["identity"] for c in listing["chargers"]}


def test_filtering_by_location_lists_its_chargers_only_and_the_filter_is_in_the_url(
    page: Any, served: Served
) -> None:
    page.goto("/chargers")
    assert set(rows(page)) == fleet_chargers(served)
    page.select_option("#filter-location", CENTRUM)
    page.click("#filter-apply")
    page.wait_for_url(f"**/chargers?*location={CENTRUM}*")
    expected = fleet_chargers(served, CENTRUM)
    assert set(rows(page)) == expected
    assert page.locator("#chargers-count").get_attribute("data-total") == str(len(expected))
    assert page.locator("#filter-location").input_value() == CENTRUM

    # the URL alone gives the same table (a link can be shared)
    shared = page.context.new_page()
    shared.goto(page.url)
    assert rows(shared) == rows(page)


def test_a_column_heading_sorts_the_table_both_ways_keeping_the_filter(
    page: Any, served: Served
) -> None:
    page.goto(f"/chargers?location={CENTRUM}&sort=location")
    heading = page.locator('#chargers-table th:has(a[data-sort="name"])')
    expect(heading).not_to_have_attribute("aria-sort", re.compile("."))
    page.click('a[data-sort="name"]')
    expect(heading).to_have_attribute("aria-sort", re.compile("^(ascending|descending)$"))
    order = heading.get_attribute("aria-sort")
    first = rows(page)
    assert len(first) > 1
    assert first == sorted(first, reverse=order == "descending"), order
    page.click('a[data-sort="name"]')
    expect(heading).not_to_have_attribute("aria-sort", str(order))
    assert rows(page) == list(reversed(first))
    assert parse_qs(urlsplit(page.url).query)["location"] == [CENTRUM]


def test_following_a_charger_from_the_table_opens_its_page(page: Any, served: Served) -> None:
    page.goto(f"/chargers?location={CENTRUM}")
    row = page.locator("#chargers-table tbody tr[data-charger]").first
    key = row.get_attribute("data-charger")
    row.locator("th a").click()
    page.wait_for_url(f"**/chargers/{key}")
    expect(page.locator("#main h1")).to_have_attribute("data-charger", str(key))
    expect(page.locator("#connection")).to_have_attribute("data-connected", "true")
    expect(page.locator("#charger-configuration")).to_be_visible()
