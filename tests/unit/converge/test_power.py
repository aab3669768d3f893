"""The power step against fake chargers: what it sends, in which order, and what it leaves.

Two chargers of one 32 A connector behind a 40 A circuit, a third at a location without one.
The chargers are fakes that record every call in one shared log, so the order across chargers
is visible; the store is a fake holding the open transactions. Passes are run by hand, in the
order a test chooses, as the reconciler's workers might run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from controller.converge import power
from controller.converge.base import PassContext, StepResult, TransportFailure
from controller.converge.power import PowerStep
from controller.fleet.checking import check_paths
from controller.fleet.model import Fleet, resolve_charger
from controller.ocpp.central import CentralSystem
from controller.store.base import Store
from controller.values.commands import (
    CallFailed,
    ChargerCommands,
    CompositeSchedule,
    FailureKind,
    LimitPeriod,
    LimitPurpose,
    Status,
)
from controller.values.records import ChargerRecord, ReportedKey
from tests.fakes import Call, FakeCharger, FakeStore, Gate, always, flat, raising

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


def sent(log: list[Call]) -> list[tuple[str, str, float]]:
    """The profiles set and cleared, as (identity, purpose or 'clear', amperes or profile id)."""
    found: list[tuple[str, str, float]] = []
    for call in log:
        if call.action == "SetChargingProfile":
            limit = call.arguments["limit"]
            found.append((call.identity, limit.purpose.value, limit.periods[0].amperes))
        elif call.action == "ClearChargingProfile":
            found.append((call.identity, "clear", float(call.arguments["profile_id"] or 0)))
    return found


class Rig:
    """A step, its fake store and chargers, and the identities it asked to wake."""

    def __init__(self, fleet: Fleet) -> None:
        self.store = FakeStore(started=START)
        self.central = CentralSystem(fleet, cast(Store, self.store))
        self.woken: list[str] = []
        self.awake = asyncio.Event()
        """Set when the step wakes a charger; a test clears it before what it waits for."""
        self.step = PowerStep(wake=self.wake)
        self.log: list[Call] = []
        self.chargers = {i: FakeCharger(i, self.log) for i in ("CP-A", "CP-B", "CP-HOME")}
        self.records = {i: ChargerRecord(i, pending=False) for i in self.chargers}

    def wake(self, identity: str) -> None:
        self.woken.append(identity)
        self.awake.set()

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
            self.records[identity],
            self.central,
            _call,
        )
        return await self.step.run(context)

    def sent(self) -> list[tuple[str, str, float]]:
        """The calls since the last look."""
        calls = sent(self.log)
        self.log.clear()
        return calls

    def start(self, identity: str) -> None:
        transaction = self.store.start(identity)
        self.woken += self.step.wake_on_transaction(self.central.fleet, identity, transaction)

    def asked(self, identity: str) -> list[int]:
        """The connectors whose composite schedule the charger was asked since the last look."""
        charger = self.chargers[identity]
        asked = [a["connector"] for a in charger.arguments("GetCompositeSchedule")]
        charger.calls.clear()
        return asked

    def stop(self, identity: str) -> None:
        transaction = self.store.stop(identity)
        self.chargers[identity].transaction_ended()
        self.woken += self.step.wake_on_transaction(self.central.fleet, identity, transaction)

    async def converge(self, *identities: str) -> None:
        for identity in identities:
            assert (await self.run(identity)).synced
        self.sent()
        self.woken.clear()
        for charger in self.chargers.values():
            charger.calls.clear()


async def _call(awaitable: Awaitable[Any]) -> Any:
    """As the reconciler's call: a CALLERROR comes back, any other failure aborts the pass."""
    result = await awaitable
    if isinstance(result, CallFailed) and result.kind is not FailureKind.CALL_ERROR:
        raise TransportFailure(result)
    return result


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
    rig.chargers["CP-A"].respond["SetChargingProfile"] = lambda call: (
        answer if call.arguments["limit"].purpose is LimitPurpose.TX else None
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
    rig.chargers["CP-A"].respond["SetChargingProfile"] = always(Status.REJECTED)
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

    # what the reconciler's call raises when there is no answer: the pass aborts
    rig.chargers["CP-A"].respond["SetChargingProfile"] = raising(TimeoutError("no answer"))
    rig.start("CP-A")
    with pytest.raises(TimeoutError):
        await rig.run("CP-A")
    assert rig.sent() == [("CP-A", "Tx", 32.0)]

    rig.start("CP-B")  # cp-a may be at 32 A: cp-b does not rise before cp-a is lowered
    result = await rig.run("CP-B")
    assert "waits until cp-a has lowered its limits" in result.message
    assert rig.sent() == []
    del rig.chargers["CP-A"].respond["SetChargingProfile"]
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
    rig.awake.clear()

    with contextlib.suppress(TimeoutError):  # then the assertion says what is missing
        await asyncio.wait_for(rig.awake.wait(), 10.0)
    assert sorted(rig.woken) == ["CP-A", "CP-B"], "the fed chargers of the scheduled location"
    rig.step.close()


# --- verification by the composite schedule ------------------------------------------------------


async def test_accepted_limits_are_verified_once_per_change(rig: Rig) -> None:
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "StationMax", 32.0), ("CP-A", "TxDefault", 6.0)]
    assert rig.asked("CP-A") == [0, 1], "the station maximum on 0, the default on connector 1"

    for _ in range(3):
        assert await rig.run("CP-A") == StepResult(synced=True)
    assert rig.asked("CP-A") == [], "nothing changed: not asked again"

    rig.start("CP-A")
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "Tx", 32.0)]
    assert rig.asked("CP-A") == [1], "only the connector whose profile changed"

    rig.step.forget("CP-A")  # a reconnect: everything is sent, and asked, again
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [0, 1]


