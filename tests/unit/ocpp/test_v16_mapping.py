"""OCPP 1.6 mapping (`controller/ocpp/v16/`) without sockets.

As test_v201_mapping.py does for 2.0.1: a scripted session records every CALL we send (checked
against the `ocpp` library's 1.6 request schema) and answers with canned, schema-valid
responses; the endpoint central records what the handlers tell it and keeps transactions by
chargectl's id, as the store does for 1.6. Every handler is fed a schema-valid request and its
reply is checked against the response schema. Answers the schema refuses are played on a real
session over the in-memory transport, where that check lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controller.ocpp import schemas
from controller.ocpp.central import CentralSystem
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.ocpp.v16 import BINDING, V16Charger
from controller.ocpp.v16.conversions import PURPOSES
from controller.values.commands import (
    AuthListStatus,
    BootReply,
    BootStatus,
    CallFailed,
    ChargerCommands,
    ChargingLimit,
    CompositeSchedule,
    ConfigStatus,
    ConfigurationReport,
    DataTransferResult,
    FailureKind,
    LimitPeriod,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
)
from controller.values.records import (
    BootInfo,
    ConnectorStatus,
    MeterSample,
    ReportedKey,
    TransactionStart,
    TransactionStop,
)
from controller.values.timestamps import iso
from tests.fakes import (
    CARD_EXPIRES,
    EndpointCentral,
    MemoryTransport,
    MessageLog,
    ScriptedSession,
)

IDENTITY = "CP-16"
NOW = "2026-11-25T10:00:00.000Z"
LATER = "2026-11-25T11:00:00.000Z"


@pytest.fixture
def session() -> ScriptedSession:
    return ScriptedSession(RpcVersion.V16, IDENTITY)


@pytest.fixture
def central() -> EndpointCentral:
    return EndpointCentral(station_ids=False)


@pytest.fixture
def charger(session: ScriptedSession, central: EndpointCentral) -> V16Charger:
    return V16Charger(cast(Session, session), cast(CentralSystem, central))


def test_the_charger_is_a_charger_commands_with_version_16(charger: V16Charger) -> None:
    commands: ChargerCommands = charger
    assert commands.identity == IDENTITY
    assert charger.version == "1.6"
    assert BINDING.charger is V16Charger and BINDING.rpc is RpcVersion.V16


def test_every_handled_action_is_a_16_charger_to_central_system_message(
    session: ScriptedSession, charger: V16Charger
) -> None:
    assert set(session.handlers) <= schemas.known_actions(RpcVersion.V16)
    assert {"BootNotification", "StartTransaction", "StopTransaction"} <= set(session.handlers)


def test_every_purpose_has_a_16_name() -> None:
    assert set(PURPOSES) == set(LimitPurpose)


# --- the charger's messages ----------------------------------------------------------------------


async def test_boot_notification_records_the_boot_and_answers_the_interval(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    reply = await session.handle(
        "BootNotification",
        {
            "chargePointVendor": "ACME",
            "chargePointModel": "Wallbox 22",
            "chargeBoxSerialNumber": "BOX-1",
            "firmwareVersion": "1.2.3",
            "iccid": "8949",
            "imsi": "2620",
            "meterType": "EM24",
            "meterSerialNumber": "M-9",
        },
    )
    assert central.called("boot") == [
        BootInfo("ACME", "Wallbox 22", "BOX-1", "1.2.3", "8949", "2620", "EM24", "M-9")
    ]
    assert reply["status"] == "Accepted" and reply["interval"] == 120
    assert datetime.fromisoformat(reply["currentTime"]).tzinfo is not None


async def test_boot_notification_prefers_the_charge_point_serial(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    central.boot_reply = BootReply(BootStatus.PENDING, 60)
    reply = await session.handle(
        "BootNotification",
        {
            "chargePointVendor": "ACME",
            "chargePointModel": "One",
            "chargePointSerialNumber": "CP-SERIAL",
            "chargeBoxSerialNumber": "BOX-1",
        },
    )
    assert central.called("boot")[0].serial_number == "CP-SERIAL"
    assert (reply["status"], reply["interval"]) == ("Pending", 60)


async def test_heartbeat_answers_the_central_systems_time(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    assert await session.handle("Heartbeat", {}) == {"currentTime": NOW}
    assert central.called("heartbeat") == [IDENTITY]


async def test_status_notification_records_the_connector(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    payload = {
        "connectorId": 2,
        "status": "Faulted",
        "errorCode": "GroundFailure",
        "info": "RCD tripped",
        "vendorErrorCode": "E42",
        "timestamp": NOW,
    }
    assert await session.handle("StatusNotification", payload) == {}
    assert central.called("status") == [
        ConnectorStatus(
            identity=IDENTITY,
            connector_id=2,
            status="Faulted",
            timestamp=datetime(2026, 11, 25, 10, tzinfo=UTC),
            error_code="GroundFailure",
            info="RCD tripped",
            vendor_error_code="E42",
        )
    ]


async def test_status_notification_without_a_timestamp_is_stamped_on_arrival(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    before = datetime.now(UTC)
    payload = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    await session.handle("StatusNotification", payload)
    (status,) = central.called("status")
    assert status.timestamp >= before and status.info is None


async def test_authorize_answers_the_decision(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    accepted = await session.handle("Authorize", {"idTag": "card-1"})
    assert accepted == {
        "idTagInfo": {
            "status": "Accepted",
            "expiryDate": iso(CARD_EXPIRES),
            "parentIdTag": "TEAM-A",
        }
    }
    assert await session.handle("Authorize", {"idTag": "stranger"}) == {
        "idTagInfo": {"status": "Invalid"}
    }
    assert central.called("authorize") == ["card-1", "stranger"]


@pytest.mark.parametrize(("id_tag", "status"), [("card-1", "Accepted"), ("blocked", "Blocked")])
async def test_start_transaction_records_it_whatever_the_card(
    session: ScriptedSession,
    central: EndpointCentral,
    charger: V16Charger,
    id_tag: str,
    status: str,
) -> None:
    reply = await session.handle(
        "StartTransaction",
        {"connectorId": 1, "idTag": id_tag, "meterStart": 1234, "timestamp": NOW},
    )
    assert reply["transactionId"] == 100 and reply["idTagInfo"]["status"] == status
    assert central.called("start") == [
        TransactionStart(
            identity=IDENTITY,
            connector_id=1,
            started_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
            meter_start_wh=1234,
            id_tag=id_tag,
        )
    ]


def sampled(value: str, **fields: str) -> dict[str, Any]:
    return {"value": value, **fields}


async def test_stop_transaction_records_the_stop_and_its_transaction_data(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    start = {"connectorId": 2, "idTag": "card-1", "meterStart": 1000, "timestamp": NOW}
    transaction_id = (await session.handle("StartTransaction", start))["transactionId"]
    reply = await session.handle(
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "meterStop": 5000,
            "timestamp": LATER,
            "reason": "EVDisconnected",
            "idTag": "card-1",
            "transactionData": [
                {
                    "timestamp": LATER,
                    "sampledValue": [
                        sampled("5000", context="Transaction.End", unit="Wh"),
                        sampled("16.2", measurand="Current.Import", phase="L1", unit="A"),
                    ],
                }
            ],
        },
    )
    assert reply == {
        "idTagInfo": {
            "status": "Accepted",
            "expiryDate": iso(CARD_EXPIRES),
            "parentIdTag": "TEAM-A",
        }
    }
    later = datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert central.called("stop") == [
        TransactionStop(
            identity=IDENTITY,
            stopped_at=later,
            transaction_id=transaction_id,
            meter_stop_wh=5000,
            reason="EVDisconnected",
            id_tag="card-1",
        )
    ]
    (samples,) = central.called("meter_values")
    assert samples == [
        MeterSample(
            identity=IDENTITY,
            connector_id=2,
            timestamp=later,
            value="5000",
            measurand="Energy.Active.Import.Register",
            unit="Wh",
            context="Transaction.End",
            transaction_id=transaction_id,
        ),
        MeterSample(
            identity=IDENTITY,
            connector_id=2,
            timestamp=later,
            value="16.2",
            measurand="Current.Import",
            unit="A",
            phase="L1",
            transaction_id=transaction_id,
        ),
    ]


async def test_stop_transaction_without_an_id_tag_answers_nothing_and_reason_is_local(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    start = {"connectorId": 1, "idTag": "card-1", "meterStart": 0, "timestamp": NOW}
    transaction_id = (await session.handle("StartTransaction", start))["transactionId"]
    stop = {"transactionId": transaction_id, "meterStop": 10, "timestamp": LATER}
    assert await session.handle("StopTransaction", stop) == {}
    assert central.called("stop")[0].reason == "Local"
    assert central.called("meter_values") == []


async def test_stop_of_an_unknown_transaction_keeps_no_samples(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    stop = {
        "transactionId": 999,
        "meterStop": 10,
        "timestamp": LATER,
        "transactionData": [{"timestamp": LATER, "sampledValue": [sampled("10")]}],
    }
    assert await session.handle("StopTransaction", stop) == {}
    assert central.called("meter_values") == []


async def test_meter_values_are_recorded_with_the_register_as_default_measurand(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    payload = {
        "connectorId": 1,
        "transactionId": 100,
        "meterValue": [
            {
                "timestamp": NOW,
                "sampledValue": [
                    sampled("1500"),
                    sampled("230.1", measurand="Voltage", phase="L1-N", location="Outlet"),
                ],
            }
        ],
    }
    assert await session.handle("MeterValues", payload) == {}
    (samples,) = central.called("meter_values")
    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert samples == [
        MeterSample(IDENTITY, 1, at, "1500", "Energy.Active.Import.Register", transaction_id=100),
        MeterSample(
            IDENTITY,
            1,
            at,
            "230.1",
            "Voltage",
            phase="L1-N",
            location="Outlet",
            transaction_id=100,
        ),
    ]


async def test_data_transfer_is_reported_and_the_vendor_unknown(
    session: ScriptedSession, central: EndpointCentral, charger: V16Charger
) -> None:
    payload = {"vendorId": "com.acme", "messageId": "hello", "data": "x"}
    assert await session.handle("DataTransfer", payload) == {"status": "UnknownVendorId"}
    assert central.called("reported") == [
        (
            "DataTransfer",
            "data transfer from vendor com.acme",
            {"vendorId": "com.acme", "messageId": "hello"},
        )
    ]


@pytest.mark.parametrize(
    ("action", "payload", "reported"),
    [
        (
            "DiagnosticsStatusNotification",
            {"status": "Uploaded"},
            ("DiagnosticsStatus", "diagnostics Uploaded", {"status": "Uploaded"}),
        ),
        (
            "FirmwareStatusNotification",
            {"status": "Installed"},
            ("FirmwareStatus", "firmware Installed", {"status": "Installed"}),
        ),
        (
            "SignedFirmwareStatusNotification",
            {"status": "SignatureVerified", "requestId": 3},
            ("FirmwareStatus", "firmware SignatureVerified", {"status": "SignatureVerified"}),
        ),
        (
            "SecurityEventNotification",
            {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "lid"},
            (
                "SecurityEvent",
                "security event TamperDetectionActivated",
                {"type": "TamperDetectionActivated", "techInfo": "lid"},
            ),
        ),
        (
            "LogStatusNotification",
            {"status": "Uploaded", "requestId": 4},
            ("LogStatus", "log Uploaded", {"status": "Uploaded"}),
        ),
    ],
)
async def test_notifications_are_reported(
    session: ScriptedSession,
    central: EndpointCentral,
    charger: V16Charger,
    action: str,
    payload: dict[str, Any],
    reported: tuple[str, str, dict[str, Any]],
) -> None:
    assert await session.handle(action, payload) == {}
    assert central.called("reported") == [reported]


# --- our commands --------------------------------------------------------------------------------


async def test_get_configuration_reads_keys_readonly_and_unknown(
    session: ScriptedSession, charger: V16Charger
) -> None:
    session.script(
        "GetConfiguration",
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "value": "300", "readonly": False},
                {"key": "NumberOfConnectors", "value": "2", "readonly": True},
                {"key": "AuthorizationKey", "readonly": False},
            ],
            "unknownKey": ["Turbo"],
        },
        {"configurationKey": []},
    )
    report = await charger.get_configuration(["HeartbeatInterval", "Turbo"])
    assert report == ConfigurationReport(
        (
            ReportedKey("HeartbeatInterval", "300", False),
            ReportedKey("NumberOfConnectors", "2", True),
            ReportedKey("AuthorizationKey", None, False),
        ),
        ("Turbo",),
    )
    assert await charger.get_configuration() == ConfigurationReport(())
    assert session.payloads("GetConfiguration") == [{"key": ["HeartbeatInterval", "Turbo"]}, {}]


@pytest.mark.parametrize("status", list(ConfigStatus))
async def test_change_configuration(
    session: ScriptedSession, charger: V16Charger, status: ConfigStatus
) -> None:
    session.script("ChangeConfiguration", {"status": status.value})
    assert await charger.change_configuration("HeartbeatInterval", "60") is status
    assert session.payloads("ChangeConfiguration") == [{"key": "HeartbeatInterval", "value": "60"}]


@pytest.mark.parametrize(("hard", "kind"), [(True, "Hard"), (False, "Soft")])
async def test_reset(session: ScriptedSession, charger: V16Charger, hard: bool, kind: str) -> None:
    session.script("Reset", {"status": "Accepted"}, {"status": "Rejected"})
    assert await charger.reset(hard) is Status.ACCEPTED
    assert await charger.reset(hard) is Status.REJECTED
    assert session.payloads("Reset") == [{"type": kind}, {"type": kind}]


async def test_change_availability(session: ScriptedSession, charger: V16Charger) -> None:
    session.script("ChangeAvailability", {"status": "Scheduled"}, {"status": "Accepted"})
    assert await charger.change_availability(1, operative=False) is Status.SCHEDULED
    assert await charger.change_availability(0, operative=True) is Status.ACCEPTED
    assert session.payloads("ChangeAvailability") == [
        {"connectorId": 1, "type": "Inoperative"},
        {"connectorId": 0, "type": "Operative"},
    ]


async def test_set_charging_profile_station_maximum(
    session: ScriptedSession, charger: V16Charger
) -> None:
    session.script("SetChargingProfile", {"status": "Accepted"})
    limit = ChargingLimit(
        profile_id=7,
        purpose=LimitPurpose.STATION_MAX,
        periods=(LimitPeriod(0, 32, 3), LimitPeriod(3600, 10.67)),
        stack_level=2,
        starts_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
    )
    assert await charger.set_charging_profile(limit) is Status.ACCEPTED
    assert session.payloads("SetChargingProfile") == [
        {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 7,
                "stackLevel": 2,
                "chargingProfilePurpose": "ChargePointMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 32.0, "numberPhases": 3},
                        {"startPeriod": 3600, "limit": 10.6},
                    ],
                    "startSchedule": NOW,
                },
            },
        }
    ]


async def test_set_charging_profile_always_gives_a_start_and_a_tx_profile_its_transaction(
    session: ScriptedSession, charger: V16Charger
) -> None:
    session.script("SetChargingProfile", {"status": "Accepted"}, {"status": "Rejected"})
    before = datetime.now(UTC).replace(microsecond=0)
    tx = ChargingLimit(3, LimitPurpose.TX, (LimitPeriod(0, 16),), connector=1, transaction_id="101")
    daily = ChargingLimit(4, LimitPurpose.TX_DEFAULT, (LimitPeriod(0, 6),), recurring_daily=True)
    assert await charger.set_charging_profile(tx) is Status.ACCEPTED
    assert await charger.set_charging_profile(daily) is Status.REJECTED
    first, second = (p["csChargingProfiles"] for p in session.payloads("SetChargingProfile"))
    assert first["transactionId"] == 101 and first["chargingProfilePurpose"] == "TxProfile"
    assert datetime.fromisoformat(first["chargingSchedule"]["startSchedule"]) >= before
    assert (second["chargingProfileKind"], second["recurrencyKind"]) == ("Recurring", "Daily")
    midnight = datetime.fromisoformat(second["chargingSchedule"]["startSchedule"])
    assert (midnight.hour, midnight.minute, midnight.second) == (0, 0, 0)
    assert "transactionId" not in second


async def test_clear_charging_profile(session: ScriptedSession, charger: V16Charger) -> None:
    session.script("ClearChargingProfile", {"status": "Accepted"}, {"status": "Unknown"})
    assert await charger.clear_charging_profile(7, 1, LimitPurpose.TX_DEFAULT) is Status.ACCEPTED
    assert await charger.clear_charging_profile() is Status.UNKNOWN
    assert session.payloads("ClearChargingProfile") == [
        {"id": 7, "connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"},
        {},
    ]


async def test_get_composite_schedule(session: ScriptedSession, charger: V16Charger) -> None:
    session.script(
        "GetCompositeSchedule",
        {
            "status": "Accepted",
            "connectorId": 1,
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                    {"startPeriod": 600, "limit": 8.0},
                ],
            },
        },
        {"status": "Accepted"},
        {"status": "Rejected"},
        {
            "status": "Accepted",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
            },
        },
    )
    assert await charger.get_composite_schedule(1, 3600) == CompositeSchedule(
        Status.ACCEPTED, (LimitPeriod(0, 16.0, 3), LimitPeriod(600, 8.0))
    )
    assert await charger.get_composite_schedule(1, 3600) == CompositeSchedule(Status.ACCEPTED)
    assert await charger.get_composite_schedule(0, 60) == CompositeSchedule(Status.REJECTED)
    assert await charger.get_composite_schedule(0, 60) == CompositeSchedule(Status.NOT_SUPPORTED)
    assert session.payloads("GetCompositeSchedule")[0] == {
        "connectorId": 1,
        "duration": 3600,
        "chargingRateUnit": "A",
    }


async def test_send_local_list(session: ScriptedSession, charger: V16Charger) -> None:
    session.script(
        "SendLocalList",
        {"status": "Accepted"},
        {"status": "VersionMismatch"},
        {"status": "Failed"},
        {"status": "NotSupported"},
    )
    entries = [
        LocalListEntry("04A1B2C3", AuthListStatus.ACCEPTED, CARD_EXPIRES, "TEAM-A"),
        LocalListEntry("DEADBEEF", AuthListStatus.BLOCKED),
        LocalListEntry("GONE", None),
    ]
    assert await charger.send_local_list(5, entries, full=False) is Status.ACCEPTED
    assert await charger.send_local_list(6, [], full=True) is Status.VERSION_MISMATCH
    assert await charger.send_local_list(7, entries[:1], full=True) is Status.FAILED
    assert await charger.send_local_list(8, [], full=True) is Status.NOT_SUPPORTED
    first, second, *_ = session.payloads("SendLocalList")
    assert first == {
        "listVersion": 5,
        "updateType": "Differential",
        "localAuthorizationList": [
            {
                "idTag": "04A1B2C3",
                "idTagInfo": {
                    "status": "Accepted",
                    "expiryDate": iso(CARD_EXPIRES),
                    "parentIdTag": "TEAM-A",
                },
            },
            {"idTag": "DEADBEEF", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "GONE"},
        ],
    }
    assert second == {"listVersion": 6, "updateType": "Full", "localAuthorizationList": []}


async def test_get_local_list_version(session: ScriptedSession, charger: V16Charger) -> None:
    session.script("GetLocalListVersion", {"listVersion": 12})
    assert await charger.get_local_list_version() == 12
    assert session.payloads("GetLocalListVersion") == [{}]


async def test_update_firmware_is_accepted_by_any_answer(
    session: ScriptedSession, charger: V16Charger
) -> None:
    session.script("UpdateFirmware", {})
    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert await charger.update_firmware("https://fw.example/1.3.bin", at, 9) is Status.ACCEPTED
    assert session.payloads("UpdateFirmware") == [
        {"location": "https://fw.example/1.3.bin", "retrieveDate": NOW}
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Accepted", Status.ACCEPTED),
        ("Rejected", Status.REJECTED),
        ("NotImplemented", Status.NOT_SUPPORTED),
    ],
)
async def test_trigger_message(
    session: ScriptedSession, charger: V16Charger, answer: str, expected: Status
) -> None:
    session.script("TriggerMessage", {"status": answer}, {"status": answer})
    assert await charger.trigger_message(TriggerKind.STATUS_NOTIFICATION, 1) is expected
    assert await charger.trigger_message(TriggerKind.DIAGNOSTICS_STATUS) is expected
    assert session.payloads("TriggerMessage") == [
        {"requestedMessage": "StatusNotification", "connectorId": 1},
        {"requestedMessage": "DiagnosticsStatusNotification"},
    ]


async def test_remote_start_and_stop(session: ScriptedSession, charger: V16Charger) -> None:
    session.script("RemoteStartTransaction", {"status": "Accepted"}, {"status": "Rejected"})
    session.script("RemoteStopTransaction", {"status": "Accepted"})
    assert await charger.remote_start("card-1", 2) is Status.ACCEPTED
    assert await charger.remote_start("card-1") is Status.REJECTED
    assert await charger.remote_stop("101") is Status.ACCEPTED
    assert session.payloads("RemoteStartTransaction") == [
        {"idTag": "card-1", "connectorId": 2},
        {"idTag": "card-1"},
    ]
    assert session.payloads("RemoteStopTransaction") == [{"transactionId": 101}]


async def test_remote_stop_of_a_non_integer_transaction_is_refused_unsent(
    session: ScriptedSession, charger: V16Charger
) -> None:
    failed = await charger.remote_stop("tx-abc")
    assert isinstance(failed, CallFailed) and failed.kind is FailureKind.INVALID_RESPONSE
    assert failed.action == "RemoteStopTransaction" and "'tx-abc'" in failed.description
    assert session.requests == []


@pytest.mark.parametrize(
    "status", ["Unlocked", "UnlockFailed", "NotSupported"], ids=["ok", "failed", "unsupported"]
)
async def test_unlock_connector(session: ScriptedSession, charger: V16Charger, status: str) -> None:
    session.script("UnlockConnector", {"status": status})
    assert await charger.unlock_connector(2) is Status(status)
    assert session.payloads("UnlockConnector") == [{"connectorId": 2}]


async def test_clear_cache(session: ScriptedSession, charger: V16Charger) -> None:
    session.script("ClearCache", {"status": "Rejected"})
    assert await charger.clear_cache() is Status.REJECTED
    assert session.payloads("ClearCache") == [{}]


async def test_data_transfer(session: ScriptedSession, charger: V16Charger) -> None:
    session.script(
        "DataTransfer", {"status": "Accepted", "data": "pong"}, {"status": "UnknownMessageId"}
    )
    assert await charger.data_transfer("com.acme", "ping", "x") == DataTransferResult(
        Status.ACCEPTED, "pong"
    )
    assert await charger.data_transfer("com.acme") == DataTransferResult(Status.UNKNOWN_MESSAGE_ID)
    assert session.payloads("DataTransfer") == [
        {"vendorId": "com.acme", "messageId": "ping", "data": "x"},
        {"vendorId": "com.acme"},
    ]


# --- failures ------------------------------------------------------------------------------------

Command = Callable[[V16Charger], Awaitable[object]]

LIMIT = ChargingLimit(1, LimitPurpose.TX_DEFAULT, (LimitPeriod(0, 16),), connector=1)

COMMANDS: dict[str, tuple[str, Command]] = {
    "get_configuration": ("GetConfiguration", lambda c: c.get_configuration()),
    "change_configuration": (
        "ChangeConfiguration",
        lambda c: c.change_configuration("HeartbeatInterval", "60"),
    ),
    "reset": ("Reset", lambda c: c.reset(False)),
    "change_availability": ("ChangeAvailability", lambda c: c.change_availability(1, True)),
    "set_charging_profile": ("SetChargingProfile", lambda c: c.set_charging_profile(LIMIT)),
    "clear_charging_profile": ("ClearChargingProfile", lambda c: c.clear_charging_profile(1)),
    "get_composite_schedule": (
        "GetCompositeSchedule",
        lambda c: c.get_composite_schedule(1, 60),
    ),
    "send_local_list": ("SendLocalList", lambda c: c.send_local_list(1, [], True)),
    "get_local_list_version": ("GetLocalListVersion", lambda c: c.get_local_list_version()),
    "update_firmware": (
        "UpdateFirmware",
        lambda c: c.update_firmware("https://fw.example/x", datetime.now(UTC)),
    ),
    "trigger_message": ("TriggerMessage", lambda c: c.trigger_message(TriggerKind.HEARTBEAT)),
    "remote_start": ("RemoteStartTransaction", lambda c: c.remote_start("card-1")),
    "remote_stop": ("RemoteStopTransaction", lambda c: c.remote_stop("101")),
    "unlock_connector": ("UnlockConnector", lambda c: c.unlock_connector(1)),
    "clear_cache": ("ClearCache", lambda c: c.clear_cache()),
    "data_transfer": ("DataTransfer", lambda c: c.data_transfer("com.acme")),
}


def test_every_command_of_the_protocol_is_covered() -> None:
    commands = {
        name
        for name, value in vars(ChargerCommands).items()
        if callable(value) and not name.startswith("_")
    }
    assert commands == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_a_failed_call_comes_back_as_it_failed(
    session: ScriptedSession, charger: V16Charger, name: str
) -> None:
    action, command = COMMANDS[name]
    failed = CallFailed(FailureKind.CALL_ERROR, action, "not now", "GenericError")
    session.script(action, failed)
    assert await command(charger) == failed


class RealSession:
    """A 1.6 charger's commands on a real session over the in-memory transport."""

    def __init__(self, central: EndpointCentral) -> None:
        self.transport = MemoryTransport()
        self.session = Session(IDENTITY, RpcVersion.V16, self.transport, MessageLog())
        self.charger = V16Charger(self.session, cast(CentralSystem, central))
        self.serving = asyncio.create_task(self.session.serve())

    async def play(self, command: Command, frame: Callable[[str], list[Any]]) -> object:
        """Run `command`; the charger answers its CALL with `frame(message_id)`."""
        task = asyncio.create_task(command(self.charger))
        call = await self.transport.next_frame()
        self.transport.deliver(frame(call[1]))
        result = await task
        self.transport.disconnect()
        await self.serving
        return result


