"""`chargectl plan` as CI and operators call it: against a real store, and against a server.

The store is a SQLite file written through the same `Store` calls the OCPP sessions make, for
two chargers of the example fleet: an OCPP 1.6 one that differs from the fleet in several ways,
and an OCPP 2.0.1 one that reported exactly what is declared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli.plan import plan
from controller.fleet.checking import check_paths
from controller.fleet.model import Fleet, resolve_charger
from controller.planning.document import only_chargers, plan_to_json
from controller.planning.keys import plan_fleet
from controller.resources.catalogue import format_value, parse_value
from controller.resources.versions import CATALOGUES
from controller.store import open_store
from controller.values.records import (
    BootInfo,
    ChargerRecord,
    KeyState,
    KeyStatus,
    ReportedKey,
)

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

DRIFTED = "ACE0412201"  # acme-hq-01, OCPP 1.6
IN_SYNC = "TACW22430G1087"  # acme-hq-05, OCPP 2.0.1
NEVER_CONNECTED = len(check_paths([FLEET]).fleet.chargers) - 2


def chargectl(*args: str) -> Result:
    return CliRunner().invoke(plan, list(args), catch_exceptions=False)


def declared(fleet: Fleet, name: str) -> list[ReportedKey]:
    """The charger's declared configuration, as a charger that applied all of it reports it."""
    desired = resolve_charger(fleet, fleet.chargers[name])
    keys = []
    for item in desired.configuration.values():
        spec = CATALOGUES[desired.version].spec(item.key)
        assert spec is not None
        keys.append(ReportedKey(item.key, format_value(spec, parse_value(spec, item.value))))
    return keys


async def write_store(
    url: str, *, in_sync: bool = False, statuses: Sequence[KeyStatus] = ()
) -> None:
    fleet = check_paths([FLEET]).fleet
    first = declared(fleet, "acme-hq-01")
    if not in_sync:
        first = [
            ReportedKey("HeartbeatInterval", "300"),  # the location says 600
            ReportedKey("MeterValuesSampledData", "SoC,Current.Import"),
            ReportedKey("ConnectionTimeOut", "0120"),  # the same value, spelt otherwise
            ReportedKey("MinimumStatusDuration", "0", readonly=True),
            ReportedKey("GetConfigurationMaxKeys", "50", readonly=True),
            ReportedKey("LightIntensity", "20"),  # managed by hand
        ]
    fifth = [*declared(fleet, "acme-hq-05"), ReportedKey("DeviceDataCtrlr.ValueSize", "1000")]
    async with open_store(url) as store:
        for identity, version, firmware in (
            (DRIFTED, "1.6", "6.4.0-4205" if in_sync else "6.3.0"),
            (IN_SYNC, "2.0.1", "1.8.41"),
        ):
            await store.record_connected(identity, T0, "192.0.2.10", version)
            await store.record_boot(identity, BootInfo("Vendor", "Model", identity, firmware), T0)
        await store.record_configuration(DRIFTED, first, T0)
        await store.record_configuration(IN_SYNC, fifth, T0)
        await store.record_key_statuses(statuses)


async def read_records(url: str) -> list[ChargerRecord]:
    async with open_store(url) as store:
        return await store.chargers(configuration=True)


@pytest.fixture
def state(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'chargectl.db'}"
    asyncio.run(write_store(url))
    return url


@pytest.fixture
def reconciled_state(tmp_path: Path) -> str:
    """acme-hq-01 as the reconciler left it: its heartbeat applied (and changed since), its
    sample interval rejected."""
    url = f"sqlite:///{tmp_path / 'reconciled.db'}"
    statuses = [
        KeyStatus(DRIFTED, "HeartbeatInterval", KeyState.APPLIED, "600", T0 - timedelta(hours=1)),
        KeyStatus(DRIFTED, "MeterValueSampleInterval", KeyState.REJECTED, "60", T0, "out of range"),
    ]
    asyncio.run(write_store(url, statuses=statuses))
    return url


@pytest.fixture
def synced_state(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'synced.db'}"
    asyncio.run(write_store(url, in_sync=True))
    return url


# --- against the store ---------------------------------------------------------------------------


