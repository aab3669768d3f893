"""The status the operator writes on the custom resources (`sources.kubernetes.status`).

What a user sees with `kubectl get` / `kubectl describe`: conditions that say whether a charger
is connected, in sync and ready; what it reported; what still differs; a location's and a
team's counts; validate's message on a refused resource. And what the API server sees: only
changes, never a patch per heartbeat, a few patches per charger to converge, none from a
replica that does not own the charger.

The central system and its SQLite store are real; the API server is `tests.fakes.StatusApi`.
Each step is written with `flush()` (the writer's timing is the subject of the last tests, on
virtual time).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from controller.fleet.checking import check_paths
from controller.fleet.model import Fleet
from controller.ocpp.central import CentralSystem
from controller.resources import KINDS
from controller.resources.charger import ChargerStatus
from controller.resources.common import ResourceStatus
from controller.resources.generation import CRD_DIR, render_all
from controller.resources.location import LocationStatus
from controller.resources.team import TeamStatus
from controller.sources.kubernetes.status import (
    ObjectRef,
    StatusOptions,
    StatusWriter,
    managed_fields,
)
from controller.store import open_store
from controller.store.base import Store
from controller.store.coordination import GONE
from controller.values.records import (
    BootInfo,
    ChargerCondition,
    ConnectorStatus,
    KeyState,
    KeyStatus,
    ReportedKey,
    TransactionStart,
)
from tests.fakes import (
    FakeCharger,
    FakeLocks,
    StatusApi,
    StatusCentral,
    advance,
    run_in_virtual_time,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
NS = "default"
CHARGER = ObjectRef("Charger", NS, "acme-hq-01")
LOCATION = ObjectRef("Location", NS, "acme-hq")
TEAM = ObjectRef("Team", NS, "voltway")
STATUS_MODELS: dict[str, type[ResourceStatus]] = {
    "Charger": ChargerStatus,
    "Location": LocationStatus,
    "Team": TeamStatus,
}
BOOT = BootInfo("Alfen", "Eve Single Pro-line", "ACE0012345", "6.4.0-4173")


@functools.cache
def example_fleet() -> Fleet:
    report = check_paths([REPO_ROOT / "examples" / "fleet"])
    assert report.valid
    return report.fleet


def identity(name: str) -> str:
    return example_fleet().chargers[name].resource.identity


@dataclass
class Operator:
    """One operator process: its central system (real, with a real store), its writer."""

    central: CentralSystem
    store: Store
    api: StatusApi
    writer: StatusWriter

    async def connect(
        self, name: str = "acme-hq-01", version: str = "1.6", firmware: str | None = None
    ) -> str:
        """The charger connects and boots, reporting the firmware it declares (or this)."""
        who = identity(name)
        declared = example_fleet().chargers[name].resource.spec.firmware
        running = firmware or (declared.version if declared else BOOT.firmware_version)
        await self.central.connected(who, FakeCharger(who), version, "192.0.2.7:40123")
        await self.central.boot(who, replace(BOOT, firmware_version=running))
        await self.central.heartbeat(who)
        await self.central.status(ConnectorStatus(who, 1, "Available", now()))
        return who

    async def reconciled(self, who: str, *, synced: bool, message: str = "in sync") -> None:
        """What the reconciler records at the end of a pass."""
        status, reason = ("True", "InSync") if synced else ("False", "Pending")
        await self.store.record_conditions(
            [ChargerCondition(who, "Synced", status, reason, message, now())]
        )


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    async with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        fleet = example_fleet()
        central = CentralSystem(fleet, store)
        api = StatusApi.of_fleet(fleet)
        yield Operator(central, store, api, StatusWriter(central, api, api))


@functools.cache
def status_schema(kind: str) -> dict[str, Any]:
    """The CRD's status schema as a JSON Schema that refuses what the API server would
    prune: an undeclared field is an error here."""
    crd = YAML(typ="safe").load(render_all()[f"{CRD_DIR}/{KINDS[kind].PLURAL}.yaml"])
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return _closed(root["properties"]["status"])


def _closed(node: Any) -> Any:
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _closed(value) for key, value in node.items() if not key.startswith("x-")}
    if "properties" in node:
        result["properties"] = {k: _closed(v) for k, v in node["properties"].items()}
        result["additionalProperties"] = False
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def assert_kept_whole(ref: ObjectRef, status: dict[str, Any]) -> None:
    """Everything written is declared in the CRD (nothing pruned) and reads back as the
    kind's status model."""
    validator = Draft202012Validator(status_schema(ref.kind))
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(status)]
    assert problems == [], f"{ref}: {problems}"
    assert set(status) <= set(managed_fields(ref.kind))
    model = STATUS_MODELS.get(ref.kind, ResourceStatus)
    read = model.model_validate(status).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert set(read) >= set(status)


