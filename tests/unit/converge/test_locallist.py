"""The local list step: one pass against a fake charger (the list's content and version, pure,
are tests/unit/planning/test_locallist.py).

The fleets are real YAML, loaded the way `serve` loads them (tests/unit/cards.py); the charger is a
fake that keeps a list as OCPP says a charger does (a Differential update must raise the
version) and logs every call, so each test can say exactly what went over the wire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from controller.converge.base import PassContext
from controller.converge.locallist import LocalListStep
from controller.fleet.model import Fleet, resolve_charger
from controller.ocpp.central import CentralSystem
from controller.planning.locallist import LOCAL_LIST_KEY, ListUpdate, desired_list
from controller.values.commands import (
    AuthListStatus,
    CallFailed,
    ChargerCommands,
    FailureKind,
    LocalListEntry,
    Status,
)
from controller.values.records import ChargerRecord, KeyState, KeyStatus, ReportedKey
from tests.fakes import FakeCentral, FakeCharger, in_turn
from tests.unit.cards import BASE, CARDS, Build, card, cards_of, charger, fleet_builder

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

T = TypeVar("T")


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return fleet_builder(tmp_path)


def entry(tag: str, status: AuthListStatus | None = AuthListStatus.ACCEPTED) -> LocalListEntry:
    return LocalListEntry(tag, status)


def sent(sim: FakeCharger) -> list[ListUpdate]:
    """The SendLocalLists the fake charger was sent since its calls were last cleared."""
    return [
        ListUpdate(a["version"], a["entries"], a["full"]) for a in sim.arguments("SendLocalList")
    ]


def statuses(sim: FakeCharger) -> dict[str, AuthListStatus | None]:
    """The list the fake charger holds: each id tag's status."""
    return {tag: e.status for tag, e in sorted(sim.list_entries.items())}


def charger_16(**kwargs: Any) -> FakeCharger:
    """The fake of cp-16, the 1.6 charger of the fleets here."""
    return FakeCharger("CP-16", **kwargs)


async def _call(awaitable: Awaitable[T]) -> T:
    return await awaitable


def context(
    fleet: Fleet,
    sim: FakeCharger,
    central: FakeCentral,
    reported: Sequence[ReportedKey] = (),
) -> PassContext:
    loaded = fleet.charger_by_identity(sim.identity)
    assert loaded is not None
    record = ChargerRecord(
        sim.identity, pending=False, configuration=tuple(reported), configuration_at=T0
    )
    return PassContext(
        sim.identity,
        cast(ChargerCommands, sim),
        fleet,
        loaded,
        resolve_charger(fleet, loaded),
        record,
        cast(CentralSystem, central),
        _call,
    )


def stored(central: FakeCentral, identity: str = "CP-16") -> KeyStatus:
    return central.store.rows[(identity, LOCAL_LIST_KEY)]


# --- one pass against a fake charger -----------------------------------------------------------


