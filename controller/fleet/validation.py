"""Fleet-wide checks: the rules no single document can check on its own.

The schema (pydantic) has already refused what is wrong inside a document. What remains is
the fleet as a whole: references resolve, names and identities are unique, OCPP keys exist for
the charger's version with a value of the right type and range and are writable, circuits fit
inside their parents, tariff periods do not overlap, cards are unique. Every check is a pure
function from the fleet to problems; all of them run, so one run reports every problem.

Each problem points at the value that breaks the rule, not at the mapping or list around it:
the child circuit's `currentPerPhase`, the one measurand of a list that is not one (even inside
a comma-separated text), the bound of a tariff period that reaches into another. A rule whose
offending thing is a key (an unknown or read-only key) points at the key, and each rule's
docstring says where it points.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime

from controller.fleet.model import (
    Fleet,
    Loaded,
    declared_settings,
)
from controller.fleet.problems import Aim, DocPath, Problem, Severity
from controller.resources import Charger, Location, PowerLimit, Resource
from controller.resources.catalogue import (
    KeySpec,
    MemberError,
    Mutability,
    VariableSpec,
    parse_value,
)
from controller.resources.charger import CurrentType, RebootPolicy
from controller.resources.common import ALL_WEEKDAYS, LabelSelector, minutes_of_day
from controller.resources.identity import identity_problem
from controller.resources.powerlimit import Limit
from controller.resources.settings import (
    SETTINGS_BY_NAME,
    ChargerSettings,
    ConfigValue,
    OcppVersion,
    camel,
    setting_key,
    setting_wire_value,
)
from controller.resources.versions import CATALOGUES, version_of_key

Check = Callable[[Fleet], Iterable[Problem]]


def check_fleet(fleet: Fleet) -> list[Problem]:
    """Every fleet-wide problem, from every check."""
    problems: list[Problem] = []
    for check in CHECKS:
        problems.extend(check(fleet))
    return problems


def _problem(
    code: str,
    message: str,
    item: Loaded[Resource],
    path: DocPath,
    severity: Severity = Severity.ERROR,
    *,
    aim: Aim = Aim.VALUE,
    offset: int = 0,
) -> Problem:
    """A problem in `item` at the value at `path` (its key with `aim=Aim.KEY`)."""
    return Problem(
        code,
        message,
        item.source,
        path,
        severity,
        resource=f"{item.kind}/{item.name}",
        aim=aim,
        offset=offset,
    )


def _value_problem(
    code: str, message: str, item: Loaded[Resource], path: DocPath, value: object, exc: Exception
) -> Problem:
    """A problem with the declared `value` at `path`: at the one member that is wrong when
    `exc` names one (the item of a YAML list, or the part of a comma-separated text)."""
    if isinstance(exc, MemberError):
        if isinstance(value, list):
            return _problem(code, message, item, (*path, exc.index))
        if isinstance(value, str):
            return _problem(code, message, item, path, offset=exc.offset)
    return _problem(code, message, item, path)


# --- references --------------------------------------------------------------------------------


def _missing(kind: str, name: str, known: Iterable[str]) -> str:
    hint = difflib.get_close_matches(name, list(known), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"{kind} {name!r} is not declared in this fleet{suggestion}"


def check_references(fleet: Fleet) -> Iterator[Problem]:
    """Every name that points at another resource points at one that exists.

    `unresolved-reference` points at the name (of a team, tariff, card, location, circuit or
    charger); `circuit-location-mismatch` at the circuit's `parent`. A selector that selects
    nothing: `empty-selector` points at the selector's value (`{}`); `selector-matches-nothing`
    at the first of its requirements that selects nothing on its own (a matchLabels value, a
    matchExpressions item), or at the selector's value when only all of them together do."""

    def ref(
        item: Loaded[Resource], kind: str, name: str, index: Mapping[str, object], path: DocPath
    ) -> Iterator[Problem]:
        if name not in index:
            yield _problem("unresolved-reference", _missing(kind, name, index), item, path)

    for loc in fleet.locations.values():
        spec = loc.resource.spec
        yield from ref(loc, "Team", spec.team, fleet.teams, ("spec", "team"))
        for i, member in enumerate(spec.members):
            yield from ref(loc, "Team", member.team, fleet.teams, ("spec", "members", i, "team"))
        if spec.tariff is not None:
            yield from ref(loc, "Tariff", spec.tariff, fleet.tariffs, ("spec", "tariff"))
        cards = spec.accepted_cards
        for i, name in enumerate(cards.names):
            yield from ref(loc, "Card", name, fleet.cards, ("spec", "acceptedCards", "names", i))
        for i, name in enumerate(cards.teams):
            yield from ref(loc, "Team", name, fleet.teams, ("spec", "acceptedCards", "teams", i))
        if cards.selector is not None:
            yield from _selector_matches(
                loc,
                cards.selector,
                bool(fleet.cards_selected_by(cards.selector)),
                (c.resource.metadata.labels for c in fleet.cards.values()),
                "card",
                ("spec", "acceptedCards", "selector"),
            )

    for charger in fleet.chargers.values():
        location = charger.resource.spec.location
        yield from ref(charger, "Location", location, fleet.locations, ("spec", "location"))

    for card in fleet.cards.values():
        yield from ref(card, "Team", card.resource.spec.team, fleet.teams, ("spec", "team"))

    for limit in fleet.power_limits.values():
        circuit = limit.resource.spec
        yield from ref(limit, "Location", circuit.location, fleet.locations, ("spec", "location"))
        if circuit.parent is not None:
            yield from ref(
                limit, "PowerLimit", circuit.parent, fleet.power_limits, ("spec", "parent")
            )
            parent = fleet.power_limits.get(circuit.parent)
            if parent is not None and parent.resource.spec.location != circuit.location:
                yield _problem(
                    "circuit-location-mismatch",
                    f"parent circuit {circuit.parent!r} belongs to location "
                    f"{parent.resource.spec.location!r}, not {circuit.location!r}",
                    limit,
                    ("spec", "parent"),
                )
        if circuit.chargers is None:
            continue
        here = {c.name: c for c in fleet.chargers_at(circuit.location)}
        for i, name in enumerate(circuit.chargers.names):
            path: DocPath = ("spec", "chargers", "names", i)
            if name not in fleet.chargers:
                yield _problem(
                    "unresolved-reference", _missing("Charger", name, fleet.chargers), limit, path
                )
            elif name not in here:
                yield _problem(
                    "unresolved-reference",
                    f"Charger {name!r} stands at location "
                    f"{fleet.chargers[name].resource.spec.location!r}, not {circuit.location!r}",
                    limit,
                    path,
                )
        selector = circuit.chargers.selector
        if selector is not None:
            labels = [c.resource.metadata.labels for c in here.values()]
            yield from _selector_matches(
                limit,
                selector,
                any(selector.matches(label) for label in labels),
                labels,
                f"charger at location {circuit.location!r}",
                ("spec", "chargers", "selector"),
            )