# --- what a charger's status says ---------------------------------------------------------------


async def test_a_connected_charger_shows_what_it_reported(operator: Operator) -> None:
    await operator.connect()
    await operator.writer.flush()

    status = operator.api.statuses[CHARGER]
    assert_kept_whole(CHARGER, status)
    assert status["observedGeneration"] == 1
    connected = operator.api.condition(CHARGER, "Connected")
    assert (connected["status"], connected["reason"]) == ("True", "Connected")
    assert connected["message"] == "connected with OCPP 1.6"
    assert operator.api.condition(CHARGER, "Synced")["status"] == "Unknown"
    assert operator.api.condition(CHARGER, "Ready")["status"] == "False"
    reported = status["reported"]
    assert reported["boot"] == {
        "vendor": "Alfen",
        "model": "Eve Single Pro-line",
        "serialNumber": "ACE0012345",
        "firmwareVersion": "6.4.0-4205",  # what it declares (`connect`)
    }
    assert reported["connectors"] == [{"id": 1, "status": "Available"}]
    assert reported["lastHeartbeat"].endswith(":00Z")  # to the minute
    assert "remoteAddress" not in reported  # a new port at every reconnection


async def test_a_charger_never_connected_says_so(operator: Operator) -> None:
    await operator.writer.flush()
    status = operator.api.statuses[ObjectRef("Charger", NS, "acme-hq-02")]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Connected", "False", "NeverConnected"),
        ("Synced", "Unknown", "NeverConnected"),
        ("Ready", "False", "NeverConnected"),
    ]
    assert status["plan"] == "NeverConnected"
    assert "reported" not in status


async def test_differences_and_synced_follow_the_reconciler(operator: Operator) -> None:
    who = await operator.connect()
    declared = example_fleet().desired(example_fleet().chargers["acme-hq-01"]).configuration
    key, value = next(iter(sorted(declared.items())))
    await operator.store.record_configuration(who, [ReportedKey(key, "9999")], now())
    await operator.store.record_key_statuses(
        [KeyStatus(who, key, KeyState.PENDING, str(value.value), now())]
    )
    await operator.reconciled(who, synced=False, message="1 key pending")
    await operator.writer.flush()

    status = operator.api.statuses[CHARGER]
    assert_kept_whole(CHARGER, status)
    assert status["plan"] == "Changes"
    difference = next(d for d in status["differences"] if d["key"] == key)
    assert difference["reported"] == "9999" and difference["state"] == "Pending"
    assert difference["action"] == "SetKey" and difference["layer"]
    synced = operator.api.condition(CHARGER, "Synced")
    assert (synced["status"], synced["message"]) == ("False", "1 key pending")

    # the pass converged: the charger reports every declared value, as it was sent
    assert status["differencesTotal"] == len(status["differences"]) == len(declared)
    report = [ReportedKey(d["key"], d["desired"]) for d in status["differences"]]
    await operator.store.record_configuration(who, report, now())
    await operator.reconciled(who, synced=True)
    await operator.writer.flush()

    status = operator.api.statuses[CHARGER]
    assert "differences" not in status  # removed by the merge patch, not left behind
    assert operator.api.patches_of(CHARGER)[-1]["differences"] is None
    assert operator.api.condition(CHARGER, "Synced")["status"] == "True"
    assert operator.api.condition(CHARGER, "Ready")["status"] == "True"


async def test_a_condition_keeps_its_transition_time_while_its_status_stays(
    operator: Operator,
) -> None:
    who = await operator.connect()
    await operator.reconciled(who, synced=False, message="2 keys pending")
    await operator.writer.flush()
    first = operator.api.condition(CHARGER, "Synced")

    await operator.reconciled(who, synced=False, message="1 key pending")
    await operator.writer.flush()
    second = operator.api.condition(CHARGER, "Synced")
    assert second["message"] == "1 key pending"
    assert second["lastTransitionTime"] == first["lastTransitionTime"]
    assert (
        operator.api.condition(CHARGER, "Connected")["lastTransitionTime"]
        == (operator.api.patches_of(CHARGER)[0]["conditions"][0]["lastTransitionTime"])
    )


