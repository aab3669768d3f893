"""Threat: a made-up identity or URL at the handshake, to be recorded as a charger, to poison
the store and the logs (a 3,000-character name, a NUL byte, a path like `../x`, a newline), or
to connect as a declared charger through a location it does not belong to.

The endpoint accepts `/ocpp/<identity>` and `/ocpp/<location>/<identity>` only; each segment
is percent-decoded and then must be an OCPP identifierString (the identity) or a resource name
(the location). Anything else is refused before anything is looked up or stored: 400 for a bad
identity, 404 for a URL of another shape. The server here admits unknown chargers everywhere
(`--allow-unknown`), so that a refusal can only come from the rules under test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from controller.runtime.serve import Running, ServeOptions, running
from tests.integration.fleets import write_fleet
from tests.integration.rawclient import RawCharger

BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}

YARD = """apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: yard}
spec:
  team: ops
  displayName: Yard
  timezone: Europe/Amsterdam
  tariff: standard
  allowUnknownChargers: true
"""


def options(tmp_path: Path, *, allow_unknown: bool) -> ServeOptions:
    fleet = write_fleet(tmp_path, protected=False)
    (fleet / "yard.yaml").write_text(YARD)
    return ServeOptions(
        reconcile=False,
        paths=[fleet],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        allow_unknown=allow_unknown,
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    """Unknown chargers admitted through any URL: only the identity rules refuse."""
    async with running(options(tmp_path, allow_unknown=True)) as started:
        yield started


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Running]:
    """Unknown chargers admitted only through the yard's URL (its allowUnknownChargers)."""
    async with running(options(tmp_path, allow_unknown=False)) as started:
        yield started


async def handshake(server: Running, path: str) -> ClientConnection:
    base = server.url.removesuffix("/ocpp")
    return await connect(f"{base}{path}", subprotocols=[Subprotocol("ocpp1.6")], open_timeout=5)


async def refused(server: Running, path: str) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refusal:
        await handshake(server, path)
    response = refusal.value.response
    return response.status_code, response.body.decode()


async def nothing_recorded(server: Running) -> None:
    await server.central.store.flush()
    assert await server.central.store.chargers() == []
    assert await server.central.store.events() == []
    assert server.central.pending_locations == {}


BAD_IDENTITIES = {
    "3000-characters": "/ocpp/" + "A" * 3000,
    "49-characters": "/ocpp/" + "A" * 49,
    "nul-byte": "/ocpp/CP%00X",
    "only-nul": "/ocpp/%00",
    "encoded-slash": "/ocpp/CP%2F1",
    "dot-dot-slash": "/ocpp/..%2Fx",
    "newline": "/ocpp/CP-1%0Arefused%20CP-2",
    "space": "/ocpp/CP%201",
    "question-mark": "/ocpp/CP%3F1",
    "non-ascii": "/ocpp/CP-%C3%A9",
    "invalid-utf8": "/ocpp/CP-%FF",
    "bad-escape": "/ocpp/CP-%ZZ",
    "empty-at-a-location": "/ocpp/yard/",
    "bad-location": "/ocpp/Y%20ARD/CP-1",
    "dot-dot-location": "/ocpp/../CP-1",
    "dot-dot": "/ocpp/..",
    "encoded-dot-dot": "/ocpp/%2E%2E",
    "dot": "/ocpp/yard/.",
}


@pytest.mark.parametrize("path", BAD_IDENTITIES.values(), ids=BAD_IDENTITIES.keys())
async def test_an_identity_outside_the_ocpp_rule_is_refused_with_400_and_nothing_is_recorded(
    server: Running, path: str
) -> None:
    status, body = await refused(server, path)
    assert status == 400
    assert body.startswith(("not a valid charger identity", "not a location name"))
    await nothing_recorded(server)


async def test_a_refused_identity_is_logged_escaped_and_cut_short(
    server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    await refused(server, "/ocpp/CP%00%0A%1B[2J")
    await refused(server, "/ocpp/" + "A" * 3000)
    lines = [r.getMessage() for r in caplog.records if "refused a handshake" in r.getMessage()]
    assert len(lines) == 2
    assert all(c not in "".join(lines) for c in "\x00\n\x1b")
    assert "'\\x00', '\\n', '\\x1b'" in lines[0]
    assert "(3006 characters)" in lines[1] and len(lines[1]) < 300


@pytest.mark.parametrize("path", ["/ocpp/", "/ocpp"])
async def test_a_url_without_an_identity_is_refused_with_400(server: Running, path: str) -> None:
    status, body = await refused(server, path)
    assert status == 400 and body.startswith("no charger identity in the URL")
    await nothing_recorded(server)


@pytest.mark.parametrize(
    "path", ["/", "/CP-16", "/other/CP-16", "/OCPP/CP-16", "/ocpp/yard/more/CP-16"]
)
async def test_a_url_of_another_shape_is_refused_with_404_naming_the_shapes(
    server: Running, path: str
) -> None:
    status, body = await refused(server, path)
    assert status == 404
    assert "/ocpp/<identity> or /ocpp/<location>/<identity>" in body
    await nothing_recorded(server)


async def test_an_identity_of_48_characters_is_admitted(server: Running) -> None:
    identity = "A" * 48
    cp = RawCharger(await handshake(server, f"/ocpp/{identity}"))
    assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Pending"
    record = await server.central.store.charger(identity)
    assert record is not None and record.pending


async def test_a_percent_encoded_identity_is_admitted_decoded(server: Running) -> None:
    cp = RawCharger(await handshake(server, "/ocpp/CP%2B1%40site"))
    await cp.call("BootNotification", BOOT_16)
    assert await server.central.store.charger("CP+1@site") is not None


async def test_a_declared_charger_connects_through_its_own_locations_url(
    strict: Running,
) -> None:
    cp = RawCharger(await handshake(strict, "/ocpp/depot/CP-16"))
    assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"


async def test_a_declared_charger_through_another_locations_url_is_refused_saying_where(
    strict: Running,
) -> None:
    status, body = await refused(strict, "/ocpp/yard/CP-16")
    assert status == 404
    assert "CP-16 is declared at location depot, not yard" in body
    await nothing_recorded(strict)


async def test_an_unknown_charger_is_admitted_through_the_url_of_a_location_allowing_it(
    strict: Running,
) -> None:
    cp = RawCharger(await handshake(strict, "/ocpp/yard/CP-NEW"))
    assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Pending"
    record = await strict.central.store.charger("CP-NEW")
    assert record is not None and record.pending
    assert record.pending_location == "yard"


@pytest.mark.parametrize(
    "path",
    ["/ocpp/CP-NEW", "/ocpp/depot/CP-NEW", "/ocpp/nowhere/CP-NEW"],
    ids=["plain-url", "location-not-allowing-unknown", "no-such-location"],
)
async def test_an_unknown_charger_is_refused_with_404_through_any_other_url(
    strict: Running, path: str
) -> None:
    status, body = await refused(strict, path)
    assert status == 404 and body.startswith("unknown charger CP-NEW")
    await nothing_recorded(strict)