def _selector_matches(
    item: Loaded[Resource],
    selector: LabelSelector,
    matched: bool,
    candidates: Iterable[dict[str, str]],
    what: str,
    path: DocPath,
) -> Iterator[Problem]:
    """Problems of a selector that selects nothing; `candidates`: the labels of what it could
    select, read only when it selects nothing."""
    if selector.is_empty():
        yield _problem(
            "empty-selector",
            "an empty selector selects nothing here; give matchLabels or matchExpressions",
            item,
            path,
        )
    elif not matched:
        where, why = _unmatched_requirement(selector, list(candidates))
        message = f"the selector matches no {what}{why}"
        yield _problem("selector-matches-nothing", message, item, (*path, *where))


def _unmatched_requirement(
    selector: LabelSelector, labels: list[dict[str, str]]
) -> tuple[DocPath, str]:
    """Where in `selector` the first requirement is that selects none of `labels` on its own,
    and words for it; nowhere ((), "") when each selects something and only all together
    select nothing."""
    for key, value in selector.match_labels.items():
        if not any(label.get(key) == value for label in labels):
            return ("matchLabels", key), f": none is labelled {key}={value}"
    for i, requirement in enumerate(selector.match_expressions):
        alone = LabelSelector(match_expressions=[requirement])
        if not any(alone.matches(label) for label in labels):
            values = f" [{', '.join(requirement.values)}]" if requirement.values else ""
            words = f"{requirement.key} {requirement.operator.value}{values}"
            return ("matchExpressions", i), f": none meets {words}"
    return (), ""


