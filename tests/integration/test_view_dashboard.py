"""The dashboard over HTTP: the real central system, store and web server, HTML parsed as a
browser would get it, and what a person would notice on the page.

Team ops (ann) owns the depot (CP-16, CP-201, CP-AUTH) and the shared-lot (CP-S), where team
bravo is a member; bravo (bee) owns the bravo-yard (CP-B). The store is given what chargers
and the reconciler would have written (connections, conditions, key statuses, transactions),
through the store's own interface, so every state the page shows is there without waiting.
The fixtures are shared with tests/integration/test_view_locations.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from controller.runtime.serve import Running, ServeOptions, running
from controller.values.records import (
    ChargerCondition,
    KeyState,
    KeyStatus,
    MeterSample,
    TransactionStart,
    TransactionStop,
)
from controller.web.app import WebOptions, WebServer, parse_networks
from tests.integration.rawclient import RawCharger

FLEET = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: ops}
spec:
  displayName: Ops
  handle: ops
  teammates: [{email: ann@ops.example, role: Owner}, {email: max@both.example, role: Admin}]
---
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: bravo}
spec:
  displayName: Bravo
  handle: bravo
  teammates: [{email: bee@bravo.example, role: Owner}, {email: max@both.example, role: Viewer}]
---
apiVersion: chargectl.io/v1alpha1
kind: Tariff
metadata: {name: standard}
spec: {currency: EUR, energyPrice: "0.30", startFee: "0.50", vatRate: "21"}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: depot}
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
  tariff: standard
  acceptedCards: {teams: [ops]}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: bravo-yard}
spec: {team: bravo, displayName: Bravo yard, timezone: America/New_York}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: shared-lot}
spec:
  team: ops
  displayName: Shared lot
  timezone: Europe/Amsterdam
  members: [{team: bravo, role: Viewer}]
  address: {street: Kade 1, postalCode: 1011 AA, city: Amsterdam, country: NL}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: good}
spec: {idTag: "04AABBCC", team: ops, holder: {name: Ann Ops}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: blocked}
spec: {idTag: "04BLOCKED", team: ops, status: Blocked}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: foreign}
spec: {idTag: "04FOREIGN", team: bravo}
"""

CHARGER = """---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: {name}}}
spec:
  ocppIdentity: {identity}
  location: {location}
  ocppVersion: "{version}"
  connectors:
{connectors}"""

CHARGERS = [
    ("cp-16", "CP-16", "depot", "1.6", 2),
    ("cp-201", "CP-201", "depot", "2.0.1", 2),
    ("cp-auth", "CP-AUTH", "depot", "1.6", 1),
    ("cp-s", "CP-S", "shared-lot", "1.6", 1),
    ("cp-b", "CP-B", "bravo-yard", "1.6", 1),
]
"""Name, identity, location, OCPP version, connectors (Type2, 32 A)."""

ANN = {"X-Forwarded-Email": "ann@ops.example"}
BEE = {"X-Forwarded-Email": "bee@bravo.example"}
MAX = {"X-Forwarded-Email": "max@both.example"}
"""A teammate of both teams: sees every location."""
EVE = {"X-Forwarded-Email": "eve@elsewhere.example"}
BOOT = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}


# --- HTML as a tree --------------------------------------------------------------------------

VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Descendants with this tag and these attributes (`class_` for class, words)."""
        found = []
        for node in self.walk():
            if tag is not None and node.tag != tag:
                continue
            if all(_matches(node, name, value) for name, value in attrs.items()):
                found.append(node)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}> found"
        return found[0]

    def by_id(self, id_: str) -> Node:
        return self.one(id=id_)


def _matches(node: Node, name: str, value: str) -> bool:
    name = name.rstrip("_").replace("_", "-")
    if name == "class":
        return value in node.attrs.get("class", "").split()
    return node.attrs.get(name) == value


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def table_rows(table: Node) -> list[list[str]]:
    """The body rows of a table, each as the text of its cells."""
    body = table.one("tbody")
    return [[cell.text for cell in row.all() if cell.tag in ("th", "td")] for row in body.all("tr")]


# --- the running view ------------------------------------------------------------------------


@dataclass
class Site:
    running: Running
    web: WebServer
    http: aiohttp.ClientSession

    async def fetch(
        self, path: str, headers: dict[str, str] | None = None, status: int = 200
    ) -> tuple[str, CIMultiDictProxy[str]]:
        """GET as `headers` name (MAX, who sees every location, when they name nobody)."""
        async with self.http.get(
            self.web.url + path, headers={**MAX, **(headers or {})}
        ) as response:
            text = await response.text()
            assert response.status == status, text[:2000]
            return text, response.headers

    async def page(
        self, path: str, headers: dict[str, str] | None = None, status: int = 200
    ) -> Node:
        text, answer = await self.fetch(path, headers, status)
        assert answer["Content-Type"].startswith("text/html")
        assert "Server-Timing" in answer
        return parse(text)


def write_view_fleet(root: Path) -> Path:
    docs = [FLEET]
    for name, identity, location, version, connectors in CHARGERS:
        lines = "".join(
            f"    - {{id: {i}, type: Type2, maxCurrent: 32}}\n" for i in range(1, connectors + 1)
        )
        docs.append(
            CHARGER.format(
                name=name, identity=identity, location=location, version=version, connectors=lines
            )
        )
    fleet = root / "fleet"
    fleet.mkdir()
    (fleet / "fleet.yaml").write_text("".join(docs))
    return fleet


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with served(write_view_fleet(tmp_path)) as started:
        yield started


@asynccontextmanager
async def served(fleet: Path) -> AsyncIterator[Site]:
    """The central system on `fleet` (its store beside it) and the web view, 127.0.0.1 being
    a trusted proxy so each request's X-Forwarded-Email names who is looking."""
    options = ServeOptions(
        reconcile=False,  # the tests write what the reconciler would have recorded
        paths=[fleet],
        store_url=f"sqlite:///{fleet.parent / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=2.0,
        allow_unknown=True,
    )
    trusted = WebOptions("127.0.0.1", 0, trusted_proxies=parse_networks(["127.0.0.1"]))
    async with running(options) as started:
        web = WebServer(started.central, started.endpoint, trusted)
        await web.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Site(started, web, http)
        finally:
            await web.close()


async def connect(site: Site, identity: str, path: str = "") -> RawCharger:
    url = site.running.url + (f"/{path}" if path else "")
    charger = await RawCharger.connect(url, identity, subprotocols=["ocpp1.6"])
    await charger.call("BootNotification", BOOT)
    return charger


async def report_ground_failure(charger: RawCharger, at: datetime) -> None:
    """The charger says connector 2 is Faulted with a GroundFailure, as OCPP 1.6 puts it."""
    await charger.call(
        "StatusNotification",
        {
            "connectorId": 2,
            "errorCode": "GroundFailure",
            "status": "Faulted",
            "timestamp": at.isoformat(),
        },
    )


async def session(
    site: Site,
    identity: str,
    started: datetime,
    minutes: float | None,
    wh: int,
    *,
    connector: int = 1,
    id_tag: str = "04AABBCC",
) -> int:
    """A transaction as the store records it from a charger; open when `minutes` is None."""
    store = site.running.central.store
    begun = await store.start_transaction(
        TransactionStart(identity, connector, started, 1000, id_tag=id_tag)
    )
    if minutes is not None:
        stopped = started + timedelta(minutes=minutes)
        await store.add_meter_values(
            [
                MeterSample(identity, connector, started, "1000", transaction_id=begun.id),
                MeterSample(identity, connector, stopped, str(1000 + wh), transaction_id=begun.id),
            ]
        )
        await store.stop_transaction(
            TransactionStop(identity, stopped, transaction_id=begun.id, meter_stop_wh=1000 + wh)
        )
    return begun.id


