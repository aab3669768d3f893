"""Threat: someone on the chargers' network sends wrong passwords for a charger's identity, to
guess its password or to lock the real charger out.

A right password is admitted at once, whatever failed before, from another address or from
the same one (a charger behind the attacker's NAT); only refusals are held back, for at most a
few seconds (`controller.ocpp.throttle`, unit-tested on a fake clock in
tests/unit/ocpp/test_throttle.py). Failures are a log line with the source address and, in
`/metrics`, a counter and the addresses failing most. The attacker's address here is
127.0.0.2: Linux routes all of 127.0.0.0/8 to loopback, so a client may bind it as its own.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from controller.runtime.serve import Running, ServeOptions, running
from controller.web.app import WebOptions, WebServer
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

PASSWORD = "s3cret-password"
ATTACKER = "127.0.0.2"
CHARGER = "127.0.0.1"
BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    options = ServeOptions(
        reconcile=False,
        paths=[write_fleet(tmp_path)],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
    )
    async with running(options) as started:
        yield started


async def handshake(
    server: Running, password: str, *, source: str, open_timeout: float = 10.0
) -> ClientConnection:
    """CP-AUTH's handshake with `password`, from the local address `source`."""
    token = base64.b64encode(f"CP-AUTH:{password}".encode()).decode()
    return await connect(
        f"{server.url}/CP-AUTH",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers={"Authorization": f"Basic {token}"},
        open_timeout=open_timeout,
        local_addr=(source, 0),
    )


async def wrong_password(server: Running, source: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await handshake(server, "guess", source=source)
    return refused.value.response.status_code


@pytest.mark.parametrize("source", [CHARGER, ATTACKER], ids=["another-address", "same-address"])
async def test_the_right_password_is_admitted_at_once_after_a_burst_of_wrong_ones(
    server: Running, source: str
) -> None:
    statuses = await asyncio.gather(*(wrong_password(server, ATTACKER) for _ in range(10)))
    assert statuses == [401] * 10
    # Within 2 s: before the fix, the 10 failures made this handshake wait 30 s first.
    cp = RawCharger(await handshake(server, PASSWORD, source=source, open_timeout=2.0))
    assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"


async def test_a_wrong_password_is_refused_with_401_and_logged_with_its_source_address(
    server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    assert await wrong_password(server, ATTACKER) == 401
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert line.startswith(f"refused CP-AUTH from {ATTACKER}:")
    assert "wrong user name or password" in line


async def test_a_burst_of_wrong_passwords_shows_in_the_metrics_by_source_address(
    server: Running,
) -> None:
    for _ in range(3):
        assert await wrong_password(server, ATTACKER) == 401
    web = WebServer(server.central, server.endpoint, WebOptions(host="127.0.0.1", port=0))
    await web.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(web.url + "/metrics") as response:
            text = await response.text()
    finally:
        await web.close()
    samples = {
        (sample.name, tuple(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("chargectl_auth_failures_total", ())] == 3
    recent = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "chargectl_auth_failures_recent"
    }
    assert list(recent) == [(("source", ATTACKER),)]
    assert recent[(("source", ATTACKER),)] == pytest.approx(3.0, rel=0.01)
