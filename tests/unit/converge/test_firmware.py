"""Firmware rollouts: the gate (a count or a percentage), the failure threshold, reboot policy
and maintenance windows, and how notifications and boots move an update along.

The rollout arithmetic is tested as pure functions in tests/unit/planning/test_firmware.py; the
step here with a real fleet from YAML, a SQLite store, and fake chargers that record the
UpdateFirmware they are sent.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from controller.converge.base import PassContext, StepResult
from controller.converge.firmware import FirmwareStep
from controller.fleet.loading import load_paths
from controller.fleet.model import Fleet, resolve_charger
from controller.ocpp.central import CentralSystem
from controller.planning.keys import FIRMWARE_KEY
from controller.store import open_store
from controller.store.base import Store
from controller.values.commands import CallFailed, ChargerCommands, FailureKind, Status
from controller.values.records import (
    BootInfo,
    ChargerRecord,
    KeyState,
    KeyStatus,
    TransactionStart,
)
from tests.fakes import FakeCharger, always, raising

T = TypeVar("T")

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday, noon
OLD, NEW = "1.0.0", "6.4.0-4205"
URL = f"https://firmware.example.com/{NEW}.img"
HOUR = timedelta(hours=1)


# --- the step, with fake chargers ---------------------------------------------------------------


HEADER = "apiVersion: chargectl.io/v1alpha1\n"


def doc(kind: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n"


def fleet_yaml(
    chargers: int,
    *,
    max_unavailable: int | str = 1,
    max_failures: int = 1,
    policy: str = "WhenIdle",
    window: str = '{start: "00:00", end: "24:00"}',
    url: str = URL,
    version: str = NEW,
) -> list[str]:
    unavailable = f'"{max_unavailable}"' if isinstance(max_unavailable, str) else max_unavailable
    documents = [
        doc("Team", "ops", "displayName: Ops\nhandle: ops"),
        doc(
            "Location",
            "depot",
            f"""
            team: ops
            displayName: Depot
            timezone: UTC
            maintenanceWindow: [{window}]
            firmwareRollout: {{maxUnavailable: {unavailable}, maxFailures: {max_failures}}}
            """,
        ),
    ]
    for i in range(1, chargers + 1):
        documents.append(
            doc(
                "Charger",
                f"cp-{i}",
                f"""
                location: depot
                ocppVersion: "1.6"
                ocppIdentity: CP-{i}
                rebootPolicy: {policy}
                connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
                firmware: {{version: "{version}", url: "{url}"}}
                """,
            )
        )
    return documents


def build(root: Path, documents: list[str]) -> Fleet:
    folder = root / f"fleet-{len(list(root.glob('fleet-*')))}"
    folder.mkdir()
    for i, text in enumerate(documents):
        (folder / f"{i:02d}.yaml").write_text(text, encoding="utf-8")
    loaded = load_paths([folder])
    assert loaded.problems == ()
    fleet, problems = Fleet.build(loaded.resources)
    assert problems == []
    return fleet


def updates(charger: FakeCharger) -> list[tuple[str, datetime, int]]:
    """The UpdateFirmwares the charger was sent: (url, retrieve at, request id)."""
    return [
        (a["url"], a["retrieve_at"], a["request_id"]) for a in charger.arguments("UpdateFirmware")
    ]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    """A fleet, a store, the step, fake chargers and what each reports."""

    root: Path
    fleet: Fleet
    store: Store
    central: CentralSystem
    step: FirmwareStep
    clock: Clock
    chargers: dict[str, FakeCharger] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    booted: dict[str, datetime] = field(default_factory=dict)
    woken: list[str] = field(default_factory=list)

    def charger(self, identity: str) -> FakeCharger:
        return self.chargers.setdefault(identity, FakeCharger(identity))

    async def run(self, identity: str) -> StepResult:
        loaded = self.fleet.charger_by_identity(identity)
        assert loaded is not None
        boot = BootInfo("Acme", "X", firmware_version=self.versions.get(identity, OLD))
        record = ChargerRecord(
            identity, False, "1.6", boot, self.booted.get(identity, T0 - HOUR), connected=True
        )
        return await self.step.run(
            PassContext(
                identity,
                cast(ChargerCommands, self.charger(identity)),
                self.fleet,
                loaded,
                resolve_charger(self.fleet, loaded),
                record,
                self.central,
                passthrough,
            )
        )

    async def run_all(self) -> dict[str, StepResult]:
        return {identity: await self.run(identity) for identity in self.identities()}

    def identities(self) -> list[str]:
        return sorted(c.resource.identity for c in self.fleet.chargers.values())

    async def report(self, identity: str, status: str, **extra: Any) -> list[str]:
        woken = await self.step.charger_reported(
            self.fleet, identity, "FirmwareStatus", {"status": status, **extra}
        )
        return sorted(woken)

    async def reboot(self, identity: str, version: str | None) -> None:
        """The charger rebooted (a second later) and now reports `version`."""
        self.clock.now += timedelta(seconds=1)
        self.versions[identity] = version
        self.booted[identity] = self.clock.now
        self.clock.now += timedelta(seconds=1)

    def sent(self) -> list[str]:
        return sorted(i for i, c in self.chargers.items() if updates(c))

    async def stored(self, identity: str) -> KeyStatus | None:
        found = [s for s in await self.store.key_statuses(identity) if s.key == FIRMWARE_KEY]
        return found[0] if found else None

    async def events(self, kind: str) -> list[str]:
        await self.store.flush()
        return [e.message for e in await self.store.events(limit=500) if e.kind == kind]


Make = Callable[..., Awaitable[Rig]]
"""make(documents, store=None): a rig for a fleet; pass a store to play a restart or an edit."""


async def passthrough(awaitable: Awaitable[T]) -> T:
    return await awaitable


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    stores: list[Store] = []

    async def make(documents: list[str], store: Store | None = None) -> Rig:
        fleet = build(tmp_path, documents)
        if store is None:
            store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
            await store.open()
            stores.append(store)
        central = CentralSystem(fleet, store)
        clock = Clock()
        woken: list[str] = []
        step = FirmwareStep(central, wake=woken.append, clock=clock)
        return Rig(tmp_path, fleet, store, central, step, clock, woken=woken)

    yield make
    for store in stores:
        await store.close()


async def test_a_charger_already_on_the_declared_version_is_left_alone(make: Make) -> None:
    rig = await make(fleet_yaml(1))
    rig.versions["CP-1"] = NEW
    assert await rig.run("CP-1") == StepResult(True)
    assert rig.sent() == []


async def test_an_update_is_sent_with_the_declared_url_and_recorded(make: Make) -> None:
    rig = await make(fleet_yaml(1))
    result = await rig.run("CP-1")
    assert not result.synced and "UpdateFirmware sent" in result.message
    url, retrieve_at, _ = updates(rig.charger("CP-1"))[0]
    assert (url, retrieve_at) == (URL, T0)
    stored = await rig.stored("CP-1")
    assert stored is not None
    assert (stored.state, stored.value, stored.detail) == (KeyState.PENDING, URL, "Sent")
    assert await rig.events("FirmwareUpdate")


@pytest.mark.parametrize(
    ("declared", "chargers", "at_once"),
    [(2, 6, 2), (1, 3, 1), ("50%", 6, 3), ("34%", 6, 2), ("25%", 6, 1), ("10%", 6, 1)],
)
async def test_no_more_than_max_unavailable_chargers_update_at_once(
    make: Make, declared: int | str, chargers: int, at_once: int
) -> None:
    rig = await make(fleet_yaml(chargers, max_unavailable=declared))
    results = await rig.run_all()
    assert len(rig.sent()) == at_once
    waiting = [r.message for i, r in results.items() if i not in rig.sent()]
    assert waiting and all("waiting" in m and "maxUnavailable" in m for m in waiting)
    # passes again change nothing while the updates are under way
    await rig.run_all()
    assert len(rig.sent()) == at_once
    assert all(len(updates(c)) == 1 for c in rig.chargers.values() if updates(c))


async def test_a_place_frees_when_the_charger_is_back_with_the_new_version(make: Make) -> None:
    rig = await make(fleet_yaml(3, max_unavailable=2))
    await rig.run_all()
    assert rig.sent() == ["CP-1", "CP-2"]
    for status in ("Downloading", "Downloaded", "Installing"):
        assert await rig.report("CP-1", status) == ["CP-1"]
        assert f"updating ({status} since" in (await rig.run("CP-1")).message
    # 1.6: Installed comes before the reboot; the charger is still down until it is back
    assert await rig.report("CP-1", "Installed") == ["CP-1", "CP-2", "CP-3"]
    assert "waiting" in (await rig.run("CP-3")).message
    assert rig.sent() == ["CP-1", "CP-2"]
    await rig.reboot("CP-1", NEW)
    result = await rig.run("CP-1")
    assert result == StepResult(True, f"firmware {NEW} installed")
    assert sorted(rig.woken) == ["CP-2", "CP-3"]
    assert "UpdateFirmware sent" in (await rig.run("CP-3")).message
    assert rig.sent() == ["CP-1", "CP-2", "CP-3"]
    stored = await rig.stored("CP-1")
    assert stored is not None and stored.state is KeyState.APPLIED
    assert await rig.events("FirmwareInstalled")
    assert await rig.run("CP-1") == StepResult(True)


async def test_a_16_charger_that_never_says_installed_is_done_when_it_reports_the_version(
    make: Make,
) -> None:
    rig = await make(fleet_yaml(2))
    await rig.run_all()
    await rig.report("CP-1", "Downloading")
    await rig.reboot("CP-1", NEW)
    assert (await rig.run("CP-1")).synced
    assert "UpdateFirmware sent" in (await rig.run("CP-2")).message


async def test_installed_then_rebooted_on_the_old_version_is_a_failure(make: Make) -> None:
    rig = await make(fleet_yaml(2, max_failures=2))
    await rig.run_all()
    await rig.report("CP-1", "Installed")
    await rig.reboot("CP-1", OLD)
    result = await rig.run("CP-1")
    assert not result.synced and f"Installed, but the charger still reports {OLD}" in (
        result.message
    )
    assert "not retried" in result.message
    assert "CP-2" in rig.woken


async def test_failures_stop_the_rollout_at_max_failures_and_are_not_retried(
    make: Make,
) -> None:
    rig = await make(fleet_yaml(5, max_unavailable=2, max_failures=2))
    await rig.run_all()
    assert rig.sent() == ["CP-1", "CP-2"]
    assert await rig.report("CP-1", "DownloadFailed") == ["CP-1", "CP-2", "CP-3", "CP-4", "CP-5"]
    failed = await rig.run("CP-1")
    assert not failed.synced and "DownloadFailed" in failed.message
    assert "not retried until the declared firmware changes" in failed.message
    # one failure of two allowed: the place is taken by the next charger
    assert "UpdateFirmware sent" in (await rig.run("CP-3")).message
    await rig.report("CP-2", "Downloading")
    await rig.report("CP-2", "InstallationFailed")
    assert await rig.events("FirmwareRolloutStopped") == [
        "firmware rollout at depot stopped: 2 charger(s) failed (CP-1, CP-2; maxFailures 2)"
    ]
    for identity in ("CP-4", "CP-5"):
        result = await rig.run(identity)
        assert "not updated, the rollout at depot stopped" in result.message
    await rig.run_all()
    assert rig.sent() == ["CP-1", "CP-2", "CP-3"]
    assert all(len(updates(c)) == 1 for c in rig.chargers.values() if updates(c))
    assert len(await rig.events("FirmwareFailed")) == 2
    assert len(await rig.events("FirmwareRolloutStopped")) == 1
    # the update under way finishes
    await rig.reboot("CP-3", NEW)
    assert (await rig.run("CP-3")).synced


async def test_raising_max_failures_resumes_the_rollout(make: Make) -> None:
    rig = await make(fleet_yaml(3))
    await rig.run_all()
    await rig.report("CP-1", "InstallationFailed")
    assert "stopped" in (await rig.run("CP-2")).message
    raised = await make(fleet_yaml(3, max_failures=2), rig.store)
    assert "UpdateFirmware sent" in (await raised.run("CP-2")).message
    assert "not retried" in (await raised.run("CP-1")).message


async def test_a_new_declared_firmware_is_tried_again_on_a_charger_that_failed(
    make: Make,
) -> None:
    rig = await make(fleet_yaml(1))
    await rig.run("CP-1")
    await rig.report("CP-1", "InstallationFailed")
    fixed_url = "https://firmware.example.com/6.4.1.img"
    fixed = await make(fleet_yaml(1, url=fixed_url, version="6.4.1"), rig.store)
    assert "UpdateFirmware sent" in (await fixed.run("CP-1")).message
    assert updates(fixed.charger("CP-1"))[0][0] == fixed_url


async def test_the_rollout_state_survives_a_restart(make: Make) -> None:
    rig = await make(fleet_yaml(3, max_unavailable=2, max_failures=2))
    await rig.run_all()
    await rig.report("CP-1", "InstallationFailed")
    await rig.report("CP-2", "Downloading")
    again = await make(fleet_yaml(3, max_unavailable=2, max_failures=2), rig.store)
    assert "not retried" in (await again.run("CP-1")).message
    assert "updating (Downloading since" in (await again.run("CP-2")).message
    census = again.step.census(again.fleet, "depot", T0)
    assert (census.updating, census.failed) == (("CP-2",), ("CP-1",))
    assert "UpdateFirmware sent" in (await again.run("CP-3")).message


@pytest.mark.parametrize(
    ("policy", "window", "busy", "reason"),
    [
        ("Never", '{start: "00:00", end: "24:00"}', False, "rebootPolicy is Never"),
        ("WhenIdle", '{start: "00:00", end: "24:00"}', True, "a transaction is running"),
        ("MaintenanceWindow", '{start: "02:00", end: "04:00"}', False, "outside the maintenance"),
        ("MaintenanceWindow", '{days: [Tuesday], start: "11:00", end: "13:00"}', False, "Tue"),
    ],
)
async def test_the_reboot_policy_and_window_hold_an_update_back(
    make: Make, policy: str, window: str, busy: bool, reason: str
) -> None:
    rig = await make(fleet_yaml(1, policy=policy, window=window))
    if busy:
        await rig.store.start_transaction(TransactionStart("CP-1", 1, T0, 0, "TAG"))
    result = await rig.run("CP-1")
    assert not result.synced and "waiting" in result.message and reason in result.message
    assert rig.sent() == []


async def test_inside_the_maintenance_window_an_idle_charger_is_updated(make: Make) -> None:
    window = '{days: [Monday], start: "11:00", end: "13:00"}'
    rig = await make(fleet_yaml(1, policy="MaintenanceWindow", window=window))
    assert "UpdateFirmware sent" in (await rig.run("CP-1")).message


async def test_a_refused_update_counts_as_a_failure(make: Make) -> None:
    rig = await make(fleet_yaml(2))
    rig.charger("CP-1").respond["UpdateFirmware"] = always(Status.REJECTED)
    result = await rig.run("CP-1")
    assert "UpdateFirmware Rejected" in result.message
    stored = await rig.stored("CP-1")
    assert stored is not None and stored.state is KeyState.REJECTED
    assert "stopped" in (await rig.run("CP-2")).message
    assert len(updates(rig.charger("CP-1"))) == 1
    await rig.run("CP-1")
    assert len(updates(rig.charger("CP-1"))) == 1


async def test_a_call_error_counts_as_a_failure(make: Make) -> None:
    rig = await make(fleet_yaml(1))
    rig.charger("CP-1").respond["UpdateFirmware"] = always(
        CallFailed(FailureKind.CALL_ERROR, "UpdateFirmware", "not here", "NotImplemented")
    )
    result = await rig.run("CP-1")
    assert "UpdateFirmware failed: NotImplemented: not here" in result.message


async def test_a_lost_connection_gives_the_place_back(make: Make) -> None:
    rig = await make(fleet_yaml(2))
    rig.charger("CP-1").respond["UpdateFirmware"] = raising(ConnectionError("gone"))
    with pytest.raises(ConnectionError):
        await rig.run("CP-1")
    assert await rig.stored("CP-1") is None
    assert "UpdateFirmware sent" in (await rig.run("CP-2")).message


async def test_an_update_without_news_fails_after_the_progress_deadline(make: Make) -> None:
    rig = await make(fleet_yaml(2, max_failures=2))
    await rig.run("CP-1")
    await rig.report("CP-1", "Downloading")
    rig.clock.now += timedelta(minutes=59)
    assert "waiting" in (await rig.run("CP-2")).message
    rig.clock.now += timedelta(minutes=1)
    # the silent charger no longer holds the place, even before its own pass notices
    assert "UpdateFirmware sent" in (await rig.run("CP-2")).message
    result = await rig.run("CP-1")
    assert "no progress reported for 60 min (last: Downloading)" in result.message


async def test_notifications_of_another_request_or_without_an_update_are_ignored(
    make: Make,
) -> None:
    rig = await make(fleet_yaml(2))
    assert await rig.report("CP-2", "Downloading") == []  # a manual update: not ours
    assert await rig.stored("CP-2") is None
    await rig.run("CP-1")
    _, _, request_id = updates(rig.charger("CP-1"))[0]
    assert await rig.report("CP-1", "InstallationFailed", requestId=request_id + 1) == []
    assert await rig.report("CP-1", "Idle", requestId=request_id) == []
    assert await rig.report("CP-1", "Downloading", requestId=request_id) == ["CP-1"]
    stored = await rig.stored("CP-1")
    assert stored is not None and stored.detail == "Downloading"
    assert await rig.step.charger_reported(rig.fleet, "CP-1", "DiagnosticsStatus", {}) == ()


async def test_a_charger_that_reports_no_version_is_not_updated(make: Make) -> None:
    rig = await make(fleet_yaml(1))
    rig.versions["CP-1"] = None
    result = await rig.run("CP-1")
    assert not result.synced and "reports no firmware version" in result.message
    assert rig.sent() == []


async def test_a_charger_without_declared_firmware_is_not_this_steps_business(
    make: Make,
) -> None:
    documents = fleet_yaml(1)
    documents[-1] = documents[-1].replace(f'firmware: {{version: "{NEW}", url: "{URL}"}}', "")
    rig = await make(documents)
    assert await rig.run("CP-1") == StepResult(True)


async def test_undeclaring_firmware_forgets_a_settled_status_but_not_one_under_way(
    make: Make,
) -> None:
    rig = await make(fleet_yaml(2))
    await rig.run("CP-1")
    await rig.report("CP-1", "InstallationFailed")
    documents = fleet_yaml(2, max_unavailable=2)
    documents[-2] = documents[-2].replace(f'firmware: {{version: "{NEW}", url: "{URL}"}}', "")
    other: Rig = await make(documents, rig.store)
    assert "UpdateFirmware sent" in (await other.run("CP-2")).message
    assert await other.run("CP-1") == StepResult(True)
    assert await other.stored("CP-1") is None
    documents[-1] = documents[-1].replace(f'firmware: {{version: "{NEW}", url: "{URL}"}}', "")
    undeclared: Rig = await make(documents, rig.store)
    assert await undeclared.run("CP-2") == StepResult(True)
    stored = await undeclared.stored("CP-2")
    assert stored is not None and stored.state is KeyState.PENDING


# --- a team's rollout, across its locations ------------------------------------------------------


def team_fleet_yaml(
    sites: dict[str, int],
    *,
    team_rollout: str | None,
    max_unavailable: int | str = 3,
    max_failures: int = 5,
    guests: dict[str, int] | None = None,
) -> list[str]:
    """Team `ops` owns the locations of `sites` (name: how many chargers, identities NORTH-1,
    ...), each with its own rollout; `team_rollout` is the team's, as YAML flow, or None.
    Team `guests`, without a rollout, owns the locations of `guests`."""
    rollout = f"\nfirmwareRollout: {team_rollout}" if team_rollout is not None else ""
    unavailable = f'"{max_unavailable}"' if isinstance(max_unavailable, str) else max_unavailable
    documents = [
        doc("Team", "ops", f"displayName: Ops\nhandle: ops{rollout}"),
        doc("Team", "guests", "displayName: Guests\nhandle: guests"),
    ]
    owned = [("ops", sites), ("guests", guests or {})]
    for team, locations in owned:
        for location, chargers in locations.items():
            documents.append(
                doc(
                    "Location",
                    location,
                    f"""
                    team: {team}
                    displayName: {location.title()}
                    firmwareRollout: {{maxUnavailable: {unavailable}, maxFailures: {max_failures}}}
                    """,
                )
            )
            for i in range(1, chargers + 1):
                documents.append(
                    doc(
                        "Charger",
                        f"{location}-{i}",
                        f"""
                        location: {location}
                        ocppVersion: "1.6"
                        ocppIdentity: {location.upper()}-{i}
                        connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
                        firmware: {{version: "{NEW}", url: "{URL}"}}
                        """,
                    )
                )
    return documents


async def test_a_team_rollout_binds_across_locations_whose_own_limits_allow_more(
    make: Make,
) -> None:
    rig = await make(
        team_fleet_yaml(
            {"north": 2, "south": 3}, team_rollout="{maxUnavailable: 2}", guests={"annex": 2}
        )
    )
    assert [c.name for c in rig.fleet.chargers_of_team("ops")] == [
        "north-1",
        "north-2",
        "south-1",
        "south-2",
        "south-3",
    ]
    results = await rig.run_all()
    # each location would let three update; the team lets two; the guests' are not counted
    assert rig.sent() == ["ANNEX-1", "ANNEX-2", "NORTH-1", "NORTH-2"]
    for identity in ("SOUTH-1", "SOUTH-2", "SOUTH-3"):
        assert results[identity].message == (
            f"firmware {NEW}: waiting, 2 charger(s) across team ops updating "
            "(NORTH-1, NORTH-2; maxUnavailable 2)"
        )
    census = rig.step.team_census(rig.fleet, "ops", T0)
    assert (census.chargers, census.updating, census.failed) == (5, ("NORTH-1", "NORTH-2"), ())
    await rig.run_all()
    assert rig.sent() == ["ANNEX-1", "ANNEX-2", "NORTH-1", "NORTH-2"]
    assert all(len(updates(c)) == 1 for c in rig.chargers.values() if updates(c))

    # a place frees at north: the first charger queued for the team, at south, is woken, and
    # only as many as there are places, not the whole team
    await rig.reboot("NORTH-1", NEW)
    assert (await rig.run("NORTH-1")).synced
    assert sorted(rig.woken) == ["NORTH-2", "SOUTH-1"]
    assert "UpdateFirmware sent" in (await rig.run("SOUTH-1")).message
    assert "waiting, 2 charger(s) across team ops" in (await rig.run("SOUTH-2")).message


@pytest.mark.parametrize(
    ("declared", "at_once", "shown"),
    [('"50%"', 3, "50% of 6 = 3"), ('"34%"', 2, "34% of 6 = 2"), ('"10%"', 1, "10% of 6 = 1")],
)
async def test_a_team_rollout_takes_a_percentage_of_the_teams_declaring_chargers(
    make: Make, declared: str, at_once: int, shown: str
) -> None:
    documents = team_fleet_yaml(
        {"north": 3, "south": 3}, team_rollout=f"{{maxUnavailable: {declared}}}"
    )
    documents.append(  # declares no firmware: not part of what the percentage is of
        doc(
            "Charger",
            "north-plain",
            """
            location: north
            ocppVersion: "1.6"
            ocppIdentity: NORTH-PLAIN
            connectors: [{id: 1, type: Type2, maxCurrent: 32}]
            """,
        )
    )
    rig = await make(documents)
    results = await rig.run_all()
    assert len(rig.sent()) == at_once
    waiting = [r.message for i, r in results.items() if i not in rig.sent() and "PLAIN" not in i]
    assert waiting and all("across team ops" in m and shown in m for m in waiting)


async def test_failures_across_the_team_stop_the_rollout_at_its_other_locations(
    make: Make,
) -> None:
    rig = await make(
        team_fleet_yaml(
            {"north": 3, "south": 3},
            team_rollout="{maxUnavailable: 4, maxFailures: 2}",
            max_unavailable=3,
            max_failures=5,
        )
    )
    await rig.run_all()
    assert rig.sent() == ["NORTH-1", "NORTH-2", "NORTH-3", "SOUTH-1"]
    await rig.report("NORTH-1", "DownloadFailed")
    await rig.report("NORTH-2", "InstallationFailed")
    assert await rig.events("FirmwareRolloutStopped") == [
        "firmware rollout across team ops stopped: 2 charger(s) failed "
        "(NORTH-1, NORTH-2; maxFailures 2)"
    ]
    failed = await rig.events("FirmwareFailed")
    assert any(
        "; 2 failed at north (maxFailures 5); 2 failed across team ops (maxFailures 2)" in m
        for m in failed
    )
    # south itself has no failure, and its own rollout would go on: the team's stops it
    for identity in ("SOUTH-2", "SOUTH-3"):
        result = await rig.run(identity)
        assert result.message == (
            f"firmware {NEW}: not updated, the rollout across team ops stopped: 2 charger(s) "
            "failed (NORTH-1, NORTH-2; maxFailures 2)"
        )
    await rig.run_all()
    assert rig.sent() == ["NORTH-1", "NORTH-2", "NORTH-3", "SOUTH-1"]
    assert all(len(updates(c)) == 1 for c in rig.chargers.values() if updates(c))
    assert len(await rig.events("FirmwareRolloutStopped")) == 1  # announced once
    # the updates under way finish
    for identity in ("NORTH-3", "SOUTH-1"):
        await rig.reboot(identity, NEW)
        assert (await rig.run(identity)).synced
    # raising the team's maxFailures resumes it
    raised = await make(
        team_fleet_yaml(
            {"north": 3, "south": 3},
            team_rollout="{maxUnavailable: 4, maxFailures: 3}",
            max_unavailable=3,
            max_failures=5,
        ),
        rig.store,
    )
    assert "UpdateFirmware sent" in (await raised.run("SOUTH-2")).message


async def test_without_a_team_rollout_each_location_rolls_out_on_its_own(make: Make) -> None:
    rig = await make(
        team_fleet_yaml(
            {"north": 3, "south": 3}, team_rollout=None, max_unavailable=2, max_failures=2
        )
    )
    results = await rig.run_all()
    assert rig.sent() == ["NORTH-1", "NORTH-2", "SOUTH-1", "SOUTH-2"]
    assert results["NORTH-3"].message == (
        f"firmware {NEW}: waiting, 2 charger(s) at north updating "
        "(NORTH-1, NORTH-2; maxUnavailable 2)"
    )
    assert results["SOUTH-3"].message == (
        f"firmware {NEW}: waiting, 2 charger(s) at south updating "
        "(SOUTH-1, SOUTH-2; maxUnavailable 2)"
    )
    assert rig.step.team_census(rig.fleet, "ops", T0).updating == (
        "NORTH-1",
        "NORTH-2",
        "SOUTH-1",
        "SOUTH-2",
    )
    # failures at north stop north only; a place freed at south wakes south only
    await rig.report("NORTH-1", "InstallationFailed")
    await rig.report("NORTH-2", "InstallationFailed")
    assert "not updated, the rollout at north stopped" in (await rig.run("NORTH-3")).message
    assert await rig.events("FirmwareRolloutStopped") == [
        "firmware rollout at north stopped: 2 charger(s) failed (NORTH-1, NORTH-2; maxFailures 2)"
    ]
    rig.woken.clear()
    await rig.reboot("SOUTH-1", NEW)
    assert (await rig.run("SOUTH-1")).synced
    assert sorted(rig.woken) == ["SOUTH-2", "SOUTH-3"]
    assert "UpdateFirmware sent" in (await rig.run("SOUTH-3")).message


async def test_a_teams_statuses_are_read_once_not_at_every_pass(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    sites = {f"site-{n}": 50 for n in range(10)}
    rig = await make(team_fleet_yaml(sites, team_rollout="{maxUnavailable: 1}"))
    reads: list[str] = []
    read = rig.store.key_statuses

    async def counting(identity: str) -> list[KeyStatus]:
        reads.append(identity)
        return await read(identity)

    monkeypatch.setattr(rig.store, "key_statuses", counting)
    assert "UpdateFirmware sent" in (await rig.run("SITE-3-7")).message
    assert len(reads) == 500 and len(set(reads)) == 500  # the team, offline chargers included
    for n in range(10):
        result = await rig.run(f"SITE-{n}-1")
        assert result.message == (
            f"firmware {NEW}: waiting, 1 charger(s) across team ops updating "
            "(SITE-3-7; maxUnavailable 1)"
        )
    assert len(reads) == 500


async def test_raising_a_rollout_limit_wakes_the_chargers_it_concerns(make: Make) -> None:
    """A raised maxUnavailable or maxFailures changes no charger's desired state, so nothing
    else would wake the chargers waiting on it before the next resync."""
    rig = await make(team_fleet_yaml({"north": 2, "south": 2}, team_rollout="{maxUnavailable: 1}"))
    same = build(
        rig.root, team_fleet_yaml({"north": 2, "south": 2}, team_rollout="{maxUnavailable: 1}")
    )
    raised_team = build(
        rig.root, team_fleet_yaml({"north": 2, "south": 2}, team_rollout="{maxUnavailable: 3}")
    )

    assert rig.step.wake_on_fleet_change(rig.fleet, same) == set()
    assert sorted(rig.step.wake_on_fleet_change(rig.fleet, raised_team)) == [
        "NORTH-1",
        "NORTH-2",
        "SOUTH-1",
        "SOUTH-2",
    ]

    one_location = build(rig.root, fleet_yaml(2, max_unavailable=1))
    raised_location = build(rig.root, fleet_yaml(2, max_unavailable=2))
    assert sorted(rig.step.wake_on_fleet_change(one_location, raised_location)) == ["CP-1", "CP-2"]
