"""OCPP 2.0.1 mapping (`controller/ocpp/v201/`) without sockets.

A fake session records every CALL we send, checks it against the `ocpp` library's 2.0.1 request
schema and answers with canned, schema-valid responses; a fake central system records what the
handlers tell it and keeps transactions the way the store does (a start with a known station
transaction id returns the stored one, an update of an unknown one returns None). Every handler
is fed a schema-valid request and its reply is checked against the response schema.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

import orjson
import pytest

from controller.ocpp import schemas
from controller.ocpp.central import CentralSystem
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.ocpp.v201 import V201Charger
from controller.ocpp.v201.commands import GET_VARIABLES_CHUNK
from controller.ocpp.v201.conversions import CONFIG_STATUSES, STATUSES
from controller.values.commands import (
    AuthListStatus,
    BootReply,
    BootStatus,
    CallFailed,
    ChargerCommands,
    ChargingLimit,
    ConfigStatus,
    ConfigurationReport,
    DataTransferResult,
    FailureKind,
    LimitPeriod,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
    limit_amperes,
)
from controller.values.records import (
    BootInfo,
    ConnectorStatus,
    ReportedKey,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from tests.fakes import (
    CARD_EXPIRES,
    EndpointCentral,
    ScriptedSession,
    advance,
    run_in_virtual_time,
)

IDENTITY = "CP-201"
NOW = "2026-11-25T10:00:00.000Z"
LATER = "2026-11-25T11:00:00.000Z"
EXPIRES = CARD_EXPIRES


def validate_request(action: str, payload: dict[str, Any]) -> None:
    schemas.validate(RpcVersion.V201, action, payload, "1", response=False)


def validate_response(action: str, payload: dict[str, Any]) -> None:
    schemas.validate(RpcVersion.V201, action, payload, "1", response=True)


def status_enum(action: str) -> set[str]:
    path = resources.files("ocpp").joinpath("v201", "schemas", f"{action}Response.json")
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    status = schema["properties"]["status"]
    if "$ref" in status:
        status = schema["definitions"][status["$ref"].rsplit("/", 1)[-1]]
    return set(status["enum"])


@pytest.fixture
def session() -> ScriptedSession:
    return ScriptedSession(RpcVersion.V201, IDENTITY)


@pytest.fixture
def central() -> EndpointCentral:
    return EndpointCentral()


@pytest.fixture
def charger(session: ScriptedSession, central: EndpointCentral) -> V201Charger:
    return V201Charger(cast(Session, session), cast(CentralSystem, central))


def test_the_charger_is_a_charger_commands_with_version_201(charger: V201Charger) -> None:
    commands: ChargerCommands = charger
    assert commands.identity == IDENTITY
    assert charger.version == "2.0.1"


def test_every_handled_action_is_a_201_charger_to_csms_message(session: ScriptedSession) -> None:
    V201Charger(cast(Session, session), cast(CentralSystem, EndpointCentral()))
    assert set(session.handlers) <= schemas.known_actions(RpcVersion.V201)
    assert {"BootNotification", "TransactionEvent", "NotifyReport"} <= set(session.handlers)


# --- status tables -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(STATUSES))
def test_every_status_a_response_schema_allows_maps_to_a_status(action: str) -> None:
    assert set(STATUSES[action]) == status_enum(action)


def test_every_set_variable_status_maps_to_a_config_status() -> None:
    path = resources.files("ocpp").joinpath("v201", "schemas", "SetVariablesResponse.json")
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    assert set(CONFIG_STATUSES) == set(schema["definitions"]["SetVariableStatusEnumType"]["enum"])


# --- commands ------------------------------------------------------------------------------------


def get_result(
    component: str,
    variable: str,
    status: str = "Accepted",
    value: str | None = None,
    variable_instance: str | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "attributeStatus": status,
        "attributeType": "Actual",
        "component": {"name": component},
        "variable": {"name": variable},
    }
    if variable_instance is not None:
        result["variable"]["instance"] = variable_instance
    if value is not None:
        result["attributeValue"] = value
    return result


async def test_get_configuration_of_keys_is_get_variables(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script(
        "GetVariables",
        {
            "getVariableResult": [
                get_result("OCPPCommCtrlr", "HeartbeatInterval", value="300"),
                get_result(
                    "OCPPCommCtrlr", "MessageTimeout", value="30", variable_instance="Default"
                ),
                get_result("SecurityCtrlr", "BasicAuthPassword", status="Rejected"),
                get_result("VendorCtrlr", "Turbo", status="UnknownComponent"),
                get_result("TxCtrlr", "Nonsense", status="UnknownVariable"),
            ]
        },
    )
    report = await charger.get_configuration(
        [
            "OCPPCommCtrlr.HeartbeatInterval",
            "OCPPCommCtrlr.MessageTimeout[Default]",
            "SecurityCtrlr.BasicAuthPassword",
            "VendorCtrlr.Turbo",
            "TxCtrlr.Nonsense",
            "no dot here",
        ]
    )
    assert session.payloads("GetVariables") == [
        {
            "getVariableData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeType": "Actual",
                },
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "MessageTimeout", "instance": "Default"},
                    "attributeType": "Actual",
                },
                {
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                    "attributeType": "Actual",
                },
                {
                    "component": {"name": "VendorCtrlr"},
                    "variable": {"name": "Turbo"},
                    "attributeType": "Actual",
                },
                {
                    "component": {"name": "TxCtrlr"},
                    "variable": {"name": "Nonsense"},
                    "attributeType": "Actual",
                },
            ]
        }
    ]
    assert report == ConfigurationReport(
        (
            ReportedKey("OCPPCommCtrlr.HeartbeatInterval", "300", readonly=False),
            ReportedKey("OCPPCommCtrlr.MessageTimeout[Default]", "30", readonly=True),
            ReportedKey("SecurityCtrlr.BasicAuthPassword", None, readonly=False),
        ),
        ("no dot here", "VendorCtrlr.Turbo", "TxCtrlr.Nonsense"),
    )


async def test_get_variables_results_are_matched_to_the_keys_as_asked(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script(
        "GetVariables",
        {"getVariableResult": [get_result("ocppcommctrlr", "heartbeatinterval", value="60")]},
    )
    report = await charger.get_configuration(["OCPPCommCtrlr.HeartbeatInterval"])
    assert report == ConfigurationReport((ReportedKey("OCPPCommCtrlr.HeartbeatInterval", "60"),))


async def test_component_instances_are_sent_and_read_back(
    session: ScriptedSession, charger: V201Charger
) -> None:
    result = get_result("EVSEPowerMeter", "Power", value="11000", variable_instance="MaxSet")
    result["component"]["instance"] = "Main"
    session.script("GetVariables", {"getVariableResult": [result]})
    report = await charger.get_configuration(["EVSEPowerMeter[Main].Power[MaxSet]"])
    sent = session.payloads("GetVariables")[0]["getVariableData"][0]
    assert sent["component"] == {"name": "EVSEPowerMeter", "instance": "Main"}
    assert sent["variable"] == {"name": "Power", "instance": "MaxSet"}
    assert report == ConfigurationReport(
        (ReportedKey("EVSEPowerMeter[Main].Power[MaxSet]", "11000"),)
    )


async def test_get_variables_are_asked_twenty_at_a_time(
    session: ScriptedSession, charger: V201Charger
) -> None:
    keys = [f"VendorCtrlr.Var{n}" for n in range(45)]

    async def echo(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "getVariableResult": [
                get_result(d["component"]["name"], d["variable"]["name"], value="1")
                for d in payload["getVariableData"]
            ]
        }

    session.script("GetVariables", echo, echo, echo)
    report = await charger.get_configuration(keys)
    sizes = [len(p["getVariableData"]) for p in session.payloads("GetVariables")]
    assert sizes == [GET_VARIABLES_CHUNK, GET_VARIABLES_CHUNK, 5]
    assert isinstance(report, ConfigurationReport)
    assert [v.key for v in report.values] == keys


async def test_get_variables_failure_is_returned(
    session: ScriptedSession, charger: V201Charger
) -> None:
    failed = CallFailed(FailureKind.TIMEOUT, "GetVariables", "no answer within 1.0s")
    session.script("GetVariables", failed)
    assert await charger.get_configuration(["OCPPCommCtrlr.HeartbeatInterval"]) == failed


def report_item(
    component: str,
    variable: str,
    value: str | None,
    mutability: str | None = None,
    *,
    evse: int | None = None,
    attribute_type: str | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if value is not None:
        attribute["value"] = value
    if mutability is not None:
        attribute["mutability"] = mutability
    if attribute_type is not None:
        attribute["type"] = attribute_type
    item: dict[str, Any] = {
        "component": {"name": component},
        "variable": {"name": variable},
        "variableAttribute": [attribute],
    }
    if evse is not None:
        item["component"]["evse"] = {"id": evse}
    return item


def notify_report(
    request_id: int, seq_no: int, items: list[dict[str, Any]], tbc: bool
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "requestId": request_id,
        "generatedAt": NOW,
        "seqNo": seq_no,
        "tbc": tbc,
    }
    if items:
        payload["reportData"] = items
    return payload


async def test_get_configuration_without_keys_collects_the_full_inventory_report(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    session.script("GetBaseReport", {"status": "Accepted"})
    task = asyncio.create_task(charger.get_configuration())
    await session.called.wait()
    [request] = session.payloads("GetBaseReport")
    assert request["reportBase"] == "FullInventory"
    request_id = request["requestId"]
    first = [
        report_item("OCPPCommCtrlr", "HeartbeatInterval", "300"),
        report_item("SecurityCtrlr", "Identity", "CP-201", "ReadOnly"),
        report_item("EVSE", "AvailabilityState", "Available", "ReadOnly", evse=1),
    ]
    second = [
        report_item("SecurityCtrlr", "BasicAuthPassword", None, "WriteOnly"),
        report_item("SmartChargingCtrlr", "Limit", "32", attribute_type="MaxSet"),
        report_item("AuthCtrlr", "AuthorizeRemoteStart", "true", "ReadWrite"),
    ]
    assert await session.handle("NotifyReport", notify_report(request_id, 0, first, True)) == {}
    assert not task.done()
    assert await session.handle("NotifyReport", notify_report(request_id, 1, second, False)) == {}
    report = await task
    expected = (
        ReportedKey("OCPPCommCtrlr.HeartbeatInterval", "300", readonly=False),
        ReportedKey("SecurityCtrlr.Identity", "CP-201", readonly=True),
        ReportedKey("SecurityCtrlr.BasicAuthPassword", None, readonly=False),
        ReportedKey("AuthCtrlr.AuthorizeRemoteStart", "true", readonly=False),
    )
    assert report == ConfigurationReport(expected)
    assert central.store.configurations == [(IDENTITY, expected)]


async def test_report_parts_sent_before_the_response_are_kept(
    session: ScriptedSession, charger: V201Charger
) -> None:
    async def report_first(payload: dict[str, Any]) -> dict[str, Any]:
        items = [report_item("OCPPCommCtrlr", "HeartbeatInterval", "60")]
        await session.handle("NotifyReport", notify_report(payload["requestId"], 0, items, False))
        return {"status": "Accepted"}

    session.script("GetBaseReport", report_first)
    report = await charger.get_configuration()
    assert report == ConfigurationReport((ReportedKey("OCPPCommCtrlr.HeartbeatInterval", "60"),))


async def test_a_report_nobody_asked_for_is_answered_and_ignored(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    items = [report_item("OCPPCommCtrlr", "HeartbeatInterval", "60")]
    assert await session.handle("NotifyReport", notify_report(7, 0, items, False)) == {}
    assert central.store.configurations == []


async def test_an_empty_base_report_is_an_empty_configuration(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script("GetBaseReport", {"status": "EmptyResultSet"})
    assert await charger.get_configuration() == ConfigurationReport(())


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
async def test_a_refused_base_report_fails(
    session: ScriptedSession, charger: V201Charger, status: str
) -> None:
    session.script("GetBaseReport", {"status": status})
    failed = await charger.get_configuration()
    assert isinstance(failed, CallFailed) and status in failed.description


def test_an_unfinished_report_times_out_after_the_call_timeout(central: EndpointCentral) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        session = ScriptedSession(RpcVersion.V201, IDENTITY, call_timeout=30)
        charger = V201Charger(cast(Session, session), cast(CentralSystem, central))
        session.script("GetBaseReport", {"status": "Accepted"})
        task = asyncio.create_task(charger.get_configuration())
        await session.called.wait()
        asked = loop.time()
        request_id = session.payloads("GetBaseReport")[0]["requestId"]
        items = [report_item("OCPPCommCtrlr", "HeartbeatInterval", "60")]
        await advance(20)
        await session.handle("NotifyReport", notify_report(request_id, 0, items, True))
        await advance(20)
        assert not task.done()  # a part restarts the wait
        failed = await task
        assert isinstance(failed, CallFailed) and failed.kind is FailureKind.TIMEOUT
        assert loop.time() - asked == pytest.approx(50)  # the call timeout after the last part
        assert central.store.configurations == []
        # a late part finds nobody waiting
        await session.handle("NotifyReport", notify_report(request_id, 1, items, False))
        assert central.store.configurations == []

    run_in_virtual_time(main)


async def test_a_disconnect_mid_report_fails_at_once(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script("GetBaseReport", {"status": "Accepted"})
    task = asyncio.create_task(charger.get_configuration())
    await session.called.wait()
    session.closed.set()
    failed = await asyncio.wait_for(task, 0.5)
    assert isinstance(failed, CallFailed) and failed.kind is FailureKind.DISCONNECTED


@pytest.mark.parametrize(("answer", "expected"), sorted(CONFIG_STATUSES.items()))
async def test_change_configuration_is_set_variables(
    session: ScriptedSession, charger: V201Charger, answer: str, expected: ConfigStatus
) -> None:
    result = get_result("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent")
    result["attributeStatus"] = answer
    result.pop("attributeValue", None)
    session.script("SetVariables", {"setVariableResult": [result]})
    status = await charger.change_configuration(
        "OCPPCommCtrlr.MessageAttempts[TransactionEvent]", "5"
    )
    assert status is expected
    assert session.payloads("SetVariables") == [
        {
            "setVariableData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                    "attributeType": "Actual",
                    "attributeValue": "5",
                }
            ]
        }
    ]


async def test_change_configuration_refuses_what_201_cannot_carry(
    session: ScriptedSession, charger: V201Charger
) -> None:
    assert (
        await charger.change_configuration("HeartbeatInterval", "60") is ConfigStatus.NOT_SUPPORTED
    )
    assert (
        await charger.change_configuration("OCPPCommCtrlr.HeartbeatInterval", "9" * 1001)
        is ConfigStatus.REJECTED
    )
    assert session.requests == []


@pytest.mark.parametrize(("hard", "kind"), [(True, "Immediate"), (False, "OnIdle")])
async def test_reset(session: ScriptedSession, charger: V201Charger, hard: bool, kind: str) -> None:
    session.script("Reset", {"status": "Scheduled"})
    assert await charger.reset(hard) is Status.SCHEDULED
    assert session.payloads("Reset") == [{"type": kind}]


async def test_change_availability_of_the_station_and_of_an_evse(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script("ChangeAvailability", {"status": "Accepted"}, {"status": "Scheduled"})
    assert await charger.change_availability(0, operative=False) is Status.ACCEPTED
    assert await charger.change_availability(2, operative=True) is Status.SCHEDULED
    assert session.payloads("ChangeAvailability") == [
        {"operationalStatus": "Inoperative"},
        {"operationalStatus": "Operative", "evse": {"id": 2}},
    ]


async def test_set_charging_profile_station_max(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script("SetChargingProfile", {"status": "Accepted"})
    limit = ChargingLimit(
        profile_id=7,
        purpose=LimitPurpose.STATION_MAX,
        periods=(LimitPeriod(0, 32, 3), LimitPeriod(3600, 16.5)),
        starts_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
    )
    assert await charger.set_charging_profile(limit) is Status.ACCEPTED
    assert session.payloads("SetChargingProfile") == [
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 7,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 7,
                        "chargingRateUnit": "A",
                        "startSchedule": "2026-11-25T10:00:00.000Z",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 32.0, "numberPhases": 3},
                            {"startPeriod": 3600, "limit": 16.5},
                        ],
                    }
                ],
            },
        }
    ]


@pytest.mark.parametrize(
    ("amperes", "sent"), [(32 / 3, 10.6), (2.3, 2.3), (16.09, 16.0), (32, 32.0), (0.05, 0.0)]
)
def test_limits_have_one_decimal_rounded_down(amperes: float, sent: float) -> None:
    assert limit_amperes(amperes) == sent


async def test_absolute_and_recurring_profiles_always_have_a_start_schedule(
    session: ScriptedSession, charger: V201Charger
) -> None:
    session.script("SetChargingProfile", {"status": "Accepted"}, {"status": "Rejected"})
    before = datetime.now(UTC).replace(microsecond=0)
    absolute = ChargingLimit(1, LimitPurpose.TX_DEFAULT, (LimitPeriod(0, 16),), connector=1)
    recurring = replace(absolute, recurring_daily=True)
    assert await charger.set_charging_profile(absolute) is Status.ACCEPTED
    assert await charger.set_charging_profile(recurring) is Status.REJECTED
    first, second = (p["chargingProfile"] for p in session.payloads("SetChargingProfile"))
    start = datetime.fromisoformat(first["chargingSchedule"][0]["startSchedule"])
    assert start >= before
    assert first["chargingProfilePurpose"] == "TxDefaultProfile"
    assert (second["chargingProfileKind"], second["recurrencyKind"]) == ("Recurring", "Daily")
    midnight = datetime.fromisoformat(second["chargingSchedule"][0]["startSchedule"])
    assert (midnight.hour, midnight.minute, midnight.second) == (0, 0, 0)


async def test_tx_profile_names_the_stations_transaction_id(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    transaction = await central.start_transaction(
        TransactionStart(IDENTITY, 1, datetime(2026, 11, 25, tzinfo=UTC), 0, None, "tx-abc")
    )
    session.script("SetChargingProfile", {"status": "Accepted"}, {"status": "Accepted"})
    by_ours = ChargingLimit(
        3, LimitPurpose.TX, (LimitPeriod(0, 10),), connector=1, transaction_id=str(transaction.id)
    )
    by_theirs = replace(by_ours, transaction_id="tx-abc")
    await charger.set_charging_profile(by_ours)
    await charger.set_charging_profile(by_theirs)
    for payload in session.payloads("SetChargingProfile"):
        assert payload["evseId"] == 1
        assert payload["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"
        assert payload["chargingProfile"]["transactionId"] == "tx-abc"


async def test_clear_charging_profile(session: ScriptedSession, charger: V201Charger) -> None:
    session.script(
        "ClearChargingProfile",
        {"status": "Accepted"},
        {"status": "Unknown"},
        {"status": "Accepted"},
    )
    assert await charger.clear_charging_profile(profile_id=7) is Status.ACCEPTED
    assert (
        await charger.clear_charging_profile(connector=1, purpose=LimitPurpose.TX_DEFAULT)
        is Status.UNKNOWN
    )
    assert await charger.clear_charging_profile() is Status.ACCEPTED
    assert session.payloads("ClearChargingProfile") == [
        {"chargingProfileId": 7},
        {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile"}},
        {},
    ]


async def test_send_local_list(session: ScriptedSession, charger: V201Charger) -> None:
    session.script(
        "SendLocalList",
        {"status": "Accepted"},
        {"status": "VersionMismatch"},
        {"status": "Failed"},
    )
    entries = [
        LocalListEntry("04A1B2C3", AuthListStatus.ACCEPTED, EXPIRES, "TEAM-A"),
        LocalListEntry("DEADBEEF", AuthListStatus.BLOCKED),
        LocalListEntry("GONE", None),
    ]
    assert await charger.send_local_list(5, entries, full=False) is Status.ACCEPTED
    assert await charger.send_local_list(6, [], full=True) is Status.VERSION_MISMATCH
    assert await charger.send_local_list(7, entries[:1], full=True) is Status.FAILED
    first, second, _ = session.payloads("SendLocalList")
    assert first == {
        "versionNumber": 5,
        "updateType": "Differential",
        "localAuthorizationList": [
            {
                "idToken": {"idToken": "04A1B2C3", "type": "ISO14443"},
                "idTokenInfo": {
                    "status": "Accepted",
                    "cacheExpiryDateTime": "2027-01-01T00:00:00.000Z",
                    "groupIdToken": {"idToken": "TEAM-A", "type": "Central"},
                },
            },
            {
                "idToken": {"idToken": "DEADBEEF", "type": "ISO14443"},
                "idTokenInfo": {"status": "Blocked"},
            },
            {"idToken": {"idToken": "GONE", "type": "ISO14443"}},
        ],
    }
    assert second == {"versionNumber": 6, "updateType": "Full"}


async def test_get_local_list_version(session: ScriptedSession, charger: V201Charger) -> None:
    session.script("GetLocalListVersion", {"versionNumber": 12})
    assert await charger.get_local_list_version() == 12
    assert session.payloads("GetLocalListVersion") == [{}]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Accepted", Status.ACCEPTED),
        ("AcceptedCanceled", Status.ACCEPTED),
        ("Rejected", Status.REJECTED),
        ("InvalidCertificate", Status.REJECTED),
        ("RevokedCertificate", Status.REJECTED),
    ],
)
async def test_update_firmware(
    session: ScriptedSession, charger: V201Charger, answer: str, expected: Status
) -> None:
    session.script("UpdateFirmware", {"status": answer})
    at = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert await charger.update_firmware("https://fw.example/v2.bin", at, 42) is expected
    assert session.payloads("UpdateFirmware") == [
        {
            "requestId": 42,
            "firmware": {
                "location": "https://fw.example/v2.bin",
                "retrieveDateTime": "2026-12-01T03:00:00.000Z",
            },
        }
    ]


@pytest.mark.parametrize(
    ("kind", "requested"),
    [
        (TriggerKind.BOOT_NOTIFICATION, "BootNotification"),
        (TriggerKind.HEARTBEAT, "Heartbeat"),
        (TriggerKind.STATUS_NOTIFICATION, "StatusNotification"),
        (TriggerKind.METER_VALUES, "MeterValues"),
        (TriggerKind.FIRMWARE_STATUS, "FirmwareStatusNotification"),
        (TriggerKind.DIAGNOSTICS_STATUS, "LogStatusNotification"),
    ],
)
async def test_trigger_message(
    session: ScriptedSession, charger: V201Charger, kind: TriggerKind, requested: str
) -> None:
    session.script("TriggerMessage", {"status": "Accepted"}, {"status": "NotImplemented"})
    assert await charger.trigger_message(kind) is Status.ACCEPTED
    assert await charger.trigger_message(kind, connector=2) is Status.NOT_SUPPORTED
    whole, one = session.payloads("TriggerMessage")
    assert whole == {"requestedMessage": requested}
    assert one["requestedMessage"] == requested
    assert one["evse"]["id"] == 2
    # F06.FR.12: a StatusNotification is per connector.
    assert ("connectorId" in one["evse"]) is (kind is TriggerKind.STATUS_NOTIFICATION)


async def test_remote_start(session: ScriptedSession, charger: V201Charger) -> None:
    session.script("RequestStartTransaction", {"status": "Accepted"}, {"status": "Rejected"})
    assert await charger.remote_start("04A1B2C3", connector=1) is Status.ACCEPTED
    assert await charger.remote_start("operator") is Status.REJECTED
    card, other = session.payloads("RequestStartTransaction")
    assert card["idToken"] == {"idToken": "04A1B2C3", "type": "ISO14443"}
    assert card["evseId"] == 1
    assert other["idToken"] == {"idToken": "operator", "type": "Central"}
    assert "evseId" not in other
    assert other["remoteStartId"] != card["remoteStartId"]


async def test_remote_stop_uses_the_stations_transaction_id(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    ours = await central.start_transaction(
        TransactionStart(IDENTITY, 1, datetime(2026, 11, 25, tzinfo=UTC), 0, None, "9f1c-77")
    )
    session.script(
        "RequestStopTransaction",
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"status": "Rejected"},
    )
    assert await charger.remote_stop(str(ours.id)) is Status.ACCEPTED
    assert await charger.remote_stop("9f1c-77") is Status.ACCEPTED
    assert await charger.remote_stop("unknown-1") is Status.REJECTED
    assert session.payloads("RequestStopTransaction") == [
        {"transactionId": "9f1c-77"},
        {"transactionId": "9f1c-77"},
        {"transactionId": "unknown-1"},
    ]
    too_long = await charger.remote_stop("x" * 37)
    assert isinstance(too_long, CallFailed)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Unlocked", Status.UNLOCKED),
        ("UnlockFailed", Status.UNLOCK_FAILED),
        ("OngoingAuthorizedTransaction", Status.ONGOING_AUTHORIZED_TRANSACTION),
        ("UnknownConnector", Status.UNKNOWN_CONNECTOR),
    ],
)
async def test_unlock_connector(
    session: ScriptedSession, charger: V201Charger, answer: str, expected: Status
) -> None:
    session.script("UnlockConnector", {"status": answer})
    assert await charger.unlock_connector(2) is expected
    assert session.payloads("UnlockConnector") == [{"evseId": 2, "connectorId": 1}]


async def test_clear_cache(session: ScriptedSession, charger: V201Charger) -> None:
    session.script("ClearCache", {"status": "Rejected", "statusInfo": {"reasonCode": "Busy"}})
    assert await charger.clear_cache() is Status.REJECTED
    assert session.payloads("ClearCache") == [{}]


async def test_data_transfer(session: ScriptedSession, charger: V201Charger) -> None:
    session.script(
        "DataTransfer",
        {"status": "Accepted", "data": "pong"},
        {"status": "Accepted", "data": {"level": 3}},
        {"status": "UnknownVendorId"},
    )
    assert await charger.data_transfer("com.example", "ping", "x") == DataTransferResult(
        Status.ACCEPTED, "pong"
    )
    assert await charger.data_transfer("com.example") == DataTransferResult(
        Status.ACCEPTED, '{"level":3}'
    )
    assert await charger.data_transfer("org.other") == DataTransferResult(
        Status.UNKNOWN_VENDOR_ID, None
    )
    assert session.payloads("DataTransfer")[0] == {
        "vendorId": "com.example",
        "messageId": "ping",
        "data": "x",
    }


async def test_call_failures_come_back_as_they_are(
    session: ScriptedSession, charger: V201Charger
) -> None:
    failed = CallFailed(FailureKind.CALL_ERROR, "Reset", "no", "NotSupported")
    session.script("Reset", failed)
    assert await charger.reset(hard=True) == failed


# --- the station's messages ----------------------------------------------------------------------


async def test_boot_notification(session: ScriptedSession, central: EndpointCentral) -> None:
    V201Charger(cast(Session, session), cast(CentralSystem, central))
    reply = await session.handle(
        "BootNotification",
        {
            "reason": "PowerUp",
            "chargingStation": {
                "vendorName": "ABB",
                "model": "Terra AC",
                "serialNumber": "TACW-001",
                "firmwareVersion": "1.8.2",
                "modem": {"iccid": "8931440400000000001", "imsi": "204080000000001"},
            },
        },
    )
    assert central.called("boot") == [
        BootInfo("ABB", "Terra AC", "TACW-001", "1.8.2", "8931440400000000001", "204080000000001")
    ]
    assert (reply["status"], reply["interval"]) == ("Accepted", 120)


async def test_boot_notification_pending(
    session: ScriptedSession, central: EndpointCentral
) -> None:
    V201Charger(cast(Session, session), cast(CentralSystem, central))
    central.boot_reply = BootReply(BootStatus.PENDING, 60)
    boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "ABB", "model": "Terra AC"}}
    reply = await session.handle("BootNotification", boot)
    assert (reply["status"], reply["interval"]) == ("Pending", 60)
    assert central.called("boot") == [BootInfo("ABB", "Terra AC")]


async def test_heartbeat(session: ScriptedSession, charger: V201Charger) -> None:
    assert await session.handle("Heartbeat", {}) == {"currentTime": "2026-11-25T10:00:00.000Z"}


async def test_status_notification_reports_the_evse(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    payload = {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1}
    assert await session.handle("StatusNotification", payload) == {}
    assert central.called("status") == [
        ConnectorStatus(IDENTITY, 2, "Occupied", datetime(2026, 11, 25, 10, tzinfo=UTC))
    ]


async def test_authorize(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    accepted = await session.handle(
        "Authorize", {"idToken": {"idToken": "card-1", "type": "ISO14443"}}
    )
    assert accepted == {
        "idTokenInfo": {
            "status": "Accepted",
            "cacheExpiryDateTime": "2027-01-01T00:00:00.000Z",
            "groupIdToken": {"idToken": "TEAM-A", "type": "Central"},
        }
    }
    blocked = await session.handle(
        "Authorize", {"idToken": {"idToken": "blocked", "type": "ISO14443"}}
    )
    assert blocked == {"idTokenInfo": {"status": "Blocked"}}
    assert central.called("authorize") == ["card-1", "blocked"]


def meter_value(
    at: str, value: float, unit: str | None = None, context: str | None = None, **extra: Any
) -> dict[str, Any]:
    sampled: dict[str, Any] = {"value": value, **extra}
    if unit is not None:
        sampled["unitOfMeasure"] = {"unit": unit}
    if context is not None:
        sampled["context"] = context
    return {"timestamp": at, "sampledValue": [sampled]}


def transaction_event(
    event_type: str,
    transaction_id: str = "tx-1",
    *,
    at: str = NOW,
    seq_no: int = 0,
    evse: int | None = 1,
    id_token: str | None = None,
    meter: list[dict[str, Any]] | None = None,
    stopped_reason: str | None = None,
) -> dict[str, Any]:
    trigger = {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": at,
        "triggerReason": trigger[event_type],
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id},
    }
    if evse is not None:
        payload["evse"] = {"id": evse, "connectorId": 1}
    if id_token is not None:
        payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
    if meter:
        payload["meterValue"] = meter
    if stopped_reason is not None:
        payload["transactionInfo"]["stoppedReason"] = stopped_reason
    return payload


async def test_transaction_event_started_starts_a_transaction(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    reply = await session.handle(
        "TransactionEvent",
        transaction_event(
            "Started",
            id_token="card-1",
            meter=[meter_value(NOW, 1234.567, "kWh", "Transaction.Begin")],
        ),
    )
    assert reply["idTokenInfo"]["status"] == "Accepted"
    [start] = central.called("start")
    assert start == TransactionStart(
        identity=IDENTITY,
        connector_id=1,
        started_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
        meter_start_wh=1234567,
        id_tag="card-1",
        charger_transaction_id="tx-1",
    )
    [samples] = central.called("meter_values")
    assert [(s.value, s.unit, s.transaction_id, s.connector_id) for s in samples] == [
        ("1234.567", "kWh", 100, 1)
    ]


async def test_a_refused_token_still_records_the_transaction(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    reply = await session.handle(
        "TransactionEvent", transaction_event("Started", id_token="nobody")
    )
    assert reply == {"idTokenInfo": {"status": "Invalid"}}
    assert len(central.called("start")) == 1


async def test_started_without_token_or_evse(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    """Cable first: no token yet; authorised first: no EVSE yet (connector 0 until one)."""
    assert await session.handle("TransactionEvent", transaction_event("Started", evse=None)) == {}
    [start] = central.called("start")
    assert (start.connector_id, start.id_tag, start.meter_start_wh) == (0, None, None)
    reply = await session.handle(
        "TransactionEvent", transaction_event("Updated", seq_no=1, evse=2, id_token="card-1")
    )
    assert reply["idTokenInfo"]["status"] == "Accepted"
    [update] = central.called("update")
    assert (update.connector_id, update.id_tag) == (2, "card-1")
    assert central.transactions["tx-1"].connector_id == 2


@pytest.mark.parametrize(
    ("value", "unit", "multiplier", "wh"),
    [
        (12345, None, None, 12345),
        (12345.6, "Wh", None, 12346),
        (12.345, "kWh", None, 12345),
        (1.2345, "kWh", 1, 12345),
        (123.45, "Wh", 2, 12345),
        (0.1, "kWh", None, 100),
    ],
)
async def test_energy_register_readings_are_converted_to_wh(
    session: ScriptedSession,
    central: EndpointCentral,
    charger: V201Charger,
    value: float,
    unit: str | None,
    multiplier: int | None,
    wh: int,
) -> None:
    sampled: dict[str, Any] = {"value": value, "measurand": "Energy.Active.Import.Register"}
    if unit is not None or multiplier is not None:
        sampled["unitOfMeasure"] = {
            k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v is not None
        }
    meter = [{"timestamp": NOW, "sampledValue": [sampled]}]
    await session.handle("TransactionEvent", transaction_event("Started", meter=meter))
    assert central.called("start")[0].meter_start_wh == wh


async def test_only_the_whole_outlet_register_is_a_meter_reading(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    meter = [
        {
            "timestamp": NOW,
            "sampledValue": [
                {
                    "value": 11.0,
                    "measurand": "Power.Active.Import",
                    "unitOfMeasure": {"unit": "kW"},
                },
                {"value": 500, "phase": "L1"},
                {"value": 600, "location": "EV"},
                {"value": 700, "location": "Outlet", "context": "Transaction.Begin"},
            ],
        }
    ]
    await session.handle("TransactionEvent", transaction_event("Started", meter=meter))
    assert central.called("start")[0].meter_start_wh == 700
    [samples] = central.called("meter_values")
    assert [s.value for s in samples] == ["11.0", "500", "600", "700"]


async def test_updated_records_the_latest_register_reading(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    await session.handle(
        "TransactionEvent", transaction_event("Started", meter=[meter_value(NOW, 1000)])
    )
    reply = await session.handle(
        "TransactionEvent",
        transaction_event(
            "Updated",
            at=LATER,
            seq_no=1,
            meter=[meter_value(NOW, 1500), meter_value(LATER, 2500)],
        ),
    )
    assert reply == {}
    [update] = central.called("update")
    assert update == TransactionUpdate(
        identity=IDENTITY,
        at=datetime(2026, 11, 25, 11, tzinfo=UTC),
        charger_transaction_id="tx-1",
        meter_wh=2500,
        connector_id=1,
    )
    assert len(central.called("start")) == 1
    assert len(central.called("meter_values")) == 2


async def test_updated_for_an_unknown_transaction_creates_it(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    reply = await session.handle(
        "TransactionEvent",
        transaction_event(
            "Updated",
            "tx-lost",
            at=LATER,
            seq_no=5,
            evse=2,
            id_token="card-1",
            meter=[meter_value(LATER, 4000, context="Sample.Periodic")],
        ),
    )
    assert reply["idTokenInfo"]["status"] == "Accepted"
    [start] = central.called("start")
    assert start == TransactionStart(
        identity=IDENTITY,
        connector_id=2,
        started_at=datetime(2026, 11, 25, 11, tzinfo=UTC),
        meter_start_wh=None,  # a periodic reading is not where the transaction began
        id_tag="card-1",
        charger_transaction_id="tx-lost",
    )
    assert [u.charger_transaction_id for u in central.called("update")] == ["tx-lost", "tx-lost"]
    assert central.transactions["tx-lost"].meter_last_wh == 4000
    [(kind, _, data)] = central.called("event")
    assert kind == "TransactionRecovered" and data["transactionId"] == "tx-lost"
    [samples] = central.called("meter_values")
    assert samples[0].transaction_id == central.transactions["tx-lost"].id


async def test_ended_stops_the_transaction(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    await session.handle(
        "TransactionEvent", transaction_event("Started", meter=[meter_value(NOW, 1.0, "kWh")])
    )
    reply = await session.handle(
        "TransactionEvent",
        transaction_event(
            "Ended",
            at=LATER,
            seq_no=2,
            id_token="card-1",
            stopped_reason="EVDisconnected",
            meter=[
                meter_value(LATER, 8.5, "kWh", "Transaction.End"),
                meter_value(LATER, 9.0, "kWh", "Sample.Clock"),
            ],
        ),
    )
    assert reply["idTokenInfo"]["status"] == "Accepted"
    [stop] = central.called("stop")
    assert stop == TransactionStop(
        identity=IDENTITY,
        stopped_at=datetime(2026, 11, 25, 11, tzinfo=UTC),
        charger_transaction_id="tx-1",
        meter_stop_wh=8500,
        reason="EVDisconnected",
        id_tag="card-1",
    )
    assert central.transactions["tx-1"].stopped_at is not None
    assert central.called("event") == []


async def test_ended_without_reason_is_local(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    await session.handle("TransactionEvent", transaction_event("Started"))
    assert await session.handle("TransactionEvent", transaction_event("Ended", seq_no=1)) == {}
    [stop] = central.called("stop")
    assert (stop.reason, stop.meter_stop_wh, stop.id_tag) == ("Local", None, None)


async def test_ended_for_an_unknown_transaction_creates_and_stops_it(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    await session.handle(
        "TransactionEvent",
        transaction_event(
            "Ended",
            "tx-offline",
            at=LATER,
            seq_no=3,
            stopped_reason="Remote",
            meter=[
                meter_value(NOW, 2000, context="Transaction.Begin"),
                meter_value(LATER, 9000, context="Transaction.End"),
            ],
        ),
    )
    [start] = central.called("start")
    assert (start.started_at, start.meter_start_wh) == (
        datetime(2026, 11, 25, 10, tzinfo=UTC),
        2000,
    )
    [stop] = central.called("stop")
    assert (stop.meter_stop_wh, stop.reason) == (9000, "Remote")
    stored = central.transactions["tx-offline"]
    assert (stored.meter_start_wh, stored.meter_stop_wh, stored.is_open) == (2000, 9000, False)


async def test_a_recovered_ended_without_a_begin_reading_has_unknown_energy(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    ended = transaction_event("Ended", "tx-x", seq_no=9, meter=[meter_value(LATER, 9000)])
    await session.handle("TransactionEvent", ended)
    stored = central.transactions["tx-x"]
    assert (stored.meter_start_wh, stored.meter_stop_wh) == (None, 9000)


async def test_a_repeated_ended_changes_nothing(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    await session.handle("TransactionEvent", transaction_event("Started"))
    ended = transaction_event("Ended", seq_no=1, meter=[meter_value(LATER, 5000)])
    await session.handle("TransactionEvent", ended)
    first = central.transactions["tx-1"]
    await session.handle("TransactionEvent", ended)
    assert central.transactions["tx-1"] == first
    assert len(central.called("start")) == 1


RAW_METER_VALUES = (
    b'{"evseId": 1, "meterValue": [{"timestamp": "2026-11-25T10:00:00Z", "sampledValue": ['
    b'{"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},'
    b'{"value": 12345678.9},'
    b'{"value": 16, "measurand": "Current.Import", "unitOfMeasure": {"unit": "A"}},'
    b'{"value": 0.00001, "measurand": "Power.Factor"},'
    b'{"value": 1e16},'
    b'{"value": 1.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 3}},'
    b'{"value": 80, "measurand": "SoC", "context": "Sample.Periodic", "location": "EV",'
    b' "unitOfMeasure": {"unit": "Percent"}}'
    b"]}]}"
)


async def test_meter_values_keep_the_value_text(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    payload = orjson.loads(RAW_METER_VALUES)  # as the session parses a frame
    assert await session.handle("MeterValues", payload) == {}
    [samples] = central.called("meter_values")
    assert [(s.value, s.measurand, s.unit) for s in samples] == [
        ("230.1", "Voltage", "V"),
        ("12345678.9", "Energy.Active.Import.Register", None),
        ("16", "Current.Import", "A"),
        ("0.00001", "Power.Factor", None),
        ("10000000000000000", "Energy.Active.Import.Register", None),
        ("1500", "Energy.Active.Import.Register", "kWh"),
        ("80", "SoC", "Percent"),
    ]
    assert samples[0].phase == "L1-N"
    assert (samples[6].context, samples[6].location) == ("Sample.Periodic", "EV")
    assert {(s.identity, s.connector_id, s.transaction_id) for s in samples} == {
        (IDENTITY, 1, None)
    }
    assert samples[0].timestamp == datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "payload", "kind", "data"),
    [
        (
            "FirmwareStatusNotification",
            {"status": "Installed", "requestId": 42},
            "FirmwareStatus",
            {"status": "Installed", "requestId": 42},
        ),
        (
            "LogStatusNotification",
            {"status": "Uploaded", "requestId": 3},
            "LogStatus",
            {"status": "Uploaded", "requestId": 3},
        ),
        (
            "SecurityEventNotification",
            {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "lid"},
            "SecurityEvent",
            {"type": "TamperDetectionActivated", "techInfo": "lid", "timestamp": NOW},
        ),
        (
            "NotifyChargingLimit",
            {"chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": True}, "evseId": 1},
            "ChargingLimit",
            {"source": "SO", "evseId": 1, "isGridCritical": True},
        ),
        (
            "ClearedChargingLimit",
            {"chargingLimitSource": "EMS"},
            "ChargingLimitCleared",
            {"source": "EMS", "evseId": None},
        ),
        (
            "ReservationStatusUpdate",
            {"reservationId": 9, "reservationUpdateStatus": "Expired"},
            "ReservationStatus",
            {"reservationId": 9, "status": "Expired"},
        ),
    ],
)
async def test_notifications_are_reported(
    session: ScriptedSession,
    central: EndpointCentral,
    charger: V201Charger,
    action: str,
    payload: dict[str, Any],
    kind: str,
    data: dict[str, Any],
) -> None:
    assert await session.handle(action, payload) == {}
    [(reported_kind, _, reported_data)] = central.called("reported")
    assert (reported_kind, reported_data) == (kind, data)


async def test_notify_event_reports_each_event(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    event = {
        "eventId": 1,
        "timestamp": NOW,
        "trigger": "Delta",
        "actualValue": "true",
        "techCode": "E12",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
        "variable": {"name": "Problem"},
        "eventNotificationType": "HardWiredNotification",
    }
    cleared = {**event, "eventId": 2, "actualValue": "false", "cleared": True}
    payload = {"generatedAt": NOW, "seqNo": 0, "eventData": [event, cleared]}
    assert await session.handle("NotifyEvent", payload) == {}
    reported = central.called("reported")
    assert [(kind, message) for kind, message, _ in reported] == [
        ("DeviceEvent", "Connector.Problem on EVSE 1 = true"),
        ("DeviceEvent", "Connector.Problem on EVSE 1 = false (cleared)"),
    ]
    assert reported[0][2]["techCode"] == "E12"


async def test_data_transfer_from_the_station_is_an_unknown_vendor(
    session: ScriptedSession, central: EndpointCentral, charger: V201Charger
) -> None:
    reply = await session.handle(
        "DataTransfer", {"vendorId": "com.example", "messageId": "hello", "data": {"a": 1}}
    )
    assert reply == {"status": "UnknownVendorId"}
    [(kind, _, data)] = central.called("reported")
    assert (kind, data) == ("DataTransfer", {"vendorId": "com.example", "messageId": "hello"})
