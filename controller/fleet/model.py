"""The fleet as one value: resources indexed by kind and name, and each charger's desired state.

A charger's desired configuration is resolved from layers, most specific last: built-in
defaults, its location's `chargerDefaults`, then its own spec. Every resolved value remembers
its layer and the document it came from, so `plan` can say why a value is what it is and
validation can point at the line that declared it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Generic, TypeVar, cast

from controller.fleet.problems import DocPath, Problem, Source
from controller.resources import Card, Charger, Location, PowerLimit, Resource, Tariff, Team
from controller.resources.card import CardStatus
from controller.resources.common import LabelSelector
from controller.resources.settings import (
    DEFAULT_HEARTBEAT_INTERVAL,
    SETTING_MAPPINGS,
    Availability,
    ChargerSettings,
    ConfigValue,
    OcppVersion,
    camel,
    setting_wire_value,
)
from controller.resources.versions import CATALOGUES, version_of_key

R = TypeVar("R", bound=Resource, covariant=True)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[R]):
    """A resource and the document it was declared in."""

    resource: R
    source: Source

    @property
    def name(self) -> str:
        return self.resource.metadata.name

    @property
    def kind(self) -> str:
        return self.resource.KIND


BUILTIN_SETTINGS = ChargerSettings(heartbeat_interval=DEFAULT_HEARTBEAT_INTERVAL)
"""What every charger gets unless its location or its own spec says otherwise.