async def test_firmware_shows_reported_declared_and_the_update(operator: Operator) -> None:
    name = next(n for n, c in example_fleet().chargers.items() if c.resource.spec.firmware)
    ref = ObjectRef("Charger", NS, name)
    who = await operator.connect(name, firmware=BOOT.firmware_version)
    wanted = example_fleet().chargers[name].resource.spec.firmware
    assert wanted is not None
    await operator.store.record_key_statuses(
        [KeyStatus(who, "firmware", KeyState.PENDING, wanted.url, now(), "Downloading")]
    )
    await operator.writer.flush()
    firmware = operator.api.statuses[ref]["firmware"]
    assert firmware["version"] == BOOT.firmware_version
    assert firmware["desired"] == wanted.version
    assert (firmware["state"], firmware["detail"]) == ("Pending", "Downloading")
    assert_kept_whole(ref, operator.api.statuses[ref])


# --- what it costs the API server ---------------------------------------------------------------


async def test_heartbeats_never_rewrite_the_status(operator: Operator) -> None:
    who = await operator.connect()
    await operator.reconciled(who, synced=True)
    await operator.writer.flush()
    patches = len(operator.api.patches)

    for _ in range(50):
        await operator.central.heartbeat(who)
        await operator.writer.flush()
    assert len(operator.api.patches) == patches

    # on its own, the last heartbeat is written again only when it is hours old
    shown = operator.api.statuses[CHARGER]["reported"]["lastHeartbeat"]
    later = datetime.fromisoformat(shown.replace("Z", "+00:00")) + timedelta(hours=7)
    await operator.store.record_heartbeat(who, later)
    await operator.writer.flush()
    assert len(operator.api.patches) == patches + 1
    assert operator.api.patches[-1][1]["reported"]["lastHeartbeat"] == (
        later.strftime("%Y-%m-%dT%H:%M:00Z")
    )


async def test_the_first_heartbeat_after_the_connection_writes_nothing(
    operator: Operator,
) -> None:
    who = identity("acme-hq-01")
    await operator.central.connected(who, FakeCharger(who), "1.6", "192.0.2.7:40123")
    await operator.writer.flush()
    assert "lastHeartbeat" not in operator.api.statuses[CHARGER]["reported"]
    patches = len(operator.api.patches)
    await operator.central.heartbeat(who)
    await operator.writer.flush()
    assert len(operator.api.patches) == patches


async def test_notes_of_a_pass_in_sync_do_not_rewrite_the_status(operator: Operator) -> None:
    """Sessions at a location make its chargers' passes send power profiles, and say so:
    while Synced stays True, its words stay those it became True with."""
    who = await operator.connect()
    await operator.reconciled(who, synced=True)
    await operator.writer.flush()
    patches = len(operator.api.patches_of(CHARGER))

    await operator.reconciled(who, synced=True, message="power: Tx 10.6 A on connector 1")
    await operator.writer.flush()
    assert len(operator.api.patches_of(CHARGER)) == patches
    assert operator.api.condition(CHARGER, "Synced")["message"] == "in sync"

    await operator.reconciled(who, synced=False, message="1 key pending")
    await operator.writer.flush()
    assert operator.api.condition(CHARGER, "Synced")["message"] == "1 key pending"


async def test_a_charger_converges_in_three_patches_then_is_left_alone(
    operator: Operator,
) -> None:
    """Each step written on its own (the worst case: the writer's delay joins steps that come
    close together): connected and booted; the first pass found differences; converged."""
    who = await operator.connect()
    await operator.writer.flush()
    await operator.reconciled(who, synced=False, message="3 keys changed; reboot required")
    await operator.writer.flush()
    await operator.reconciled(who, synced=True)
    await operator.writer.flush()
    assert len(operator.api.patches_of(CHARGER)) == 3

    for _ in range(10):  # resync passes, heartbeats and repeated statuses: nothing new
        await operator.reconciled(who, synced=True)
        await operator.central.heartbeat(who)
        await operator.central.status(ConnectorStatus(who, 1, "Available", now()))
        await operator.writer.flush()
    assert len(operator.api.patches_of(CHARGER)) == 3


async def test_a_status_the_object_already_shows_is_not_written_again(
    operator: Operator,
) -> None:
    """A second replica, or this one after a restart, computes the same status from the
    shared store and finds it on the objects: it writes nothing."""
    await operator.connect()
    await operator.writer.flush()
    again = StatusWriter(operator.central, operator.api, operator.api)
    assert await again.flush() == 0


