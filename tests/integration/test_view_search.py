"""Search in the web view: `/search` (a page of results) and `/search.json` (the dropdown's),
over the real web server and a real SQLite store, as teammates of two teams see them.

The fleet: team Alpha owns `alpha-depot`, team Beta owns `beta-hub` and lets Alpha in as a
member of `beta-shared`; each has chargers and cards. A charger booted through OCPP first, so
its reported serial number is in the store. The HTML is parsed with html.parser and checked for
what a reader of the page would notice: the links, the groups, and what is not there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.runtime.serve import Running, ServeOptions, running
from controller.web.app import WebOptions, WebServer, parse_networks
from controller.web.view import search
from tests.integration.rawclient import RawCharger

ANN = "ann@alpha.example"
"""Owner of team Alpha (sees alpha-depot, and beta-shared as a member)."""
BOB = "bob@beta.example"
"""Viewer in team Beta (sees beta-hub and beta-shared)."""
STRANGER = "eve@elsewhere.example"
"""In no team."""

FLEET = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: alpha}
spec:
  displayName: Alpha Fleet
  handle: alpha
  teammates: [{email: ann@alpha.example, role: Owner}]
  branding: {productName: Alpha Charge, primaryColor: "#123456", accentColor: "#abcdef",
             logoUrl: "https://logo.invalid/alpha.svg"}
---
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: beta}
spec:
  displayName: Beta Energy
  handle: beta
  teammates: [{email: bob@beta.example, role: Viewer}]
  autoEnroll: [{domain: beta.example, role: Admin}]
  branding: {productName: Beta Power, primaryColor: "#654321"}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: alpha-depot}
spec: {team: alpha, displayName: Alpha Depot Amsterdam, timezone: Europe/Amsterdam,
       acceptedCards: {teams: [alpha]}}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: beta-hub}
spec: {team: beta, displayName: Beta Hub Rotterdam, timezone: Europe/Amsterdam,
       acceptedCards: {teams: [beta]}}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: beta-shared}
spec: {team: beta, displayName: Shared Garage, timezone: Europe/Amsterdam,
       members: [{team: alpha}], acceptedCards: {names: [bob-card]}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: ann-card}
spec: {idTag: "04ANN0001", team: alpha, holder: {name: Ann Alder, email: ann@alpha.example}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: bob-card}
spec: {idTag: "04BOB0001", team: beta, holder: {name: Bob Birch}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: beta-only}
spec: {idTag: "04BETA0002", team: beta, holder: {name: Bea Birch}, status: Blocked}
"""

CHARGER = """---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: {name}}}
spec:
  ocppIdentity: {identity}
  location: {location}
  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
{extra}"""

CHARGERS = [
    ("alpha-1", "ALPHA-0001", "alpha-depot", ""),
    ("alpha-2", "ALPHA-0002", "alpha-depot", "  expected: {serialNumber: EXP-ALPHA-2}\n"),
    ("beta-1", "BETA-0001", "beta-hub", ""),
    ("shared-1", "SHARED-0001", "beta-shared", ""),
] + [(f"alpha-bulk-{n:02d}", f"AB-{n:02d}", "alpha-depot", "") for n in range(15)]

BOOTED_SERIAL = "SN-77-REPORTED"
"""What ALPHA-0001 says its serial number is, at boot, over OCPP."""


def write(root: Path) -> Path:
    fleet = root / "fleet"
    fleet.mkdir()
    docs = [FLEET]
    for name, identity, location, extra in CHARGERS:
        docs.append(CHARGER.format(name=name, identity=identity, location=location, extra=extra))
    (fleet / "fleet.yaml").write_text("".join(docs))
    return fleet


@dataclass
class Site:
    running: Running
    web: WebServer
    http: aiohttp.ClientSession

    async def page(
        self, path: str, who: str | None = ANN, status: int = 200, **headers: str
    ) -> Page:
        if who is not None:
            headers["X-Forwarded-Email"] = who
        async with self.http.get(self.web.url + path, headers=headers) as response:
            text = await response.text()
            assert response.status == status, text[:500]
            assert response.content_type == "text/html"
            return Page.parse(text)

    async def json(self, path: str, who: str | None = ANN, status: int = 200) -> Any:
        headers = {"X-Forwarded-Email": who} if who is not None else {}
        async with self.http.get(self.web.url + path, headers=headers) as response:
            assert response.status == status, await response.text()
            return await response.json()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """The fleet above, served with 127.0.0.1 as the trusted proxy (so the header is believed),
    ALPHA-0001 booted with a serial number."""
    options = ServeOptions(
        reconcile=False,
        paths=[write(tmp_path)],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=2.0,
    )
    async with running(options) as started:
        web = WebServer(
            started.central,
            started.endpoint,
            WebOptions(host="127.0.0.1", port=0, trusted_proxies=parse_networks(["127.0.0.1"])),
        )
        await web.start()
        charger = await RawCharger.connect(started.url, "ALPHA-0001", subprotocols=["ocpp1.6"])
        try:
            reply = await charger.call(
                "BootNotification",
                {
                    "chargePointVendor": "Alfen",
                    "chargePointModel": "NG910",
                    "chargePointSerialNumber": BOOTED_SERIAL,
                },
            )
            assert reply[2]["status"] == "Accepted", reply
            await started.central.store.flush()
            async with aiohttp.ClientSession() as http:
                yield Site(started, web, http)
        finally:
            await charger.connection.close()
            await web.close()


