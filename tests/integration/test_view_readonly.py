"""The web view and the status API change nothing: every route of the app refuses every
method but GET and HEAD, whoever asks, and the admin command channel is not on this listener.

The routes are walked from the running app's router, so a page added later is covered without
touching this file: its path parameters are filled with names from the test fleet.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from controller.runtime.serve import running
from controller.web.app import WebOptions, WebServer, parse_networks
from tests.integration.test_api import charging_charger, fleet_dir, options  # noqa: F401

WRITES = ("POST", "PUT", "PATCH", "DELETE")

PARAMETERS = {
    "id": "cp-16",
    "name": "depot",
    "tid": "1",
    "transaction": "1",
    "filename": "view.css",
}
"""Values for the routes' path parameters: a charger, a location, a transaction, an asset."""

PROXY_HEADERS = {"X-Forwarded-Email": "someone@example.com"}
"""A teammate of the test fleet's team, as the proxy names them (believed in the proxy mode)."""


def concrete(canonical: str) -> str:
    """`/chargers/{id}/log` → `/chargers/cp-16/log` (an unknown parameter gets a word)."""
    return re.sub(
        r"\{(\w+)(?::[^}]*)?\}", lambda m: PARAMETERS.get(m.group(1), "anything"), canonical
    )


class Site:
    def __init__(self, web: WebServer, http: aiohttp.ClientSession) -> None:
        self.web = web
        self.http = http

    def paths(self) -> list[str]:
        app = self.web.app
        paths = set()
        for resource in app.router.resources():
            canonical = resource.canonical
            if canonical == "/static":  # the assets: one file stands for the directory
                canonical = "/static/{filename}"
            paths.add(concrete(canonical))
        return sorted(paths)


@pytest.fixture(params=["local", "proxy"])
async def site(
    fleet_dir: Path,  # noqa: F811 - the shared fixture
    request: pytest.FixtureRequest,
) -> AsyncIterator[Site]:
    """The status API and view: in local single-user mode (sees everything), or with
    127.0.0.1 as a trusted proxy (so the identity header is believed)."""
    proxies = parse_networks(["127.0.0.1"]) if request.param == "proxy" else ()
    async with running(options(fleet_dir)) as started:
        web = WebServer(
            started.central,
            started.endpoint,
            WebOptions(host="127.0.0.1", port=0, trusted_proxies=proxies),
        )
        await web.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Site(web, http)
        finally:
            await web.close()


async def test_the_walk_covers_the_pages_and_the_api(site: Site) -> None:
    paths = site.paths()
    assert "/api/chargers" in paths and "/" in paths and "/static/view.css" in paths
    assert len(paths) >= 12, paths


@pytest.mark.parametrize("method", WRITES)
async def test_every_route_refuses_every_write(site: Site, method: str) -> None:
    answers = {}
    for path in site.paths():
        async with site.http.request(
            method, site.web.url + path, headers=PROXY_HEADERS, data=b"{}"
        ) as response:
            answers[path] = (response.status, response.headers.get("Allow", ""))
    not_refused = {path: answer for path, answer in answers.items() if answer[0] != 405}
    assert not_refused == {}, "a route did not refuse a write as not allowed"
    for path, (_status, allow) in answers.items():
        assert set(allow.replace(" ", "").split(",")) <= {"GET", "HEAD"}, (path, allow)


async def test_every_route_answers_a_read_without_failing(site: Site) -> None:
    failed = {}
    for path in site.paths():
        async with site.http.get(site.web.url + path, headers=PROXY_HEADERS) as response:
            if response.status >= 500:
                failed[path] = (response.status, (await response.text())[:300])
    assert failed == {}


async def test_the_command_channel_is_not_reachable_with_the_views_identity(
    site: Site,
) -> None:
    """`chargectl command`'s endpoint lives on the admin listener, behind a token: here the
    view's identity header reaches no such route, whatever the method."""
    url = site.web.url + "/api/chargers/cp-16/commands"
    for method in ("GET", *WRITES):
        async with site.http.request(
            method, url, headers=PROXY_HEADERS, json={"command": "reset", "type": "Hard"}
        ) as response:
            assert response.status in (404, 405), (method, response.status)