# --- uniqueness --------------------------------------------------------------------------------


def check_identities(fleet: Fleet) -> Iterator[Problem]:
    """Every charger's OCPP identity is one OCPP allows, and no two chargers share one.

    The identity is `spec.ocppIdentity`, or `metadata.name` when that is left out, and each
    problem points at the value that is the identity. `invalid-identity`: outside OCPP's
    identifierString (`controller.resources.identity`); the schema already refuses such an
    `ocppIdentity`, but a name may be up to 253 characters where an identity may have 48.
    `duplicate-identity`: two chargers could not both connect (compared case-insensitively).
    """
    seen: dict[str, Loaded[Charger]] = {}
    for charger in fleet.chargers.values():
        identity = charger.resource.identity
        declared = charger.resource.spec.ocpp_identity is not None
        path: DocPath = ("spec", "ocppIdentity") if declared else ("metadata", "name")
        problem = identity_problem(identity)
        if problem is not None:
            message = (
                f"{identity!r} is not an OCPP identity (identifierString): {problem}"
                if declared
                else f"the charger's OCPP identity defaults to metadata.name, which OCPP "
                f"refuses ({problem}): set spec.ocppIdentity"
            )
            yield _problem("invalid-identity", message, charger, path)
        first = seen.setdefault(identity.lower(), charger)
        if first is not charger:
            yield _problem(
                "duplicate-identity",
                f"OCPP identity {identity!r} is already used by Charger {first.name!r}",
                charger,
                path,
            )


def check_team_handles(fleet: Fleet) -> Iterator[Problem]:
    """A handle is part of web view addresses, so two teams cannot share one
    (`duplicate-handle`, at the second team's `handle`)."""
    seen: dict[str, str] = {}
    for team in fleet.teams.values():
        handle = team.resource.spec.handle
        first = seen.setdefault(handle, team.name)
        if first != team.name:
            yield _problem(
                "duplicate-handle",
                f"handle {handle!r} is already used by Team {first!r}",
                team,
                ("spec", "handle"),
            )


# --- configuration -----------------------------------------------------------------------------


def check_configuration(fleet: Fleet) -> Iterator[Problem]:
    """Declared OCPP keys exist, are writable, and hold values of their type and range.

    A key that is wrong as a key points at the key: `invalid-key` (its spelling),
    `unknown-key` and `unknown-variable` (not in the catalogue), `read-only-key`,
    `wrong-version-key` (a key of the other OCPP version). A value that is wrong points at the
    value: `invalid-key-value` (of a setting or a raw key; in a list, at the member that is
    wrong, also inside a comma-separated text), `setting-conflict` (at the raw key's value,
    which disagrees with the setting), `unmanaged-declared` (at the `unmanagedKeys` entry)."""
    for location in fleet.locations.values():
        defaults = location.resource.spec.charger_defaults
        base: DocPath = ("spec", "chargerDefaults")
        versions = {c.resource.spec.ocpp_version for c in fleet.chargers_at(location.name)}
        once: dict[tuple[DocPath, int], Problem] = {}
        for version in sorted(versions or set(OcppVersion)):
            for problem in _check_settings(location, defaults.settings, version, base):
                once.setdefault((problem.path, problem.offset), problem)
        yield from once.values()
        for key, value in defaults.configuration.items():
            yield from _check_raw_key(location, version_of_key(key), key, value, base)
        yield from _check_conflicts(location, defaults.settings, defaults.configuration, base)

    for charger in fleet.chargers.values():
        spec = charger.resource.spec
        version = spec.ocpp_version
        base = ("spec",)
        yield from _check_settings(charger, spec.settings, version, base)
        for key, value in spec.configuration.items():
            if version_of_key(key) is not version:
                yield _problem(
                    "wrong-version-key",
                    f"{key!r} is an OCPP {version_of_key(key)} key, but this charger speaks "
                    f"OCPP {version}",
                    charger,
                    (*base, "configuration", key),
                    aim=Aim.KEY,
                )
                continue
            yield from _check_raw_key(charger, version, key, value, base)
        yield from _check_conflicts(charger, spec.settings, spec.configuration, base)
        declared = {
            *(camel(s) for s, _ in declared_settings(spec.settings)),
            *(k for s, _ in declared_settings(spec.settings) if (k := setting_key(s, version))),
            *(CATALOGUES[version].canonical(k) for k in spec.configuration),
            *spec.vendor_configuration,
        }
        for i, key in enumerate(spec.unmanaged_keys):
            if key in declared:
                yield _problem(
                    "unmanaged-declared",
                    f"{key!r} is declared here but also listed as managed by hand, so it will "
                    "never be applied",
                    charger,
                    ("spec", "unmanagedKeys", i),
                    Severity.WARNING,
                )


