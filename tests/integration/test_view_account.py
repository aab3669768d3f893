"""The account page, preferences in cookies, Dutch pages, and each team's branding, over the
real web server and store (the fleet and helpers of test_view_search)."""

from __future__ import annotations

import aiohttp
import pytest

from controller.web.app import WebOptions, WebServer, parse_networks
from tests.integration.test_view_search import ANN, BOB, Page, Site
from tests.integration.test_view_search import site as site  # noqa: F401 - the fixture


async def get(site: Site, path: str, **headers: str) -> aiohttp.ClientResponse:  # noqa: F811
    return await site.http.get(site.web.url + path, headers=headers, allow_redirects=False)


async def test_account_says_who_and_which_teams(site: Site) -> None:  # noqa: F811
    page = await site.page("/account", who=BOB)
    assert page.one("dd", id="requester").text.strip() == BOB
    assert page.one("dd", id="mode").attrs["data-mode"] == "proxy"
    row = page.one("tr", data_team="beta")
    assert row.attrs["data-role"] == "Admin"  # enrolled by domain as Admin beats Viewer
    assert page.one("select", id="language") and page.one("select", id="timezone")
    assert page.one("form", id="preferences-form").attrs["method"] == "get"


async def test_preferences_set_cookies_and_redirect_only_locally(site: Site) -> None:  # noqa: F811
    query = "language=nl&timezone=Europe/Amsterdam&theme=dark"
    async with await get(site, f"/account/preferences?{query}", **{"X-Forwarded-Email": ANN}) as r:
        assert r.status == 303 and r.headers["Location"] == "/account?saved=1"
        cookies = {c.key: c.value for c in r.cookies.values()}
    assert cookies == {
        "chargectl-lang": "nl",
        "chargectl-tz": "Europe/Amsterdam",
        "chargectl-theme": "dark",
    }
    for evil in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"):
        async with await get(
            site, f"/account/preferences?{query}&next={evil}", **{"X-Forwarded-Email": ANN}
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/account?saved=1", evil
    async with await get(
        site, f"/account/preferences?{query}&next=/search%3Fq%3Dx", **{"X-Forwarded-Email": ANN}
    ) as r:
        assert r.headers["Location"] == "/search?q=x"


@pytest.mark.parametrize("how", ["cookie", "accept-language"])
async def test_a_dutch_page(site: Site, how: str) -> None:  # noqa: F811
    headers = {"X-Forwarded-Email": ANN}
    if how == "cookie":
        async with await get(
            site, "/account/preferences?language=nl&timezone=UTC&theme=auto", **headers
        ) as r:
            # aiohttp's jar keeps no cookie for an IP address: send back what was set
            headers["Cookie"] = "; ".join(f"{c.key}={c.value}" for c in r.cookies.values())
    else:
        headers["Accept-Language"] = "nl-NL"
    async with site.http.get(site.web.url + "/", headers=headers) as response:
        page = Page.parse(await response.text())
    assert page.one("html").attrs["lang"] == "nl"
    assert "Naar de inhoud" in page.html  # "Skip to content"


@pytest.mark.parametrize(
    ("who", "product", "colour"), [(ANN, "Alpha Charge", "#123456"), (BOB, "Beta Power", "#654321")]
)
async def test_each_team_sees_its_own_branding_on_every_page(
    site: Site,
    who: str,
    product: str,
    colour: str,  # noqa: F811
) -> None:
    for path, status in (("/", 200), ("/account", 200), ("/search?q=x", 200), ("/nowhere", 404)):
        page = await site.page(path, who=who, status=status)
        assert page.title.endswith(product), (path, page.title)
        assert f"--brand: {colour};" in page.html, path
        other = "Beta Power" if product == "Alpha Charge" else "Alpha Charge"
        assert other not in page.html
    alpha = await site.page("/", who=ANN)
    logos = alpha.find("img", **{"class": "logo"})
    assert logos and logos[0].attrs["alt"] == "" and logos[0].attrs["src"].startswith("https://")


@pytest.mark.parametrize(
    ("proxies", "said"),
    [
        ([], "no sign-in proxy is configured"),
        (["10.20.0.0/16"], "not through the sign-in proxy"),
    ],
)
async def test_every_page_says_when_it_shows_the_local_user_everything(
    site: Site,  # noqa: F811
    proxies: list[str],
    said: str,
) -> None:
    """A request from this machine that no proxy names is the local user, who sees the whole
    fleet: the page says so, and says why truthfully (no proxy configured, or this request did
    not come through the configured one)."""
    local = WebServer(
        site.running.central,
        site.running.endpoint,
        WebOptions(host="127.0.0.1", port=0, trusted_proxies=parse_networks(proxies)),
    )
    await local.start()
    try:
        for path in ("/", "/chargers", "/account"):
            async with site.http.get(local.url + path) as response:
                assert response.status == 200
                page = Page.parse(await response.text())
            note = page.one("p", **{"class": "mode"})
            assert said in " ".join(note.text.split()), path
    finally:
        await local.close()