async def test_a_limit_accepted_but_not_in_force_is_sent_again_and_holds_up_raises(
    rig: Rig,
) -> None:
    await rig.converge("CP-B")
    cp_a = rig.chargers["CP-A"]
    cp_a.applies = False  # says Accepted, keeps offering its whole 32 A

    result = await rig.run("CP-A")
    assert not result.synced
    assert (
        "composite schedule of connector 1 is 32 A, expected at most 6 A: "
        "profiles not in force, sent again"
    ) in result.message
    assert rig.woken == ["CP-A"], "woken once, to send them again at once"
    assert [e.kind for e in rig.store.events] == ["ChargingLimitNotInForce"]
    rig.sent()

    again = await rig.run("CP-A")
    assert not again.synced
    assert rig.sent() == [("CP-A", "TxDefault", 6.0)], "the default is sent again"
    assert "composite schedule of connector 1 is 32 A" in again.message
    assert rig.woken == ["CP-A"], "not woken again: a charger that keeps ignoring them waits"
    assert len(rig.store.events) == 1

    rig.start("CP-B")  # cp-a may draw 32 A: cp-b's session stays on its 6 A default
    rig.woken.clear()
    held = await rig.run("CP-B")
    assert "Tx 32 A on connector 1 waits until cp-a has lowered its limits" in held.message
    assert rig.sent() == []

    cp_a.applies = True
    assert (await rig.run("CP-A")).synced
    assert rig.sent() == [("CP-A", "TxDefault", 6.0)]
    assert rig.woken == ["CP-B"], "once seen in force, the raises it held up go"
    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [("CP-B", "Tx", 32.0)]


@pytest.mark.parametrize(
    ("composite", "synced"),
    [
        (flat(0.0), True),  # another limit binds: the charger's own, another party's profile
        (flat(6.1), True),  # rounding
        (CompositeSchedule(Status.ACCEPTED, (LimitPeriod(0, 32.0), LimitPeriod(2, 6.0))), True),
        (flat(6.2), False),
        (CompositeSchedule(Status.ACCEPTED), False),  # no limit in force at all
    ],
    ids=["lower", "rounding", "clock-lag", "above", "none"],
)
async def test_the_composite_limit_may_be_below_ours_but_not_above(
    rig: Rig, composite: CompositeSchedule, synced: bool
) -> None:
    """Connector 1 answers `composite` (the charger, 32 A); its default is 6 A. A charger whose
    clock lags ours starts a profile sent "now" a moment later: that is not drift."""
    rig.chargers["CP-A"].respond["GetCompositeSchedule"] = lambda call: (
        composite if call.arguments["connector"] == 1 else flat(32.0)
    )
    result = await rig.run("CP-A")
    assert result.synced is synced
    assert ("expected at most 6 A" in result.message) is not synced


@pytest.mark.parametrize(
    "refusal",
    [
        CompositeSchedule(Status.REJECTED),
        CompositeSchedule(Status.NOT_SUPPORTED),  # answered in watts
        CallFailed(FailureKind.CALL_ERROR, "GetCompositeSchedule", "no", "NotImplemented"),
        CallFailed(FailureKind.CALL_ERROR, "GetCompositeSchedule", "no", "NotSupported"),
    ],
    ids=["Rejected", "watts", "NotImplemented", "NotSupported"],
)
async def test_a_charger_without_composite_schedules_is_trusted_and_asked_once(
    rig: Rig, refusal: CompositeSchedule | CallFailed
) -> None:
    rig.chargers["CP-A"].respond["GetCompositeSchedule"] = always(refusal)
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [0]

    rig.start("CP-A")
    assert (await rig.run("CP-A")).synced
    assert rig.sent()[-1] == ("CP-A", "Tx", 32.0)
    assert rig.asked("CP-A") == [], "its answers are trusted while it stays connected"

    rig.step.forget("CP-A")
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [0], "asked again once after a reconnect"


