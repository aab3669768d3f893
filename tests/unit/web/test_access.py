"""Who sees what: `scope_for` over a small fleet of three teams, loaded from real YAML.

alpha owns a-depot and a-yard (beta is a member of a-yard); beta owns b-depot, which accepts
one of alpha's cards by name and gamma's card `labelled` by selector; gamma owns nothing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from controller.fleet.model import Fleet
from controller.web.access import Scope, scope_for
from tests.unit.cards import HEADER, Build, fleet_builder


def doc(kind: str, name: str, spec: str, labels: str = "") -> str:
    meta = f"metadata:\n  name: {name}\n" + (f"  labels: {labels}\n" if labels else "")
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\n{meta}spec:\n{body}\n"


def team(name: str, extra: str = "") -> str:
    return doc("Team", name, f"displayName: {name.title()}\nhandle: {name}\n{extra}")


def location(name: str, owner: str, extra: str = "") -> str:
    return doc("Location", name, f"team: {owner}\ndisplayName: {name}\n{extra}")


def charger(name: str, at: str) -> str:
    spec = (
        f'location: {at}\nocppVersion: "1.6"\nconnectors: [{{id: 1, type: Type2, maxCurrent: 32}}]'
    )
    return doc("Charger", name, spec)


def card(name: str, owner: str, labels: str = "") -> str:
    return doc("Card", name, f"idTag: {name.upper()}\nteam: {owner}", labels)


ALPHA = team(
    "alpha",
    "teammates: [{email: Ann@Alpha.example, role: Viewer}]\nautoEnroll: [{domain: alpha.example}]",
)
BETA = team(
    "beta",
    "teammates: [{email: bob@beta.example, role: Owner}]\n"
    "autoEnroll: [{domain: beta.example, role: Viewer}]",
)
GAMMA = team(
    "gamma",
    "teammates: [{email: bob@beta.example, role: Admin}, {email: zed@alpha.example, role: Owner}]",
)
FLEET = [
    ALPHA,
    BETA,
    GAMMA,
    location("a-depot", "alpha", "acceptedCards: {teams: [alpha]}"),
    location("a-yard", "alpha", "members: [{team: beta}]\nacceptedCards: {teams: [alpha]}"),
    location(
        "b-depot",
        "beta",
        "acceptedCards: {names: [a-named], selector: {matchLabels: {fleet: b}}}",
    ),
    charger("cp-a1", "a-depot"),
    charger("cp-a2", "a-yard"),
    charger("cp-b1", "b-depot"),
    card("a-card", "alpha"),
    card("a-named", "alpha"),
    card("b-card", "beta"),
    card("labelled", "gamma", "{fleet: b}"),
    card("g-card", "gamma"),
]


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return fleet_builder(tmp_path)


@pytest.fixture
def fleet(build: Build) -> Fleet:
    return build(*FLEET)


def visible(scope: Scope, fleet: Fleet) -> set[str]:
    return {name for name in fleet.locations if scope.sees_location(name)}


def cards(scope: Scope, fleet: Fleet) -> set[str]:
    return {name for name in fleet.cards if scope.sees_card(name)}


# --- teammates and their locations -------------------------------------------------------------


def test_a_teammate_sees_the_locations_their_team_owns_and_nothing_else(fleet: Fleet) -> None:
    scope = scope_for("ann@alpha.example", fleet)
    assert scope.known and not scope.local and not scope.sees_everything
    assert scope.teams == ("alpha",)
    assert visible(scope, fleet) == {"a-depot", "a-yard"}


def test_a_member_team_sees_the_location_that_lists_it_but_not_its_owners_others(
    fleet: Fleet,
) -> None:
    scope = scope_for("bob@beta.example", fleet)
    assert visible(scope, fleet) == {"a-yard", "b-depot"}


def test_teammate_e_mails_compare_without_case(fleet: Fleet) -> None:
    assert scope_for("ANN@alpha.EXAMPLE", fleet).teams == ("alpha",)


def test_an_address_in_an_auto_enrolled_domain_joins_the_team(fleet: Fleet) -> None:
    scope = scope_for("carol@ALPHA.example", fleet)
    assert scope.teams == ("alpha",)
    assert visible(scope, fleet) == {"a-depot", "a-yard"}


def test_a_subdomain_of_an_auto_enrolled_domain_does_not_join(fleet: Fleet) -> None:
    assert not scope_for("dave@eu.alpha.example", fleet).known


def test_a_pending_charger_that_came_through_no_location_is_hidden_from_teammates(
    fleet: Fleet,
) -> None:
    assert not scope_for("ann@alpha.example", fleet).sees_location(None)


def test_a_teammate_of_a_team_that_owns_nothing_is_known_but_sees_no_location(
    build: Build,
) -> None:
    fleet = build(*FLEET, team("delta", "teammates: [{email: dee@delta.example, role: Owner}]"))
    scope = scope_for("dee@delta.example", fleet)
    assert scope.known and scope.team == "delta"
    assert visible(scope, fleet) == set() and cards(scope, fleet) == set()


# --- cards -------------------------------------------------------------------------------------


def test_a_teammate_sees_their_teams_cards_and_those_accepted_where_they_see(
    fleet: Fleet,
) -> None:
    # beta's own card; a-named by name and labelled by selector at b-depot; alpha's cards by
    # team at a-yard, where beta is a member. gamma's g-card is bob's through gamma.
    assert cards(scope_for("bob@beta.example", fleet), fleet) == {
        "b-card",
        "a-named",
        "labelled",
        "a-card",
        "g-card",
    }


def test_cards_accepted_only_at_locations_out_of_scope_are_hidden(fleet: Fleet) -> None:
    assert cards(scope_for("ann@alpha.example", fleet), fleet) == {"a-card", "a-named"}


# --- unknown people and the local user ---------------------------------------------------------


def test_someone_in_no_team_is_unknown_and_sees_nothing(fleet: Fleet) -> None:
    scope = scope_for("eve@elsewhere.example", fleet)
    assert not scope.known and not scope.local and scope.requester == "eve@elsewhere.example"
    assert visible(scope, fleet) == set() and cards(scope, fleet) == set()
    assert scope.teams == () and scope.team is None and not scope.sees_team("alpha")


def test_the_local_user_sees_everything_and_is_said_to_be_local(fleet: Fleet) -> None:
    scope = scope_for(None, fleet)
    assert scope.local and scope.known and scope.sees_everything and scope.requester is None
    assert visible(scope, fleet) == set(fleet.locations)
    assert cards(scope, fleet) == set(fleet.cards)
    assert scope.sees_location(None)  # pending chargers that came through no location
    assert scope.sees_team("gamma")


# --- the viewing team --------------------------------------------------------------------------


def test_the_viewing_team_is_the_one_where_the_requester_has_the_strongest_role(
    fleet: Fleet,
) -> None:
    # zed is Owner in gamma and a Viewer of alpha by domain: gamma first, though alpha sorts first.
    scope = scope_for("zed@alpha.example", fleet)
    assert scope.teams == ("gamma", "alpha") and scope.team == "gamma"
    assert scope.sees_team("alpha") and not scope.sees_team("beta")


def test_teams_with_the_same_role_are_in_name_order(build: Build) -> None:
    fleet = build(
        team("zulu", "teammates: [{email: pat@example.com, role: Admin}]"),
        team("mike", "teammates: [{email: pat@example.com, role: Admin}]"),
    )
    assert scope_for("pat@example.com", fleet).teams == ("mike", "zulu")


def test_the_local_users_team_owns_the_most_locations(fleet: Fleet) -> None:
    assert scope_for(None, fleet).team == "alpha"


def test_the_local_users_team_among_equals_is_the_first_by_name(build: Build) -> None:
    fleet = build(
        team("zulu"),
        team("mike"),
        location("z1", "zulu"),
        location("m1", "mike"),
    )
    assert scope_for(None, fleet).team == "mike"


def test_an_empty_fleet_has_no_viewing_team() -> None:
    assert scope_for(None, Fleet()).team is None


# --- reloads -----------------------------------------------------------------------------------


def test_a_reloaded_fleet_changes_what_the_same_person_sees(build: Build) -> None:
    before = build(*FLEET)
    assert visible(scope_for("ann@alpha.example", before), before) == {"a-depot", "a-yard"}
    after = build(*FLEET[:3], *FLEET[4:], location("a-depot", "beta"))
    assert visible(scope_for("ann@alpha.example", after), after) == {"a-yard"}


def test_the_same_person_on_the_same_fleet_gets_the_same_scope_without_recomputing(
    fleet: Fleet,
) -> None:
    assert scope_for("ann@alpha.example", fleet) is scope_for("ann@alpha.example", fleet)


def test_a_scope_made_by_hand_sees_everything_as_before(fleet: Fleet) -> None:
    # What the admin channel does for a caller its token already allowed.
    scope = Scope("token:ops")
    assert scope.sees_everything and scope.known and scope.sees_location("b-depot")
    assert scope.sees_card("g-card") and not scope.local