async def synced(site: Site, identity: str, status: str, message: str = "") -> None:
    await site.running.central.store.record_conditions(
        [
            ChargerCondition(
                identity,
                "Synced",
                status,
                "InSync" if status == "True" else "Pending",
                message,
                datetime.now(UTC),
            )
        ]
    )


# --- the dashboard ---------------------------------------------------------------------------


def tile(page: Node, key: str) -> str:
    [found] = [n for n in page.all("li") if n.attrs.get("data-count") == key] or [None]
    if found is None:
        [found] = [n for n in page.all("li") if n.attrs.get("data-total") == key]
    return found.one(class_="value").text


async def test_the_dashboard_counts_connection_and_sync_apart(site: Site) -> None:
    await connect(site, "CP-16")
    await connect(site, "CP-S")
    await connect(site, "CP-STRANGER", "depot")  # pending, through the depot's URL
    await synced(site, "CP-16", "True")
    await synced(site, "CP-S", "False", "MeterValueSampleInterval rejected")
    await synced(site, "CP-201", "False")
    store = site.running.central.store
    now = datetime.now(UTC)
    await store.record_key_statuses(
        [
            KeyStatus("CP-S", "MeterValueSampleInterval", KeyState.REJECTED, "60", now),
            KeyStatus("CP-201", "HeartbeatInterval", KeyState.PENDING, "120", now),
        ]
    )
    page = await site.page("/")
    assert page.one("h1").text == "Dashboard"
    # Five declared chargers, two connected; the pending one is counted apart.
    assert (tile(page, "connected"), tile(page, "offline"), tile(page, "pending")) == (
        "2",
        "3",
        "1",
    )
    counted = [tile(page, key) for key in ("Synced", "OutOfSync", "Blocked", "Unknown")]
    assert counted == ["1", "1", "1", "2"]
    link = page.by_id("sync-tiles").all("a")[2].attrs["href"]
    assert link == "/chargers?sync=Blocked"

    # The blocked charger needs attention, saying which key; nothing else does yet.
    rows = page.by_id("attention-table").one("tbody").all("tr")
    assert [row.attrs["data-charger"] for row in rows] == ["cp-s"]
    assert "MeterValueSampleInterval (Rejected)" in rows[0].text
    assert [a.attrs["href"] for a in rows[0].all("a")] == [
        "/chargers/cp-s",
        "/locations/shared-lot",
    ]


async def test_chargers_needing_attention_say_why(site: Site) -> None:
    store = site.running.central.store
    now = datetime.now(UTC)
    await store.record_connected("CP-201", now - timedelta(hours=2), "10.0.0.9", "2.0.1")
    await store.record_disconnected("CP-201", now - timedelta(minutes=40), "closed")
    await store.record_connected("CP-AUTH", now - timedelta(hours=2), "10.0.0.8", "1.6")
    await store.record_disconnected("CP-AUTH", now - timedelta(minutes=2), "rebooting")
    cp16 = await connect(site, "CP-16")
    await report_ground_failure(cp16, now)
    await synced(site, "CP-S", "False")
    await store.record_key_statuses(
        [KeyStatus("CP-S", "firmware", KeyState.FAILED, "https://fw/2.bin", now, "DownloadFailed")]
    )
    page = await site.page("/")
    rows = {
        row.attrs["data-charger"]: row
        for row in page.by_id("attention-table").one("tbody").all("tr")
    }
    # CP-AUTH left two minutes ago (a reboot, say): not yet a concern; never-connected cp-b
    # is counted offline but not listed.
    assert set(rows) == {"cp-16", "cp-s", "cp-201"}
    assert rows["cp-16"].attrs["data-concerns"] == "faulted"
    assert "Connector 2 · GroundFailure" in rows["cp-16"].text
    assert rows["cp-s"].attrs["data-concerns"] == "firmware-failed"
    assert "DownloadFailed" in rows["cp-s"].text
    assert rows["cp-201"].attrs["data-concerns"] == "offline"
    assert "40 minutes ago" in rows["cp-201"].text
    # Most pressing first: the fault, then the firmware, then the long absence.
    order = [r.attrs["data-charger"] for r in page.by_id("attention-table").one("tbody").all("tr")]
    assert order == ["cp-16", "cp-s", "cp-201"]