async def test_a_charger_without_smart_charging_is_not_asked(rig: Rig) -> None:
    rig.records["CP-A"] = ChargerRecord(
        "CP-A",
        pending=False,
        configuration=(ReportedKey("SupportedFeatureProfiles", "Core,RemoteTrigger", True),),
    )
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == []


async def test_another_callerror_trusts_the_answer_for_that_change(rig: Rig) -> None:
    failed = CallFailed(FailureKind.CALL_ERROR, "GetCompositeSchedule", "oops", "InternalError")
    rig.chargers["CP-A"].respond["GetCompositeSchedule"] = always(failed)
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [0, 1]
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == []

    rig.start("CP-A")
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [1], "asked again after the next change"


@pytest.mark.parametrize("kind", [FailureKind.TIMEOUT, FailureKind.INVALID_RESPONSE])
async def test_a_charger_that_does_not_answer_is_trusted_and_asked_once(
    rig: Rig, kind: FailureKind
) -> None:
    """Firmware that drops actions it does not implement never answers: asking again at every
    pass would abort every pass (and leave its decreases unverified, holding up raises)."""
    unanswered = CallFailed(kind, "GetCompositeSchedule", "no answer within 30s")
    rig.chargers["CP-A"].respond["GetCompositeSchedule"] = always(unanswered)
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [0]

    rig.start("CP-A")
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [], "its answers are trusted while it stays connected"


async def test_a_disconnect_while_asking_aborts_the_pass_and_the_next_one_asks_again(
    rig: Rig,
) -> None:
    gone = CallFailed(FailureKind.DISCONNECTED, "GetCompositeSchedule", "connection closed")
    rig.chargers["CP-A"].respond["GetCompositeSchedule"] = always(gone)
    with pytest.raises(TransportFailure):
        await rig.run("CP-A")
    del rig.chargers["CP-A"].respond["GetCompositeSchedule"]
    assert (await rig.run("CP-A")).synced
    assert rig.asked("CP-A") == [0, 0, 1]
    assert rig.sent() == [("CP-A", "StationMax", 32.0), ("CP-A", "TxDefault", 6.0)]


async def test_a_decrease_that_cannot_be_verified_does_not_hold_up_raises(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-B")
    unanswered = CallFailed(FailureKind.TIMEOUT, "GetCompositeSchedule", "no answer")
    rig.chargers["CP-A"].respond["GetCompositeSchedule"] = always(unanswered)

    assert (await rig.run("CP-A")).synced  # lowered to 20 A, accepted, never shown
    assert rig.sent() == [("CP-A", "Tx", 20.0)]

    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [("CP-B", "Tx", 20.0)], "cp-a's accepted decrease is trusted"


async def test_raises_wait_until_a_decrease_is_seen_in_force(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-A")
    await rig.converge("CP-A", "CP-B")
    rig.start("CP-B")
    rig.woken.clear()

    gate = Gate()
    rig.chargers["CP-A"].gates["GetCompositeSchedule"] = gate
    lowering = asyncio.create_task(rig.run("CP-A"))
    await gate.reached.wait()  # cp-a accepted 20 A, is being asked if in force
    assert rig.sent() == [("CP-A", "Tx", 20.0)]

    held = await rig.run("CP-B")
    assert "Tx 20 A on connector 1 waits until cp-a has lowered its limits" in held.message
    assert rig.sent() == [], "accepted is not yet in force: cp-a may still offer 32 A"

    gate.open.set()
    assert (await lowering).synced
    assert rig.woken == ["CP-B"]
    assert (await rig.run("CP-B")).synced
    assert rig.sent() == [("CP-B", "Tx", 20.0)]


async def test_a_reconnecting_charger_is_limited_while_another_holds_up_raises(rig: Rig) -> None:
    await rig.converge("CP-A", "CP-B")
    rig.chargers["CP-A"].applies = False
    rig.chargers["CP-A"].installed.clear()
    rig.step.forget("CP-A")  # reconnects having lost its profiles, and ignores new ones
    assert not (await rig.run("CP-A")).synced

    rig.chargers["CP-B"].installed.clear()
    rig.step.forget("CP-B")  # reconnects without profiles: it may draw its 32 A
    rig.sent()
    result = await rig.run("CP-B")
    assert result.synced, result.message
    assert rig.asked("CP-B") == [0, 1, 0, 1], "what is in force, then whether ours are"
    assert rig.sent() == [("CP-B", "StationMax", 32.0), ("CP-B", "TxDefault", 6.0)], (
        "no higher than what it has in force: sent although cp-a holds up raises"
    )
