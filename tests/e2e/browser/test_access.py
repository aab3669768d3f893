"""A teammate of another team cannot see a location: not its page, its CSV export, its
chargers' log stream, a search result for it, nor its entry in the JSON API; to them it is
missing (404), never forbidden. The location their team is a member of, they do see."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.browser.harness import CUSTOMER, ContextFactory, Served

HIDDEN = "centrum-garage"
HIDDEN_CHARGER = "centrum-p1-01"
MEMBER_OF = "acme-hq"


def test_a_customer_sees_its_location_and_nothing_of_another(
    open_context: ContextFactory, served: Served
) -> None:
    context = open_context(served, CUSTOMER)
    page: Any = context.new_page()

    page.goto("/locations")
    listed = page.locator("#main a[href^='/locations/']")
    expect(listed.first).to_be_visible()
    hrefs = set(listed.evaluate_all("links => links.map(a => a.getAttribute('href'))"))
    assert f"/locations/{MEMBER_OF}" in hrefs
    assert not any(HIDDEN in href for href in hrefs)

    for template, name in (
        ("/locations/{}", HIDDEN),
        ("/locations/{}/transactions.csv", HIDDEN),
        ("/chargers/{}", HIDDEN_CHARGER),
        ("/chargers/{}/transactions.csv", HIDDEN_CHARGER),
    ):
        response = page.goto(template.format(name))
        assert response is not None and response.status == 404, (template, response.status)
        hidden = page.locator("#main").inner_text()
        # exactly what a name that does not exist gets
        response = page.goto(template.format("no-such-thing"))
        assert response is not None and response.status == 404
        assert page.locator("#main").inner_text() == hidden.replace(name, "no-such-thing")
    for path in (f"/locations/{MEMBER_OF}", f"/locations/{MEMBER_OF}/transactions.csv"):
        assert context.request.get(path).status == 200, path

    # the log stream, as the page's EventSource would ask for it
    stream = context.request.get(
        f"/chargers/{HIDDEN_CHARGER}/log/stream", headers={"Accept": "text/event-stream"}
    )
    assert stream.status == 404

    page.goto("/search?q=centrum")
    assert page.locator(f"#main a[href*='{HIDDEN}']").count() == 0
    assert page.locator(f"#main a[href*='{HIDDEN_CHARGER}']").count() == 0
    found = context.request.get("/search.json?q=centrum")
    assert found.status == 200 and HIDDEN not in found.text()

    locations = context.request.get("/api/locations")
    assert locations.status == 200
    names = {loc["name"] for loc in locations.json()["locations"]}
    assert MEMBER_OF in names and HIDDEN not in names
    assert context.request.get(f"/api/locations/{HIDDEN}").status == 404
