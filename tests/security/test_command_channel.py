"""Threat: someone who can reach the server's HTTP ports resets, unlocks or remote-starts a
charger, or reads the fleet.

Commands travel only on the admin channel, which asks every request for a bearer token; the
status API (the listener the read-only web view serves) has no route that acts, and answers
only on loopback unless a trusted proxy names who is asking. Everything binds to loopback
unless told otherwise. A real central system with both listeners on loopback, a real SQLite
file, and a bare OCPP-J charger (tests/integration/rawclient.py) that records what it is sent.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.runtime.serve import Running, ServeOptions, running
from controller.web.tokens import read_tokens
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

BOOT = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}
RESET = {"command": "reset", "hard": True}


@dataclass
class Served:
    running: Running
    http: aiohttp.ClientSession
    token: str
    charger: RawCharger

    @property
    def admin(self) -> str:
        assert self.running.admin is not None
        return self.running.admin.url

    @property
    def status_api(self) -> str:
        assert self.running.web is not None
        return self.running.web.url

    async def command(self, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        url = f"{self.admin}/api/chargers/CP-16/commands"
        async with self.http.post(url, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def command_events(self) -> list[str]:
        await self.running.central.store.flush()
        events = await self.running.central.store.events("CP-16")
        return [event.message for event in events if event.kind == "Command"]

    async def metric(self, name: str, **labels: str) -> float:
        async with self.http.get(f"{self.status_api}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return 0.0


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    token_file = tmp_path / "config" / "admin-token"
    options = ServeOptions(
        reconcile=False,  # the charger below answers only what a command sends
        paths=[write_fleet(tmp_path)],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        port=0,
        http_port=0,
        admin_port=0,
        admin_tokens=token_file,
        call_timeout=2.0,
    )
    async with running(options) as started, aiohttp.ClientSession() as http:
        cp = await RawCharger.connect(started.url, "CP-16", subprotocols=["ocpp1.6"])
        await cp.call("BootNotification", BOOT)
        [token] = read_tokens(token_file)
        yield Served(started, http, token.secret, cp)


async def answer_next(cp: RawCharger) -> list[Any]:
    call = await cp.next_server_call(timeout=10)
    await cp.answer(call[1], {"status": "Accepted"})
    return call


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no-token"),
        ({"Authorization": "Bearer not-the-token"}, "wrong-token"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "wrong-token"),
        ({"X-Forwarded-Email": "admin@example.com"}, "no-token"),
    ],
)
async def test_a_command_without_a_valid_token_is_a_401_and_nothing_reaches_the_charger(
    served: Served, headers: dict[str, str], reason: str
) -> None:
    status, document = await served.command(RESET, headers)
    assert status == 401 and document["error"]["code"] == "unauthorized"

    # The charger's next CALL is the one a valid token sends: nothing came before it.
    authorised = {"Authorization": f"Bearer {served.token}"}
    (status, _), call = await asyncio.gather(
        served.command({"command": "clear-cache"}, authorised), answer_next(served.charger)
    )
    assert status == 200 and call[2] == "ClearCache"
    assert await served.command_events() == [
        "clear authorization cache requested by token:admin: Accepted"
    ]
    assert await served.metric("chargectl_admin_requests_refused_total", reason=reason) == 1


async def test_a_command_with_the_token_is_sent_and_recorded_with_the_tokens_name(
    served: Served,
) -> None:
    authorised = {"Authorization": f"Bearer {served.token}"}
    (status, outcome), call = await asyncio.gather(
        served.command(RESET, authorised), answer_next(served.charger)
    )
    assert status == 200 and outcome["ok"]
    assert call[2:] == ["Reset", {"type": "Hard"}]
    assert await served.command_events() == ["hard reset requested by token:admin: Accepted"]
    counted = await served.metric(
        "chargectl_commands_total", command="reset", outcome="Accepted", requester="admin"
    )
    assert counted == 1


@pytest.mark.parametrize("headers", [{}, {"X-Forwarded-Email": "admin@example.com"}])
async def test_the_status_api_has_no_route_that_acts_on_a_charger(
    served: Served, headers: dict[str, str]
) -> None:
    url = f"{served.status_api}/api/chargers/CP-16/commands"
    async with served.http.post(url, json=RESET, headers=headers) as response:
        assert response.status in (404, 405)
    assert await served.command_events() == []


async def test_the_token_never_reaches_the_log(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await served.command(RESET, {"Authorization": "Bearer not-the-token"})
    authorised = {"Authorization": f"Bearer {served.token}"}
    await asyncio.gather(served.command(RESET, authorised), answer_next(served.charger))
    assert "refused POST /api/chargers/CP-16/commands" in caplog.text
    assert served.token not in caplog.text and "not-the-token" not in caplog.text


async def test_no_listener_can_be_reached_from_beyond_loopback_by_default(served: Served) -> None:
    address = _address_of_this_machine()
    if address is None:
        pytest.skip("this machine has no address beyond loopback to connect from")
    assert served.running.web is not None and served.running.admin is not None
    ports = {
        "OCPP endpoint": served.running.endpoint.port,
        "status API": served.running.web.port,
        "admin channel": served.running.admin.port,
    }
    for what, port in ports.items():
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(address, port)
            pytest.fail(f"the {what} answered on {address}:{port}")


def _address_of_this_machine() -> str | None:
    """An address of this machine that is not loopback (where a neighbour would connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_the_status_api_answers_a_peer_beyond_loopback_only_through_a_trusted_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = _address_of_this_machine()
    if address is None:
        pytest.skip("this machine has no address beyond loopback to connect from")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    fleet = write_fleet(tmp_path)

    def listening_everywhere(trusted_proxies: list[str]) -> ServeOptions:
        return ServeOptions(
            reconcile=False,
            paths=[fleet],
            store_url=f"sqlite:///{tmp_path / 'state.db'}",
            port=0,
            http_host="0.0.0.0",
            http_port=0,
            trusted_proxies=trusted_proxies,
        )

    async with running(listening_everywhere([])) as started, aiohttp.ClientSession() as http:
        assert started.web is not None
        base = f"http://{address}:{started.web.port}"
        async with http.get(f"{base}/api/chargers") as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "loopback-only"
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 200  # probes answer the kubelet wherever it is
        async with http.get(f"{started.web.url}/api/chargers") as response:
            assert response.status == 200  # the local user on loopback

    async with running(listening_everywhere([address])) as started, aiohttp.ClientSession() as http:
        assert started.web is not None
        base = f"http://{address}:{started.web.port}"
        async with http.get(f"{base}/api/chargers") as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "no-identity"
        named = {"X-Forwarded-Email": "ann@example.com"}
        async with http.get(f"{base}/api/chargers", headers=named) as response:
            assert response.status == 200
