"""The endpoint against an independent OCPP-J implementation: ocpp-rpc in strict mode.

Our own simulated chargers share the `ocpp` Python library (and its schemas) with the server, so
they cannot catch a departure from the specification that both make. tests/interop/charger.mjs
is a charger built on the npm package `ocpp-rpc`, which validates every message in both
directions against its own copy of the specifications' JSON schemas: an answer of ours that
breaks them fails the charger's call, and a request of ours that breaks them is refused with a
CALLERROR before the charger's handler sees it. The charger prints one JSON line per step; the
tests assert on those lines and on what the store recorded.

One server and one charger per OCPP version serve the whole module: the charger runs its
scripted session once (boot, authorisation, a transaction, notifications), then each command
test drives one command through `central.connections[identity]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from controller.runtime.serve import Running, ServeOptions, running
from controller.values.commands import (
    AuthListStatus,
    ChargerCommands,
    ChargingLimit,
    CompositeSchedule,
    ConfigStatus,
    ConfigurationReport,
    DataTransferResult,
    LimitPeriod,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
)
from controller.values.records import ENERGY_REGISTER, ReportedKey, Transaction
from tests.integration.fleets import write_fleet

INTEROP = Path(__file__).resolve().parents[1] / "interop"
NODE = shutil.which("node")
MISSING = "node or tests/interop/node_modules missing: run `npm ci --prefix tests/interop`"

pytestmark = pytest.mark.asyncio(loop_scope="module")

LINE_TIMEOUT = 10.0
METER_START_WH, METER_MID_WH, METER_STOP_WH = 1000, 5000, 13300
"""The energy register readings of the charger's scripted transaction."""

CARDS = {
    "04AABBCC": "Accepted",
    "04BLOCKED": "Blocked",
    "04EXPIRED": "Expired",
    "04FOREIGN": "Invalid",
}
"""The fleet's cards (tests/integration/fleets.py) and their status at the depot."""

VENDOR = "io.chargectl.interop"
"""The DataTransfer vendor id the charger knows; it echoes the data back."""

T = TypeVar("T")


@dataclass
class StrictCharger:
    """The node charger process, and the JSON lines it printed."""

    version: str
    identity: str
    process: asyncio.subprocess.Process
    server: Running
    lines: list[dict[str, Any]] = field(default_factory=list)
    script: list[dict[str, Any]] = field(default_factory=list)
    """The lines of the scripted session, up to the "scripted" line."""
    _queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    @property
    def v16(self) -> bool:
        return self.version == "1.6"

    def pick(self, v16: T, v201: T) -> T:
        return v16 if self.v16 else v201

    async def read(self) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            self.lines.append(line)
            await self._queue.put(line)
        stderr = (await self.process.stderr.read()).decode(errors="replace")
        await self._queue.put({"step": "exited", "stderr": stderr})

    async def next_line(self, steps: tuple[str, ...], action: str | None = None) -> dict[str, Any]:
        """The next line of one of `steps` (and `action`); earlier lines stay in `lines`."""
        async with asyncio.timeout(LINE_TIMEOUT):
            while True:
                line = await self._queue.get()
                if line["step"] in steps and action in (None, line.get("action")):
                    return line
                if line["step"] in ("closed", "exited"):
                    raise AssertionError(f"the charger is gone: {line}")

    async def command(self, call: Awaitable[T], action: str) -> tuple[T, dict[str, Any]]:
        """Run one command; its result, and the request as the strict charger received it."""
        result, line = await asyncio.gather(call, self.next_line(("received", "refused"), action))
        assert line["step"] == "received", (
            f"the strict charger refused our {action}: {line['error']}; request {line['request']}"
        )
        return result, line["request"]

    async def triggered(self, action: str) -> dict[str, Any]:
        """The call the charger sent because of a TriggerMessage, and our answer to it."""
        return await self.next_line(("call",), action)

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [line for line in self.script if line["step"] == "call" and line["action"] == action]

    async def transaction(self) -> Transaction:
        """The scripted session's transaction, as stored."""
        await self.server.central.store.flush()
        store = self.server.central.store
        if self.v16:
            (started,) = self.calls("StartTransaction")
            stored = await store.transaction(started["response"]["transactionId"])
            assert stored is not None
            return stored
        (started, *_) = self.calls("TransactionEvent")
        charger_id = started["request"]["transactionInfo"]["transactionId"]
        (stored,) = [
            t
            for t in await store.transactions(identities=[self.identity])
            if t.charger_transaction_id == charger_id
        ]
        return stored


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["1.6", "2.0.1"])
async def charger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StrictCharger]:
    """Skips when node or ocpp-rpc is missing; with CHARGECTL_REQUIRE_INTEROP=1 (CI) fails."""
    if NODE is None or not (INTEROP / "node_modules" / "ocpp-rpc").is_dir():
        if os.environ.get("CHARGECTL_REQUIRE_INTEROP"):
            pytest.fail(MISSING, pytrace=False)
        pytest.skip(MISSING)
    version: str = request.param
    identity = {"1.6": "CP-16", "2.0.1": "CP-201"}[version]
    root = tmp_path_factory.mktemp(f"interop-{version}")
    options = ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[write_fleet(root, protected=False)],
        store_url=f"sqlite:///{root / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=5.0,
    )
    async with running(options) as server:
        process = await asyncio.create_subprocess_exec(
            NODE,
            str(INTEROP / "charger.mjs"),
            f"ocpp{version}",
            server.url,
            identity,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        session = StrictCharger(version, identity, process, server)
        reader = asyncio.create_task(session.read())
        try:
            opened = await session.next_line(("open", "connect-failed"))
            assert opened == {"step": "open", "protocol": f"ocpp{version}"}
            await session.next_line(("scripted",))
            session.script = list(session.lines)
            yield session
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), LINE_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


