"""Search, on every page: chargers, locations and cards whose names contain what was typed.

`/search?q=` is a page of results, grouped by kind; `/search.json?q=` the same results for the
header's dropdown (`static/search.js`), with the labels already in the viewer's language. Both
are cut to the viewer's scope: a charger or location they may not see is not found, and a card
only when `Scope.sees_card` allows it — exactly as if it did not exist.

What is matched, case-insensitively, anywhere in the text:
- chargers: name, OCPP identity, the serial number the spec expects and the one the charger
  reported at boot (pending chargers by identity and reported serial);
- locations: name and display name;
- cards: id tag, holder's name and e-mail, card name.

A match of a whole field comes first, then one at its start, then anywhere; each group shows at
most `LIMIT` and says how many more there are. A card has no page of its own: its result links
to the search for its id tag, where the results page shows it in full (holder, status, expiry,
and the locations the viewer sees that accept it, each a link).

It must stay fast with 10,000 chargers: the fleet's side is indexed once per fleet (the fleet
is an immutable value, replaced on reload), and the serials the chargers reported come from one
store query, kept for `SERIALS_TTL` seconds and refreshed in the background while the previous
answer is served.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from controller.fleet.model import Fleet
from controller.store.base import Store
from controller.web.access import Scope
from controller.web.responses import json_response
from controller.web.view import i18n
from controller.web.view.prefs import prefs_of
from controller.web.view.site import View

LIMIT = 10
"""Results shown per group (the dropdown and the page alike)."""

MAX_QUERY = 100
"""Longer queries are cut: nothing in the fleet has a name that long."""

SERIALS_TTL = 30.0
"""Seconds the reported serials are used before being read again (a new boot shows up late
by at most this much)."""


class Kind(StrEnum):
    CHARGER = "charger"
    LOCATION = "location"
    CARD = "card"


@dataclass(frozen=True, slots=True)
class Entry:
    """Something that can be found, with the texts it is found by (lower-cased)."""

    kind: Kind
    name: str
    label: str
    """What the result shows first (a charger's name, a location's display name, a holder)."""
    detail: str
    """What it shows after (identity and location, the location's name, the id tag)."""
    texts: tuple[str, ...]
    location: str | None = None
    """A charger's location (a pending charger's: the one it came through), for the scope."""
    place: str = ""
    """A charger's location as people call it (its display name)."""
    pending: bool = False
    """A charger not in the fleet that connected (shown so, and accepted by nobody)."""


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    href: str
    rank: int
    serial: str | None = None
    """A charger's reported serial, when it is what matched."""


@dataclass(frozen=True, slots=True)
class Group:
    kind: Kind
    hits: tuple[Hit, ...]
    total: int
    """How many matched in all (at most LIMIT are in `hits`)."""


@dataclass(frozen=True, slots=True)
class Results:
    query: str
    groups: tuple[Group, ...]

    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)


