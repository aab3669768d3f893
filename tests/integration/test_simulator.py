"""The simulator against a small central system built in this file on the `ocpp` library.

Everything runs on loopback with simulated time sped up, so the file takes a few seconds. The
central system records every message it receives (and every raw frame), answers as a lenient
CSMS would, and sends commands with the library's `call()`, the way chargectl's endpoint will.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from controller.fleet.checking import check_paths
from controller.fleet.credentials import SecretResolver
from controller.simulator import (
    BadFrame,
    ConnectorSpec,
    FirmwareFailure,
    Identification,
    SimClock,
    SimProfile,
    SimulatedCharger,
    chargers_from_fleet,
    make_charger,
)

pytestmark = pytest.mark.asyncio

SCALE = 200.0
"""Simulated seconds per real second: a 60 s meter interval takes 0.3 s."""

HEARTBEAT = 20
"""Heartbeat interval (simulated seconds) the central system gives in its boot reply."""

VERSIONS = ["1.6", "2.0.1"]

TEST_PROFILE = SimProfile(
    reboot_seconds=5,
    firmware_step_seconds=5,
    upload_seconds=5,
    reconnect_min_seconds=1,
    reconnect_max_seconds=5,
    boot_retry_seconds=5,
    response_timeout=5,
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Record:
    identity: str
    action: str
    payload: dict[str, Any]


@dataclass
class Central:
    """What the central system saw, and how it answers."""

    boot_statuses: list[str] = field(default_factory=list)
    """Answers to the first BootNotifications; Accepted afterwards."""
    retry_interval: int = HEARTBEAT
    """The interval of a Pending or Rejected boot reply."""
    passwords: dict[str, str] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    raw: dict[str, list[str]] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, ChargePoint16 | ChargePoint201] = field(default_factory=dict)
    url: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    transaction_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def record(self, identity: str, action: str, payload: dict[str, Any]) -> None:
        self.records.append(Record(identity, action, payload))
        self.changed.set()

    def of(self, identity: str, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.records if r.identity == identity and r.action == action]

    async def wait_for(
        self,
        identity: str,
        action: str,
        where: Callable[[dict[str, Any]], bool] = lambda _: True,
        *,
        after: int = 0,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The first matching message, waiting for it; `after` skips earlier records."""
        async with asyncio.timeout(timeout):
            while True:
                for r in self.records[after:]:
                    if r.identity == identity and r.action == action and where(r.payload):
                        return r.payload
                self.changed.clear()
                await self.changed.wait()

    async def wait_connections(self, identity: str, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.connections.get(identity, 0) < count:
                self.changed.clear()
                await self.changed.wait()

    async def call(self, identity: str, payload: Any) -> Any:
        return await self.sessions[identity].call(payload)


def _recorder(cls: type[Any]) -> type[Any]:
    """Handlers that record every message and answer like a lenient central system."""

    class Recording(cls):  # type: ignore[misc, valid-type]
        def __init__(self, identity: str, ws: ServerConnection, central: Central) -> None:
            super().__init__(identity, ws, response_timeout=5)
            self.central = central

        def seen(self, action: str, payload: dict[str, Any]) -> None:
            self.central.record(self.id, action, payload)

    return Recording


class Csms16(_recorder(ChargePoint16)):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self.seen("BootNotification", payload)
        statuses = self.central.boot_statuses
        status = statuses.pop(0) if statuses else "Accepted"
        interval = HEARTBEAT if status == "Accepted" else self.central.retry_interval
        return result16.BootNotification(current_time=now(), interval=interval, status=status)

    @on("Heartbeat")
    def on_heartbeat(self, **payload: Any) -> Any:
        self.seen("Heartbeat", payload)
        return result16.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self.seen("StatusNotification", payload)
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str, **payload: Any) -> Any:
        self.seen("Authorize", {"id_tag": id_tag})
        status = "Blocked" if id_tag.startswith("BLOCKED") else "Accepted"
        return result16.Authorize(id_tag_info={"status": status})

    @on("StartTransaction")
    def on_start(self, **payload: Any) -> Any:
        tx = next(self.central.transaction_ids)
        self.seen("StartTransaction", {**payload, "assigned": tx})
        return result16.StartTransaction(transaction_id=tx, id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def on_stop(self, **payload: Any) -> Any:
        self.seen("StopTransaction", payload)
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def on_meter_values(self, **payload: Any) -> Any:
        self.seen("MeterValues", payload)
        return result16.MeterValues()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **payload: Any) -> Any:
        self.seen("FirmwareStatusNotification", payload)
        return result16.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, **payload: Any) -> Any:
        self.seen("DiagnosticsStatusNotification", payload)
        return result16.DiagnosticsStatusNotification()


