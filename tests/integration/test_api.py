"""The status API, commands, probes and metrics, over HTTP, against a running central system.

Commands go to the admin channel (a listener of its own, with a bearer token); everything else
to the read-only status API.

A real endpoint and SQLite store (`running`), the web server next to it on a free port, and a
bare OCPP-J charger (tests/integration/rawclient.py) on the other side, so each document is
checked against what was really said over the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from controller.planning.document import PLAN_FORMAT_VERSION, plan_from_json
from controller.planning.keys import PlanStatus
from controller.runtime.serve import Running, ServeOptions, running
from controller.values.commands import Status, TriggerKind
from controller.web.access import Scope
from controller.web.admin import AdminOptions, AdminServer
from controller.web.app import WebOptions, WebServer, parse_networks
from controller.web.commands import (
    BadCommand,
    ClearCache,
    RemoteStart,
    RemoteStop,
    Reset,
    Trigger,
    Unlock,
    parse_command,
)
from controller.web.status import StatusService
from controller.web.tokens import Token, TokenBook
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

NOW = "2026-11-25T10:00:00Z"
LATER = "2026-11-25T10:05:00Z"
BOOT_16 = {
    "chargePointVendor": "Alfen",
    "chargePointModel": "NG910",
    "chargePointSerialNumber": "ACE0001",
    "firmwareVersion": "6.1",
}

CIRCUIT = """---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata: {name: depot-grid}
spec:
  location: depot
  limit: {currentPerPhase: 63}
