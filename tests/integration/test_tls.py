"""Security profiles 2 and 3 over real TLS on loopback, with a throwaway CA (devcerts)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from controller.runtime.devcerts import DevPki, make_dev_pki
from controller.runtime.serve import ServeOptions, running
from tests.integration.fleets import write_fleet

pytestmark = pytest.mark.both_loops

PROFILE_2 = """---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {name: cp-tls}
spec:
  ocppIdentity: CP-TLS
  location: depot
  ocppVersion: "1.6"
  connectors: [{id: 1, type: Type2, maxCurrent: 32}]
  security: {profile: 2, basicAuthPassword: {env: CHARGECTL_TEST_TLS_PASSWORD}}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {name: cp-cert}
spec:
  ocppIdentity: CP-CERT
  location: depot
  ocppVersion: "2.0.1"
  connectors: [{id: 1, type: Type2, maxCurrent: 32}]
  security: {profile: 3}
"""


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARGECTL_TEST_TLS_PASSWORD", "tls-password-123")
    root = write_fleet(tmp_path, protected=False)
    (root / "secure.yaml").write_text(PROFILE_2)
    return root


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return make_dev_pki(tmp_path / "pki")


def client_tls(pki: DevPki, identity: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if identity is not None:
        cert, key = pki.client(identity)
        context.load_cert_chain(str(cert), str(key))
    return context


def tls_options(fleet: Path, pki: DevPki) -> ServeOptions:
    return ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[fleet],
        store_url=f"sqlite:///{fleet.parent / 'state.db'}",
        host="127.0.0.1",
        port=0,
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca_cert),
    )


async def test_profile_2_charger_connects_over_tls_with_its_password(
    fleet: Path, pki: DevPki
) -> None:
    async with running(tls_options(fleet, pki)) as server:
        assert server.url.startswith("wss://")
        ws = await connect(
            f"{server.url}/CP-TLS",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ssl=client_tls(pki),
            additional_headers={"Authorization": "Basic Q1AtVExTOnRscy1wYXNzd29yZC0xMjM="},
        )
        assert ws.subprotocol == "ocpp1.6"
        await ws.close()


async def test_profile_2_charger_is_refused_on_a_server_without_tls(fleet: Path) -> None:
    options = ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[fleet],
        store_url=f"sqlite:///{fleet.parent / 's.db'}",
        host="127.0.0.1",
        port=0,
    )
    async with running(options) as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{server.url}/CP-TLS", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        assert refused.value.response.status_code == 403


async def test_profile_3_charger_connects_with_a_client_certificate_naming_it(
    fleet: Path, pki: DevPki
) -> None:
    async with running(tls_options(fleet, pki)) as server:
        ws = await connect(
            f"{server.url}/CP-CERT",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            ssl=client_tls(pki, "CP-CERT"),
        )
        assert ws.subprotocol == "ocpp2.0.1"
        await ws.close()


async def test_profile_3_charger_with_another_chargers_certificate_is_refused(
    fleet: Path, pki: DevPki
) -> None:
    async with running(tls_options(fleet, pki)) as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(
                f"{server.url}/CP-CERT",
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                ssl=client_tls(pki, "CP-16"),
            )
        assert refused.value.response.status_code == 403