class Csms201(_recorder(ChargePoint201)):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self.seen("BootNotification", payload)
        statuses = self.central.boot_statuses
        status = statuses.pop(0) if statuses else "Accepted"
        interval = HEARTBEAT if status == "Accepted" else self.central.retry_interval
        return result201.BootNotification(current_time=now(), interval=interval, status=status)

    @on("Heartbeat")
    def on_heartbeat(self, **payload: Any) -> Any:
        self.seen("Heartbeat", payload)
        return result201.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self.seen("StatusNotification", payload)
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **payload: Any) -> Any:
        self.seen("Authorize", {"id_token": id_token})
        status = "Blocked" if id_token["id_token"].startswith("BLOCKED") else "Accepted"
        return result201.Authorize(id_token_info={"status": status})

    @on("TransactionEvent")
    def on_transaction_event(self, **payload: Any) -> Any:
        self.seen("TransactionEvent", payload)
        return result201.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, **payload: Any) -> Any:
        self.seen("MeterValues", payload)
        return result201.MeterValues()

    @on("NotifyReport")
    def on_notify_report(self, **payload: Any) -> Any:
        self.seen("NotifyReport", payload)
        return result201.NotifyReport()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **payload: Any) -> Any:
        self.seen("FirmwareStatusNotification", payload)
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **payload: Any) -> Any:
        self.seen("LogStatusNotification", payload)
        return result201.LogStatusNotification()