# --- the charger's messages ------------------------------------------------------------------

SCRIPTED_ACTIONS = {
    "1.6": {
        "BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
        "MeterValues", "StopTransaction", "DataTransfer", "FirmwareStatusNotification",
        "DiagnosticsStatusNotification", "SecurityEventNotification", "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    },
    "2.0.1": {
        "BootNotification", "Heartbeat", "StatusNotification", "Authorize", "TransactionEvent",
        "MeterValues", "DataTransfer", "FirmwareStatusNotification", "LogStatusNotification",
        "SecurityEventNotification", "NotifyEvent",
    },
}  # fmt: skip


async def test_every_charger_message_gets_a_callresult_that_passes_strict_validation(
    charger: StrictCharger,
) -> None:
    calls = [line for line in charger.script if line["step"] == "call"]
    failed = [line for line in calls if "error" in line]
    assert failed == [], "a CALLERROR, or an answer that broke ocpp-rpc's schemas"
    assert {line["action"] for line in calls} == SCRIPTED_ACTIONS[charger.version]
    assert [line for line in charger.script if line["step"] in ("strict", "bad-message")] == []


async def test_boot_is_accepted_with_the_fleets_heartbeat_interval(charger: StrictCharger) -> None:
    (boot,) = charger.calls("BootNotification")
    assert boot["response"]["status"] == "Accepted"
    assert boot["response"]["interval"] == 120  # the location's chargerDefaults.settings


async def test_authorize_answers_each_card_as_the_fleet_says(charger: StrictCharger) -> None:
    answers = {}
    for call in charger.calls("Authorize"):
        if charger.v16:
            answers[call["request"]["idTag"]] = call["response"]["idTagInfo"]["status"]
        else:
            answers[call["request"]["idToken"]["idToken"]] = call["response"]["idTokenInfo"][
                "status"
            ]
    assert answers == CARDS


async def test_the_transaction_is_stored_with_the_energy_between_its_first_and_last_reading(
    charger: StrictCharger,
) -> None:
    stored = await charger.transaction()
    assert (stored.meter_start_wh, stored.meter_stop_wh) == (METER_START_WH, METER_STOP_WH)
    assert stored.energy_wh == METER_STOP_WH - METER_START_WH
    assert (stored.connector_id, stored.id_tag, stored.stop_reason) == (
        1,
        "04AABBCC",
        "EVDisconnected",
    )


async def test_the_transactions_energy_readings_are_stored_with_it(charger: StrictCharger) -> None:
    stored = await charger.transaction()
    samples = await charger.server.central.store.meter_values(stored.id)
    registers = sorted(s.decimal for s in samples if s.measurand == ENERGY_REGISTER)
    # 1.6 carries the start reading in StartTransaction.meterStart, not as a sampled value.
    expected = charger.pick(
        [METER_MID_WH, METER_STOP_WH], [METER_START_WH, METER_MID_WH, METER_STOP_WH]
    )
    assert registers == [Decimal(wh) for wh in expected]


async def test_notifications_are_recorded_as_events(charger: StrictCharger) -> None:
    events = await charger.server.central.store.events(charger.identity)
    recorded = {
        (event.kind, event.data.get("status") or event.data.get("type")) for event in events
    }
    expected = {
        ("FirmwareStatus", charger.pick("Downloaded", "Installed")),
        ("LogStatus", "Uploaded"),
        ("SecurityEvent", "StartupOfTheDevice"),
        charger.pick(("DiagnosticsStatus", "Uploaded"), ("DeviceEvent", None)),
    }
    assert expected <= recorded
    (transfer,) = [event for event in events if event.kind == "DataTransfer"]
    assert transfer.data == {"vendorId": VENDOR, "messageId": "hello"}
    if not charger.v16:
        (device,) = [event for event in events if event.kind == "DeviceEvent"]
        assert device.data["variable"] == "Connector.AvailabilityState"
        assert device.data["evse"] == {"id": 1, "connectorId": 1}


# --- our commands, as the strict charger receives them ---------------------------------------


def commands_of(charger: StrictCharger) -> ChargerCommands:
    return charger.server.central.connections[charger.identity]


async def test_get_configuration_reads_the_asked_keys_and_lists_the_unknown_ones(
    charger: StrictCharger,
) -> None:
    known = charger.pick("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval")
    bogus = charger.pick("Bogus", "BogusCtrlr.Bogus")
    report, received = await charger.command(
        commands_of(charger).get_configuration([known, bogus]),
        charger.pick("GetConfiguration", "GetVariables"),
    )
    assert report == ConfigurationReport((ReportedKey(known, "300", False),), (bogus,))
    assert received == charger.pick(
        {"key": [known, bogus]},
        {
            "getVariableData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeType": "Actual",
                },
                {
                    "component": {"name": "BogusCtrlr"},
                    "variable": {"name": "Bogus"},
                    "attributeType": "Actual",
                },
            ]
        },
    )