def test_human_plan_shows_each_change_with_values_and_layer(state: str) -> None:
    result = chargectl(str(FLEET), "--state", state)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("  # charger acme-hq-01 (ACE0412201, OCPP 1.6) will be updated")
    block = [" ".join(line.split()) for line in lines[start + 1 : lines.index("", start)]]
    assert block[0] == (
        '~ HeartbeatInterval "300" -> "600" (location default: locations/acme-hq.yaml)'
    )
    assert block[1] == (
        '+ MeterValueSampleInterval (not reported) -> "60" '
        "(location default: locations/acme-hq.yaml)"
    )
    sampled = next(line for line in block if line.startswith("~ MeterValuesSampledData"))
    assert '"SoC,Current.Import" -> ' in sampled
    assert "adds Current.Offered, Energy.Active.Import.Register, Power.Active.Import" in sampled
    assert not any("ConnectionTimeOut" in line for line in block)
    assert not any("LightIntensity" in line for line in block)
    assert (
        '! MinimumStatusDuration read-only on the charger (reports "0"; declared "5"; '
        "location default: locations/acme-hq.yaml)"
    ) in block
    assert (
        '~ firmware "6.3.0" -> "6.4.0-4205" (charger spec: chargers/acme-hq/acme-hq-01.yaml)'
    ) in block
    assert block[-1] == "(2 more keys reported and not declared)"
    assert "  # charger acme-hq-03 (ACE0412203, OCPP 1.6) has never connected" in lines
    assert not any("acme-hq-05" in line for line in lines)  # in sync: not listed
    assert lines[-1] == (
        f"Plan: 1 charger to change, 1 in sync, {NEVER_CONNECTED} never connected."
    )


