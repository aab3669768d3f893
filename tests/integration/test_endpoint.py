"""The OCPP endpoint over real sockets on loopback, with a real SQLite file.

Charger-side frames come from a bare websocket client (tests/integration/rawclient.py), so the
assertions are on what goes over the wire, not on what a library makes of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from controller.runtime.serve import Running, ServeOptions, running
from controller.values.commands import CallFailed, ConfigurationReport, FailureKind
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

NOW = "2026-11-25T10:00:00Z"
BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "NG910", "firmwareVersion": "6.1"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ABB", "model": "Terra AC"}}


@pytest.fixture
def fleet_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    return write_fleet(tmp_path)


def options(fleet_dir: Path, **extra: object) -> ServeOptions:
    return ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[fleet_dir],
        store_url=f"sqlite:///{fleet_dir.parent / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=2.0,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def server(fleet_dir: Path) -> AsyncIterator[Running]:
    async with running(options(fleet_dir)) as started:
        yield started


async def charger16(server: Running, identity: str = "CP-16") -> RawCharger:
    return await RawCharger.connect(server.url, identity, subprotocols=["ocpp1.6"])


async def test_a_declared_16_charger_boots_accepted_with_the_fleets_heartbeat_interval(
    server: Running,
) -> None:
    cp = await charger16(server)
    reply = await cp.call("BootNotification", BOOT_16)
    assert reply[0] == 3
    assert reply[2]["status"] == "Accepted"
    assert reply[2]["interval"] == 120  # the location's chargerDefaults.settings
    await server.central.store.flush()
    record = await server.central.store.charger("CP-16")
    assert record is not None and record.boot is not None
    assert (record.boot.vendor, record.boot.model) == ("Alfen", "NG910")
    assert record.connected and record.ocpp_version == "1.6"


async def test_a_declared_201_charger_boots_accepted(server: Running) -> None:
    cp = await RawCharger.connect(server.url, "CP-201", subprotocols=["ocpp2.0.1"])
    reply = await cp.call("BootNotification", BOOT_201)
    assert reply[2]["status"] == "Accepted"
    assert reply[2]["interval"] == 120


async def test_an_identity_not_in_the_fleet_is_refused_with_404(server: Running) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await RawCharger.connect(server.url, "CP-STRANGER", subprotocols=["ocpp1.6"])
    assert refused.value.response.status_code == 404


async def test_unknown_chargers_are_recorded_as_pending_when_allowed(fleet_dir: Path) -> None:
    async with running(options(fleet_dir, allow_unknown=True)) as server:
        cp = await RawCharger.connect(server.url, "CP-STRANGER", subprotocols=["ocpp1.6"])
        reply = await cp.call("BootNotification", BOOT_16)
        assert reply[2]["status"] == "Pending"
        record = await server.central.store.charger("CP-STRANGER")
        assert record is not None and record.pending


async def test_profile_1_charger_without_credentials_is_refused_with_401(server: Running) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await RawCharger.connect(server.url, "CP-AUTH", subprotocols=["ocpp1.6"])
    assert refused.value.response.status_code == 401


async def test_profile_1_charger_with_a_wrong_password_is_refused_and_counted(
    server: Running,
) -> None:
    for _ in range(3):
        with pytest.raises(InvalidStatus) as refused:
            await RawCharger.connect(
                server.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="guess"
            )
        assert refused.value.response.status_code == 401
    assert server.endpoint.auth_failures_total == 3
    recent = server.endpoint.throttle.recent("127.0.0.1", "CP-AUTH")
    assert recent == pytest.approx(3, rel=0.01)  # the next refusal from here is held back


async def test_profile_1_charger_with_another_identity_as_user_is_refused(
    server: Running,
) -> None:
    with pytest.raises(InvalidStatus):
        await RawCharger.connect(
            server.url,
            "CP-AUTH",
            subprotocols=["ocpp1.6"],
            user="CP-16",
            password="s3cret-password",
        )


async def test_profile_1_charger_with_its_password_connects(server: Running) -> None:
    cp = await RawCharger.connect(
        server.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="s3cret-password"
    )
    reply = await cp.call("BootNotification", BOOT_16)
    assert reply[2]["status"] == "Accepted"


async def test_a_16_charger_offering_only_201_is_closed_without_a_subprotocol(
    server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    cp = await RawCharger.connect(server.url, "CP-16", subprotocols=["ocpp2.0.1"])
    assert cp.connection.subprotocol is None
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(cp.connection.recv(), 5)
    assert cp.connection.close_code == 1002
    assert "declared as OCPP 1.6, but it offered ocpp2.0.1" in caplog.text


async def test_heartbeats_are_answered_and_stored(server: Running) -> None:
    cp = await charger16(server)
    await cp.call("BootNotification", BOOT_16)
    reply = await cp.call("Heartbeat", {})
    answered = datetime.fromisoformat(reply[2]["currentTime"])
    assert abs((answered - datetime.now(UTC)).total_seconds()) < 5
    await server.central.store.flush()
    record = await server.central.store.charger("CP-16")
    assert record is not None and record.last_heartbeat is not None


async def test_status_notifications_are_stored_per_connector(server: Running) -> None:
    cp = await charger16(server)
    await cp.call(
        "StatusNotification",
        {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": NOW},
    )
    await server.central.store.flush()
    record = await server.central.store.charger("CP-16")
    assert record is not None
    faulted = {c.connector_id: c for c in record.connectors}[2]
    assert (faulted.status, faulted.error_code) == ("Faulted", "GroundFailure")


@pytest.mark.parametrize(
    ("id_tag", "status"),
    [
        ("04AABBCC", "Accepted"),
        ("04aabbcc", "Accepted"),  # id tags compare case-insensitively
        ("04BLOCKED", "Blocked"),
        ("04EXPIRED", "Expired"),
        ("04FOREIGN", "Invalid"),  # a card the location does not accept
        ("NOSUCHCARD", "Invalid"),
    ],
)
async def test_authorize_answers_from_the_cards_the_location_accepts(
    server: Running, id_tag: str, status: str
) -> None:
    cp = await charger16(server)
    reply = await cp.call("Authorize", {"idTag": id_tag})
    assert reply[2]["idTagInfo"]["status"] == status


async def test_a_transaction_is_stored_with_its_energy(server: Running) -> None:
    cp = await charger16(server)
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "04AABBCC", "meterStart": 1000, "timestamp": NOW},
    )
    transaction_id = started[2]["transactionId"]
    assert started[2]["idTagInfo"]["status"] == "Accepted"
    assert await server.central.store.transaction(transaction_id) is not None  # committed
    await cp.call(
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "meterStop": 13300,
            "timestamp": "2026-11-25T11:00:00Z",
            "reason": "EVDisconnected",
        },
    )
    stored = await server.central.store.transaction(transaction_id)
    assert stored is not None
    assert stored.energy_wh == 12300 and stored.stop_reason == "EVDisconnected"


async def test_a_transaction_begun_before_a_restart_is_completed_after_it(
    fleet_dir: Path,
) -> None:
    async with running(options(fleet_dir)) as first:
        cp = await charger16(first)
        started = await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "04AABBCC", "meterStart": 500, "timestamp": NOW},
        )
        transaction_id = started[2]["transactionId"]
    async with running(options(fleet_dir)) as second:
        cp = await charger16(second)
        stopped = await cp.call(
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": 7500, "timestamp": NOW},
        )
        assert stopped[0] == 3
        stored = await second.central.store.transaction(transaction_id)
        assert stored is not None and stored.energy_wh == 7000
        again = await cp.call(
            "StartTransaction",
            {"connectorId": 2, "idTag": "04AABBCC", "meterStart": 0, "timestamp": NOW},
        )
        assert again[2]["transactionId"] > transaction_id  # ids are never reused


async def test_commands_reach_the_charger_and_its_answer_comes_back(server: Running) -> None:
    cp = await charger16(server)
    await cp.call("BootNotification", BOOT_16)
    commands = server.central.connections["CP-16"]

    async def charger_side() -> None:
        call = await cp.next_server_call()
        assert call[2] == "GetConfiguration"
        await cp.answer(
            call[1],
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                ],
                "unknownKey": ["Bogus"],
            },
        )

    answer, _ = await asyncio.gather(
        commands.get_configuration(["HeartbeatInterval", "Bogus"]), charger_side()
    )
    assert isinstance(answer, ConfigurationReport)
    assert answer.values[0].value == "60" and answer.unknown == ("Bogus",)


async def test_a_command_the_charger_never_answers_times_out_as_a_value(server: Running) -> None:
    cp = await charger16(server)
    await cp.call("BootNotification", BOOT_16)
    commands = server.central.connections["CP-16"]
    answer = await commands.reset(hard=False)
    assert isinstance(answer, CallFailed) and answer.kind is FailureKind.TIMEOUT
    call = await cp.next_server_call()
    assert call[2] == "Reset"


async def test_a_callerror_from_the_charger_is_returned_as_a_value(server: Running) -> None:
    cp = await charger16(server)
    commands = server.central.connections["CP-16"]

    async def charger_side() -> None:
        call = await cp.next_server_call()
        await cp.connection.send(f'[4, "{call[1]}", "NotSupported", "no", {{}}]')

    answer, _ = await asyncio.gather(commands.clear_cache(), charger_side())
    assert isinstance(answer, CallFailed)
    assert (answer.kind, answer.code) == (FailureKind.CALL_ERROR, "NotSupported")


async def test_every_frame_is_in_the_message_log_in_both_directions(server: Running) -> None:
    cp = await charger16(server)
    await cp.call("Heartbeat", {})
    await server.central.store.flush()
    entries = await server.central.store.message_log("CP-16")
    assert [(e.direction.value, e.action) for e in entries][-2:] == [
        ("received", "Heartbeat"),
        ("sent", "Heartbeat"),
    ]
