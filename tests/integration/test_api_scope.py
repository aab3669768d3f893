"""Who sees what through the JSON API, over HTTP, behind a trusted proxy that names the requester.

The real central system and web server (as tests/integration/test_api.py starts them), with
127.0.0.1 as the trusted proxy so the identity header is believed. Team ops owns the depot
(CP-16, CP-201, CP-AUTH); team bravo owns the bravo-yard (CP-B) and has one teammate, bee. A
charger of each team is connected and booted, and one pending charger came through each
location's URL, so every document has something of both teams to leave out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.runtime.serve import Running, ServeOptions, running
from controller.web.app import WebOptions, WebServer, parse_networks
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

BRAVO = """---
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: bravo}
spec:
  displayName: Bravo
  handle: bravo
  teammates: [{email: Bee@Bravo.example, role: Owner}]
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: bravo-yard}
spec: {team: bravo, displayName: Bravo yard}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {name: cp-b}
spec:
  ocppIdentity: CP-B
  location: bravo-yard
  ocppVersion: "1.6"
  connectors: [{id: 1, type: Type2, maxCurrent: 32}]
"""

BEE = {"X-Forwarded-Email": "bee@bravo.example"}
BOOT = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}


@dataclass
class Proxied:
    """The web server behind a trusted proxy on 127.0.0.1, and an HTTP client for it."""

    running: Running
    web: WebServer
    http: aiohttp.ClientSession

    async def get(self, path: str, headers: dict[str, str], status: int = 200) -> Any:
        async with self.http.get(self.web.url + path, headers=headers) as response:
            assert response.status == status, await response.text()
            return await response.json()


@pytest.fixture
async def proxied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxied]:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    fleet = write_fleet(tmp_path)
    (fleet / "bravo.yaml").write_text(BRAVO)
    options = ServeOptions(
        reconcile=False,
        paths=[fleet],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=2.0,
        allow_unknown=True,
    )
    trusted = WebOptions("127.0.0.1", 0, trusted_proxies=parse_networks(["127.0.0.1"]))
    async with running(options) as started:
        chargers = [
            await RawCharger.connect(started.url, "CP-16", subprotocols=["ocpp1.6"]),
            await RawCharger.connect(started.url, "CP-B", subprotocols=["ocpp1.6"]),
            await RawCharger.connect(f"{started.url}/depot", "CP-LOST-A", subprotocols=["ocpp1.6"]),
            await RawCharger.connect(
                f"{started.url}/bravo-yard", "CP-LOST-B", subprotocols=["ocpp1.6"]
            ),
        ]
        for charger in chargers:
            await charger.call("BootNotification", BOOT)
        web = WebServer(started.central, started.endpoint, trusted)
        await web.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Proxied(started, web, http)
        finally:
            await web.close()


def identities(document: dict[str, Any]) -> set[str]:
    return {item["identity"] for item in document["chargers"]}


async def test_the_locations_list_has_only_the_teams_own(proxied: Proxied) -> None:
    document = await proxied.get("/api/locations", BEE)
    assert [item["name"] for item in document["locations"]] == ["bravo-yard"]


async def test_another_teams_location_is_not_found(proxied: Proxied) -> None:
    document = await proxied.get("/api/locations/depot", BEE, status=404)
    assert document["error"]["code"] == "not-found"


async def test_the_teams_own_location_leaves_out_other_teams_pending_chargers(
    proxied: Proxied,
) -> None:
    document = await proxied.get("/api/locations/bravo-yard", BEE)
    assert [c["identity"] for c in document["chargers"]] == ["CP-B"]
    assert [c["identity"] for c in document["pendingChargers"]] == ["CP-LOST-B"]


async def test_the_chargers_list_has_only_the_teams_chargers_and_pending_ones(
    proxied: Proxied,
) -> None:
    document = await proxied.get("/api/chargers", BEE)
    assert identities(document) == {"CP-B", "CP-LOST-B"}
    assert (document["total"], document["connected"], document["pending"]) == (2, 2, 1)


async def test_another_teams_charger_is_not_found_by_name_or_identity(proxied: Proxied) -> None:
    await proxied.get("/api/chargers/cp-16", BEE, status=404)
    await proxied.get("/api/chargers/CP-16", BEE, status=404)
    await proxied.get("/api/chargers/CP-LOST-A", BEE, status=404)
    assert (await proxied.get("/api/chargers/CP-B", BEE))["name"] == "cp-b"


async def test_another_teams_message_log_is_not_found(proxied: Proxied) -> None:
    await proxied.get("/api/chargers/CP-16/log", BEE, status=404)
    own = await proxied.get("/api/chargers/CP-B/log", BEE)
    assert [entry["action"] for entry in own["entries"]] == ["BootNotification"] * 2


async def test_the_plan_has_only_the_teams_chargers(proxied: Proxied) -> None:
    document = await proxied.get("/api/plan", BEE)
    assert [c["name"] for c in document["chargers"]] == ["cp-b"]
    assert document["summary"]["neverConnected"] == 0  # CP-201 (ops, never connected) left out


async def test_someone_in_no_team_is_refused_with_a_403(proxied: Proxied) -> None:
    stranger = {"X-Forwarded-Email": "eve@elsewhere.example"}
    for path in ("/api/locations", "/api/chargers", "/api/chargers/CP-B", "/api/plan"):
        document = await proxied.get(path, stranger, status=403)
        assert document["error"]["code"] == "no-access"


async def test_the_local_user_without_a_proxy_sees_every_team(proxied: Proxied) -> None:
    local = WebServer(proxied.running.central, proxied.running.endpoint, WebOptions("127.0.0.1", 0))
    await local.start()
    try:
        async with proxied.http.get(local.url + "/api/locations") as response:
            assert response.status == 200
            names = [item["name"] for item in (await response.json())["locations"]]
    finally:
        await local.close()
    assert names == ["bravo-yard", "depot"]
