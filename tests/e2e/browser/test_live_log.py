"""A charger page's OCPP log is live: a frame the simulated charger sends or receives after
the page was rendered appears in #live-log without a reload."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser.harness import Served

CHARGER = "acme-hq-01"


def test_the_live_log_receives_a_new_frame_without_a_reload(page: Any, served: Served) -> None:
    page.goto(f"/chargers/{CHARGER}")
    log = page.locator("#live-log")
    last = int(log.get_attribute("data-last-id") or 0)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    # the simulated drivers meter their sessions every few seconds; heartbeats come too
    page.wait_for_function(
        """last => [...document.querySelectorAll('#log-rows tr[data-log-id]')]
                     .some(row => Number(row.dataset.logId) > last)""",
        arg=last,
    )
    newest = page.locator("#log-rows tr[data-log-id]").evaluate_all(
        """(rows, last) => rows.filter(r => Number(r.dataset.logId) > last)
                               .map(r => r.dataset.action)""",
        last,
    )
    assert newest and all(newest), f"frames with their action: {newest}"
    assert navigations == [], "the page was not reloaded"