async def test_get_configuration_without_keys_reads_every_key(charger: StrictCharger) -> None:
    report, received = await charger.command(
        commands_of(charger).get_configuration(),
        charger.pick("GetConfiguration", "GetBaseReport"),
    )
    assert isinstance(report, ConfigurationReport)
    readonly = {value.key: value.readonly for value in report.values}
    assert readonly == charger.pick(
        {
            "HeartbeatInterval": False,
            "MeterValueSampleInterval": False,
            "NumberOfConnectors": True,
            "WebSocketPingInterval": False,
        },
        {
            "OCPPCommCtrlr.HeartbeatInterval": False,
            "SampledDataCtrlr.TxUpdatedInterval": False,
            "SecurityCtrlr.Identity": True,
            "OCPPCommCtrlr.WebSocketPingInterval": False,
        },
    )
    if charger.v16:
        assert received == {}
    else:
        assert received["reportBase"] == "FullInventory"
        report_part = await charger.triggered("NotifyReport")
        assert report_part["request"]["requestId"] == received["requestId"]
        assert "error" not in report_part


@pytest.mark.parametrize(
    ("key_16", "key_201", "status"),
    [
        ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval", ConfigStatus.ACCEPTED),
        ("NumberOfConnectors", "SecurityCtrlr.Identity", ConfigStatus.REJECTED),
        (
            "WebSocketPingInterval",
            "OCPPCommCtrlr.WebSocketPingInterval",
            ConfigStatus.REBOOT_REQUIRED,
        ),
        ("Bogus", "BogusCtrlr.Bogus", ConfigStatus.NOT_SUPPORTED),
    ],
)
async def test_change_configuration_maps_each_answer_of_the_charger_back(
    charger: StrictCharger, key_16: str, key_201: str, status: ConfigStatus
) -> None:
    key = charger.pick(key_16, key_201)
    answer, received = await charger.command(
        commands_of(charger).change_configuration(key, "45"),
        charger.pick("ChangeConfiguration", "SetVariables"),
    )
    assert answer is status
    if charger.v16:
        assert received == {"key": key, "value": "45"}
    else:
        (data,) = received["setVariableData"]
        assert data["attributeValue"] == "45"
        assert f"{data['component']['name']}.{data['variable']['name']}" == key