# --- the fleet's side: indexed once per fleet --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Index:
    chargers: tuple[Entry, ...]
    locations: tuple[Entry, ...]
    cards: tuple[Entry, ...]
    identities: frozenset[str]
    """Lower-cased identities of the declared chargers (a pending one is not declared)."""
    accepted_at: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Card → the locations that accept it, by name (filled on first use: see `accepting`)."""


def _build(fleet: Fleet) -> _Index:
    chargers = []
    for name, loaded in sorted(fleet.chargers.items()):
        resource = loaded.resource
        spec = resource.spec
        expected = spec.expected.serial_number if spec.expected is not None else None
        place = fleet.locations.get(spec.location)
        where = place.resource.spec.display_name if place is not None else spec.location
        texts = [name.lower(), resource.identity.lower()]
        if expected:
            texts.append(expected.lower())
        chargers.append(
            Entry(
                Kind.CHARGER,
                name,
                name,
                resource.identity,
                tuple(texts),
                spec.location,
                where,
            )
        )
    locations = [
        Entry(
            Kind.LOCATION,
            name,
            loaded.resource.spec.display_name,
            name,
            (name.lower(), loaded.resource.spec.display_name.lower()),
            name,
        )
        for name, loaded in sorted(fleet.locations.items())
    ]
    cards = []
    for name, card in sorted(fleet.cards.items()):
        held = card.resource.spec
        holder = held.holder
        texts = [held.id_tag.lower(), name.lower()]
        if holder is not None:
            texts.append(holder.name.lower())
            if holder.email:
                texts.append(str(holder.email).lower())
        cards.append(
            Entry(
                Kind.CARD,
                name,
                holder.name if holder is not None else name,
                held.id_tag,
                tuple(texts),
            )
        )
    return _Index(
        tuple(chargers),
        tuple(locations),
        tuple(cards),
        frozenset(loaded.resource.identity.lower() for loaded in fleet.chargers.values()),
    )


_indexes: dict[int, tuple[weakref.ref[Fleet], _Index]] = {}


def index_of(fleet: Fleet) -> _Index:
    cached = _indexes.get(id(fleet))
    if cached is not None and cached[0]() is fleet:
        return cached[1]
    built = _build(fleet)
    if len(_indexes) >= 4:  # the fleet in force and those requests in flight still read
        _indexes.clear()
    _indexes[id(fleet)] = (weakref.ref(fleet), built)
    return built


def accepting(fleet: Fleet, card: str) -> tuple[str, ...]:
    """The locations that accept `card` (by name, selector or team), by name."""
    index = index_of(fleet)
    if not index.accepted_at and fleet.cards:
        by_card: dict[str, list[str]] = {}
        for location in sorted(fleet.locations):
            for accepted in fleet.cards_accepted_at(location):
                by_card.setdefault(accepted.name, []).append(location)
        index.accepted_at.update({name: tuple(places) for name, places in by_card.items()})
    return index.accepted_at.get(card, ())


# --- the store's side: what the chargers reported --------------------------------------------


@dataclass(frozen=True, slots=True)
class Reported:
    """A charger the store knows: its reported serial, and whether it is pending."""

    identity: str
    serial: str | None
    pending: bool
    pending_location: str | None


class Serials:
    """The store's chargers by lower-cased identity, read in one query and kept a while.

    A stale answer is served while a fresh one is read, so a search waits for the store only
    the first time (or after the store was replaced)."""

    def __init__(self, ttl: float = SERIALS_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._store: Store | None = None
        self._known: dict[str, Reported] = {}
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None

    async def of(self, store: Store) -> dict[str, Reported]:
        if store is not self._store:
            self._store, self._known, self._read_at = store, {}, float("-inf")
            self._reading = None
            await self._refresh(store)
        elif self.clock() - self._read_at > self.ttl and self._reading is None:
            self._reading = asyncio.ensure_future(self._refresh(store))
            self._reading.add_done_callback(self._done)
        return self._known

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._reading is task:
            self._reading = None
        if not task.cancelled():
            task.exception()  # a failed read is tried again next time; nothing to report twice

    async def _refresh(self, store: Store) -> None:
        records = await store.chargers()
        if store is not self._store:
            return
        self._known = {
            record.identity.lower(): Reported(
                record.identity,
                record.boot.serial_number if record.boot is not None else None,
                record.pending,
                record.pending_location,
            )
            for record in records
        }
        self._read_at = self.clock()


# --- matching ---------------------------------------------------------------------------------


def normalise(query: str) -> str:
    return " ".join(query.split())[:MAX_QUERY]


def _rank(needle: str, texts: Iterable[str]) -> int | None:
    """0: a whole text is the query; 1: one starts with it; 2: one contains it; None: no match."""
    best: int | None = None
    for text in texts:
        if text == needle:
            return 0
        if text.startswith(needle):
            best = 1
        elif best is None and needle in text:
            best = 2
    return best


def _group(kind: Kind, hits: list[Hit]) -> Group:
    hits.sort(key=lambda hit: (hit.rank, hit.entry.label.lower(), hit.entry.name))
    return Group(kind, tuple(hits[:LIMIT]), len(hits))


def search(
    fleet: Fleet, scope: Scope, query: str, reported: dict[str, Reported] | None = None
) -> Results:
    """What `query` finds that `scope` may see, grouped: chargers, locations, cards."""
    query = normalise(query)
    needle = query.lower()
    if not needle:
        return Results(query, ())
    index = index_of(fleet)
    reported = reported or {}
    chargers: list[Hit] = []
    for entry in index.chargers:
        if not scope.sees_location(entry.location):
            continue
        rank = _rank(needle, entry.texts)
        serial = None
        identity = entry.texts[1]
        known = reported.get(identity)
        if known is not None and known.serial:
            by_serial = _rank(needle, (known.serial.lower(),))
            if by_serial is not None and (rank is None or by_serial < rank):
                rank, serial = by_serial, known.serial
        if rank is not None:
            chargers.append(Hit(entry, charger_href(entry.name), rank, serial))
    for lowered, known in reported.items():
        if not known.pending or lowered in index.identities:
            continue
        if not scope.sees_location(known.pending_location):
            continue
        texts = (lowered, known.serial.lower()) if known.serial else (lowered,)
        rank = _rank(needle, texts)
        if rank is not None:
            came = known.pending_location
            place = fleet.locations.get(came) if came is not None else None
            entry = Entry(
                Kind.CHARGER,
                known.identity,
                known.identity,
                known.identity,
                texts,
                came,
                place.resource.spec.display_name if place is not None else (came or ""),
                pending=True,
            )
            chargers.append(Hit(entry, charger_href(known.identity), rank, known.serial))
    locations = [
        Hit(entry, location_href(entry.name), rank)
        for entry in index.locations
        if scope.sees_location(entry.name) and (rank := _rank(needle, entry.texts)) is not None
    ]
    cards = [
        Hit(entry, card_href(entry.detail), rank)
        for entry in index.cards
        if scope.sees_card(entry.name) and (rank := _rank(needle, entry.texts)) is not None
    ]
    groups = (
        _group(Kind.CHARGER, chargers),
        _group(Kind.LOCATION, locations),
        _group(Kind.CARD, cards),
    )
    return Results(query, tuple(group for group in groups if group.total))


def charger_href(name: str) -> str:
    return "/chargers/" + quote(name, safe="")


def location_href(name: str) -> str:
    return "/locations/" + quote(name, safe="")


def card_href(id_tag: str) -> str:
    """A card has no page: the search for its id tag shows it in full."""
    return "/search?" + urlencode({"q": id_tag})


def more_href(kind: Kind, query: str) -> str | None:
    """Where all the matches of a group are listed, when a page lists them (chargers)."""
    if kind is Kind.CHARGER:
        return "/chargers?" + urlencode({"q": query})
    return None


# --- pages --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What the results page shows of a card found: it has no page of its own."""

    name: str
    id_tag: str
    holder: str | None
    email: str | None
    team: str
    status: str
    expires_at: str | None
    locations: tuple[tuple[str, str], ...]
    """The locations the viewer sees that accept it: (name, display name), at most LIMIT."""
    more_locations: int