def _check_settings(
    item: Loaded[Resource], settings: ChargerSettings, version: OcppVersion, base: DocPath
) -> Iterator[Problem]:
    for setting, value in declared_settings(settings):
        mapping = SETTINGS_BY_NAME[setting]
        key = mapping.key(version)
        spec = CATALOGUES[version].spec(key) if key else None
        if spec is None:
            continue
        wire = setting_wire_value(setting, version, value)
        try:
            parse_value(spec, wire)
        except ValueError as exc:
            yield _value_problem(
                "invalid-key-value",
                f"{exc} (OCPP {version} {key})",
                item,
                (*base, "settings", camel(setting)),
                wire,
                exc,
            )


def _check_raw_key(
    item: Loaded[Resource], version: OcppVersion, key: str, value: ConfigValue, base: DocPath
) -> Iterator[Problem]:
    path: DocPath = (*base, "configuration", key)
    try:
        CATALOGUES[version].check_name(key)
    except ValueError as exc:
        yield _problem("invalid-key", str(exc), item, path, aim=Aim.KEY)
        return
    spec = CATALOGUES[version].spec(key)
    if spec is None:
        yield from _unknown_key(item, version, key, path)
        return
    if spec.mutability is Mutability.READ_ONLY:
        yield _problem(
            "read-only-key",
            f"{key} is read-only in OCPP {version}; a charger cannot be told to change it",
            item,
            path,
            aim=Aim.KEY,
        )
        return
    try:
        parse_value(spec, value)
    except ValueError as exc:
        yield _value_problem("invalid-key-value", f"{key}: {exc}", item, path, value, exc)


def _unknown_key(
    item: Loaded[Resource], version: OcppVersion, key: str, path: DocPath
) -> Iterator[Problem]:
    catalogue = CATALOGUES[version]
    hint = difflib.get_close_matches(key, catalogue.writable(), n=1, cutoff=0.8)
    suggestion = f"did you mean {hint[0]!r}? " if hint else ""
    if catalogue.complete:
        yield _problem(
            "unknown-key",
            f"{key!r} is not a standard {catalogue.label}; {suggestion}"
            "put vendor-specific keys under vendorConfiguration",
            item,
            path,
            aim=Aim.KEY,
        )
    else:
        yield _problem(
            "unknown-variable",
            f"{key!r} is not in chargectl's {catalogue.label} catalogue, so only the charger can "
            f"check it; {suggestion}vendor variables belong under vendorConfiguration",
            item,
            path,
            Severity.WARNING,
            aim=Aim.KEY,
        )


def _check_conflicts(
    item: Loaded[Resource],
    settings: ChargerSettings,
    raw: Mapping[str, ConfigValue],
    base: DocPath,
) -> Iterator[Problem]:
    """A setting and a raw key for the same OCPP key must not say two different things."""
    raw_by_key = {
        (version_of_key(k), CATALOGUES[version_of_key(k)].canonical(k)): (k, v)
        for k, v in raw.items()
    }
    for setting, value in declared_settings(settings):
        mapping = SETTINGS_BY_NAME[setting]
        for version in OcppVersion:
            key = mapping.key(version)
            if key is None or (version, key) not in raw_by_key:
                continue
            raw_key, raw_value = raw_by_key[(version, key)]
            spec = CATALOGUES[version].spec(key)
            wire = setting_wire_value(setting, version, value)
            if spec is None or _same(spec, wire, raw_value):
                continue
            yield _problem(
                "setting-conflict",
                f"configuration {raw_key}: {raw_value!r} disagrees with settings."
                f"{camel(setting)}: {value!r}, which sets the same key; keep one of the two",
                item,
                (*base, "configuration", raw_key),
            )


