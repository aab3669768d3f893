"""Every answer of the view's listener tells the browser to run only the view's own scripts,
never to guess a content type, and never to be framed by another site: pages, error pages,
assets, the JSON API and the live log's stream alike."""

from __future__ import annotations

import pytest

from tests.integration.test_view_dashboard import MAX, Site
from tests.integration.test_view_dashboard import site as site  # noqa: F401 - the fixture


def assert_protected(headers: object, path: str) -> None:
    policy = headers["Content-Security-Policy"]  # type: ignore[index]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'", path  # no inline or foreign script runs
    assert directives["default-src"] == "'none'", path
    assert directives["frame-ancestors"] == "'none'", path
    assert headers["X-Content-Type-Options"] == "nosniff", path  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/chargers/cp-16", 200),
        ("/chargers/nowhere", 404),
        ("/static/view.css", 200),
        ("/api/chargers", 200),
    ],
)
async def test_every_answer_carries_the_security_headers(
    site: Site,  # noqa: F811
    path: str,
    status: int,
) -> None:
    async with site.http.get(site.web.url + path, headers=MAX) as response:
        assert response.status == status
        assert_protected(response.headers, path)


async def test_the_live_logs_stream_carries_them_too(site: Site) -> None:  # noqa: F811
    """A stream sends its headers before any frame: they are set before it is prepared."""
    url = site.web.url + "/chargers/cp-16/log/stream"
    async with site.http.get(url, headers=MAX) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert_protected(response.headers, "stream")
