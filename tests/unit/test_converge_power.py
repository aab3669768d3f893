"""The power step against fake chargers: what it sends, in which order, and what it leaves.

Two chargers of one 32 A connector behind a 40 A circuit, a third at a location without one.
The chargers are fakes that record every call in one shared log, so the order across chargers
is visible; the store is a fake holding the open transactions. Passes are run by hand, in the
order a test chooses, as the reconciler's workers might run them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from controller.checking import check_paths
from controller.converge import power
from controller.converge.base import PassContext, StepResult
from controller.converge.power import PowerStep
from controller.fleet import Fleet, resolve_charger
from controller.ocpp.central import CentralSystem
from controller.ocpp.commands import ChargerCommands, ChargingLimit, LimitPurpose, Status
from controller.ocpp.session import CallFailed, FailureKind
from controller.store.base import Store
from controller.store.models import ChargerRecord, Event, Transaction

FLEET = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {{name: ops}}
spec: {{displayName: Ops, handle: ops}}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: depot}}
spec: {{team: ops, displayName: Depot, timezone: Europe/Amsterdam}}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: home}}
spec: {{team: ops, displayName: Home, timezone: Europe/Amsterdam}}
---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata: {{name: depot-grid}}
spec:
  location: depot
  limit: {{currentPerPhase: {limit}}}
  chargers: {{names: [{fed}]}}
  schedule: {schedule}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-a}}
spec:
  ocppIdentity: CP-A
  location: depot
  ocppVersion: "1.6"
  connectors: {connectors_a}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-b}}
spec:
  ocppIdentity: CP-B
  location: depot
  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-home}}
spec:
  ocppIdentity: CP-HOME
  location: home
  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
"""

START = datetime(2024, 6, 8, 12, 0, tzinfo=UTC)


def load(
    tmp_path: Path,
    limit: int = 40,
    fed: str = "cp-a, cp-b",
    connectors_a: int = 1,
    schedule: str = "[]",
) -> Fleet:
    """The fleet above; every call writes a new folder, so each fleet is a new object."""
    folder = tmp_path / f"fleet-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    connectors = [{"id": i, "type": "Type2", "maxCurrent": 32} for i in range(1, connectors_a + 1)]
    text = FLEET.format(
        limit=limit, fed=fed, connectors_a=json.dumps(connectors), schedule=schedule
    )
    (folder / "fleet.yaml").write_text(text)
    report = check_paths([folder])
    assert report.valid, report.problems
    return report.fleet


