"""The local list step: the list's content and version (pure), and one pass against a fake charger.

The fleets are real YAML, loaded the way `serve` loads them; the charger is a fake that keeps a
list as OCPP says a charger does (a Differential update must raise the version) and logs every
call, so each test can say exactly what went over the wire.
"""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from controller.converge.base import PassContext
from controller.converge.locallist import (
    LOCAL_LIST_KEY,
    VERSION_FLOOR,
    VERSION_LIMIT,
    DesiredList,
    ListUpdate,
    LocalListStep,
    apply_update,
    desired_list,
    list_changes,
    list_entries,
    plan_updates,
)
from controller.fleet.loading import load_paths
from controller.fleet.model import Fleet, resolve_charger
from controller.ocpp.central import CentralSystem
from controller.resources import Card
from controller.values.commands import (
    AuthListStatus,
    ChargerCommands,
    LocalListEntry,
    Status,
)
from controller.values.errors import CallFailed, FailureKind
from controller.values.records import ChargerRecord, KeyState, KeyStatus, ReportedKey
from tests.fakes import FakeCentral, FakeCharger, in_turn

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEADER = "apiVersion: chargectl.io/v1alpha1\n"

T = TypeVar("T")


def doc(kind: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n"


def card(name: str, id_tag: str, extra: str = "", team: str = "ops") -> str:
    return doc("Card", name, f"idTag: {id_tag}\nteam: {team}\n{textwrap.dedent(extra)}")


def charger(name: str, version: str = "1.6", settings: str = "") -> str:
    spec = (
        f'location: depot\nocppVersion: "{version}"\nocppIdentity: {name.upper()}\n'
        "connectors: [{id: 1, type: Type2, maxCurrent: 32}]\n"
    )
    if settings:
        spec += "settings:\n" + textwrap.indent(textwrap.dedent(settings), "  ")
    return doc("Charger", name, spec)


BASE = [
    doc("Team", "ops", "displayName: Ops\nhandle: ops"),
    doc("Team", "guests", "displayName: Guests\nhandle: guests"),
    doc("Location", "depot", "team: ops\ndisplayName: Depot\nacceptedCards: {teams: [ops]}"),
    charger("cp-16"),
    charger("cp-201", "2.0.1"),
]

CARDS = [
    card("alice", "AA01", "parentIdTag: FLEET\nexpiresAt: 2027-01-01T00:00:00Z"),
    card("bob", "BB02"),
    card("carol", "CC03", "status: Blocked"),
    card("dave", "DD04", "expiresAt: 2026-01-01T00:00:00+01:00"),
    card("guest", "EE05", team="guests"),  # not accepted at the depot
]

Build = Callable[..., Fleet]


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """A fleet from YAML documents, in a fresh directory each time."""
    counter = iter(range(1000))

    def build(*documents: str) -> Fleet:
        root = tmp_path / f"fleet-{next(counter)}"
        root.mkdir()
        for i, text in enumerate(documents):
            (root / f"{i:02d}.yaml").write_text(text, encoding="utf-8")
        loaded = load_paths([root])
        assert loaded.problems == ()
        fleet, problems = Fleet.build(loaded.resources)
        assert problems == []
        return fleet

    return build


def cards_of(fleet: Fleet) -> list[Card]:
    return [c.resource for c in fleet.cards_accepted_at("depot")]


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


# --- the list and its version (pure) ----------------------------------------------------------


def test_entries_are_what_authorize_answers_sorted_by_id_tag(build: Build) -> None:
    fleet = build(*BASE, *CARDS)
    entries = list_entries(cards_of(fleet), T0)
    assert entries == (
        LocalListEntry("AA01", AuthListStatus.ACCEPTED, datetime(2027, 1, 1, tzinfo=UTC), "FLEET"),
        LocalListEntry("BB02", AuthListStatus.ACCEPTED),
        LocalListEntry("CC03", AuthListStatus.BLOCKED),
        LocalListEntry("DD04", AuthListStatus.EXPIRED, datetime(2025, 12, 31, 23, tzinfo=UTC)),
    )


def test_the_version_is_stable_and_positive(build: Build) -> None:
    one = desired_list(cards_of(build(*BASE, *CARDS)), T0)
    again = desired_list(cards_of(build(*BASE, *reversed(CARDS))), T0)
    assert one == again
    assert VERSION_FLOOR <= one.version < VERSION_LIMIT
    empty = desired_list([], T0)
    assert empty.entries == () and empty.version > 0


@pytest.mark.parametrize(
    "edited",
    [
        card("bob", "BB02", "status: Blocked"),
        card("bob", "BB02", "expiresAt: 2027-06-01T00:00:00Z"),
        card("bob", "BB02", "parentIdTag: FLEET"),
        card("bob", "BB03"),
        card("bob", "BB02", team="guests"),  # no longer accepted at the depot
    ],
    ids=["blocked", "expiry", "parent", "id-tag", "removed"],
)
def test_any_change_of_content_changes_the_version(build: Build, edited: str) -> None:
    before = desired_list(cards_of(build(*BASE, *CARDS)), T0)
    cards = [edited if "name: bob\n" in c else c for c in CARDS]
    after = desired_list(cards_of(build(*BASE, *cards)), T0)
    assert after.version != before.version


def test_a_card_that_expires_changes_the_list_when_it_expires(build: Build) -> None:
    cards = cards_of(build(*BASE, *CARDS))
    before = desired_list(cards, T0)
    after = desired_list(cards, datetime(2027, 1, 1, tzinfo=UTC))
    assert after.version != before.version
    assert after.entries[0].status is AuthListStatus.EXPIRED


def test_changes_carry_new_and_changed_entries_and_removals() -> None:
    held = (entry("A"), entry("B"), entry("C"))
    desired = (entry("A"), entry("B", AuthListStatus.BLOCKED), entry("D"))
    changes = list_changes(held, desired)
    assert changes == (entry("B", AuthListStatus.BLOCKED), entry("C", None), entry("D"))
    update = ListUpdate(VERSION_FLOOR, changes, full=False)
    assert apply_update(held, update) == desired


def test_in_sync_needs_nothing_and_an_empty_list_is_in_sync_at_zero() -> None:
    desired = DesiredList(VERSION_FLOOR + 5, (entry("A"),))
    assert plan_updates(VERSION_FLOOR + 5, None, desired, None) == ()
    assert plan_updates(0, (), DesiredList(VERSION_FLOOR + 7, ()), None) == ()


def test_a_known_list_gets_a_differential_update_when_the_version_rises() -> None:
    held = tuple(entry(t) for t in "ABCD")
    desired = DesiredList(2_000_000, (entry("A"), entry("B", AuthListStatus.BLOCKED), *held[2:]))
    updates = plan_updates(1_000_000, held, desired, None)
    assert updates == (ListUpdate(2_000_000, (entry("B", AuthListStatus.BLOCKED),), False),)


def test_a_full_update_when_the_differential_would_be_refused_or_is_unknown() -> None:
    held = tuple(entry(t) for t in "ABCD")
    desired = DesiredList(1_000_000, (entry("A"), entry("B", AuthListStatus.BLOCKED), *held[2:]))
    full = (ListUpdate(1_000_000, desired.entries, True),)
    assert plan_updates(2_000_000, held, desired, None) == full  # lower version: VersionMismatch
    assert plan_updates(500_000, None, desired, None) == full  # what it holds is unknown
    assert plan_updates(0, (), desired, None) == full  # no list yet
    everything = DesiredList(2_000_000, tuple(entry(t) for t in "WXYZ"))
    assert plan_updates(1_000_000, held, everything, None)[0].full  # no shorter than the list


def test_a_long_list_goes_as_a_full_first_part_then_differential_parts() -> None:
    desired = DesiredList(1_000_000, tuple(entry(t) for t in "ABCDE"))
    updates = plan_updates(0, None, desired, 2)
    assert updates == (
        ListUpdate(999_998, (entry("A"), entry("B")), True),
        ListUpdate(999_999, (entry("C"), entry("D")), False),
        ListUpdate(1_000_000, (entry("E"),), False),
    )
    held: tuple[LocalListEntry, ...] = ()
    for update in updates:
        held = apply_update(held, update)
    assert held == desired.entries


def test_a_long_differential_needs_room_for_its_parts_above_the_charger_version() -> None:
    held = tuple(entry(t) for t in "ABCDEFGHIJ")
    desired = DesiredList(1_000_000, (*held[:7], entry("X"), entry("Y"), entry("Z")))
    parts = plan_updates(999_997, held, desired, 2)  # 6 changes: X, Y, Z in, H, I, J out
    assert [(u.version, u.full, len(u.entries)) for u in parts] == [
        (999_998, False, 2),
        (999_999, False, 2),
        (1_000_000, False, 2),
    ]
    assert plan_updates(999_998, held, desired, 2)[0].full


def test_an_empty_list_is_one_full_update_without_entries() -> None:
    desired = DesiredList(1_000_000, ())
    assert plan_updates(1234567, None, desired, 10) == (ListUpdate(1_000_000, (), True),)


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
