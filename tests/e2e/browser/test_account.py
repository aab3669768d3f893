"""The account page's language switch: Dutch, kept in a cookie, on every page after."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.browser.harness import ContextFactory, Served


def test_choosing_dutch_on_the_account_page_shows_every_page_in_dutch(
    open_context: ContextFactory, served: Served
) -> None:
    page: Any = open_context(served, locale="en-GB").new_page()
    page.goto("/account")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator('nav a[href="/chargers"]')).to_have_text("Chargers")
    page.select_option("#language", "nl")
    page.click("#save-preferences")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator('nav a[href="/chargers"]')).to_have_text("Laadpalen")

    page.goto("/locations")
    expect(page.locator("#main h1")).to_have_text("Locaties")
    expect(page.locator("footer")).to_contain_text("Alleen-lezen weergave")
    cookies = {c["name"] for c in page.context.cookies()}
    assert cookies, "the choice is kept in a cookie"