@dataclass
class FakeStore:
    """What the step reads and writes of the store: open transactions, events."""

    open: dict[str, list[Transaction]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    next_id: int = 1

    async def open_transactions(self, identity: str) -> list[Transaction]:
        return list(self.open.get(identity, []))

    async def add_event(self, event: Event) -> None:
        self.events.append(event)

    def start(self, identity: str, connector: int = 1) -> Transaction:
        transaction = Transaction(
            self.next_id, identity, connector, START + timedelta(minutes=self.next_id), 0
        )
        self.next_id += 1
        self.open.setdefault(identity, []).append(transaction)
        return transaction

    def stop(self, identity: str) -> Transaction:
        return self.open[identity].pop()


Answer = Callable[[ChargingLimit], Status | CallFailed]


def accept(limit: ChargingLimit) -> Status | CallFailed:
    return Status.ACCEPTED


@dataclass
class FakeCharger:
    """Answers SetChargingProfile with `answer` and ClearChargingProfile with Accepted;
    every call goes to the shared `log` as (identity, purpose or 'clear', amperes or id)."""

    identity: str
    log: list[tuple[str, str, float]]
    answer: Answer = accept

    async def set_charging_profile(self, limit: ChargingLimit) -> Status | CallFailed:
        self.log.append((self.identity, limit.purpose.value, limit.periods[0].amperes))
        return self.answer(limit)

    async def clear_charging_profile(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: LimitPurpose | None = None,
    ) -> Status | CallFailed:
        self.log.append((self.identity, "clear", float(profile_id or 0)))
        return Status.ACCEPTED


class Rig:
    """A step, its fake store and chargers, and the identities it asked to wake."""

    def __init__(self, fleet: Fleet) -> None:
        self.store = FakeStore()
        self.central = CentralSystem(fleet, cast(Store, self.store))
        self.woken: list[str] = []
        self.step = PowerStep(wake=self.woken.append)
        self.log: list[tuple[str, str, float]] = []
        self.chargers = {i: FakeCharger(i, self.log) for i in ("CP-A", "CP-B", "CP-HOME")}

    async def run(self, identity: str) -> StepResult:
        fleet = self.central.fleet
        loaded = fleet.charger_by_identity(identity)
        assert loaded is not None
        context = PassContext(
            identity,
            cast(ChargerCommands, self.chargers[identity]),
            fleet,
            loaded,
            resolve_charger(fleet, loaded),
            ChargerRecord(identity, pending=False),
            self.central,
            _call,
        )
        return await self.step.run(context)

    def sent(self) -> list[tuple[str, str, float]]:
        """The calls since the last look."""
        calls = list(self.log)
        self.log.clear()
        return calls

    def start(self, identity: str) -> None:
        transaction = self.store.start(identity)
        self.woken += self.step.wake_on_transaction(self.central.fleet, identity, transaction)

    def stop(self, identity: str) -> None:
        transaction = self.store.stop(identity)
        self.woken += self.step.wake_on_transaction(self.central.fleet, identity, transaction)

    async def converge(self, *identities: str) -> None:
        for identity in identities:
            assert (await self.run(identity)).synced
        self.sent()
        self.woken.clear()


async def _call(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(load(tmp_path))


async def test_only_changed_limits_are_sent(rig: Rig) -> None:
    result = await rig.run("CP-A")
    assert result.synced
    assert "idle: a new session may start at 6 A" in result.message
    assert rig.sent() == [("CP-A", "StationMax", 32.0), ("CP-A", "TxDefault", 6.0)]

    assert await rig.run("CP-A") == StepResult(synced=True)
    assert rig.sent() == [], "nothing changed, nothing sent"

    await rig.converge("CP-B")
    rig.start("CP-A")
    assert sorted(rig.woken) == ["CP-A", "CP-B"], "a transaction wakes its location"
    result = await rig.run("CP-A")
    assert result.synced
    assert "32 A (capped at connector max 32 A)" in result.message
    assert rig.sent() == [("CP-A", "Tx", 32.0)], "the default stays at the minimum"
    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [], "cp-b's idle offer still fits: 40 - 32 >= 6"


async def test_decreases_are_applied_before_increases_across_chargers(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-B")
    rig.woken.clear()

    # cp-b's pass comes first: raising it to 20 A now would put 32 + 20 A on a 40 A circuit.
    result = await rig.run("CP-B")
    assert not result.synced
    assert "Tx 20 A on connector 1 waits until cp-a has lowered its limits" in result.message
    assert rig.sent() == []
    assert rig.woken == []

    result = await rig.run("CP-A")
    assert result.synced
    assert rig.sent() == [("CP-A", "Tx", 20.0)]
    assert rig.woken == ["CP-B"], "cp-b is woken once nothing at the location is to be lowered"

    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [("CP-B", "Tx", 20.0)]

    rig.stop("CP-B")  # cp-b's idle offer stays 6 A (40 - 32 leaves room): nothing to lower
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "Tx", 32.0)]


async def test_a_charger_lowers_before_it_raises(tmp_path: Path) -> None:
    rig = Rig(load(tmp_path, connectors_a=2))
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    rig.start("CP-B")
    for identity in ("CP-B", "CP-A", "CP-B"):
        await rig.run(identity)
    await rig.converge("CP-A", "CP-B")

    # At once: the circuit drops from 40 A to 34 A and cp-b's session ends. cp-a's maximum
    # drops with the circuit, its session may rise to 32 A, but only once cp-b's default is
    # down from 6 A to 0 A (34 - 32 A leaves no room for an idle offer).
    rig.stop("CP-B")
    old, new = rig.central.fleet, load(tmp_path, limit=34, connectors_a=2)
    await rig.central.replace_fleet(new)
    rig.step.wake_on_fleet_change(old, new)
    rig.woken.clear()

    result = await rig.run("CP-A")
    assert "Tx 32 A on connector 1 waits until cp-b has lowered its limits" in result.message
    assert rig.sent() == [("CP-A", "StationMax", 34.0)], "its own decrease is not held up"
    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [("CP-B", "TxDefault", 0.0)]
    assert rig.woken == ["CP-A"]
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "Tx", 32.0)]


@pytest.mark.parametrize(
    "answer",
    [
        Status.REJECTED,
        Status.NOT_SUPPORTED,
        CallFailed(FailureKind.CALL_ERROR, "SetChargingProfile", "no", "NotImplemented"),
    ],
    ids=["Rejected", "NotSupported", "CALLERROR"],
)
async def test_a_refused_limit_is_shown_and_not_sent_again(
    rig: Rig, answer: Status | CallFailed
) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.chargers["CP-A"].answer = lambda limit: (
        answer if limit.purpose is LimitPurpose.TX else Status.ACCEPTED
    )
    rig.start("CP-A")

    first = await rig.run("CP-A")
    assert not first.synced
    word = answer.value if isinstance(answer, Status) else "CALLERROR NotImplemented"
    assert f"Tx 32 A on connector 1: {word}" in first.message
    assert rig.sent() == [("CP-A", "Tx", 32.0)]
    assert [e.kind for e in rig.store.events] == ["ChargingProfileRefused"]

    for _ in range(3):
        again = await rig.run("CP-A")
        assert not again.synced
        assert "refused earlier" in again.message
    assert rig.sent() == [], "a refused limit is not sent again while it stays the same"

    rig.start("CP-B")  # the allocation changes: cp-a's share is 20 A now
    await rig.run("CP-A")
    assert rig.sent() == [("CP-A", "Tx", 20.0)]


