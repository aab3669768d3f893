"""Search from any page by keyboard: Ctrl+K (or /) to the header's box, type, pick a result,
Enter follows it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.browser.harness import Served


def test_ctrl_k_then_typing_shows_a_charger_and_enter_opens_it(page: Any, served: Served) -> None:
    page.goto("/locations")
    box = page.locator("#search-box")
    page.locator("body").press("Control+k")
    expect(box).to_be_focused()
    page.keyboard.type("p1-03")
    result = page.locator('#search-results [role="option"][data-name="centrum-p1-03"]')
    expect(result).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    while result.get_attribute("aria-selected") != "true":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url("**/chargers/centrum-p1-03")
    expect(page.locator("#main h1")).to_have_attribute("data-charger", "centrum-p1-03")


def test_slash_focuses_the_search_box_and_enter_lists_every_result(
    page: Any, served: Served
) -> None:
    page.goto("/chargers")
    page.locator("body").press("/")
    expect(page.locator("#search-box")).to_be_focused()
    page.keyboard.type("acme")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=acme")
    main = page.locator("#main")
    expect(main.locator('a[href="/locations/acme-hq"]').first).to_be_visible()
    expect(main.locator('a[href="/chargers/acme-hq-01"]').first).to_be_visible()