def _same(spec: KeySpec | VariableSpec, left: object, right: object) -> bool:
    try:
        return parse_value(spec, left) == parse_value(spec, right)
    except ValueError:
        return True  # the value itself is reported by the value check


# --- circuits ----------------------------------------------------------------------------------


def check_circuits(fleet: Fleet) -> Iterator[Problem]:
    """A circuit never promises more than the circuit above it, nor a connector more than it.

    `circuit-over-parent` points at the circuit's own limit value (`currentPerPhase` or
    `power`), `schedule-over-limit` at the window's limit value, `connector-over-circuit` at
    the connector's `maxCurrent`, `circuit-cycle` at the `parent` that closes the loop."""
    for limit in fleet.power_limits.values():
        spec = limit.resource.spec
        amps = spec.amperes_per_phase()
        yield from _check_cycle(fleet, limit)
        parent = fleet.power_limits.get(spec.parent) if spec.parent else None
        if parent is not None:
            parent_amps = parent.resource.spec.amperes_per_phase()
            if amps > parent_amps:
                yield _problem(
                    "circuit-over-parent",
                    f"limit of {amps} A per phase is above the {parent_amps} A per phase of "
                    f"parent circuit {parent.name!r}",
                    limit,
                    ("spec", "limit", _limit_field(spec.limit)),
                )
        for i, window in enumerate(spec.schedule):
            scheduled = window.limit.amperes_per_phase(spec.phases, spec.voltage)
            if scheduled > amps:
                yield _problem(
                    "schedule-over-limit",
                    f"scheduled limit of {scheduled} A per phase is above the circuit's own "
                    f"{amps} A per phase; a schedule can only lower the limit",
                    limit,
                    ("spec", "schedule", i, "limit", _limit_field(window.limit)),
                )
        for charger in fleet.chargers_fed_by(limit.name):
            for i, connector in enumerate(charger.resource.spec.connectors):
                # A DC connector's current is on the car's side of the rectifier; what it
                # takes from the AC circuit is not its maxCurrent, so there is nothing to compare.
                if connector.current_type is CurrentType.AC and connector.max_current > amps:
                    yield _problem(
                        "connector-over-circuit",
                        f"connector {connector.id} may draw {connector.max_current} A, more "
                        f"than the {amps} A per phase of circuit {limit.name!r} that feeds it",
                        charger,
                        ("spec", "connectors", i, "maxCurrent"),
                    )


def _limit_field(limit: Limit) -> str:
    """The field a limit is declared in (exactly one of the two is)."""
    return "power" if limit.power is not None else "currentPerPhase"


def _check_cycle(fleet: Fleet, limit: Loaded[PowerLimit]) -> Iterator[Problem]:
    seen = [limit.name]
    parent = limit.resource.spec.parent
    while parent is not None and parent in fleet.power_limits:
        if parent in seen:
            chain = " → ".join([*seen, parent])
            yield _problem(
                "circuit-cycle", f"circuits form a loop: {chain}", limit, ("spec", "parent")
            )
            return
        seen.append(parent)
        parent = fleet.power_limits[parent].resource.spec.parent


# --- tariffs -----------------------------------------------------------------------------------


def check_tariffs(fleet: Fleet) -> Iterator[Problem]:
    """At any minute of the week at most one tariff period applies.

    `tariff-overlap` points at the later period's bound that reaches into the earlier one:
    its `start` when the overlap begins at that start (it starts inside the earlier period),
    else its `end` (it began before the earlier period, and runs on into it)."""
    for tariff in fleet.tariffs.values():
        periods = tariff.resource.spec.periods
        spans = [period.intervals() for period in periods]
        for j in range(len(periods)):
            for i in range(j):
                overlap = _first_overlap(spans[i], spans[j])
                if overlap is not None:
                    starts = overlap % (24 * 60) == minutes_of_day(periods[j].start)
                    yield _problem(
                        "tariff-overlap",
                        f"period {j + 1} overlaps period {i + 1} on {_describe(overlap)}",
                        tariff,
                        ("spec", "periods", j, "start" if starts else "end"),
                    )


def _first_overlap(left: list[tuple[int, int]], right: list[tuple[int, int]]) -> int | None:
    starts = [max(a0, b0) for a0, a1 in left for b0, b1 in right if max(a0, b0) < min(a1, b1)]
    return min(starts) if starts else None