async def test_a_changed_configuration_value_reads_back(charger: StrictCharger) -> None:
    key = charger.pick("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval")
    commands = commands_of(charger)
    changed, _ = await charger.command(
        commands.change_configuration(key, "90"),
        charger.pick("ChangeConfiguration", "SetVariables"),
    )
    assert changed is ConfigStatus.ACCEPTED
    report, _ = await charger.command(
        commands.get_configuration([key]), charger.pick("GetConfiguration", "GetVariables")
    )
    assert report == ConfigurationReport((ReportedKey(key, "90", False),))


@pytest.mark.parametrize(
    ("hard", "type_16", "type_201"), [(True, "Hard", "Immediate"), (False, "Soft", "OnIdle")]
)
async def test_reset_is_sent_as_the_versions_reset_type(
    charger: StrictCharger, hard: bool, type_16: str, type_201: str
) -> None:
    answer, received = await charger.command(commands_of(charger).reset(hard), "Reset")
    assert answer is Status.ACCEPTED
    assert received == {"type": charger.pick(type_16, type_201)}


@pytest.mark.parametrize(
    ("connector", "operative", "request_16", "request_201"),
    [
        (0, False, {"connectorId": 0, "type": "Inoperative"}, {"operationalStatus": "Inoperative"}),
        (
            2,
            True,
            {"connectorId": 2, "type": "Operative"},
            {"operationalStatus": "Operative", "evse": {"id": 2}},
        ),
    ],
)
async def test_change_availability_names_the_charger_or_one_connector(
    charger: StrictCharger,
    connector: int,
    operative: bool,
    request_16: dict[str, Any],
    request_201: dict[str, Any],
) -> None:
    answer, received = await charger.command(
        commands_of(charger).change_availability(connector, operative), "ChangeAvailability"
    )
    assert answer is Status.ACCEPTED
    assert received == charger.pick(request_16, request_201)


