"""The local list as values: its entries, its version, and the updates that bring a charger's
list there (full, differential, in parts). Pure: fleets from YAML, no charger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.planning.locallist import (
    VERSION_FLOOR,
    VERSION_LIMIT,
    DesiredList,
    ListUpdate,
    apply_update,
    desired_list,
    list_changes,
    list_entries,
    plan_updates,
)
from controller.values.commands import AuthListStatus, LocalListEntry
from tests.unit.cards import BASE, CARDS, Build, card, cards_of, fleet_builder

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return fleet_builder(tmp_path)


def entry(tag: str, status: AuthListStatus | None = AuthListStatus.ACCEPTED) -> LocalListEntry:
    return LocalListEntry(tag, status)


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