@pytest_asyncio.fixture
async def central() -> AsyncIterator[Central]:
    state = Central()

    def authenticate(connection: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rstrip("/").rsplit("/", 1)[-1]
        expected = state.passwords.get(identity)
        if expected is None:
            return None
        token = base64.b64encode(f"{identity}:{expected}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "wrong credentials\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        identity = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        cls = Csms16 if ws.subprotocol == "ocpp1.6" else Csms201
        session = cls(identity, ws, state)
        state.sessions[identity] = session
        state.connections[identity] = state.connections.get(identity, 0) + 1
        state.changed.set()
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode()
                state.raw.setdefault(identity, []).append(text)
                await session.route_message(text)

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        process_request=authenticate,
        max_size=256 * 1024,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        state.url = f"ws://127.0.0.1:{port}/ocpp"
        yield state


@contextlib.asynccontextmanager
async def running(charger: SimulatedCharger) -> AsyncIterator[SimulatedCharger]:
    task = asyncio.ensure_future(charger.run())
    try:
        async with asyncio.timeout(5):
            await charger.booted.wait()
        yield charger
    finally:
        await charger.stop()
        async with asyncio.timeout(5):
            await task


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def simulated(
    central: Central,
    version: str,
    identity: str,
    profile: SimProfile = TEST_PROFILE,
    **options: Any,
) -> SimulatedCharger:
    return make_charger(
        version,
        identity,
        central.url,
        profile=profile,
        clock=SimClock(SCALE),
        **options,
    )


def sampled(payload: dict[str, Any], version: str) -> list[dict[str, Any]]:
    """Every sampled value of a MeterValues / TransactionEvent payload."""
    key = "meter_value"
    values: list[dict[str, Any]] = []
    for mv in payload.get(key) or []:
        values.extend(mv["sampled_value"])
    return values


def measurand(payload: dict[str, Any], version: str, name: str) -> list[float]:
    return [float(v["value"]) for v in sampled(payload, version) if v.get("measurand") == name]


# --- boot, heartbeat, status ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_boots_reports_status_and_heartbeats(central: Central, version: str) -> None:
    charger = simulated(
        central,
        version,
        "CP-BOOT",
        connectors=[ConnectorSpec(1, 32, 3), ConnectorSpec(2, 16, 1)],
        identification=Identification("Alfen BV", "NG910-60023", "ACE0001", "6.4.0"),
    )
    async with running(charger):
        boot = await central.wait_for("CP-BOOT", "BootNotification")
        await central.wait_for("CP-BOOT", "Heartbeat")
        statuses = central.of("CP-BOOT", "StatusNotification")
    if version == "1.6":
        assert boot["charge_point_vendor"] == "Alfen BV"
        assert boot["charge_point_model"] == "NG910-60023"
        assert boot["charge_point_serial_number"] == "ACE0001"
        assert {s["connector_id"] for s in statuses} == {0, 1, 2}
    else:
        assert boot["charging_station"]["vendor_name"] == "Alfen BV"
        assert boot["charging_station"]["serial_number"] == "ACE0001"
        assert boot["reason"] == "PowerUp"
        assert {s["evse_id"] for s in statuses} == {1, 2}
    # The interval from the boot reply is what the charger now keeps in its table.
    key = "HeartbeatInterval" if version == "1.6" else "OCPPCommCtrlr.HeartbeatInterval"
    assert charger.configuration[key] == str(HEARTBEAT)


@pytest.mark.parametrize("version", VERSIONS)
async def test_pending_boot_is_retried(central: Central, version: str) -> None:
    central.boot_statuses = ["Pending", "Rejected"]
    async with running(simulated(central, version, "CP-PENDING")) as charger:
        await central.wait_for("CP-PENDING", "StatusNotification")
        assert charger.boot_count == 3
        assert charger.boot_status == "Accepted"
        # Nothing but BootNotification before being accepted.
        first_other = next(r for r in central.records if r.action != "BootNotification")
        boots = [i for i, r in enumerate(central.records) if r.action == "BootNotification"]
        assert central.records.index(first_other) > boots[-1]


async def test_triggered_boot_ends_pending(central: Central) -> None:
    central.boot_statuses = ["Pending"]
    central.retry_interval = 3600  # the charger would wait half a minute of real time
    charger = simulated(central, "1.6", "CP-TRIGGER")
    task = asyncio.ensure_future(charger.run())
    try:
        await central.wait_for("CP-TRIGGER", "BootNotification")
        await until(lambda: charger.boot_status == "Pending")
        reply = await central.call(
            "CP-TRIGGER", call16.TriggerMessage(requested_message="BootNotification")
        )
        assert reply.status == "Accepted"
        async with asyncio.timeout(2):
            await charger.booted.wait()
        assert charger.boot_count == 2
    finally:
        await charger.stop()
        await task


# --- configuration -------------------------------------------------------------------------------

QUIRKS = replace(
    TEST_PROFILE,
    read_only=frozenset({"LightIntensity", "ClockCtrlr.TimeZone"}),
    reboot_required=frozenset({"WebSocketPingInterval", "TxCtrlr.EVConnectionTimeOut"}),
    ignored=frozenset({"ConnectionTimeOut", "OCPPCommCtrlr.OfflineThreshold"}),
    unsupported=frozenset({"BlinkRepeat", "ReservationCtrlr.Enabled"}),
)


async def test_configuration_quirks_16(central: Central) -> None:
    async with running(simulated(central, "1.6", "CP-CFG16", QUIRKS)) as charger:

        async def change(key: str, value: str) -> str:
            return str(
                (await central.call("CP-CFG16", call16.ChangeConfiguration(key, value))).status
            )

        async def value(key: str) -> str | None:
            reply = await central.call("CP-CFG16", call16.GetConfiguration(key=[key]))
            known = reply.configuration_key or []
            return known[0].get("value") if known else None

        assert await change("NumberOfConnectors", "4") == "Rejected"  # read-only by the spec
        assert await change("LightIntensity", "40") == "Rejected"  # read-only on this charger
        assert await change("MeterValueSampleInterval", "abc") == "Rejected"  # not a number
        assert await change("BlinkRepeat", "2") == "NotSupported"
        assert await change("NoSuchKey", "1") == "NotSupported"
        assert await change("ConnectionTimeOut", "120") == "Accepted"
        assert await value("ConnectionTimeOut") == "60"  # accepted, ignored
        assert await change("heartbeatinterval", "45") == "Accepted"  # keys are case-insensitive
        assert await value("HeartbeatInterval") == "45"
        assert await change("WebSocketPingInterval", "30") == "RebootRequired"
        assert await value("WebSocketPingInterval") == "60"

        everything = await central.call("CP-CFG16", call16.GetConfiguration())
        keys = {k["key"]: k for k in everything.configuration_key}
        assert "BlinkRepeat" not in keys and keys["NumberOfConnectors"]["readonly"] is True
        assert "value" not in keys["AuthorizationKey"]  # write-only: never read back
        unknown = await central.call("CP-CFG16", call16.GetConfiguration(key=["Nope"]))
        assert unknown.unknown_key == ["Nope"]

        mark = len(central.records)
        reset = await central.call("CP-CFG16", call16.Reset(type="Soft"))
        assert reset.status == "Accepted"
        await central.wait_for("CP-CFG16", "BootNotification", after=mark)
        await central.wait_connections("CP-CFG16", 2)
        await charger.booted.wait()
        assert await value("WebSocketPingInterval") == "30"  # applied by the reboot


async def test_configuration_quirks_201(central: Central) -> None:
    async with running(simulated(central, "2.0.1", "CP-CFG201", QUIRKS)) as charger:

        def item(key: str, value: str | None = None) -> dict[str, Any]:
            component, variable = key.split(".", 1)
            name, _, instance = variable.partition("[")
            var: dict[str, Any] = {"name": name}
            if instance:
                var["instance"] = instance.rstrip("]")
            data: dict[str, Any] = {"component": {"name": component}, "variable": var}
            if value is not None:
                data["attribute_value"] = value
            return data

        async def change(key: str, value: str) -> str:
            reply = await central.call(
                "CP-CFG201", call201.SetVariables(set_variable_data=[item(key, value)])
            )
            return str(reply.set_variable_result[0]["attribute_status"])

        async def value(key: str) -> tuple[str, str | None]:
            reply = await central.call(
                "CP-CFG201", call201.GetVariables(get_variable_data=[item(key)])
            )
            result = reply.get_variable_result[0]
            return result["attribute_status"], result.get("attribute_value")

        assert await change("ChargingStation.Model", "X") == "Rejected"  # read-only by the spec
        assert await change("ClockCtrlr.TimeZone", "Europe/Oslo") == "Rejected"
        assert await change("ReservationCtrlr.Enabled", "true") == "UnknownVariable"
        assert await change("NoSuchCtrlr.Thing", "1") == "UnknownComponent"
        assert await change("OCPPCommCtrlr.OfflineThreshold", "600") == "Accepted"
        assert await value("OCPPCommCtrlr.OfflineThreshold") == ("Accepted", "300")
        assert await change("OCPPCommCtrlr.HeartbeatInterval", "45") == "Accepted"
        assert await value("OCPPCommCtrlr.HeartbeatInterval") == ("Accepted", "45")
        assert await change("TxCtrlr.EVConnectionTimeOut", "90") == "RebootRequired"
        assert await value("TxCtrlr.EVConnectionTimeOut") == ("Accepted", "60")
        assert (await value("SecurityCtrlr.BasicAuthPassword"))[0] == "Rejected"  # write-only
        assert await value("DeviceDataCtrlr.ItemsPerMessage[GetReport]") == ("Accepted", "25")

        mark = len(central.records)
        report = await central.call(
            "CP-CFG201", call201.GetBaseReport(request_id=7, report_base="FullInventory")
        )
        assert report.status == "Accepted"
        await central.wait_for("CP-CFG201", "NotifyReport", lambda p: not p.get("tbc"), after=mark)
        parts = [p for p in central.of("CP-CFG201", "NotifyReport") if p["request_id"] == 7]
        assert [p["seq_no"] for p in parts] == list(range(len(parts))) and len(parts) > 1
        reported = {
            (d["component"]["name"], d["variable"]["name"]): d
            for p in parts
            for d in p["report_data"]
        }
        model = reported[("ChargingStation", "Model")]["variable_attribute"][0]
        assert model["mutability"] == "ReadOnly" and model["value"] == "Simulator"
        password = reported[("SecurityCtrlr", "BasicAuthPassword")]["variable_attribute"][0]
        assert "value" not in password

        mark = len(central.records)
        reset = await central.call("CP-CFG201", call201.Reset(type="Immediate"))
        assert reset.status == "Accepted"
        boot = await central.wait_for("CP-CFG201", "BootNotification", after=mark)
        assert boot["reason"] == "RemoteReset"
        await central.wait_connections("CP-CFG201", 2)
        await charger.booted.wait()
        assert await value("TxCtrlr.EVConnectionTimeOut") == ("Accepted", "90")


async def test_drift_moves_declared_values(central: Central) -> None:
    declared = {
        "MeterValueSampleInterval": "60",
        "LocalPreAuthorize": "true",
        "LightIntensity": "50",
    }
    calm = simulated(central, "1.6", "CP-CALM", declared=declared)
    drifted = simulated(
        central, "1.6", "CP-DRIFT", replace(TEST_PROFILE, drift=1.0), declared=declared
    )
    assert {k: calm.configuration[k] for k in declared} == declared
    assert all(drifted.configuration[k] != v for k, v in declared.items())


# --- sessions, meter values, charging profiles ---------------------------------------------------


def _started(version: str) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    if version == "1.6":
        return "StartTransaction", lambda _: True
    return "TransactionEvent", lambda p: p["event_type"] == "Started"


def _ended(version: str) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    if version == "1.6":
        return "StopTransaction", lambda _: True
    return "TransactionEvent", lambda p: p["event_type"] == "Ended"


def _meter(version: str) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    if version == "1.6":
        return "MeterValues", lambda _: True
    return "TransactionEvent", lambda p: p.get("trigger_reason") == "MeterValuePeriodic"


@pytest.mark.parametrize("version", VERSIONS)
async def test_transaction_with_increasing_energy(central: Central, version: str) -> None:
    ident = "CP-TX" + version
    async with running(simulated(central, version, ident)) as charger:
        tx_id = await charger.plug_in(1, "04A1B2C3")
        action, started = _started(version)
        start = await central.wait_for(ident, action, started)
        meter_action, periodic = _meter(version)
        first = await central.wait_for(ident, meter_action, periodic)
        mark = len(central.records)
        second = await central.wait_for(ident, meter_action, periodic, after=mark)
        e1 = measurand(first, version, "Energy.Active.Import.Register")[0]
        e2 = measurand(second, version, "Energy.Active.Import.Register")[0]
        assert e2 > e1
        # 32 A on three phases for one 60 s interval is about 442 Wh.
        assert 350 < e2 - e1 < 550
        assert measurand(second, version, "Current.Import") == [32.0, 32.0, 32.0]
        assert measurand(second, version, "Current.Offered") == [32.0]
        assert measurand(second, version, "Power.Active.Import") == [22080.0]
        await charger.unplug(1)
        action, ended = _ended(version)
        stop = await central.wait_for(ident, action, ended)
    if version == "1.6":
        assert tx_id == str(start["assigned"])
        assert stop["transaction_id"] == int(tx_id)
        assert stop["reason"] == "EVDisconnected"
        assert stop["meter_stop"] > start["meter_start"]
        assert stop["transaction_data"][-1]["sampled_value"][0]["context"] == "Transaction.End"
        assert first["transaction_id"] == int(tx_id)
    else:
        assert start["transaction_info"]["transaction_id"] == tx_id
        assert start["id_token"]["id_token"] == "04A1B2C3"
        assert stop["transaction_info"]["stopped_reason"] == "EVDisconnected"
        assert stop["transaction_info"]["transaction_id"] == tx_id
        seq = [
            p["seq_no"]
            for p in central.of(ident, "TransactionEvent")
            if p["transaction_info"]["transaction_id"] == tx_id
        ]
        assert seq == list(range(len(seq)))


@pytest.mark.parametrize("version", VERSIONS)
async def test_charging_profile_caps_reported_current(central: Central, version: str) -> None:
    ident = "CP-SC" + version
    async with running(simulated(central, version, ident)) as charger:
        tx_id = await charger.plug_in(1, "04A1B2C3")
        period = [{"start_period": 0, "limit": 10}]
        if version == "1.6":
            profile = {
                "charging_profile_id": 1,
                "transaction_id": int(tx_id),
                "stack_level": 0,
                "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Relative",
                "charging_schedule": {
                    "charging_rate_unit": "A",
                    "charging_schedule_period": period,
                },
            }
            reply = await central.call(
                ident, call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
            )
        else:
            profile = {
                "id": 1,
                "transaction_id": tx_id,
                "stack_level": 0,
                "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Relative",
                "charging_schedule": [
                    {"id": 1, "charging_rate_unit": "A", "charging_schedule_period": period}
                ],
            }
            reply = await central.call(
                ident, call201.SetChargingProfile(evse_id=1, charging_profile=profile)
            )
        assert reply.status == "Accepted"
        assert charger.offered_current(1) == 10
        mark = len(central.records)
        meter_action, periodic = _meter(version)
        sample = await central.wait_for(ident, meter_action, periodic, after=mark)
        assert measurand(sample, version, "Current.Import") == [10.0, 10.0, 10.0]
        assert measurand(sample, version, "Current.Offered") == [10.0]

        # A station-wide maximum below the transaction limit wins.
        if version == "1.6":
            station = {
                "charging_profile_id": 2,
                "stack_level": 0,
                "charging_profile_purpose": "ChargePointMaxProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": {
                    "charging_rate_unit": "W",
                    "start_schedule": now(),
                    "charging_schedule_period": [{"start_period": 0, "limit": 4140}],
                },
            }
            await central.call(
                ident, call16.SetChargingProfile(connector_id=0, cs_charging_profiles=station)
            )
            composite = await central.call(
                ident, call16.GetCompositeSchedule(connector_id=1, duration=3600)
            )
            periods = composite.charging_schedule["charging_schedule_period"]
        else:
            station = {
                "id": 2,
                "stack_level": 0,
                "charging_profile_purpose": "ChargingStationMaxProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": [
                    {
                        "id": 2,
                        "charging_rate_unit": "W",
                        "start_schedule": now(),
                        "charging_schedule_period": [{"start_period": 0, "limit": 4140}],
                    }
                ],
            }
            await central.call(
                ident, call201.SetChargingProfile(evse_id=0, charging_profile=station)
            )
            composite = await central.call(
                ident, call201.GetCompositeSchedule(duration=3600, evse_id=1)
            )
            periods = composite.schedule["charging_schedule_period"]
        assert charger.offered_current(1) == 6  # 4140 W / (230 V x 3 phases)
        assert float(periods[0]["limit"]) == 6.0
        mark = len(central.records)
        sample = await central.wait_for(ident, meter_action, periodic, after=mark)
        assert max(measurand(sample, version, "Current.Import")) <= 6.0

        if version == "1.6":
            cleared = await central.call(ident, call16.ClearChargingProfile())
        else:
            cleared = await central.call(ident, call201.ClearChargingProfile())
        assert cleared.status == "Accepted"
        assert charger.offered_current(1) == 32


@pytest.mark.parametrize("version", VERSIONS)
async def test_car_draws_less_than_offered(central: Central, version: str) -> None:
    profile = replace(TEST_PROFILE, car_max_current=16)
    ident = "CP-CAR" + version
    async with running(simulated(central, version, ident, profile)) as charger:
        await charger.plug_in(1, "04A1B2C3")
        meter_action, periodic = _meter(version)
        sample = await central.wait_for(ident, meter_action, periodic)
        assert measurand(sample, version, "Current.Import") == [16.0, 16.0, 16.0]
        assert measurand(sample, version, "Current.Offered") == [32.0]


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_and_stop(central: Central, version: str) -> None:
    ident = "CP-REMOTE" + version
    async with running(simulated(central, version, ident)) as charger:
        if version == "1.6":
            reply = await central.call(ident, call16.RemoteStartTransaction(id_tag="APP-1"))
        else:
            reply = await central.call(
                ident,
                call201.RequestStartTransaction(
                    id_token={"id_token": "APP-1", "type": "Central"}, remote_start_id=42
                ),
            )
        assert reply.status == "Accepted"
        action, started = _started(version)
        start = await central.wait_for(ident, action, started)
        await until(lambda: charger.connectors[1].transaction is not None)
        tx = charger.connectors[1].transaction
        assert tx is not None
        if version == "1.6":
            stop_reply = await central.call(
                ident, call16.RemoteStopTransaction(transaction_id=int(tx.id))
            )
        else:
            assert start["transaction_info"]["remote_start_id"] == 42
            assert start["trigger_reason"] == "RemoteStart"
            stop_reply = await central.call(
                ident, call201.RequestStopTransaction(transaction_id=tx.id)
            )
        assert stop_reply.status == "Accepted"
        action, ended = _ended(version)
        stop = await central.wait_for(ident, action, ended)
        reason = stop["reason"] if version == "1.6" else stop["transaction_info"]["stopped_reason"]
        assert reason == "Remote"
        busy = charger.connectors[1]
        await until(lambda: busy.transaction is None)
        assert busy.plugged  # the car is still there


@pytest.mark.parametrize("version", VERSIONS)
async def test_blocked_card_is_refused(central: Central, version: str) -> None:
    from controller.simulator import SessionRefused

    async with running(simulated(central, version, "CP-BLOCK" + version)) as charger:
        with pytest.raises(SessionRefused):
            await charger.plug_in(1, "BLOCKED-1")
        assert charger.connectors[1].transaction is None
        assert not charger.connectors[1].plugged


# --- commands ------------------------------------------------------------------------------------


async def test_commands_16(central: Central) -> None:
    ident = "CP-CMD16"
    profile = replace(TEST_PROFILE, firmware_failure=FirmwareFailure.NONE)
    async with running(simulated(central, "1.6", ident, profile)) as charger:
        call = central.call
        # Availability: Scheduled while charging, applied when the transaction ends.
        await charger.plug_in(1, "04A1B2C3")
        reply = await call(ident, call16.ChangeAvailability(connector_id=1, type="Inoperative"))
        assert reply.status == "Scheduled"
        await charger.unplug(1)
        await central.wait_for(ident, "StatusNotification", lambda p: p["status"] == "Unavailable")
        assert charger.offered_current(1) == 0
        reply = await call(ident, call16.ChangeAvailability(connector_id=0, type="Operative"))
        assert reply.status == "Accepted"
        mark = len(central.records)
        await central.wait_for(
            ident, "StatusNotification", lambda p: p["status"] == "Available", after=mark
        )

        mark = len(central.records)
        reply = await call(ident, call16.TriggerMessage(requested_message="Heartbeat"))
        assert reply.status == "Accepted"
        await central.wait_for(ident, "Heartbeat", after=mark)
        reply = await call(
            ident, call16.TriggerMessage(requested_message="StatusNotification", connector_id=1)
        )
        assert reply.status == "Accepted"
        assert (await call(ident, call16.UnlockConnector(connector_id=1))).status == "Unlocked"
        assert (await call(ident, call16.UnlockConnector(connector_id=9))).status == "NotSupported"

        # Local list: full, differential, version mismatch.
        full = [{"id_tag": "AAA", "id_tag_info": {"status": "Accepted"}}, {"id_tag": "BBB"}]
        reply = await call(ident, call16.SendLocalList(1, "Full", full))
        assert reply.status == "Accepted"
        diff = [{"id_tag": "CCC", "id_tag_info": {"status": "Blocked"}}]
        assert (
            await call(ident, call16.SendLocalList(2, "Differential", diff))
        ).status == "Accepted"
        assert (await call(ident, call16.SendLocalList(2, "Differential", diff))).status == (
            "VersionMismatch"
        )
        assert (await call(ident, call16.GetLocalListVersion())).list_version == 2
        assert charger.local_list.status("ccc") == "Blocked"
        assert (await call(ident, call16.ClearCache())).status == "Accepted"

        reply = await call(ident, call16.DataTransfer(vendor_id="com.example", message_id="x"))
        assert reply.status == "UnknownVendorId"

        mark = len(central.records)
        await call(ident, call16.GetDiagnostics(location="ftp://example.com/upload"))
        await central.wait_for(
            ident, "DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded", after=mark
        )

        mark = len(central.records)
        await call(
            ident,
            call16.UpdateFirmware(
                location="https://fw.example.com/eve/6.5.0-4300.img", retrieve_date=now()
            ),
        )
        boot = await central.wait_for(ident, "BootNotification", after=mark)
        assert boot["firmware_version"] == "6.5.0-4300"
        steps = [p["status"] for p in central.of(ident, "FirmwareStatusNotification")]
        assert steps == ["Downloading", "Downloaded", "Installing", "Installed"]


async def test_commands_201(central: Central) -> None:
    ident = "CP-CMD201"
    profile = replace(TEST_PROFILE, firmware_failure=FirmwareFailure.INSTALL)
    async with running(simulated(central, "2.0.1", ident, profile)) as charger:
        call = central.call
        await charger.plug_in(1, "04A1B2C3")
        reply = await call(ident, call201.ChangeAvailability(operational_status="Inoperative"))
        assert reply.status == "Scheduled"
        reply = await call(ident, call201.UnlockConnector(evse_id=1, connector_id=1))
        assert reply.status == "OngoingAuthorizedTransaction"
        reply = await call(ident, call201.Reset(type="OnIdle"))
        assert reply.status == "Scheduled"
        mark = len(central.records)
        await charger.unplug(1)
        await central.wait_for(
            ident, "StatusNotification", lambda p: p["connector_status"] == "Unavailable"
        )
        boot = await central.wait_for(ident, "BootNotification", after=mark)  # the idle reset
        assert boot["reason"] == "RemoteReset"
        await central.wait_connections(ident, 2)
        await charger.booted.wait()

        reply = await call(ident, call201.TriggerMessage(requested_message="BootNotification"))
        assert reply.status == "Rejected"  # F06.FR.17: already accepted
        reply = await call(ident, call201.TriggerMessage(requested_message="Heartbeat"))
        assert reply.status == "Accepted"

        entries = [
            {
                "id_token": {"id_token": "AAA", "type": "ISO14443"},
                "id_token_info": {"status": "Accepted"},
            }
        ]
        reply = await call(ident, call201.SendLocalList(3, "Full", entries))
        assert reply.status == "Accepted"
        assert (await call(ident, call201.GetLocalListVersion())).version_number == 3

        mark = len(central.records)
        reply = await call(
            ident,
            call201.GetLog(
                log={"remote_location": "https://logs.example.com"},
                log_type="DiagnosticsLog",
                request_id=5,
            ),
        )
        assert reply.status == "Accepted"
        await central.wait_for(
            ident, "LogStatusNotification", lambda p: p["status"] == "Uploaded", after=mark
        )

        reply = await call(
            ident,
            call201.UpdateFirmware(
                request_id=9,
                firmware={
                    "location": "https://fw.example.com/abb/2.0.img",
                    "retrieve_date_time": now(),
                },
            ),
        )
        assert reply.status == "Accepted"
        await central.wait_for(
            ident, "FirmwareStatusNotification", lambda p: p["status"] == "InstallationFailed"
        )
        steps = [p["status"] for p in central.of(ident, "FirmwareStatusNotification")]
        assert steps == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
        assert all(p["request_id"] == 9 for p in central.of(ident, "FirmwareStatusNotification"))


async def test_firmware_update_201(central: Central) -> None:
    ident = "CP-FW201"
    async with running(simulated(central, "2.0.1", ident)) as charger:
        mark = len(central.records)
        reply = await central.call(
            ident,
            call201.UpdateFirmware(
                request_id=11,
                firmware={
                    "location": "https://fw.example.com/abb/1.8.2.bin",
                    "retrieve_date_time": now(),
                },
            ),
        )
        assert reply.status == "Accepted"
        boot = await central.wait_for(ident, "BootNotification", after=mark)
        assert boot["reason"] == "FirmwareUpdate"
        assert boot["charging_station"]["firmware_version"] == "1.8.2"
        await central.wait_for(
            ident, "FirmwareStatusNotification", lambda p: p["status"] == "Installed"
        )
        steps = [p["status"] for p in central.of(ident, "FirmwareStatusNotification")]
        assert steps == ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]
        assert charger.identification.firmware_version == "1.8.2"


# --- connection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_drop_and_reconnect(central: Central, version: str) -> None:
    ident = "CP-DROP" + version
    async with running(simulated(central, version, ident)) as charger:
        await charger.drop()
        assert not charger.connected.is_set()
        await central.wait_connections(ident, 2)
        async with asyncio.timeout(5):
            await charger.booted.wait()
        # Reconnecting is not rebooting: statuses again, but no second BootNotification.
        assert len(central.of(ident, "BootNotification")) == 1
        mark = len(central.records)
        await central.wait_for(ident, "Heartbeat", after=mark)


async def test_unauthorised_charger_keeps_retrying(central: Central) -> None:
    central.passwords["CP-AUTH"] = "correct-horse-battery"
    wrong = simulated(central, "1.6", "CP-AUTH", password="wrong-password-here!")
    task = asyncio.ensure_future(wrong.run())
    await asyncio.sleep(0.2)
    assert not wrong.connected.is_set() and central.connections.get("CP-AUTH", 0) == 0
    await wrong.stop()
    await task
    right = simulated(central, "1.6", "CP-AUTH", password="correct-horse-battery")
    async with running(right):
        assert central.connections["CP-AUTH"] == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_frames_are_sent_raw(central: Central, version: str) -> None:
    ident = "CP-BAD" + version
    async with running(simulated(central, version, ident)) as charger:
        replies = {}
        for kind in BadFrame:
            if kind is BadFrame.OVERSIZED:
                continue
            exchange = await charger.misbehave(kind, timeout=0.2)
            assert exchange.sent in central.raw[ident], kind  # it went out exactly as built
            replies[kind] = exchange
        assert not any(e.closed for e in replies.values())
        # What the `ocpp` library does with each (see the report for spec departures).
        unknown = replies[BadFrame.UNKNOWN_ACTION].reply_message
        assert unknown is not None and unknown[0] == 4 and unknown[2] == "NotSupported"
        violation = replies[BadFrame.SCHEMA_VIOLATION].reply_message
        assert violation is not None and violation[0] == 4
        assert replies[BadFrame.MALFORMED_JSON].reply is None
        assert replies[BadFrame.WRONG_MESSAGE_TYPE].reply is None
        assert replies[BadFrame.UNKNOWN_CALLRESULT].reply is None

        raw = await charger.send_raw(json.dumps([2, "raw-1", "Heartbeat", {}]))
        assert raw is not None and json.loads(raw)[:2] == [3, "raw-1"]

        oversized = await charger.misbehave(BadFrame.OVERSIZED, timeout=2)
        assert oversized.closed and oversized.reply is None
        assert list(charger.exchanges)[-1] is oversized
        await central.wait_connections(ident, 2)  # and it comes back


# --- a declared fleet ----------------------------------------------------------------------------

FLEET = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: ops}
spec: {displayName: Ops, handle: ops}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: depot}
spec:
  team: ops
  displayName: Depot
  acceptedCards: {teams: [ops]}
  chargerDefaults:
    settings: {meterValueSampleInterval: 30}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: van-1}
