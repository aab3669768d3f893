"""Who is asking, and what they may see in the web view and the JSON API.

The web view sits behind a proxy that authenticates people (e.g. oauth2-proxy) and passes who
they are in a trusted header, believed only from a configured proxy (`app`'s gate). Every
handler turns the requester into a `Scope` with `scope_for` and asks for documents cut to it.

- A person belongs to a Team when the Team lists them in `spec.teammates` (e-mail compared
  case-insensitively), or when their e-mail's domain is one of its `spec.autoEnroll` domains.
  Domains match exactly, case-insensitively: `ann@fleet.example.com` does not join a team that
  enrols `example.com` (a subdomain is often another organisation's, or anyone's mailbox host;
  a team that wants it lists it too).
- A teammate sees the locations their teams own (`Location.spec.team`) and those that list one
  of their teams in `spec.members`; a charger follows its location, a pending charger the
  location URL it came through. Cards: those their teams own, and those accepted at a location
  they see (by name, selector or team, as the fleet resolves them for the chargers).
- Someone the proxy names who is in no team is not `known`: they see nothing, and the view
  says so (a page, a 403 from the API).
- No requester (a peer on loopback with no proxy in between) is the local single user: `local`,
  sees everything, pending chargers included.

Scopes are computed once per (fleet, requester) and kept in a small LRU: the fleet is an
immutable value replaced on reload, so a scope computed from it stays right as long as it is
the fleet in force, and a request costs a dictionary lookup, not a walk over the fleet.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from controller.fleet.model import Fleet
from controller.resources.team import TeamRole

IDENTITY_HEADER = "X-Forwarded-Email"
"""The header oauth2-proxy sets (with `--pass-user-headers`) to the signed-in person's e-mail."""

ROLE_ORDER: tuple[TeamRole, ...] = (TeamRole.OWNER, TeamRole.ADMIN, TeamRole.VIEWER)
"""A requester's teams are listed strongest role first (then by name): the first one brands
the view."""

SCOPE_CACHE_SIZE = 1024
"""Scopes kept: people active at once, times the fleets of the last reloads."""

DIRECTORY_CACHE_SIZE = 4
"""Fleets whose indexes are kept (the one in force, and those requests in flight still read)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one requester may see.

    `locations` None means every location and every pending charger; a set means those
    locations, their chargers and the pending chargers that came through their URLs. `cards`
    None means every card; a set means those cards. `teams` are the requester's teams, strongest
    role first; `team` the one whose branding the view shows (in local mode, the team that owns
    the most locations). `known` False: someone the proxy named who is in no team (sees
    nothing). `local`: the single user on loopback, with no proxy naming anyone.

    `Scope(requester)` alone sees everything: what a caller already allowed to (the admin
    channel, with its token) asks for.
    """

    requester: str | None
    locations: frozenset[str] | None = None
    cards: frozenset[str] | None = None
    teams: tuple[str, ...] = ()
    team: str | None = None
    local: bool = False
    known: bool = True

    def sees_location(self, location: str | None) -> bool:
        """Whether the location (a pending charger's: the one it came through) is covered;
        None (a charger that came through no location) only when everything is."""
        if self.locations is None:
            return True
        return location is not None and location in self.locations

    def sees_card(self, card: str) -> bool:
        return self.cards is None or card in self.cards

    def sees_team(self, team: str) -> bool:
        """Whether `team` is one of the requester's (every team, when everything is seen)."""
        return self.sees_everything or team in self.teams

    @property
    def sees_everything(self) -> bool:
        return self.locations is None and self.cards is None


NOBODY = frozenset[str]()


def scope_for(requester: str | None, fleet: Fleet) -> Scope:
    """The scope of the person the identity header names, or of the local user (None).

    Cached per (fleet, requester); see the module's docstring for who sees what.
    """
    key = (id(fleet), requester)
    with _lock:
        cached = _scopes.get(key)
        if cached is not None and cached[0]() is fleet:
            _scopes.move_to_end(key)
            return cached[1]
    scope = _compute(requester, _directory(fleet), fleet)
    with _lock:
        _scopes[key] = (weakref.ref(fleet), scope)
        _scopes.move_to_end(key)
        while len(_scopes) > SCOPE_CACHE_SIZE:
            _scopes.popitem(last=False)
    return scope