INVALID_ANSWERS: dict[str, dict[str, Any]] = {
    "get_configuration": {"configurationKey": [{"value": "no key"}]},
    "change_configuration": {"status": "Maybe"},
    "reset": {},
    "set_charging_profile": {"status": 1},
    "get_composite_schedule": {"status": "Accepted", "chargingSchedule": {"limit": 3}},
    "send_local_list": {"status": "Accepted", "extra": True},
    "get_local_list_version": {"listVersion": "twelve"},
    "remote_start": {"status": "Later"},
    "unlock_connector": {"status": "Accepted"},
    "data_transfer": {"data": "no status"},
}


@pytest.mark.parametrize("name", sorted(INVALID_ANSWERS))
async def test_an_answer_the_schema_refuses_is_an_invalid_response(
    central: EndpointCentral, name: str
) -> None:
    action, command = COMMANDS[name]
    answer = INVALID_ANSWERS[name]
    failed = await RealSession(central).play(command, lambda message_id: [3, message_id, answer])
    assert isinstance(failed, CallFailed) and failed.kind is FailureKind.INVALID_RESPONSE
    assert failed.action == action


async def test_a_call_error_on_a_real_session_is_a_failure_with_its_code(
    central: EndpointCentral,
) -> None:
    _, command = COMMANDS["reset"]
    failed = await RealSession(central).play(
        command, lambda message_id: [4, message_id, "NotSupported", "no reset here", {}]
    )
    assert failed == CallFailed(FailureKind.CALL_ERROR, "Reset", "no reset here", "NotSupported")