Kept deliberately small: the heartbeat interval is also what BootNotification answers, so the
two never disagree.
"""


# --- the fleet ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """Every resource of a fleet, by kind and name. Built once, never mutated."""

    teams: Mapping[str, Loaded[Team]] = field(default_factory=dict)
    locations: Mapping[str, Loaded[Location]] = field(default_factory=dict)
    chargers: Mapping[str, Loaded[Charger]] = field(default_factory=dict)
    cards: Mapping[str, Loaded[Card]] = field(default_factory=dict)
    tariffs: Mapping[str, Loaded[Tariff]] = field(default_factory=dict)
    power_limits: Mapping[str, Loaded[PowerLimit]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, resources: tuple[Loaded[Resource], ...] | list[Loaded[Resource]]
    ) -> tuple[Fleet, list[Problem]]:
        """Index resources; a second resource with a taken name is a problem, not a winner
        (`duplicate-name`, at the second one's `metadata.name`)."""
        by_kind: dict[str, dict[str, Loaded[Resource]]] = {k: {} for k in _FIELDS}
        problems: list[Problem] = []
        for item in resources:
            index = by_kind[item.kind]
            if item.name in index:
                first = index[item.name].source
                problems.append(
                    Problem(
                        "duplicate-name",
                        f"{item.kind} {item.name!r} is already declared in "
                        f"{first.file} (document {first.document + 1})",
                        item.source,
                        ("metadata", "name"),
                        resource=f"{item.kind}/{item.name}",
                    )
                )
                continue
            index[item.name] = item
        fleet = cls(**{_FIELDS[kind]: cast(Any, index) for kind, index in by_kind.items()})
        return fleet, problems

    def all(self) -> Iterator[Loaded[Resource]]:
        for name in _FIELDS.values():
            yield from cast(Mapping[str, Loaded[Resource]], getattr(self, name)).values()

    def __len__(self) -> int:
        return sum(len(getattr(self, name)) for name in _FIELDS.values())

    def chargers_at(self, location: str) -> list[Loaded[Charger]]:
        return self._chargers_by_location.get(location, [])

    def chargers_of_team(self, team: str) -> list[Loaded[Charger]]:
        """Chargers at the locations `team` owns (a member team's access does not count)."""
        return self._chargers_by_team.get(team, [])

    def team_of(self, location: str) -> str | None:
        """The team that owns `location`, if the location is declared."""
        loaded = self.locations.get(location)
        return loaded.resource.spec.team if loaded is not None else None

    def charger_by_identity(self, identity: str) -> Loaded[Charger] | None:
        """The charger that connects as `identity` (OCPP identities compare case-insensitively)."""
        return self._chargers_by_identity.get(identity.lower())

    def card_by_id_tag(self, id_tag: str) -> Loaded[Card] | None:
        """The card with this id tag (OCPP compares id tags case-insensitively)."""
        return self._cards_by_id_tag.get(id_tag.lower())

    def accepts_card_at(self, location: str, card: str) -> bool:
        return card in self._accepted_card_names(location)

    def cards_accepted_at(self, location: str) -> list[Loaded[Card]]:
        """Cards a location accepts by name, by label selector, or by owning team."""
        cache = self._accepted_cards
        if location not in cache:
            cache[location] = self._compute_accepted_cards(location)
        return cache[location]

    def active_cards_accepted_at(self, location: str) -> list[Loaded[Card]]:
        return [
            c
            for c in self.cards_accepted_at(location)
            if c.resource.spec.status is CardStatus.ACCEPTED
        ]

    def chargers_fed_by(self, circuit: str) -> list[Loaded[Charger]]:
        """Chargers a PowerLimit feeds: those it names or selects, or its whole location."""
        limit = self.power_limits.get(circuit)
        if limit is None:
            return []
        spec = limit.resource.spec
        here = self.chargers_at(spec.location)
        if spec.chargers is None:
            return here
        return [c for c in here if _selected(c, spec.chargers.names, spec.chargers.selector)]

    # Indexes, built on first use: a fleet of ten thousand chargers is validated on every pull
    # request, and scanning every card for every location does not scale.

    def desired(self, charger: Loaded[Charger]) -> DesiredCharger:
        """`resolve_charger` for one of this fleet's chargers, computed once per fleet.

        A fleet never changes, so neither does what it declares for a charger; the endpoint
        (heartbeat interval at boot, free charging at Authorize) and the reconciler (every
        pass) ask for it thousands of times between two edits."""
        if self.chargers.get(charger.name) is not charger:
            return resolve_charger(self, charger)  # not ours: nothing to cache it by
        cache = self._desired
        desired = cache.get(charger.name)
        if desired is None:
            desired = cache[charger.name] = resolve_charger(self, charger)
        return desired

    @cached_property
    def _desired(self) -> dict[str, DesiredCharger]:
        return {}

    @cached_property
    def _chargers_by_location(self) -> dict[str, list[Loaded[Charger]]]:
        index: dict[str, list[Loaded[Charger]]] = {}
        for charger in self.chargers.values():
            index.setdefault(charger.resource.spec.location, []).append(charger)
        return index

    @cached_property
    def _chargers_by_team(self) -> dict[str, list[Loaded[Charger]]]:
        index: dict[str, list[Loaded[Charger]]] = {}
        for name, location in self.locations.items():
            index.setdefault(location.resource.spec.team, []).extend(self.chargers_at(name))
        return index

    @cached_property
    def _chargers_by_identity(self) -> dict[str, Loaded[Charger]]:
        index: dict[str, Loaded[Charger]] = {}
        for charger in self.chargers.values():
            index.setdefault(charger.resource.identity.lower(), charger)
        return index

    @cached_property
    def _cards_by_id_tag(self) -> dict[str, Loaded[Card]]:
        index: dict[str, Loaded[Card]] = {}
        for card in self.cards.values():
            index.setdefault(card.resource.spec.id_tag.lower(), card)
        return index

    def _accepted_card_names(self, location: str) -> frozenset[str]:
        cache = self._accepted_names
        if location not in cache:
            cache[location] = frozenset(c.name for c in self.cards_accepted_at(location))
        return cache[location]

    @cached_property
    def _accepted_names(self) -> dict[str, frozenset[str]]:
        return {}

    @cached_property
    def _cards_by_team(self) -> dict[str, list[Loaded[Card]]]:
        index: dict[str, list[Loaded[Card]]] = {}
        for card in self.cards.values():
            index.setdefault(card.resource.spec.team, []).append(card)
        return index

    @cached_property
    def _cards_by_label(self) -> dict[tuple[str, str], list[Loaded[Card]]]:
        index: dict[tuple[str, str], list[Loaded[Card]]] = {}
        for card in self.cards.values():
            for item in card.resource.metadata.labels.items():
                index.setdefault(item, []).append(card)
        return index

    @cached_property
    def _accepted_cards(self) -> dict[str, list[Loaded[Card]]]:
        return {}

    def _compute_accepted_cards(self, location: str) -> list[Loaded[Card]]:
        loc = self.locations.get(location)
        if loc is None:
            return []
        accepted = loc.resource.spec.accepted_cards
        found: dict[str, Loaded[Card]] = {}
        for name in accepted.names:
            if name in self.cards:
                found[name] = self.cards[name]
        for team in accepted.teams:
            found.update((c.name, c) for c in self._cards_by_team.get(team, []))
        if accepted.selector is not None:
            found.update((c.name, c) for c in self.cards_selected_by(accepted.selector))
        return sorted(found.values(), key=lambda card: card.name)

    def cards_selected_by(self, selector: LabelSelector) -> list[Loaded[Card]]:
        """Cards whose labels match; an empty selector selects none (not all)."""
        if selector.is_empty():
            return []
        if selector.match_labels:
            buckets = [self._cards_by_label.get(i, []) for i in selector.match_labels.items()]
            smallest: list[Loaded[Card]] = min(buckets, key=len)
            candidates: Iterable[Loaded[Card]] = smallest
        else:
            candidates = self.cards.values()
        return [c for c in candidates if selector.matches(c.resource.metadata.labels)]


def _selected(charger: Loaded[Charger], names: list[str], selector: LabelSelector | None) -> bool:
    if charger.name in names:
        return True
    return (
        selector is not None
        and not selector.is_empty()
        and selector.matches(charger.resource.metadata.labels)
    )


_FIELDS: dict[str, str] = {
    Team.KIND: "teams",
    Location.KIND: "locations",
    Charger.KIND: "chargers",
    Card.KIND: "cards",
    Tariff.KIND: "tariffs",
    PowerLimit.KIND: "power_limits",
}


# --- desired state -----------------------------------------------------------------------------


class Layer(StrEnum):
    BUILTIN = "built-in default"
    LOCATION = "location default"
    CHARGER = "charger spec"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a desired value was declared: its layer, and the document and path, if any."""

    layer: Layer
    source: Source | None = None
    path: DocPath = ()
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class DesiredValue:
    """One configuration key's declared value on one charger."""

    key: str
    value: ConfigValue
    origin: Origin


@dataclass(frozen=True)
class DesiredCharger:
    """Everything a charger should be, resolved across layers, for one OCPP version."""

    name: str
    identity: str
    version: OcppVersion
    location: str
    configuration: Mapping[str, DesiredValue]
    vendor_configuration: Mapping[str, DesiredValue]
    availability: Availability | None
    free_charging: bool
    unmanaged: frozenset[str]
    source: Source


def resolve_charger(fleet: Fleet, loaded: Loaded[Charger]) -> DesiredCharger:
    """The charger's desired state: built-in defaults, then location defaults, then its spec."""
    charger = loaded.resource
    spec = charger.spec
    version = spec.ocpp_version
    unmanaged = frozenset(spec.unmanaged_keys)
    configuration: dict[str, DesiredValue] = {}
    vendor: dict[str, DesiredValue] = {}
    availability: Availability | None = None
    free_charging = False

    layers: list[
        tuple[
            Layer,
            Source | None,
            DocPath,
            ChargerSettings,
            dict[str, ConfigValue],
            dict[str, ConfigValue],
        ]
    ] = [
        (Layer.BUILTIN, None, (), BUILTIN_SETTINGS, {}, {}),
    ]
    location = fleet.locations.get(spec.location)
    if location is not None:
        defaults = location.resource.spec.charger_defaults
        layers.append(
            (
                Layer.LOCATION,
                location.source,
                ("spec", "chargerDefaults"),
                defaults.settings,
                defaults.configuration,
                defaults.vendor_configuration,
            )
        )
    layers.append(
        (
            Layer.CHARGER,
            loaded.source,
            ("spec",),
            spec.settings,
            spec.configuration,
            spec.vendor_configuration,
        )
    )

    hands_off = {key.lower() for key in unmanaged}
    for mapping in SETTING_MAPPINGS:  # a setting named by hand protects its key as well
        if mapping.setting in hands_off or camel(mapping.setting).lower() in hands_off:
            key = mapping.key(version)
            if key is not None:
                hands_off.add(key.lower())
    for layer, source, base, settings, raw, vendor_raw in layers:
        for setting, value in declared_settings(settings):
            if camel(setting).lower() in hands_off or setting in hands_off:
                continue
            origin = Origin(layer, source, (*base, "settings", camel(setting)), setting)
            if setting == "availability":
                availability = cast(Availability, value)
                continue
            if setting == "free_charging":
                free_charging = bool(value)
            mapping = next(m for m in SETTING_MAPPINGS if m.setting == setting)
            key = mapping.key(version)
            if key is None or key.lower() in hands_off:
                continue
            wire = cast(ConfigValue, setting_wire_value(setting, version, value))
            configuration[key] = DesiredValue(key, wire, origin)
        for key, value in raw.items():
            if version_of_key(key) is not version:
                continue
            name = CATALOGUES[version].canonical(key)
            if key.lower() in hands_off or name.lower() in hands_off:
                continue
            configuration[name] = DesiredValue(
                name, value, Origin(layer, source, (*base, "configuration", key))
            )
        for key, value in vendor_raw.items():
            if key.lower() in hands_off:
                continue
            vendor[key] = DesiredValue(
                key, value, Origin(layer, source, (*base, "vendorConfiguration", key))
            )

    return DesiredCharger(
        name=charger.metadata.name,
        identity=charger.identity,
        version=version,
        location=spec.location,
        configuration=configuration,
        vendor_configuration=vendor,
        availability=availability,
        free_charging=free_charging,
        unmanaged=unmanaged,
        source=loaded.source,
    )


def declared_settings(settings: ChargerSettings) -> Iterator[tuple[str, Any]]:
    """The settings given a value (a setting left out is not managed)."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is not None:
            yield name, value