# --- HTML, as a reader sees it -----------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


class Page(HTMLParser):
    """Every element with its attributes and text (its own and its descendants')."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.html = ""

    VOID = frozenset(("meta", "link", "img", "input", "br", "hr", "source"))

    @classmethod
    def parse(cls, html: str) -> Page:
        page = cls()
        page.html = html
        page.feed(html)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for position in range(len(self._open) - 1, -1, -1):
            if self._open[position].tag == tag:
                del self._open[position:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag)
            and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]

    def links(self) -> set[str]:
        return {e.attrs["href"] for e in self.find("a") if "href" in e.attrs}

    def rows(self, attribute: str) -> list[str]:
        """The values of `data-<attribute>` on the page's table rows, in order."""
        return [
            e.attrs[f"data-{attribute}"] for e in self.find("tr") if f"data-{attribute}" in e.attrs
        ]

    @property
    def title(self) -> str:
        return " ".join(self.find("title")[0].text.split())  # the page's, not an SVG's


# --- the results page --------------------------------------------------------------------------


async def test_a_charger_is_found_by_name_identity_and_serials(site: Site) -> None:
    by_name = await site.page("/search?q=alpha-2")
    assert by_name.rows("charger") == ["alpha-2"]
    assert "/chargers/alpha-2" in by_name.links()
    by_identity = await site.page("/search?q=alpha-0002")  # identities compare without case
    assert by_identity.rows("charger") == ["alpha-2"]
    by_expected = await site.page("/search?q=EXP-ALPHA")
    assert by_expected.rows("charger") == ["alpha-2"]
    by_reported = await site.page("/search?q=sn-77")
    assert by_reported.rows("charger") == ["alpha-1"]
    row = by_reported.one("tr", data_charger="alpha-1")
    assert BOOTED_SERIAL in row.text and "Alpha Depot Amsterdam" in row.text


async def test_locations_by_name_or_display_name_and_cards_by_holder_or_id_tag(
    site: Site,
) -> None:
    page = await site.page("/search?q=amsterdam")
    assert page.rows("location") == ["alpha-depot"]
    assert "/locations/alpha-depot" in page.links()
    assert (await site.page("/search?q=beta-shared")).rows("location") == ["beta-shared"]
    by_holder = await site.page("/search?q=ann alder")
    assert by_holder.rows("card") == ["ann-card"]
    by_tag = await site.page("/search?q=04ann")
    assert by_tag.rows("card") == ["ann-card"]
    card = by_tag.one("tr", data_card="ann-card")
    assert "Alpha Fleet" in card.text and "Accepted" in card.text
    # A card has no page: its id tag links to the search for it; the locations accepting it
    # that the reader sees are links.
    assert "/search?q=04ANN0001" in by_tag.links()
    assert "/locations/alpha-depot" in by_tag.links()


async def test_results_are_grouped_best_match_first_and_limited(site: Site) -> None:
    page = await site.page("/search?q=alpha")
    groups = [e.attrs["data-kind"] for e in page.find("section") if "data-kind" in e.attrs]
    assert groups == ["charger", "location", "card"]  # Ann's card: her e-mail has "alpha"
    headings = [" ".join(e.text.split()) for e in page.find("h2")]
    assert headings[0].startswith("Chargers") and headings[1].startswith("Locations")
    chargers = page.one("section", data_kind="charger")
    assert chargers.attrs["data-total"] == "17"  # alpha-1, alpha-2, 15 bulk ones
    rows = page.rows("charger")
    assert len(rows) == search.LIMIT
    assert rows[:2] == ["alpha-1", "alpha-2"]  # names that start with it, by name
    assert "Showing the first 10 of 17." in " ".join(chargers.text.split())
    assert "/chargers?q=alpha" in page.links()
    exact = await site.page("/search?q=ab-03")
    assert exact.rows("charger") == ["alpha-bulk-03"]  # the identity, whole


async def test_nothing_out_of_scope_is_found(site: Site) -> None:
    # Ann (Alpha) sees her depot and the shared garage, not Beta's hub or Beta's cards.
    ann = await site.page("/search?q=beta")
    assert ann.rows("location") == ["beta-shared"]
    assert ann.rows("charger") == []
    assert ann.rows("card") == []
    assert "Beta Hub" not in ann.html and "BETA-0001" not in ann.html
    # bob-card is accepted at the shared garage Ann sees; beta-only is not.
    bob_card = await site.page("/search?q=birch")
    assert bob_card.rows("card") == ["bob-card"]
    # Bob (Beta) sees Beta's things and none of Alpha's.
    bob = await site.page("/search?q=alpha", who=BOB)
    assert bob.rows("charger") == [] and bob.rows("location") == []
    assert (await site.page("/search?q=sn-77", who=BOB)).rows("charger") == []
    assert (await site.page("/search?q=04ANN", who=BOB)).rows("card") == []
    assert (await site.page("/search?q=birch", who=BOB)).rows("card") == ["beta-only", "bob-card"]
    # Someone in no team gets the page saying so, and no result.
    stranger = await site.page("/search?q=alpha", who=STRANGER, status=403)
    assert stranger.rows("charger") == [] and "alpha-1" not in stranger.html


