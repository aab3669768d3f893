"""Error pages in the viewer's language (fixtures: test_view_dashboard): the heading's reason
phrase and the message, for a page's own refusals, aiohttp's 404 and an unexpected failure."""

from __future__ import annotations

import pytest

from controller.web.status import StatusService
from tests.integration.test_view_dashboard import (  # noqa: F401 - the shared fixture
    Node,
    Site,
    site,
)

DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9"}


def shown(page: Node) -> tuple[str, str]:
    """The error page's heading and message."""
    return page.one("h1").text, page.one("p", class_="error-message").text


async def test_a_missing_location_and_charger_are_said_so_in_dutch(site: Site) -> None:  # noqa: F811
    location = await site.page("/locations/nowhere", DUTCH, status=404)
    assert shown(location) == ("404 Niet gevonden", "Er is geen locatie nowhere.")
    charger = await site.page("/chargers/nope", DUTCH, status=404)
    assert shown(charger) == ("404 Niet gevonden", "Er is geen laadpaal nope.")


async def test_an_unknown_path_is_a_dutch_404(site: Site) -> None:  # noqa: F811
    page = await site.page("/no/such/page", DUTCH, status=404)
    assert shown(page) == ("404 Niet gevonden", "Niet gevonden")


async def test_a_bad_csv_parameter_is_refused_in_dutch(site: Site) -> None:  # noqa: F811
    page = await site.page("/locations/depot/transactions.csv?since=gisteren", DUTCH, status=400)
    assert shown(page) == ("400 Ongeldig verzoek", "since en until zijn datums of RFC 3339-tijden.")


async def test_an_unexpected_failure_is_a_500_page_in_the_viewers_language(
    site: Site,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(StatusService, "location", broken)
    dutch = await site.page("/locations/depot", DUTCH, status=500)
    assert shown(dutch) == ("500 Interne serverfout", "Interne fout; zie het serverlogboek.")
    english = await site.page("/locations/depot", status=500)
    assert shown(english) == ("500 Internal Server Error", "Internal error; see the server log.")