async def test_sessions_and_energy_today_this_month_and_per_day_in_the_viewers_zone(
    site: Site,
) -> None:
    now = datetime.now(UTC)
    # A zone far from UTC where the sessions of the last half hour began today, whatever the
    # time the test runs (in Auckland they did not from 00:00 to 00:30 local time).
    zone = next(
        z
        for z in map(ZoneInfo, ("Pacific/Auckland", "America/Los_Angeles", "Asia/Tokyo"))
        if time(1) <= now.astimezone(z).time() <= time(22, 30)
    )
    zone_cookie = {"Cookie": f"chargectl-tz={zone.key}"}
    await session(site, "CP-16", now - timedelta(minutes=30), 20, 5000)
    await session(site, "CP-S", now - timedelta(minutes=10), None, 0)
    await session(site, "CP-B", now - timedelta(days=3), 60, 12_000)
    await session(site, "CP-16", now - timedelta(days=45), 60, 99_000)  # outside both
    page = await site.page("/", zone_cookie)
    assert tile(page, "sessions-today") == "2"
    assert tile(page, "energy-today") == "5.0 kWh"
    rows = table_rows(page.by_id("energy-per-day").one("table"))
    assert len(rows) == 30
    today = now.astimezone(zone).date()
    three_ago = (now - timedelta(days=3)).astimezone(zone).date()
    by_day = {row[0]: row[1:] for row in rows}
    assert by_day[today.isoformat()] == ["2", "5.0"]
    assert by_day[three_ago.isoformat()] == ["1", "12.0"]
    sessions_month = int(tile(page, "sessions-month"))
    assert sessions_month == 2 + (three_ago.month == today.month)


async def test_a_teammate_sees_only_their_own_chargers_and_sessions(site: Site) -> None:
    now = datetime.now(UTC)
    await connect(site, "CP-16")
    await connect(site, "CP-B")
    await session(site, "CP-16", now - timedelta(minutes=30), 20, 5000)
    await session(site, "CP-B", now - timedelta(minutes=20), 20, 7000)
    await session(site, "CP-S", now - timedelta(minutes=20), 20, 1000)
    page = await site.page("/", BEE)  # bravo-yard and shared-lot (member): CP-B, CP-S
    assert (tile(page, "connected"), tile(page, "offline")) == ("1", "1")
    assert tile(page, "sessions-today") == "2" and tile(page, "energy-today") == "8.0 kWh"
    assert "cp-16" not in str(page.text)
    everyone = await site.page("/")  # max, of both teams: everything
    assert tile(everyone, "sessions-today") == "3"
    await site.page("/", EVE, status=403)


async def test_a_large_fleets_dashboard_agrees_with_the_chargers_table(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From SHARED_FROM chargers (here 1) the dashboard counts the chargers table's shared
    snapshot, so a tile and the filtered table it links to give the same number, and a
    charger that connects is counted once the snapshot is refreshed."""
    from controller.web.view import shared

    monkeypatch.setattr(shared, "SHARED_FROM", 1)
    monkeypatch.setattr(shared, "FRESH", 3600.0)
    assert tile(await site.page("/"), "connected") == "0"
    cp16 = await connect(site, "CP-16")
    assert tile(await site.page("/"), "connected") == "0"  # the snapshot the table shows too
    table = await site.page("/chargers?connection=connected")
    assert table.by_id("chargers-count").attrs["data-total"] == "0"
    monkeypatch.setattr(shared, "FRESH", 0.0)
    deadline = asyncio.get_running_loop().time() + 10
    while tile(await site.page("/"), "connected") == "0":
        assert asyncio.get_running_loop().time() < deadline, "the snapshot was never refreshed"
    table = await site.page("/chargers?connection=connected")
    assert table.by_id("chargers-count").attrs["data-total"] == "1"
    await cp16.close()