def profile_and_schedule(
    charger: StrictCharger, received: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The charging profile of a SetChargingProfile request, and its (first) schedule."""
    if charger.v16:
        profile = received["csChargingProfiles"]
        return profile, profile["chargingSchedule"]
    profile = received["chargingProfile"]
    return profile, profile["chargingSchedule"][0]


STARTS_AT = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)

LIMITS = {
    "tx-default": ChargingLimit(
        profile_id=11,
        purpose=LimitPurpose.TX_DEFAULT,
        periods=(LimitPeriod(0, 16.0), LimitPeriod(3600, 10.0, phases=1)),
        connector=1,
        stack_level=1,
        starts_at=STARTS_AT,
    ),
    "station-max-daily": ChargingLimit(
        profile_id=12,
        purpose=LimitPurpose.STATION_MAX,
        periods=(LimitPeriod(0, 32.0), LimitPeriod(7 * 3600, 63.5)),
        starts_at=STARTS_AT,
        recurring_daily=True,
    ),
}


@pytest.mark.parametrize("name", sorted(LIMITS))
async def test_a_charging_limit_is_a_valid_profile_the_charger_accepts(
    charger: StrictCharger, name: str
) -> None:
    limit = LIMITS[name]
    answer, received = await charger.command(
        commands_of(charger).set_charging_profile(limit), "SetChargingProfile"
    )
    assert answer is Status.ACCEPTED
    profile, schedule = profile_and_schedule(charger, received)
    assert received[charger.pick("connectorId", "evseId")] == limit.connector
    assert profile[charger.pick("chargingProfileId", "id")] == limit.profile_id
    assert (
        profile["chargingProfilePurpose"]
        == {
            LimitPurpose.TX_DEFAULT: "TxDefaultProfile",
            LimitPurpose.STATION_MAX: charger.pick(
                "ChargePointMaxProfile", "ChargingStationMaxProfile"
            ),
        }[limit.purpose]
    )
    assert profile["chargingProfileKind"] == ("Recurring" if limit.recurring_daily else "Absolute")
    assert profile.get("recurrencyKind") == ("Daily" if limit.recurring_daily else None)
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["startSchedule"] == "2026-12-01T06:00:00.000Z"
    assert [
        (p["startPeriod"], p["limit"], p.get("numberPhases"))
        for p in schedule["chargingSchedulePeriod"]
    ] == [(p.start_seconds, p.amperes, p.phases) for p in limit.periods]


async def test_a_limit_is_sent_with_one_decimal_rounded_down(charger: StrictCharger) -> None:
    """Power sharing divides currents (32 A over 3 chargers); OCPP limits have one decimal.

    Rounding down keeps the sum within the circuit: 3 x 10.6 A fits in 32 A, 3 x 10.7 A does not.
    """
    limit = ChargingLimit(
        profile_id=13,
        purpose=LimitPurpose.TX_DEFAULT,
        periods=(LimitPeriod(0, 32 / 3),),
        connector=2,
        starts_at=STARTS_AT,
    )
    answer, received = await charger.command(
        commands_of(charger).set_charging_profile(limit), "SetChargingProfile"
    )
    assert answer is Status.ACCEPTED
    _, schedule = profile_and_schedule(charger, received)
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 10.6


async def test_clear_charging_profile_maps_accepted_and_unknown(charger: StrictCharger) -> None:
    commands = commands_of(charger)
    limit = ChargingLimit(
        profile_id=21, purpose=LimitPurpose.TX_DEFAULT, periods=(LimitPeriod(0, 6.0),), connector=2
    )
    placed, _ = await charger.command(commands.set_charging_profile(limit), "SetChargingProfile")
    assert placed is Status.ACCEPTED
    cleared, received = await charger.command(
        commands.clear_charging_profile(profile_id=21), "ClearChargingProfile"
    )
    assert cleared is Status.ACCEPTED
    assert received == charger.pick({"id": 21}, {"chargingProfileId": 21})
    again, received = await charger.command(
        commands.clear_charging_profile(connector=2, purpose=LimitPurpose.TX),
        "ClearChargingProfile",
    )
    assert again is Status.UNKNOWN
    assert received == charger.pick(
        {"connectorId": 2, "chargingProfilePurpose": "TxProfile"},
        {"chargingProfileCriteria": {"evseId": 2, "chargingProfilePurpose": "TxProfile"}},
    )


async def test_the_composite_schedule_is_asked_in_amperes_and_read_as_periods(
    charger: StrictCharger,
) -> None:
    commands = commands_of(charger)
    answer, received = await charger.command(
        commands.get_composite_schedule(1, 60), "GetCompositeSchedule"
    )
    assert received == {
        charger.pick("connectorId", "evseId"): 1,
        "duration": 60,
        "chargingRateUnit": "A",
    }
    assert answer == CompositeSchedule(
        Status.ACCEPTED, (LimitPeriod(0, 16.0, phases=3), LimitPeriod(30, 10.0))
    )
    assert isinstance(answer, CompositeSchedule)
    assert (answer.amperes_at(0), answer.amperes_at(45)) == (16.0, 10.0)
    unknown, _ = await charger.command(
        commands.get_composite_schedule(3, 60), "GetCompositeSchedule"
    )
    assert unknown == CompositeSchedule(Status.REJECTED)


async def test_a_local_list_is_sent_and_its_version_reads_back(charger: StrictCharger) -> None:
    commands = commands_of(charger)
    entries = [
        LocalListEntry(
            "04AABBCC", AuthListStatus.ACCEPTED, datetime(2027, 1, 1, tzinfo=UTC), "FLEET"
        ),
        LocalListEntry("04BLOCKED", AuthListStatus.BLOCKED),
    ]
    sent, received = await charger.command(
        commands.send_local_list(7, entries, True), "SendLocalList"
    )
    assert sent is Status.ACCEPTED
    if charger.v16:
        assert received == {
            "listVersion": 7,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idTag": "04AABBCC",
                    "idTagInfo": {
                        "status": "Accepted",
                        "expiryDate": "2027-01-01T00:00:00.000Z",
                        "parentIdTag": "FLEET",
                    },
                },
                {"idTag": "04BLOCKED", "idTagInfo": {"status": "Blocked"}},
            ],
        }
    else:
        assert (received["versionNumber"], received["updateType"]) == (7, "Full")
        first, second = received["localAuthorizationList"]
        assert first["idToken"] == {"idToken": "04AABBCC", "type": "ISO14443"}
        assert first["idTokenInfo"]["status"] == "Accepted"
        assert first["idTokenInfo"]["cacheExpiryDateTime"] == "2027-01-01T00:00:00.000Z"
        assert first["idTokenInfo"]["groupIdToken"]["idToken"] == "FLEET"
        assert second["idTokenInfo"] == {"status": "Blocked"}
    removal, received = await charger.command(
        commands.send_local_list(8, [LocalListEntry("04BLOCKED", None)], False), "SendLocalList"
    )
    assert removal is Status.ACCEPTED
    assert received["updateType"] == "Differential"
    version, _ = await charger.command(commands.get_local_list_version(), "GetLocalListVersion")
    assert version == 8


async def test_update_firmware_names_the_location_and_the_time_to_fetch_it(
    charger: StrictCharger,
) -> None:
    url = "https://firmware.example.com/interop-2.0.0.bin"
    answer, received = await charger.command(
        commands_of(charger).update_firmware(url, datetime(2026, 12, 2, 3, 0, tzinfo=UTC), 42),
        "UpdateFirmware",
    )
    assert answer is Status.ACCEPTED
    assert received == charger.pick(
        {"location": url, "retrieveDate": "2026-12-02T03:00:00.000Z"},
        {
            "requestId": 42,
            "firmware": {"location": url, "retrieveDateTime": "2026-12-02T03:00:00.000Z"},
        },
    )


@pytest.mark.parametrize("kind", list(TriggerKind))
async def test_a_triggered_message_is_accepted_and_the_message_it_triggers_answered(
    charger: StrictCharger, kind: TriggerKind
) -> None:
    answer, received = await charger.command(
        commands_of(charger).trigger_message(kind, 1), "TriggerMessage"
    )
    assert answer is Status.ACCEPTED
    requested = received["requestedMessage"]
    if charger.v16:
        assert received == {"requestedMessage": kind.value, "connectorId": 1}
    else:
        assert requested == (
            "LogStatusNotification" if kind is TriggerKind.DIAGNOSTICS_STATUS else kind.value
        )
    triggered = await charger.triggered(requested)
    assert "error" not in triggered, triggered


async def test_remote_start_names_the_card_and_the_connector(charger: StrictCharger) -> None:
    answer, received = await charger.command(
        commands_of(charger).remote_start("04AABBCC", 2),
        charger.pick("RemoteStartTransaction", "RequestStartTransaction"),
    )
    assert answer is Status.ACCEPTED
    if charger.v16:
        assert received == {"idTag": "04AABBCC", "connectorId": 2}
    else:
        assert received["idToken"] == {"idToken": "04AABBCC", "type": "ISO14443"}
        assert received["evseId"] == 2
        assert isinstance(received["remoteStartId"], int)


async def test_remote_stop_names_the_chargers_transaction(charger: StrictCharger) -> None:
    stored = await charger.transaction()
    transaction_id = charger.pick(str(stored.id), stored.charger_transaction_id)
    assert transaction_id is not None
    answer, received = await charger.command(
        commands_of(charger).remote_stop(transaction_id),
        charger.pick("RemoteStopTransaction", "RequestStopTransaction"),
    )
    assert answer is Status.ACCEPTED  # the charger accepts only its own transaction's id
    assert received == {"transactionId": charger.pick(stored.id, stored.charger_transaction_id)}


async def test_unlock_connector_maps_unlocked(charger: StrictCharger) -> None:
    answer, received = await charger.command(
        commands_of(charger).unlock_connector(2), "UnlockConnector"
    )
    assert answer is Status.UNLOCKED
    assert received == charger.pick({"connectorId": 2}, {"evseId": 2, "connectorId": 1})


async def test_clear_cache_is_accepted(charger: StrictCharger) -> None:
    answer, received = await charger.command(commands_of(charger).clear_cache(), "ClearCache")
    assert answer is Status.ACCEPTED
    assert received == {}


async def test_data_transfer_returns_the_chargers_status_and_data(charger: StrictCharger) -> None:
    commands = commands_of(charger)
    answer, received = await charger.command(
        commands.data_transfer(VENDOR, "ping", "payload"), "DataTransfer"
    )
    assert answer == DataTransferResult(Status.ACCEPTED, "echo:payload")
    assert received == {"vendorId": VENDOR, "messageId": "ping", "data": "payload"}
    unknown, _ = await charger.command(commands.data_transfer("com.example.other"), "DataTransfer")
    assert unknown == DataTransferResult(Status.UNKNOWN_VENDOR_ID)