async def test_a_failed_patch_is_tried_again(operator: Operator) -> None:
    operator.api.fail = 1
    await operator.writer.flush()
    assert operator.writer.stats.failures == 1
    await operator.writer.flush()
    assert CHARGER in operator.api.statuses or operator.api.statuses


# --- who writes ----------------------------------------------------------------------------------


async def test_a_charger_connected_to_another_replica_is_left_to_it(operator: Operator) -> None:
    who = identity("acme-hq-01")
    await operator.store.record_connected(who, now(), "192.0.2.8:5000", "1.6")
    await operator.writer.flush()
    assert operator.api.patches_of(CHARGER) == []

    await operator.store.record_disconnected(who, now(), "connection lost (1006)")
    operator.writer.notify(*CHARGER)
    await operator.writer.flush()
    connected = operator.api.condition(CHARGER, "Connected")
    assert (connected["status"], connected["message"]) == ("False", "connection lost (1006)")


async def test_the_owner_writes_the_disconnection(operator: Operator) -> None:
    who = await operator.connect()
    await operator.writer.flush()
    commands = operator.central.connections[who]
    await operator.central.disconnected(who, commands, "going away")
    await operator.writer.flush()
    connected = operator.api.condition(CHARGER, "Connected")
    assert (connected["status"], connected["reason"]) == ("False", "Disconnected")
    assert "disconnectedAt" in operator.api.statuses[CHARGER]["reported"]
    assert "connectedAt" not in operator.api.statuses[CHARGER]["reported"]


# --- refused resources ----------------------------------------------------------------------------

PROBLEM = (
    "error[unresolved-reference]: Location 'acme-hk' is not declared in this fleet "
    "(did you mean 'acme-hq'?) (at spec.location)"
)


async def test_a_refused_resource_says_validates_message_with_one_event(
    operator: Operator,
) -> None:
    api = operator.api
    api.problems[CHARGER] = [PROBLEM]
    api.generations[CHARGER] = 2
    await operator.writer.flush()
    ready = api.condition(CHARGER, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "Invalid", PROBLEM)
    assert api.statuses[CHARGER]["observedGeneration"] == 2
    assert api.events == [(CHARGER, "Warning", "Invalid", PROBLEM)]

    operator.writer.notify(*CHARGER)
    await operator.writer.flush()
    assert len(api.events) == 1  # once per problem, not once per look

    other = "error[read-only-key]: 'NumberOfConnectors' is read-only (at spec.configuration)"
    api.problems[CHARGER] = [PROBLEM, other]
    operator.writer.notify(*CHARGER)
    await operator.writer.flush()
    assert api.events[1:] == [(CHARGER, "Warning", "Invalid", other)]
    assert api.condition(CHARGER, "Ready")["message"] == f"{PROBLEM}\n{other}"

    api.problems[CHARGER] = []
    operator.writer.notify(*CHARGER)
    await operator.writer.flush()
    assert api.condition(CHARGER, "Ready")["reason"] != "Invalid"


async def test_a_new_resource_refused_outright_gets_a_status_too(operator: Operator) -> None:
    """Not in the fleet at all (its first version is bad): only conditions to show."""
    new = ObjectRef("Charger", NS, "acme-hq-99")
    operator.api.generations[new] = 1
    operator.api.problems[new] = [PROBLEM]
    operator.writer.notify(*new)
    await operator.writer.flush()
    assert operator.api.statuses[new] == {
        "observedGeneration": 1,
        "conditions": [
            {
                **operator.api.condition(new, "Ready"),
                "type": "Ready",
                "status": "False",
                "reason": "Invalid",
                "message": PROBLEM,
            }
        ],
    }


async def test_a_deleted_resource_is_not_written(operator: Operator) -> None:
    del operator.api.generations[CHARGER]
    operator.writer.notify(*CHARGER)
    await operator.writer.flush()
    assert operator.api.patches_of(CHARGER) == []


# --- locations and teams ---------------------------------------------------------------------


async def test_a_location_counts_its_chargers_and_shows_its_circuits(operator: Operator) -> None:
    who = await operator.connect("acme-hq-01")
    await operator.connect("acme-hq-02")
    await operator.central.start_transaction(TransactionStart(who, 1, now(), 1000, "04A1B2C3"))
    await operator.writer.flush()

    status = operator.api.statuses[LOCATION]
    assert_kept_whole(LOCATION, status)
    total = len(example_fleet().chargers_at("acme-hq"))
    assert status["chargers"] == {"total": total, "connected": 2, "charging": 1}
    [circuit] = status["circuits"]
    assert circuit["name"] == "acme-hq-grid" and circuit["sessions"] == 1
    assert float(circuit["allocatedAmperes"]) > 0
    assert circuit["staticAmperes"] == 63
    assert circuit["limitAmperes"] == _acme_limit_now()  # its office-hours schedule says 40
    assert operator.api.condition(LOCATION, "Ready")["status"] == "True"