def test_json_plan_keeps_changes_and_drift_apart(state: str) -> None:
    result = chargectl(str(FLEET), "--state", state, "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["formatVersion"] == 1
    assert document["summary"] == {
        "toChange": 1,
        "inSync": 1,
        "blocked": 0,
        "notReported": 0,
        "neverConnected": NEVER_CONNECTED,
        "drifted": 0,
        "hasChanges": True,
    }
    chargers = {c["name"]: c for c in document["chargers"]}
    first = chargers["acme-hq-01"]
    assert (first["identity"], first["ocppVersion"], first["status"]) == (
        DRIFTED,
        "1.6",
        "Changes",
    )
    assert first["drift"] == []  # the store alone knows of no applied values
    heartbeat = next(c for c in first["changes"] if c["key"] == "HeartbeatInterval")
    assert heartbeat == {
        "kind": "SetKey",
        "symbol": "~",
        "key": "HeartbeatInterval",
        "reported": "300",
        "desired": "600",
        "wire": "600",
        "declared": 600,
        "reason": "the charger reports another value",
        "layer": "location default",
        "origin": {
            "file": str(FLEET / "locations" / "acme-hq.yaml"),
            "document": 0,
            "path": ["spec", "chargerDefaults", "settings", "heartbeatInterval"],
            "setting": "heartbeat_interval",
        },
    }
    assert {c["kind"] for c in first["changes"]} == {"SetKey", "AddKey", "Cannot", "Firmware"}
    assert [k["key"] for k in first["undeclared"]] == ["GetConfigurationMaxKeys", "LightIntensity"]
    fifth = chargers["acme-hq-05"]
    assert (fifth["status"], fifth["changes"], fifth["drift"]) == ("InSync", [], [])
    assert fifth["undeclared"] == [
        {"key": "DeviceDataCtrlr.ValueSize", "value": "1000", "readonly": False}
    ]
    assert chargers["acme-hq-02"]["status"] == "NeverConnected"


def test_what_the_reconciler_recorded_shows_as_drift_and_cannot(reconciled_state: str) -> None:
    result = chargectl(str(FLEET), "--state", reconciled_state, "--output", "json")
    first = next(c for c in json.loads(result.output)["chargers"] if c["name"] == "acme-hq-01")
    assert [(d["kind"], d["key"], d["reason"]) for d in first["drift"]] == [
        ("SetKey", "HeartbeatInterval", "drifted since applied at 2025-03-01T11:00:00Z")
    ]
    rejected = next(c for c in first["changes"] if c["key"] == "MeterValueSampleInterval")
    assert (rejected["kind"], rejected["symbol"]) == ("Cannot", "!")
    assert rejected["reason"].startswith(
        "rejected by the charger at 2025-03-01T12:00:00Z: out of range"
    )
    assert not any(c["key"] == "HeartbeatInterval" for c in first["changes"])

    human = chargectl(str(FLEET), "--state", reconciled_state).output.splitlines()
    flat = [" ".join(line.split()) for line in human]
    assert (
        '~ HeartbeatInterval "300" -> "600" (drifted since applied at 2025-03-01T11:00:00Z; '
        "location default: locations/acme-hq.yaml)"
    ) in flat
    assert any(
        line.startswith("! MeterValueSampleInterval rejected by the charger") for line in flat
    )
    assert flat[-1] == (
        f"Plan: 1 charger to change (1 drifted), 1 in sync, {NEVER_CONNECTED} never connected."
    )


def test_detailed_exitcode_is_2_with_changes(state: str) -> None:
    assert chargectl(str(FLEET), "--state", state).exit_code == 0
    assert chargectl(str(FLEET), "--state", state, "--detailed-exitcode").exit_code == 2


def test_detailed_exitcode_is_0_when_the_chargers_match(synced_state: str) -> None:
    result = chargectl(str(FLEET), "--state", synced_state, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"Plan: 0 chargers to change, 2 in sync, {NEVER_CONNECTED} never connected."
    )


def test_an_invalid_fleet_prints_its_problems_and_exits_1(tmp_path: Path, state: str) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "apiVersion: chargectl.io/v1alpha1\nkind: Team\nmetadata:\n  name: ops\n"
        "spec:\n  displayName: Ops\n  handle: ops\n  colour: red\n",
        encoding="utf-8",
    )
    result = chargectl(str(fleet), "--state", state, "--detailed-exitcode")
    assert result.exit_code == 1
    assert f"{fleet}:8:3: error[unknown-field]" in result.output
    assert "the fleet is invalid; nothing planned" in result.output
    as_json = chargectl(str(fleet), "--state", state, "--output", "json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["problems"][0]["code"] == "unknown-field"


def test_a_missing_store_is_an_error_not_a_new_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = chargectl(str(FLEET), "--state", f"sqlite:///{missing}", "--detailed-exitcode")
    assert result.exit_code == 1
    assert f"no store at {missing}" in result.output
    assert not missing.exists()


def test_state_and_server_together_are_a_usage_error(state: str) -> None:
    result = chargectl(str(FLEET), "--state", state, "--server", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "not both" in result.output


# --- against a server ----------------------------------------------------------------------------


@contextlib.contextmanager
def serve(body: bytes, status: int = 200) -> Iterator[tuple[str, list[str]]]:
    """A stub HTTP server answering `body` at /api/plan; yields its URL and the paths asked."""
    requests: list[str] = []

    class Canned(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            requests.append(self.path)
            if self.path != "/api/plan":
                self.send_error(404)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server(state: str) -> Iterator[tuple[str, list[str]]]:
    """A stub of the server's /api/plan, answering what this chargectl plans for the store."""
    fleet = check_paths([FLEET]).fleet
    records = asyncio.run(read_records(state))
    body = json.dumps(plan_to_json(plan_fleet(fleet, records))).encode()
    with serve(body) as answering:
        yield answering


def test_server_plan_prints_as_the_local_plan_does(
    server: tuple[str, list[str]], state: str
) -> None:
    url, requests = server
    remote = chargectl(str(FLEET), "--server", url + "/", "--detailed-exitcode")
    local = chargectl(str(FLEET), "--state", state, "--detailed-exitcode")
    assert (remote.exit_code, local.exit_code) == (2, 2)
    assert remote.output == local.output
    assert requests == ["/api/plan"]
    as_json = chargectl(str(FLEET), "--server", url, "--output", "json")
    assert json.loads(as_json.output) == json.loads(
        chargectl(str(FLEET), "--state", state, "--output", "json").output
    )


def test_chargers_missing_from_the_server_plan_are_named(state: str) -> None:
    fleet = check_paths([FLEET]).fleet
    records = asyncio.run(read_records(state))
    everything = plan_fleet(fleet, records)
    one = only_chargers(everything, ["acme-hq-01"])
    with serve(json.dumps(plan_to_json(one)).encode()) as (url, _):
        result = chargectl(str(FLEET), "--server", url)
    assert result.exit_code == 0
    assert f"warning: {NEVER_CONNECTED + 1} chargers declared here are not in" in result.output
    assert "acme-hq-05" in result.output
    assert (
        result.output.splitlines()[-1] == "Plan: 1 charger to change, 0 in sync, 0 never connected."
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"oops": true}', 500, "answered 500"),
        (b"<html>", 200, "did not answer with a plan"),
        (b'{"formatVersion": 9, "chargers": []}', 200, "version 9 is not supported"),
    ],
)
def test_a_server_without_a_plan_is_an_error(body: bytes, status: int, message: str) -> None:
    with serve(body, status) as (url, _):
        result = chargectl(str(FLEET), "--server", url, "--detailed-exitcode")
        assert result.exit_code == 1
        assert message in result.output


def test_an_unreachable_server_is_an_error() -> None:
    with serve(b"") as (url, _):
        pass  # started and stopped: nothing listens on the port any more
    result = chargectl(str(FLEET), "--server", url, "--detailed-exitcode")
    assert result.exit_code == 1
    assert "cannot reach" in result.output