def _compute(requester: str | None, directory: _Directory, fleet: Fleet) -> Scope:
    if requester is None:
        return Scope(requester=None, team=directory.main_team, local=True)
    roles: dict[str, int] = {}
    email = requester.strip().lower()
    _, at, domain = email.rpartition("@")
    joined = directory.by_email.get(email, ())
    if at:
        joined = (*joined, *directory.by_domain.get(domain, ()))
    for team, rank in joined:
        roles[team] = min(rank, roles.get(team, rank))
    if not roles:
        return Scope(requester=requester, locations=NOBODY, cards=NOBODY, known=False)
    teams = tuple(sorted(roles, key=lambda team: (roles[team], team)))
    locations = frozenset(
        location for team in teams for location in directory.locations_of.get(team, ())
    )
    cards = set[str]()
    for team in teams:
        cards.update(directory.cards_of.get(team, ()))
    for location in locations:
        cards.update(card.name for card in fleet.cards_accepted_at(location))
    return Scope(
        requester=requester,
        locations=locations,
        cards=frozenset(cards),
        teams=teams,
        team=teams[0],
    )


# --- per-fleet indexes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Directory:
    """Who is in which team, and what each team reaches, for one fleet (built once per fleet)."""

    by_email: dict[str, tuple[tuple[str, int], ...]]
    """Lower-cased e-mail → (team, role rank) for each team listing it as a teammate."""
    by_domain: dict[str, tuple[tuple[str, int], ...]]
    """Lower-cased domain → (team, role rank) for each team enrolling it."""
    locations_of: dict[str, frozenset[str]]
    """Team → the locations it owns or is a member of."""
    cards_of: dict[str, frozenset[str]]
    """Team → the cards it owns."""
    main_team: str | None
    """The team owning the most locations (ties by name): the local user's branding."""


def _directory(fleet: Fleet) -> _Directory:
    key = id(fleet)
    with _lock:
        cached = _directories.get(key)
        if cached is not None and cached[0]() is fleet:
            _directories.move_to_end(key)
            return cached[1]
    directory = _index(fleet)
    with _lock:
        _directories[key] = (weakref.ref(fleet), directory)
        while len(_directories) > DIRECTORY_CACHE_SIZE:
            _directories.popitem(last=False)
    return directory


def _index(fleet: Fleet) -> _Directory:
    by_email: dict[str, list[tuple[str, int]]] = {}
    by_domain: dict[str, list[tuple[str, int]]] = {}
    for name, team in fleet.teams.items():
        spec = team.resource.spec
        for teammate in spec.teammates:
            by_email.setdefault(teammate.email.lower(), []).append((name, _rank(teammate.role)))
        for enrol in spec.auto_enroll:
            by_domain.setdefault(enrol.domain.lower(), []).append((name, _rank(enrol.role)))
    reach: dict[str, set[str]] = {}
    owned: dict[str, int] = dict.fromkeys(fleet.teams, 0)
    for name, location in fleet.locations.items():
        owner = location.resource.spec.team
        owned[owner] = owned.get(owner, 0) + 1
        reach.setdefault(owner, set()).add(name)
        for member in location.resource.spec.members:
            reach.setdefault(member.team, set()).add(name)
    cards: dict[str, set[str]] = {}
    for name, card in fleet.cards.items():
        cards.setdefault(card.resource.spec.team, set()).add(name)
    return _Directory(
        by_email=_frozen(by_email),
        by_domain=_frozen(by_domain),
        locations_of={team: frozenset(names) for team, names in reach.items()},
        cards_of={team: frozenset(names) for team, names in cards.items()},
        main_team=min(owned, key=lambda team: (-owned[team], team)) if owned else None,
    )


def _rank(role: TeamRole) -> int:
    return ROLE_ORDER.index(role)


def _frozen(
    index: dict[str, list[tuple[str, int]]],
) -> dict[str, tuple[tuple[str, int], ...]]:
    return {key: tuple(values) for key, values in index.items()}


_lock = threading.Lock()
_scopes: OrderedDict[tuple[int, str | None], tuple[weakref.ref[Fleet], Scope]] = OrderedDict()
_directories: OrderedDict[int, tuple[weakref.ref[Fleet], _Directory]] = OrderedDict()