async def test_first_pass_sends_the_list_then_only_checks_the_version(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim, central, step = charger_16(), FakeCentral(), LocalListStep(clock=lambda: T0)
    result = await step.run(context(fleet, sim, central))
    desired = step.desired(fleet, "depot")
    assert result.synced and "Full update, 4 cards" in result.message
    assert sim.list_version == desired.version
    assert statuses(sim) == {
        "aa01": AuthListStatus.ACCEPTED,
        "bb02": AuthListStatus.ACCEPTED,
        "cc03": AuthListStatus.BLOCKED,
        "dd04": AuthListStatus.EXPIRED,
    }
    assert [u.full for u in sent(sim)] == [True]
    assert stored(central).state is KeyState.APPLIED
    assert central.events[-1][0] == "LocalListUpdated"

    sim.calls.clear()
    result = await step.run(context(fleet, sim, central))
    assert result.synced and result.message == ""
    assert sim.actions() == ["GetLocalListVersion"]


EDITS = [
    ("alice", "AA01", "status: Blocked"),
    ("bob", "BB02", "status: Blocked"),
    ("dave", "DD04", "status: Blocked"),
]


def _edited(build: Build, rising: bool) -> tuple[Fleet, Fleet, LocalListEntry]:
    """Two fleets, one card apart, whose list version rises (or falls), and the new entry.

    List versions are content hashes: which way an edit takes the version is fixed by the
    content, so the tests pick an edit that goes the way they need (undoing one that raises
    the version lowers it).
    """
    before = build(*BASE, *CARDS)
    old = desired_list(cards_of(before), T0)
    for name, tag, extra in EDITS:
        cards = [card(name, tag, extra) if f"name: {name}\n" in c else c for c in CARDS]
        after = build(*BASE, *cards)
        new = desired_list(cards_of(after), T0)
        if new.version > old.version:
            if not rising:
                before, after, new = after, before, old
            return before, after, next(e for e in new.entries if e.id_tag == tag)
    raise AssertionError("no edit raises the version")  # pragma: no cover


async def test_a_blocked_card_goes_as_a_differential_update(build: Build) -> None:
    before, after, changed = _edited(build, rising=True)
    sim, central, step = charger_16(), FakeCentral(), LocalListStep(clock=lambda: T0)
    await step.run(context(before, sim, central))
    sim.calls.clear()
    result = await step.run(context(after, sim, central))
    new = step.desired(after, "depot")
    assert result.synced and "Differential update, 1 change" in result.message
    assert sent(sim) == [ListUpdate(new.version, (changed,), False)]
    assert sim.list_version == new.version


async def test_a_lower_new_version_goes_as_a_full_update_without_a_refusal_first(
    build: Build,
) -> None:
    before, after, _ = _edited(build, rising=False)
    sim, central, step = charger_16(), FakeCentral(), LocalListStep(clock=lambda: T0)
    await step.run(context(before, sim, central))
    sim.calls.clear()
    result = await step.run(context(after, sim, central))
    assert result.synced
    assert [u.full for u in sent(sim)] == [True]


async def test_what_the_charger_holds_survives_a_restart(build: Build) -> None:
    before, after, changed = _edited(build, rising=True)
    sim, central = charger_16(), FakeCentral()
    await LocalListStep(clock=lambda: T0).run(context(before, sim, central))
    sim.calls.clear()
    restarted = LocalListStep(clock=lambda: T0)  # a new process: only the store remembers
    result = await restarted.run(context(after, sim, FakeCentral(central.store)))
    assert result.synced
    assert [(u.full, u.entries) for u in sent(sim)] == [(False, (changed,))]


async def test_without_a_record_a_changed_list_goes_in_full(build: Build) -> None:
    before, after, _ = _edited(build, rising=True)
    sim = charger_16()
    await LocalListStep(clock=lambda: T0).run(context(before, sim, FakeCentral()))
    sim.calls.clear()
    await LocalListStep(clock=lambda: T0).run(context(after, sim, FakeCentral()))
    assert [u.full for u in sent(sim)] == [True]


async def test_a_version_mismatch_falls_back_to_one_full_update(build: Build) -> None:
    before, after, _ = _edited(build, rising=True)
    sim, central, step = charger_16(), FakeCentral(), LocalListStep(clock=lambda: T0)
    await step.run(context(before, sim, central))
    sim.calls.clear()
    sim.respond["SendLocalList"] = in_turn(Status.VERSION_MISMATCH)
    result = await step.run(context(after, sim, central))
    assert result.synced
    assert [u.full for u in sent(sim)] == [False, True]
    assert sim.list_version == step.desired(after, "depot").version


async def test_a_refused_full_update_is_reported_and_not_resent(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim, central, step = charger_16(), FakeCentral(), LocalListStep(clock=lambda: T0)
    sim.respond["SendLocalList"] = in_turn(Status.FAILED)
    result = await step.run(context(fleet, sim, central))
    assert not result.synced and "answered Failed to a Full update" in result.message
    assert stored(central).state is KeyState.FAILED
    sim.calls.clear()
    again = await step.run(context(fleet, sim, central))
    assert again == result
    assert sim.actions() == ["GetLocalListVersion"]
    step.forget("CP-16")  # a reconnect tries again
    await step.run(context(fleet, sim, central))
    assert sim.list_version == step.desired(fleet, "depot").version


@pytest.mark.parametrize(
    "answer",
    [
        CallFailed(FailureKind.CALL_ERROR, "SendLocalList", "no", "NotSupported"),
        CallFailed(FailureKind.CALL_ERROR, "SendLocalList", "no", "NotImplemented"),
        Status.NOT_SUPPORTED,
    ],
    ids=["NotSupported", "NotImplemented", "status"],
)
async def test_a_charger_without_a_list_is_remembered_as_such(
    build: Build, answer: Status | CallFailed
) -> None:
    fleet = build(*BASE, *CARDS)
    sim, central, step = charger_16(), FakeCentral(), LocalListStep(clock=lambda: T0)
    sim.respond["SendLocalList"] = in_turn(answer)
    result = await step.run(context(fleet, sim, central))
    assert result.synced and "not supported" in result.message
    assert stored(central).state is KeyState.NOT_SUPPORTED
    sim.calls.clear()
    assert await step.run(context(fleet, sim, central)) == result
    assert sim.actions() == []
    step.forget("CP-16")
    await step.run(context(fleet, sim, central))
    assert sim.list_version == step.desired(fleet, "depot").version


async def test_version_minus_one_means_no_list_support(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim, central, step = charger_16(list_version=-1), FakeCentral(), LocalListStep(clock=lambda: T0)
    result = await step.run(context(fleet, sim, central))
    assert result.synced and "version -1" in result.message
    assert sent(sim) == []


async def test_a_201_charger_that_says_it_has_no_list_gets_none(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim = FakeCharger("CP-201", configuration={"LocalAuthListCtrlr.Available": "false"})
    result = await LocalListStep(clock=lambda: T0).run(context(fleet, sim, FakeCentral()))
    assert result.synced and "LocalAuthListCtrlr.Available is false" in result.message
    assert sent(sim) == []


@pytest.mark.parametrize(
    ("identity", "key"),
    [("CP-16", "SendLocalListMaxLength"), ("CP-201", "LocalAuthListCtrlr.ItemsPerMessage")],
)
async def test_a_long_list_is_sent_in_parts_the_charger_takes(
    build: Build, identity: str, key: str
) -> None:
    fleet = build(*BASE, *CARDS)
    sim = FakeCharger(identity, per_message=3, configuration={key: "3"})
    step = LocalListStep(clock=lambda: T0)
    result = await step.run(context(fleet, sim, FakeCentral()))
    desired = step.desired(fleet, "depot")
    assert result.synced and "in 2 messages" in result.message
    assert [(u.version, u.full, len(u.entries)) for u in sent(sim)] == [
        (desired.version - 1, True, 3),
        (desired.version, False, 1),
    ]
    assert sim.list_version == desired.version and len(sim.list_entries) == 4
    assert sim.actions().count("GetConfiguration") == 1


async def test_limits_already_reported_are_not_asked_again(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim = charger_16(per_message=2)
    reported = [
        ReportedKey("SendLocalListMaxLength", "2"),
        ReportedKey("LocalAuthListMaxLength", "9"),
    ]
    result = await LocalListStep(clock=lambda: T0).run(context(fleet, sim, FakeCentral(), reported))
    assert result.synced and "GetConfiguration" not in sim.actions()
    assert len(sent(sim)) == 2


async def test_an_interrupted_transfer_is_completed_differentially(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim = charger_16(per_message=1, configuration={"SendLocalListMaxLength": "1"})
    central, step = FakeCentral(), LocalListStep(clock=lambda: T0)
    sends = 0

    async def dropped_at_the_third_part(awaitable: Awaitable[T]) -> T:
        nonlocal sends
        if "send_local_list" in getattr(awaitable, "__qualname__", ""):
            sends += 1
            if sends == 3:
                cast(Coroutine[Any, Any, T], awaitable).close()
                raise ConnectionResetError("the charger went away")
        return await awaitable

    with pytest.raises(ConnectionResetError):
        await step.run(replace(context(fleet, sim, central), call=dropped_at_the_third_part))
    desired = step.desired(fleet, "depot")
    assert sim.list_version == desired.version - 2 and len(sim.list_entries) == 2
    assert stored(central).state is KeyState.PENDING
    sim.calls.clear()
    result = await step.run(context(fleet, sim, central))
    assert result.synced
    assert [(u.version, u.full) for u in sent(sim)] == [
        (desired.version - 1, False),
        (desired.version, False),
    ]
    assert sim.list_version == desired.version and len(sim.list_entries) == 4


async def test_a_list_longer_than_the_charger_keeps_is_refused_before_sending(
    build: Build,
) -> None:
    fleet = build(*BASE, *CARDS)
    sim = charger_16(configuration={"LocalAuthListMaxLength": "3"})
    result = await LocalListStep(clock=lambda: T0).run(context(fleet, sim, FakeCentral()))
    assert not result.synced
    assert "4 cards are accepted at depot, the charger keeps at most 3" in result.message
    assert sent(sim) == []


async def test_an_update_accepted_but_not_reported_is_not_done(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    sim, step = charger_16(), LocalListStep(clock=lambda: T0)
    sim.respond["SendLocalList"] = in_turn(Status.ACCEPTED)  # says Accepted, keeps version 0
    result = await step.run(context(fleet, sim, FakeCentral()))
    assert not result.synced and "but the charger reports version 0" in result.message


@pytest.mark.parametrize(
    ("identity", "version"), [("CP-16", "1.6"), ("CP-201", "2.0.1")], ids=["1.6", "2.0.1"]
)
async def test_a_list_declared_disabled_is_left_alone(
    build: Build, identity: str, version: str
) -> None:
    disabled = charger(identity.lower(), version, "localAuthListEnabled: false")
    fleet = build(*[disabled if identity.lower() in d else d for d in BASE], *CARDS)
    sim = FakeCharger(identity)
    result = await LocalListStep(clock=lambda: T0).run(context(fleet, sim, FakeCentral()))
    assert result.synced and sim.actions() == []


async def test_a_list_declared_enabled_is_sent(build: Build) -> None:
    enabled = charger("cp-16", "1.6", "localAuthListEnabled: true")
    fleet = build(*[enabled if "cp-16" in d else d for d in BASE], *CARDS)
    sim = charger_16()
    await LocalListStep(clock=lambda: T0).run(context(fleet, sim, FakeCentral()))
    assert len(sim.list_entries) == 4


async def test_the_desired_list_is_computed_once_per_fleet_until_a_card_expires(
    build: Build,
) -> None:
    fleet = build(*BASE, *CARDS)
    now = [T0]
    step = LocalListStep(clock=lambda: now[0])
    first = step.desired(fleet, "depot")
    assert step.desired(fleet, "depot") is first
    now[0] = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(seconds=1)  # alice expired
    assert step.desired(fleet, "depot").version != first.version
