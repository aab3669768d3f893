"""Every page of the web view opens in a real browser with what it is for, and axe-core finds
no serious or critical accessibility violation on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.harness import (
    STRANGER,
    ContextFactory,
    Served,
    assert_accessible,
    wait_for,
)

LOCATION = "acme-hq"
CHARGER = "acme-hq-01"

PAGES = {
    "/": "dashboard",
    "/locations": "locations",
    f"/locations/{LOCATION}": "location",
    "/chargers": "chargers",
    "/chargers?connection=connected&sort=name": "chargers-filtered",
    f"/chargers/{CHARGER}": "charger",
    "/search?q=acme": "search",
    "/account": "account",
}


@pytest.mark.parametrize("path", list(PAGES), ids=list(PAGES.values()))
def test_each_page_opens_with_a_heading_and_passes_axe(
    page: Any, served: Served, axe_script: Path, path: str
) -> None:
    refused: list[str] = []  # what the page's Content-Security-Policy blocked, or a script error
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    page.on("pageerror", lambda error: refused.append(f"script error: {error}"))
    response = page.goto(path)
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    heading = page.locator("#main h1")
    assert heading.count() == 1 and heading.inner_text().strip(), f"{path}: no page heading"
    assert page.title().endswith("Voltway Charge"), "the team's branding names the product"
    logo = page.locator("header img.logo")
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0"), (
        "the team's logo (a data URI in the example fleet) shows with no network"
    )
    assert_accessible(page, axe_script)
    assert refused == [], f"{path}: {refused}"


def test_a_transaction_page_opens_with_its_chart_and_passes_axe(
    page: Any, served: Served, axe_script: Path
) -> None:
    # a session of the simulated drivers (time runs 60x: a few a minute at this charger)
    wait_for(
        f"transaction at {CHARGER}",
        lambda: 'data-transaction="' in served.get(f"/chargers/{CHARGER}")[1],
        served.process,
    )
    page.goto(f"/chargers/{CHARGER}")
    page.locator("#charger-transactions tr[data-transaction] a").first.click()
    page.wait_for_url("**/transactions/*")
    assert page.locator("#main h1[data-transaction]").count() == 1
    assert page.locator("#main figure.chart svg").count() >= 1, (
        "the transaction's chart of current per phase"
    )
    assert page.locator("#main table").count() >= 1, "the chart's numbers as a table"
    assert_accessible(page, axe_script)


def test_someone_in_no_team_sees_the_no_access_page_and_no_fleet(
    open_context: ContextFactory, served: Served, axe_script: Path
) -> None:
    page = open_context(served, STRANGER).new_page()
    response = page.goto("/")
    assert response is not None and response.status == 403
    assert page.locator("#main h1").inner_text() == "No access"
    assert STRANGER in page.locator("#main").inner_text()
    assert page.locator("[data-charger]").count() == 0
    assert_accessible(page, axe_script)
    for path in ("/locations", f"/locations/{LOCATION}", "/chargers"):
        response = page.goto(path)
        assert response is not None and response.status in (403, 404), path
        assert "acme-hq-01" not in page.content(), path