"""


@dataclass
class Api:
    """The central system, its web server, and an HTTP client for it."""

    running: Running
    web: WebServer
    admin: AdminServer | None
    http: aiohttp.ClientSession

    async def get(self, path: str, status: int = 200) -> Any:
        async with self.http.get(self.web.url + path) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def post(self, path: str, body: Any, status: int = 200) -> Any:
        """A command to the admin channel, with its token."""
        assert self.admin is not None, "this test started no admin channel"
        async with self.http.post(
            self.admin.url + path, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with self.http.get(self.web.url + "/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest.fixture
def fleet_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    fleet = write_fleet(tmp_path)
    (fleet / "circuits.yaml").write_text(CIRCUIT)
    return fleet


def options(fleet_dir: Path, **extra: Any) -> ServeOptions:
    return ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[fleet_dir],
        store_url=f"sqlite:///{fleet_dir.parent / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=2.0,
        **extra,
    )


TOKEN = "test-admin-token"


@pytest.fixture
async def api(fleet_dir: Path) -> AsyncIterator[Api]:
    async with running(options(fleet_dir)) as started:
        web = WebServer(started.central, started.endpoint, WebOptions(host="127.0.0.1", port=0))
        tokens = TokenBook([Token("ops", TOKEN)])
        admin = AdminServer(started.central, tokens, web.metrics, AdminOptions("127.0.0.1", 0))
        await web.start()
        await admin.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Api(started, web, admin, http)
        finally:
            await admin.close()
            await web.close()


async def charging_charger(api: Api) -> tuple[RawCharger, int]:
    """CP-16 connected, booted, charging on connector 1 with a meter reading."""
    cp = await RawCharger.connect(api.running.url, "CP-16", subprotocols=["ocpp1.6"])
    assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"
    await cp.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": NOW},
    )
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "04AABBCC", "meterStart": 1000, "timestamp": NOW},
    )
    transaction_id = int(started[2]["transactionId"])
    await cp.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": LATER,
                    "sampledValue": [
                        {"value": "2500", "measurand": "Energy.Active.Import.Register"},
                        {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
                        *(
                            {"value": "16.0", "measurand": "Current.Import", "phase": phase}
                            for phase in ("L1", "L2", "L3")
                        ),
                    ],
                }
            ],
        },
    )
    return cp, transaction_id


def by_identity(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["identity"]: item for item in document["chargers"]}


# --- status documents --------------------------------------------------------------------------


async def test_chargers_lists_every_declared_charger_with_its_live_status(api: Api) -> None:
    _cp, transaction_id = await charging_charger(api)
    document = await api.get("/api/chargers")
    chargers = by_identity(document)
    assert set(chargers) == {"CP-16", "CP-201", "CP-AUTH"}
    assert (document["total"], document["connected"], document["pending"]) == (3, 1, 0)

    cp16 = chargers["CP-16"]
    assert cp16["name"] == "cp-16" and cp16["location"] == "depot"
    assert cp16["declared"] and not cp16["pending"]
    assert cp16["ocppVersion"] == "1.6" and cp16["reportedOcppVersion"] == "1.6"
    assert cp16["connected"] and cp16["connectedHere"]
    assert cp16["boot"]["vendor"] == "Alfen" and cp16["boot"]["serialNumber"] == "ACE0001"
    assert cp16["bootedAt"] is not None and cp16["connectedAt"].endswith("Z")
    connectors = {c["id"]: c for c in cp16["connectors"]}
    assert connectors[1]["status"] == "Charging" and connectors[1]["maxCurrent"] == 32
    assert connectors[2]["status"] is None  # declared, nothing reported yet
    [open_transaction] = cp16["openTransactions"]
    assert open_transaction["id"] == transaction_id
    assert open_transaction["idTag"] == "04AABBCC" and open_transaction["open"]
    assert open_transaction["meterStartWh"] == 1000

    at_depot = await api.get("/api/chargers?location=depot")
    assert [c["name"] for c in at_depot["chargers"]] == ["cp-16", "cp-201", "cp-auth"]
    await api.get("/api/chargers?location=nowhere", status=404)

    never = chargers["CP-201"]
    assert not never["connected"] and never["boot"] is None and never["openTransactions"] == []
    assert never["ocppVersion"] == "2.0.1" and never["reportedOcppVersion"] is None


async def test_one_charger_has_its_configuration_events_and_transactions(api: Api) -> None:
    _cp, transaction_id = await charging_charger(api)
    by_name = await api.get("/api/chargers/cp-16")
    by_ocpp_identity = await api.get("/api/chargers/CP-16")
    assert by_name["identity"] == by_ocpp_identity["identity"] == "CP-16"

    declared = {item["key"]: item for item in by_name["configuration"]["declared"]}
    heartbeat = declared["HeartbeatInterval"]
    assert heartbeat["value"] == 120 and heartbeat["layer"] == "location default"
    assert by_name["configuration"]["reported"] == []  # not read from the charger yet

    kinds = [event["kind"] for event in by_name["events"]]
    assert kinds[:2] == ["Connected", "Booted"] and "TransactionStarted" in kinds
    assert [t["id"] for t in by_name["transactions"]] == [transaction_id]

    limited = await api.get("/api/chargers/CP-16?events=1")
    assert len(limited["events"]) == 1
    await api.get("/api/chargers/CP-16?events=many", status=400)


async def test_an_unknown_charger_is_a_404_with_a_json_error(api: Api) -> None:
    document = await api.get("/api/chargers/CP-NOPE", status=404)
    assert document["error"]["code"] == "not-found"
    assert "CP-NOPE" in document["error"]["message"]
    await api.get("/api/no-such-route", status=404)


async def test_pending_chargers_are_listed_when_unknown_chargers_are_allowed(
    fleet_dir: Path,
) -> None:
    async with running(options(fleet_dir, allow_unknown=True)) as started:
        web = WebServer(started.central, started.endpoint, WebOptions(host="127.0.0.1", port=0))
        await web.start()
        try:
            cp = await RawCharger.connect(started.url, "CP-STRANGER", subprotocols=["ocpp1.6"])
            assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Pending"
            async with aiohttp.ClientSession() as http:
                api = Api(started, web, None, http)
                stranger = by_identity(await api.get("/api/chargers"))["CP-STRANGER"]
                assert stranger["pending"] and not stranger["declared"]
                assert stranger["name"] is None and stranger["connected"]
                one = await api.get("/api/chargers/CP-STRANGER")
                assert one["boot"]["vendor"] == "Alfen"
        finally:
            await web.close()


async def test_a_location_shows_its_chargers_their_power_and_its_circuits(api: Api) -> None:
    await charging_charger(api)
    document = await api.get("/api/locations/depot")
    assert document["displayName"] == "Depot" and document["timezone"] == "Europe/Amsterdam"
    assert [c["name"] for c in document["chargers"]] == ["cp-16", "cp-201", "cp-auth"]
    assert document["summary"] == {
        "chargers": 3,
        "connected": 1,
        "charging": 1,
        "watts": 11040.0,
        "pending": 0,
    }
    assert document["pendingChargers"] == []
    power = document["chargers"][0]["power"]
    assert power["watts"] == 11040.0
    assert power["amperes"] == {"L1": 16.0, "L2": 16.0, "L3": 16.0}
    assert document["chargers"][1]["power"] == {
        "watts": None,
        "amperes": {},
        "offeredAmperes": None,
    }

    [circuit] = document["circuits"]
    assert circuit["name"] == "depot-grid" and circuit["amperesPerPhase"] == 63
    assert circuit["chargers"] == ["cp-16", "cp-201", "cp-auth"]
    assert circuit["amperes"] == {"L1": 16.0, "L2": 16.0, "L3": 16.0}

    listed = await api.get("/api/locations")
    assert listed["locations"] == [
        {"name": "depot", "displayName": "Depot", "team": "ops", "chargers": 3}
    ]
    await api.get("/api/locations/nowhere", status=404)


async def test_the_message_log_pages_forward_from_an_id(api: Api) -> None:
    cp, _ = await charging_charger(api)
    first = await api.get("/api/chargers/CP-16/log?limit=2")
    assert [e["action"] for e in first["entries"]] == ["MeterValues", "MeterValues"]
    assert [e["direction"] for e in first["entries"]] == ["received", "sent"]
    nothing_new = await api.get(f"/api/chargers/CP-16/log?after={first['last']}")
    assert nothing_new["entries"] == [] and nothing_new["last"] == first["last"]
    await cp.call("Heartbeat", {})
    newer = await api.get(f"/api/chargers/CP-16/log?after={first['last']}")
    assert [e["action"] for e in newer["entries"]] == ["Heartbeat", "Heartbeat"]
    assert newer["entries"][0]["frame"].startswith("[2,")
    await api.get("/api/chargers/CP-16/log?limit=0", status=400)


async def test_the_plan_is_the_one_chargectl_plan_reads_back(api: Api) -> None:
    await charging_charger(api)
    document = await api.get("/api/plan")
    assert document["formatVersion"] == PLAN_FORMAT_VERSION
    statuses = {c["name"]: c["status"] for c in document["chargers"]}
    assert set(statuses) == {"cp-16", "cp-201", "cp-auth"}
    assert statuses["cp-201"] == PlanStatus.NEVER_CONNECTED.value
    assert statuses["cp-16"] == PlanStatus.NOT_REPORTED.value  # nothing read from it yet
    plan = plan_from_json(document)  # what `chargectl plan --server` does with it
    assert [c.name for c in plan.chargers] == ["cp-16", "cp-201", "cp-auth"]


async def test_a_wired_planner_is_served_with_the_scope_a_trusted_proxy_names(
    fleet_dir: Path,
) -> None:
    seen: list[Scope] = []

    async def plan(scope: Scope) -> dict[str, Any]:
        seen.append(scope)
        return {"chargers": [], "changes": 0}

    proxied = WebOptions("127.0.0.1", 0, trusted_proxies=parse_networks(["127.0.0.1"]))
    async with running(options(fleet_dir)) as started:
        web = WebServer(started.central, started.endpoint, proxied, plan=plan)
        await web.start()
        try:
            async with aiohttp.ClientSession() as http:
                headers = {"X-Forwarded-Email": "ann@example.com"}
                async with http.get(web.url + "/api/plan", headers=headers) as response:
                    assert response.status == 200
                    assert await response.json() == {"chargers": [], "changes": 0}
        finally:
            await web.close()
    assert [scope.requester for scope in seen] == ["ann@example.com"]
    assert seen[0].teams == ("ops",) and seen[0].locations == frozenset({"depot"})


async def test_the_status_service_computes_documents_without_http(api: Api) -> None:
    await charging_charger(api)
    service = StatusService(api.running.central)
    everyone = Scope(requester=None)
    ref = await service.find("cp-16", everyone)
    assert ref is not None and ref.identity == "CP-16"
    assert (await service.charger(ref, events=0))["events"] == []
    assert await service.find("cp-16", Scope("bob", locations=frozenset({"elsewhere"}))) is None
    hidden = await service.chargers(Scope("bob", locations=frozenset()))
    assert hidden["chargers"] == []


# --- probes ------------------------------------------------------------------------------------


async def test_healthz_answers_while_the_process_lives(api: Api) -> None:
    assert await api.get("/healthz") == {"status": "alive"}


async def test_readyz_is_200_only_while_fleet_store_and_endpoint_are_up(api: Api) -> None:
    ready = await api.get("/readyz")
    assert ready == {"ready": True, "checks": {"fleet": "ok", "store": "ok", "endpoint": "ok"}}
    await api.running.endpoint.close()
    document = await api.get("/readyz", status=503)
    assert document["checks"]["endpoint"] == "OCPP endpoint not listening"
    await api.running.central.store.close()
    document = await api.get("/readyz", status=503)
    assert document["checks"]["store"].startswith("store unavailable")


async def test_readyz_is_503_before_the_endpoint_listens(fleet_dir: Path) -> None:
    async with running(options(fleet_dir)) as started:
        from controller.ocpp.server import Endpoint, EndpointOptions

        unstarted = Endpoint(started.central, EndpointOptions(host="127.0.0.1", port=0))
        web = WebServer(started.central, unstarted, WebOptions("127.0.0.1", 0))
        await web.start()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(web.url + "/readyz") as response,
            ):
                assert response.status == 503
                assert (await response.json())["ready"] is False
        finally:
            await web.close()


# --- metrics -----------------------------------------------------------------------------------


async def test_metrics_count_connections_messages_errors_auth_and_transactions(api: Api) -> None:
    cp, transaction_id = await charging_charger(api)
    reply = await cp.call("MadeUpAction", {})
    assert reply[0] == 4 and reply[2] == "NotImplemented"
    with pytest.raises(InvalidStatus):
        await RawCharger.connect(api.running.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="x")
    await cp.call(
        "StopTransaction", {"transactionId": transaction_id, "meterStop": 9000, "timestamp": LATER}
    )
    api.web.metrics.reconcile("synced", 0.42)
    api.web.metrics.drifted(3)

    samples = await api.metrics()

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("chargectl_connected_chargers") == 1
    assert value("chargectl_declared_chargers") == 3
    received = {"direction": "received", "type": "call"}
    assert value("chargectl_ocpp_messages_total", action="BootNotification", **received) == 1
    assert value("chargectl_ocpp_messages_total", action="StatusNotification", **received) == 1
    assert value("chargectl_ocpp_messages_total", action="MeterValues", **received) == 1
    answered = {"action": "BootNotification", "direction": "sent", "type": "result"}
    assert value("chargectl_ocpp_messages_total", **answered) == 1
    assert value("chargectl_ocpp_messages_total", action="unknown", **received) == 1
    assert value("chargectl_ocpp_callerrors_sent_total", code="NotImplemented") == 1
    assert value("chargectl_auth_failures_total") == 1
    assert value("chargectl_transactions_started_total") == 1
    assert value("chargectl_transactions_stopped_total") == 1
    assert value("chargectl_reconciles_total", outcome="synced") == 1
    assert value("chargectl_reconcile_duration_seconds_count", outcome="synced") == 1
    assert value("chargectl_drifted_keys_total") == 3

    await cp.close()
    for _ in range(50):
        if not api.running.central.connections:
            break
        await asyncio.sleep(0.05)
    assert (await api.metrics())[("chargectl_connected_chargers", ())] == 0


# --- commands ----------------------------------------------------------------------------------


async def test_a_reset_reaches_the_charger_and_its_answer_and_an_event_come_back(
    api: Api,
) -> None:
    cp, _ = await charging_charger(api)

    async def charger_side() -> list[Any]:
        call = await cp.next_server_call()
        await cp.answer(call[1], {"status": "Accepted"})
        return call

    outcome, call = await asyncio.gather(
        api.post("/api/chargers/cp-16/commands", {"command": "reset", "hard": True}),
        charger_side(),
    )
    assert call[2:] == ["Reset", {"type": "Hard"}]
    assert outcome["ok"] and outcome["status"] == "Accepted" and outcome["failed"] is None
    assert outcome["charger"] == "CP-16"
    assert outcome["command"] == {"command": "reset", "hard": True}

    await api.running.central.store.flush()
    [event] = [e for e in await api.running.central.store.events("CP-16") if e.kind == "Command"]
    assert event.message == "hard reset requested by token:ops: Accepted"
    assert event.data["status"] == "Accepted"
    samples = await api.metrics()
    key = (
        "chargectl_commands_total",
        (("command", "reset"), ("outcome", "Accepted"), ("requester", "ops")),
    )
    assert samples[key] == 1


async def test_a_command_the_charger_rejects_or_ignores_comes_back_as_such(api: Api) -> None:
    cp, _ = await charging_charger(api)

    async def refuse() -> None:
        call = await cp.next_server_call()
        assert call[2] == "UnlockConnector"
        await cp.answer(call[1], {"status": "UnlockFailed"})

    refused, _ = await asyncio.gather(
        api.post("/api/chargers/CP-16/commands", {"command": "unlock", "connector": 2}), refuse()
    )
    assert not refused["ok"] and refused["status"] == "UnlockFailed"

    ignored = await api.post("/api/chargers/CP-16/commands", {"command": "clear-cache"})
    assert not ignored["ok"] and ignored["status"] is None
    assert ignored["failed"]["kind"] == "Timeout" and ignored["failed"]["action"] == "ClearCache"


async def test_a_command_for_a_charger_that_is_not_connected_is_a_409(api: Api) -> None:
    document = await api.post("/api/chargers/CP-201/commands", {"command": "reset"}, status=409)
    assert document["error"] == {"code": "not-connected", "message": "CP-201 is not connected"}
    cp = await RawCharger.connect(api.running.url, "CP-16", subprotocols=["ocpp1.6"])
    await cp.close()
    for _ in range(50):
        if "CP-16" not in api.running.central.connections:
            break
        await asyncio.sleep(0.05)
    await api.post("/api/chargers/CP-16/commands", {"command": "reset"}, status=409)


async def test_a_command_for_an_unknown_charger_is_a_404(api: Api) -> None:
    await api.post("/api/chargers/CP-NOPE/commands", {"command": "reset"}, status=404)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"command": "explode"}, "command must be one of"),
        ({"command": "reset", "hard": "yes"}, "hard must be true or false"),
        ({"command": "reset", "force": True}, "reset takes no field force"),
        ({"command": "unlock"}, "unlock needs the connector"),
        ({"command": "unlock", "connector": 0}, "connector must be a whole number from 1"),
        ({"command": "trigger", "message": "Coffee"}, "message must be one of"),
        ({"command": "remote-start"}, "idTag must be a string"),
        ({"command": "remote-stop"}, "transactionId must be"),
        ([1, 2], "must be a JSON object"),
    ],
)
async def test_a_bad_command_body_is_a_400_saying_what_is_wrong(
    api: Api, body: Any, says: str
) -> None:
    await RawCharger.connect(api.running.url, "CP-16", subprotocols=["ocpp1.6"])
    document = await api.post("/api/chargers/CP-16/commands", body, status=400)
    assert document["error"]["code"] == "bad-command"
    assert says in document["error"]["message"]


async def test_a_body_that_is_not_json_is_a_400(api: Api) -> None:
    async with api.http.post(
        f"{api.admin.url if api.admin else ''}/api/chargers/CP-16/commands",
        data=b"reset please",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad-command"


def test_command_bodies_become_command_values() -> None:
    assert parse_command({"command": "reset"}) == Reset(hard=False)
    assert parse_command({"command": "unlock", "connector": 2}) == Unlock(2)
    assert parse_command({"command": "trigger", "message": "MeterValues", "connector": 1}) == (
        Trigger(TriggerKind.METER_VALUES, 1)
    )
    assert parse_command({"command": "remote-start", "idTag": "04AABBCC"}) == RemoteStart(
        "04AABBCC"
    )
    assert parse_command({"command": "remote-stop", "transactionId": 42}) == RemoteStop("42")
    assert parse_command({"command": "clear-cache"}) == ClearCache()
    with pytest.raises(BadCommand):
        parse_command({"command": "unlock", "connector": True})
    for command in (Reset(True), Unlock(1), Trigger(TriggerKind.HEARTBEAT), RemoteStop("7")):
        assert parse_command(command.body()) == command
    assert Status.UNLOCKED.value == "Unlocked"