spec: {idTag: "04AA11BB", team: ops}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: van-2}
spec: {idTag: "04CC22DD", team: ops, status: Blocked}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {name: depot-1}
spec:
  location: depot
  ocppIdentity: DEPOT-1
  ocppVersion: "1.6"
  expected: {vendor: Alfen BV, model: NG910-60023, serialNumber: ACE123}
  connectors: [{id: 1, type: Type2, maxCurrent: 16, phases: 1}]
  security:
    profile: 1
    basicAuthPassword: {file: secrets/depot-1}
  configuration: {LightIntensity: 40}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {name: depot-2}
spec:
  location: depot
  ocppIdentity: DEPOT-2
  ocppVersion: "2.0.1"
  connectors: [{id: 1, type: Type2, maxCurrent: 32}, {id: 2, type: Type2, maxCurrent: 32}]
"""


async def test_chargers_from_fleet(central: Central, tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(FLEET)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "depot-1").write_text("depot-one-password-1\n")
    report = check_paths([tmp_path])
    assert report.valid, report.problems
    chargers = chargers_from_fleet(
        report.fleet,
        central.url,
        profile=TEST_PROFILE,
        resolver=SecretResolver(base_dir=tmp_path),
        clock=SimClock(SCALE),
    )
    one, two = chargers
    assert (one.identity, one.ocpp_version, two.identity, two.ocpp_version) == (
        "DEPOT-1",
        "1.6",
        "DEPOT-2",
        "2.0.1",
    )
    assert one.password == "depot-one-password-1" and two.password is None
    assert one.id_tags == ("04AA11BB",)  # the blocked card is not used
    assert one.configuration["LightIntensity"] == "40"
    assert one.configuration["MeterValueSampleInterval"] == "30"
    assert two.configuration["SampledDataCtrlr.TxUpdatedInterval"] == "30"
    assert list(two.connectors) == [1, 2] and one.connectors[1].phases == 1
    assert one.endpoint == f"{central.url}/DEPOT-1"

    central.passwords["DEPOT-1"] = "depot-one-password-1"
    async with running(one):
        boot = await central.wait_for("DEPOT-1", "BootNotification")
        assert boot["charge_point_serial_number"] == "ACE123"
        await one.plug_in(1, one.id_tags[0])
        sample = await central.wait_for("DEPOT-1", "MeterValues")
        assert measurand(sample, "1.6", "Current.Import") == [16.0]  # one phase, L1 only


async def test_time_scale_drives_timestamps() -> None:
    clock = SimClock(3600.0, start=datetime(2030, 1, 1, tzinfo=UTC))
    await asyncio.sleep(0.05)
    assert clock.now() - datetime(2030, 1, 1, tzinfo=UTC) > timedelta(seconds=150)