def card_facts(fleet: Fleet, scope: Scope, name: str) -> CardFacts | None:
    loaded = fleet.cards.get(name)
    if loaded is None:
        return None
    spec = loaded.resource.spec
    team = fleet.teams.get(spec.team)
    places = [
        (place, fleet.locations[place].resource.spec.display_name)
        for place in accepting(fleet, name)
        if scope.sees_location(place) and place in fleet.locations
    ]
    return CardFacts(
        name=name,
        id_tag=spec.id_tag,
        holder=spec.holder.name if spec.holder is not None else None,
        email=str(spec.holder.email) if spec.holder is not None and spec.holder.email else None,
        team=team.resource.spec.display_name if team is not None else spec.team,
        status=spec.status.value,
        expires_at=spec.expires_at.isoformat() if spec.expires_at is not None else None,
        locations=tuple(places[:LIMIT]),
        more_locations=max(0, len(places) - LIMIT),
    )


class SearchPages:
    def __init__(self, view: View) -> None:
        self.view = view
        self.serials = Serials()

    async def results(self, request: web.Request) -> Results:
        query = normalise(request.rel_url.query.get("q", ""))
        if not query:
            return Results("", ())
        reported = await self.serials.of(self.view.central.store)
        return search(self.view.fleet, self.view.scope(request), query, reported)

    async def page(self, request: web.Request) -> web.StreamResponse:
        results = await self.results(request)
        fleet = self.view.fleet
        scope = self.view.scope(request)
        cards = {
            hit.entry.name: card_facts(fleet, scope, hit.entry.name)
            for group in results.groups
            if group.kind is Kind.CARD
            for hit in group.hits
        }
        return self.view.render(
            request,
            "search.html",
            results=results,
            cards=cards,
            more_href=more_href,
            Kind=Kind,
        )

    async def json(self, request: web.Request) -> web.StreamResponse:
        """The results for the dropdown, every text in the reader's language."""
        results = await self.results(request)
        translations = i18n.translations(prefs_of(request).language)
        _, ngettext = translations.gettext, translations.ngettext
        labels = {
            Kind.CHARGER: _("Chargers"),
            Kind.LOCATION: _("Locations"),
            Kind.CARD: _("Cards"),
        }
        query = results.query
        groups = []
        for group in results.groups:
            more = more_href(group.kind, query) if group.total > len(group.hits) else None
            groups.append(
                {
                    "kind": group.kind.value,
                    "label": labels[group.kind],
                    "total": group.total,
                    "more": {
                        "href": more,
                        "label": ngettext(
                            "All %(num)d matching chargers",
                            "All %(num)d matching chargers",
                            group.total,
                        )
                        % {"num": group.total},
                    }
                    if more is not None
                    else None,
                    "items": [_item(hit) for hit in group.hits],
                }
            )
        document: dict[str, Any] = {
            "query": query,
            "total": results.total,
            "groups": groups,
            "all": {
                "href": "/search?" + urlencode({"q": query}),
                "label": _("All results for “%(query)s”") % {"query": query},
            }
            if query
            else None,
            "summary": (
                ngettext("%(num)d result", "%(num)d results", results.total)
                % {"num": results.total}
            )
            if query
            else "",
            "empty": _("Nothing found for “%(query)s”.") % {"query": query} if query else "",
        }
        response = json_response(document)
        response.headers["Cache-Control"] = "no-store"
        return response


def _item(hit: Hit) -> dict[str, Any]:
    detail = " · ".join(part for part in (hit.entry.detail, hit.entry.place, hit.serial) if part)
    return {
        "kind": hit.entry.kind.value,
        "name": hit.entry.name,
        "label": hit.entry.label,
        "detail": detail,
        "href": hit.href,
    }


def routes(view: View) -> list[web.RouteDef]:
    pages = SearchPages(view)
    return [
        web.get("/search", pages.page),
        web.get("/search.json", pages.json),
    ]