def _acme_limit_now() -> int:
    """The example acme-hq-grid's limit in force: 40 A on weekdays 08:00-18:00 local, else 63."""
    local = datetime.now(ZoneInfo("Europe/Amsterdam"))
    return 40 if local.weekday() < 5 and 8 <= local.hour < 18 else 63

    team = operator.api.statuses[TEAM]
    assert_kept_whole(TEAM, team)
    assert "acme-hq" in team["locations"]
    assert team["chargers"]["connected"] == 2


async def test_every_written_field_is_declared_in_the_crd(operator: Operator) -> None:
    """One pass over the whole example fleet, every kind."""
    for name in ("acme-hq-01", "acme-hq-02"):
        await operator.connect(name)
    await operator.writer.flush()
    assert {ref.kind for ref in operator.api.statuses} == set(KINDS)
    for ref, status in operator.api.statuses.items():
        assert_kept_whole(ref, status)


# --- when: on virtual time, with a store that knows nothing ---------------------------------------


def timing(options: StatusOptions) -> tuple[StatusApi, StatusWriter]:
    fleet = example_fleet()
    api = StatusApi.of_fleet(fleet)
    writer = StatusWriter(StatusCentral(fleet), api, api, options=options)  # type: ignore[arg-type]
    return api, writer


def test_changes_close_together_share_a_patch_and_an_object_waits_its_interval() -> None:
    api, writer = timing(StatusOptions(delay=2, min_interval=30, sweep_interval=3600))

    def generations() -> list[int]:
        return [patch["observedGeneration"] for patch in api.patches_of(CHARGER)]

    async def main() -> None:
        task = asyncio.create_task(writer.run())
        await advance(5)  # the first pass, every object once: at 2 s, after the delay
        assert generations() == [1]
        for generation in range(2, 12):  # ten edits within a second
            api.generations[CHARGER] = generation
            writer.notify(*CHARGER)
            await advance(0.1)
        await advance(20)  # 26 s: the object's interval (30 s from its last patch) runs on
        assert generations() == [1]
        await advance(10)
        assert generations() == [1, 11]  # one patch for the ten
        task.cancel()

    run_in_virtual_time(main)


def test_patches_are_rate_limited_across_all_objects() -> None:
    api, writer = timing(
        StatusOptions(delay=0, min_interval=0, max_patches_per_second=5, sweep_interval=3600)
    )
    objects = len(api.objects())
    assert objects > 20

    async def main() -> None:
        task = asyncio.create_task(writer.run())
        await advance(2)
        assert len(api.patches) <= 5 + 2 * 5  # a full bucket, then the rate
        await advance(objects / 5 + 2)
        assert len(api.patches) == objects
        task.cancel()

    run_in_virtual_time(main)


async def test_a_charger_recorded_connected_by_a_replica_gone_is_written_not_connected(
    operator: Operator,
) -> None:
    """Several replicas: a charger recorded as connected counts as connected while some
    replica holds its lock (and that replica writes it); once the lock is free (its replica
    was killed), the next sweep writes Connected=False, and its location and team count it no
    more. The locks are read once per sweep and batch, not per charger."""
    locks = FakeLocks()
    operator.central.coordination = locks
    who = identity("acme-hq-01")
    locks.held_identities.add(who)
    await operator.store.record_connected(who, now(), "192.0.2.7:40123", "1.6")
    await operator.writer.flush()
    assert CHARGER not in operator.api.statuses, "the replica holding it writes it"
    assert operator.api.statuses[LOCATION]["chargers"]["connected"] == 1
    assert operator.api.statuses[TEAM]["chargers"]["connected"] == 1
    reads = locks.reads
    assert reads <= 4, reads

    locks.held_identities.clear()  # the replica died: PostgreSQL freed its lock
    await operator.writer.flush()
    [connected] = [
        c for c in operator.api.statuses[CHARGER]["conditions"] if c["type"] == "Connected"
    ]
    assert connected["status"] == "False", connected
    assert connected["message"] == GONE, connected
    assert operator.api.statuses[LOCATION]["chargers"]["connected"] == 0
    assert operator.api.statuses[TEAM]["chargers"]["connected"] == 0
    assert "connectedAt" not in operator.api.statuses[CHARGER].get("reported", {})