async def test_the_local_user_finds_everything(site: Site) -> None:
    # No proxy header from a trusted proxy is refused; the local mode has its own server.
    options = site.web.options
    local = WebServer(
        site.running.central,
        site.running.endpoint,
        WebOptions(host=options.host, port=0),
    )
    await local.start()
    try:
        async with site.http.get(local.url + "/search.json?q=birch") as response:
            document = await response.json()
    finally:
        await local.close()
    cards = [g for g in document["groups"] if g["kind"] == "card"][0]
    assert [item["name"] for item in cards["items"]] == ["beta-only", "bob-card"]


async def test_an_empty_or_blank_query_finds_nothing_and_says_what_to_type(site: Site) -> None:
    for query in ("", "%20%20"):
        page = await site.page(f"/search?q={query}")
        assert page.rows("charger") == [] and page.find("section") == []
        assert "OCPP identity" in page.one("p", id="search-summary").text
    missing = await site.page("/search?q=no-such-thing")
    assert missing.one("p", id="search-summary").attrs["data-total"] == "0"


async def test_what_was_typed_is_shown_escaped(site: Site) -> None:
    page = await site.page("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in page.html
    assert "&lt;script&gt;alert(1)" in page.html
    assert all("src" in e.attrs for e in page.find("script"))
    assert page.one("input", id="search-page-box").attrs["value"] == "<script>alert(1)</script>"


async def test_the_header_box_keeps_the_query_and_submits_to_search(site: Site) -> None:
    page = await site.page("/search?q=alpha-1")
    box = page.one("input", id="search-box")
    assert box.attrs["value"] == "alpha-1" and box.attrs["name"] == "q"
    form = [e for e in page.find("form") if e.attrs.get("action") == "/search"]
    assert form and all(e.attrs.get("method") == "get" for e in form)
    assert any(e.attrs.get("src") == "/static/search.js" for e in page.find("script"))


# --- the dropdown's JSON -------------------------------------------------------------------------


async def test_json_has_the_same_results_with_labels_and_links(site: Site) -> None:
    document = await site.json("/search.json?q=alpha")
    assert document["query"] == "alpha" and document["total"] == 19
    kinds = [group["kind"] for group in document["groups"]]
    assert kinds == ["charger", "location", "card"]
    chargers = document["groups"][0]
    assert chargers["label"] == "Chargers" and chargers["total"] == 17
    assert len(chargers["items"]) == search.LIMIT
    assert chargers["more"] == {"href": "/chargers?q=alpha", "label": "All 17 matching chargers"}
    first = chargers["items"][0]
    assert first == {
        "kind": "charger",
        "name": "alpha-1",
        "label": "alpha-1",
        "detail": "ALPHA-0001 · Alpha Depot Amsterdam",
        "href": "/chargers/alpha-1",
    }
    by_serial = await site.json("/search.json?q=sn-77")
    assert by_serial["groups"][0]["items"][0]["detail"] == (
        f"ALPHA-0001 · Alpha Depot Amsterdam · {BOOTED_SERIAL}"
    )
    assert document["all"] == {"href": "/search?q=alpha", "label": "All results for “alpha”"}
    assert document["summary"] == "19 results"
    locations = document["groups"][1]
    assert locations["items"] == [
        {
            "kind": "location",
            "name": "alpha-depot",
            "label": "Alpha Depot Amsterdam",
            "detail": "alpha-depot",
            "href": "/locations/alpha-depot",
        }
    ]
    assert locations["more"] is None


async def test_json_is_in_the_readers_language_and_scoped(site: Site) -> None:
    async with site.http.get(
        site.web.url + "/search.json?q=04",
        headers={"X-Forwarded-Email": BOB, "Accept-Language": "nl-NL,nl;q=0.9"},
    ) as response:
        document = await response.json()
    assert [group["label"] for group in document["groups"]] == ["Passen"]
    assert [item["name"] for item in document["groups"][0]["items"]] == ["beta-only", "bob-card"]
    empty = await site.json("/search.json?q=", who=BOB)
    assert empty == {
        "query": "",
        "total": 0,
        "groups": [],
        "all": None,
        "summary": "",
        "empty": "",
    }
    nothing = await site.json("/search.json?q=zzz", who=BOB)
    assert nothing["groups"] == [] and nothing["empty"] == "Nothing found for “zzz”."
    async with site.http.get(
        site.web.url + "/search.json?q=alpha", headers={"X-Forwarded-Email": STRANGER}
    ) as response:
        assert response.status == 403
        assert "alpha-1" not in await response.text()