def _describe(minute_of_week: int) -> str:
    day, minute = divmod(minute_of_week, 24 * 60)
    return f"{ALL_WEEKDAYS[day % 7].value} at {minute // 60:02d}:{minute % 60:02d}"


# --- cards -------------------------------------------------------------------------------------


def check_cards(fleet: Fleet) -> Iterator[Problem]:
    """Id tags are unique (OCPP compares them case-insensitively) and fit every charger.

    `duplicate-id-tag` points at the second card's `idTag`, `id-tag-too-long` at the `idTag`
    or `parentIdTag` that is too long, `card-expired` at `expiresAt`."""
    seen: dict[str, str] = {}
    locations_by_version: dict[OcppVersion, set[str]] = {}
    for charger in fleet.chargers.values():
        declared = charger.resource.spec
        locations_by_version.setdefault(declared.ocpp_version, set()).add(declared.location)
    limits: dict[str, tuple[int, OcppVersion]] = {}  # card name -> the tightest id tag limit
    for version, locations in sorted(locations_by_version.items()):
        limit = CATALOGUES[version].id_tag_max_length
        for location in locations:
            for accepted in fleet.cards_accepted_at(location):
                if limit < limits.get(accepted.name, (limit + 1, version))[0]:
                    limits[accepted.name] = (limit, version)
    now = datetime.now(UTC)
    for card in fleet.cards.values():
        spec = card.resource.spec
        first = seen.setdefault(spec.id_tag.lower(), card.name)
        if first != card.name:
            yield _problem(
                "duplicate-id-tag",
                f"id tag {spec.id_tag!r} is already the id tag of Card {first!r} "
                "(id tags compare case-insensitively)",
                card,
                ("spec", "idTag"),
            )
        if card.name in limits:
            limit, version = limits[card.name]
            for field, value in (("idTag", spec.id_tag), ("parentIdTag", spec.parent_id_tag)):
                if value is not None and len(value) > limit:
                    yield _problem(
                        "id-tag-too-long",
                        f"{field} has {len(value)} characters; OCPP {version} chargers accept "
                        f"this card and take at most {limit}",
                        card,
                        ("spec", field),
                    )
        if spec.expires_at is not None and spec.expires_at < now:
            yield _problem(
                "card-expired",
                f"the card expired on {spec.expires_at.isoformat()} and is refused everywhere",
                card,
                ("spec", "expiresAt"),
                Severity.WARNING,
            )


# --- schedules ---------------------------------------------------------------------------------


def check_maintenance_windows(fleet: Fleet) -> Iterator[Problem]:
    """A charger that may only reboot in a window its location does not have never reboots.

    `no-maintenance-window` points at the charger's `rebootPolicy`: what is missing is the
    location's `maintenanceWindow`, a key in another document with nothing to point at, and
    the charger's value is what the warning is about. `empty-window` points at the window's
    `end`, which equals its start."""
    for charger in fleet.chargers.values():
        spec = charger.resource.spec
        if spec.reboot_policy is not RebootPolicy.MAINTENANCE_WINDOW:
            continue
        location: Loaded[Location] | None = fleet.locations.get(spec.location)
        if location is not None and not location.resource.spec.maintenance_window:
            yield _problem(
                "no-maintenance-window",
                f"rebootPolicy is MaintenanceWindow but location {spec.location!r} declares no "
                "maintenanceWindow, so changes that need a reboot will wait forever",
                charger,
                ("spec", "rebootPolicy"),
                Severity.WARNING,
            )
    for location in fleet.locations.values():
        for i, window in enumerate(location.resource.spec.maintenance_window):
            if minutes_of_day(window.start) == minutes_of_day(window.end):
                yield _problem(
                    "empty-window",
                    "start equals end: the window covers the whole day; write 00:00 to 24:00 "
                    "to say so",
                    location,
                    ("spec", "maintenanceWindow", i, "end"),
                    Severity.WARNING,
                )


CHECKS: tuple[Check, ...] = (
    check_references,
    check_identities,
    check_team_handles,
    check_configuration,
    check_circuits,
    check_tariffs,
    check_cards,
    check_maintenance_windows,
)