async def test_a_refused_decrease_holds_the_raises_at_the_location(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    await rig.converge("CP-A", "CP-B")
    rig.chargers["CP-A"].answer = lambda limit: Status.REJECTED
    rig.start("CP-B")

    assert not (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "Tx", 20.0)]
    result = await rig.run("CP-B")
    assert not result.synced
    assert "waits until cp-a has lowered its limits" in result.message
    assert rig.sent() == [], "cp-a may still draw 32 A: cp-b stays at its default"


async def test_a_disconnected_charger_is_forgotten_and_gets_everything_again(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    await rig.converge("CP-A")

    rig.step.forget("CP-A")
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [
        ("CP-A", "StationMax", 32.0),
        ("CP-A", "TxDefault", 6.0),
        ("CP-A", "Tx", 32.0),
    ]


async def test_forgetting_a_charger_that_held_others_up_wakes_them(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-B")
    rig.woken.clear()
    assert not (await rig.run("CP-B")).synced

    rig.step.forget("CP-A")
    assert rig.woken == ["CP-B"]


async def test_a_charger_no_circuit_feeds_is_left_alone(rig: Rig) -> None:
    assert await rig.run("CP-HOME") == StepResult(synced=True)
    transaction = rig.store.start("CP-HOME")
    assert rig.step.wake_on_transaction(rig.central.fleet, "CP-HOME", transaction) == ()
    assert await rig.run("CP-HOME") == StepResult(synced=True)
    assert rig.sent() == []


async def test_profiles_are_cleared_when_a_fleet_edit_takes_a_charger_out(
    tmp_path: Path,
) -> None:
    rig = Rig(load(tmp_path))
    await rig.converge("CP-A", "CP-B")
    old, new = rig.central.fleet, load(tmp_path, fed="cp-a")
    await rig.central.replace_fleet(new)

    assert sorted(rig.step.wake_on_fleet_change(old, new)) == ["CP-A", "CP-B"]
    result = await rig.run("CP-B")
    assert result.synced
    assert rig.sent() == [("CP-B", "clear", 1.0), ("CP-B", "clear", 101.0)]
    assert await rig.run("CP-B") == StepResult(synced=True)
    assert rig.sent() == []


async def test_a_fleet_edit_wakes_only_locations_whose_power_changed(tmp_path: Path) -> None:
    fleet = load(tmp_path)
    step = PowerStep()
    assert step.wake_on_fleet_change(fleet, load(tmp_path)) == []
    lower = load(tmp_path, limit=34)
    assert sorted(step.wake_on_fleet_change(fleet, lower)) == ["CP-A", "CP-B"]


async def test_a_lower_circuit_limit_is_applied_without_waiting(tmp_path: Path) -> None:
    rig = Rig(load(tmp_path))
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    rig.start("CP-B")
    for identity in ("CP-B", "CP-A", "CP-B"):
        await rig.run(identity)
    await rig.converge("CP-A", "CP-B")

    old, new = rig.central.fleet, load(tmp_path, limit=34)
    await rig.central.replace_fleet(new)
    assert sorted(rig.step.wake_on_fleet_change(old, new)) == ["CP-A", "CP-B"]
    assert (await rig.run("CP-A")).synced
    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [("CP-A", "Tx", 17.0), ("CP-B", "Tx", 17.0)]


async def test_an_unanswered_raise_counts_as_applied(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")

    def lost(limit: ChargingLimit) -> Status | CallFailed:
        raise TimeoutError("no answer")  # what the reconciler's call raises: the pass aborts

    rig.chargers["CP-A"].answer = lost
    rig.start("CP-A")
    with pytest.raises(TimeoutError):
        await rig.run("CP-A")
    assert rig.sent() == [("CP-A", "Tx", 32.0)]

    rig.start("CP-B")  # cp-a may be at 32 A: cp-b does not rise before cp-a is lowered
    result = await rig.run("CP-B")
    assert "waits until cp-a has lowered its limits" in result.message
    assert rig.sent() == []
    rig.chargers["CP-A"].answer = accept
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "Tx", 20.0)]


async def test_a_schedule_change_wakes_the_location_on_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peak = '[{start: "17:00", end: "19:00", limit: {currentPerPhase: 32}}]'
    rig = Rig(load(tmp_path, schedule=peak))
    soon = datetime.now(UTC) + timedelta(seconds=0.2)
    monkeypatch.setattr(power, "next_change", lambda fleet, at: soon if at < soon else None)
    await rig.converge("CP-A", "CP-B", "CP-HOME")

    deadline = asyncio.get_running_loop().time() + 10.0
    while not rig.woken and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert sorted(rig.woken) == ["CP-A", "CP-B"], "the fed chargers of the scheduled location"
    rig.step.close()
