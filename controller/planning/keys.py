"""Desired against reported: what would have to change on each charger, and why.

Planning is a pure function from a charger's resolved desired state (`DesiredCharger`) and its
last reported state (`ChargerRecord`) to a `ChargerPlan`: a list of typed actions, each with the
value it would send, the value the charger reports, the layer the desired value came from and
the reason. No sockets, no database: `chargectl plan` prints it, the reconciler acts on it, and
the web view shows it, all from the same values.

What counts as a difference:

- Values are compared after normalising both sides by the key's type (`parse_value`), so
  "60", "060" and 60 are one value, booleans compare case-insensitively ("1" is true where
  chargers use it), and measurand lists compare as sets. Keys without a catalogue entry
  (vendor keys, variables chargectl does not know) take their type from the declared value.
- Only declared keys are compared. Keys the charger reports and the fleet does not declare are
  information (`ChargerPlan.info`), never a change; keys managed by hand are left alone.
- What the reconciler learnt earlier (`KeyStatus`, kept by the store) decides the rest: a value
  the charger Rejected, does not support or did not apply is shown as "cannot be applied" until
  the desired value changes, and a value that was Applied and differs again is drift, kept
  apart from changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from deepdiff import DeepDiff

from controller.fleet.model import (
    DesiredCharger,
    DesiredValue,
    Fleet,
    Layer,
    Loaded,
    Origin,
)
from controller.resources.catalogue import (
    Mutability,
    Spec,
    Value,
    ValueType,
    format_value,
    parse_value,
)
from controller.resources.charger import Charger
from controller.resources.settings import Availability, ConfigValue, OcppVersion
from controller.resources.versions import CATALOGUES
from controller.values.records import ChargerRecord, KeyState, KeyStatus, ReportedKey
from controller.values.timestamps import iso_seconds

FIRMWARE_KEY = "firmware"
"""The key firmware actions and statuses go by (configuration keys never have this name)."""

AVAILABILITY_KEY = "availability"
"""The key availability actions and statuses go by."""

VERSION_KEY = "ocppVersion"
"""The key of the action saying a charger speaks another OCPP version than declared."""

REASON_DIFFERS = "the charger reports another value"
REASON_NOT_REPORTED = "the charger did not report this key"
"""The plain reasons: the old and new values already say everything, so views may omit them."""


TERMINAL_STATES = frozenset({KeyState.REJECTED, KeyState.NOT_SUPPORTED, KeyState.FAILED})
"""Statuses that stop a value from being planned again until the desired value changes: the
charger refused it, does not know the key, or accepted it and kept its old value (Failed; a
transport failure is retried by the reconciler and never recorded as a status)."""


class ActionKind(StrEnum):
    """What an action does; `symbol` is how a plan shows it, as Terraform does."""

    SET_KEY = "SetKey"
    """A declared key the charger reports with another value: ChangeConfiguration/SetVariables."""
    ADD_KEY = "AddKey"
    """A declared key the charger did not report: sent as it is, the charger may still refuse."""
    CANNOT = "Cannot"
    """A difference that cannot be applied: read-only on the charger, rejected, not supported."""
    CHANGE_AVAILABILITY = "ChangeAvailability"
    FIRMWARE = "Firmware"
    """The charger runs another firmware version than declared: UpdateFirmware."""
    LOCAL_LIST = "LocalList"
    CHARGING_PROFILE = "ChargingProfile"

    @property
    def symbol(self) -> str:
        if self is ActionKind.ADD_KEY:
            return "+"
        if self is ActionKind.CANNOT:
            return "!"
        return "~"


class PlanStatus(StrEnum):
    """Where a charger stands, as a whole."""

    IN_SYNC = "InSync"
    CHANGES = "Changes"
    """At least one action can be applied."""
    BLOCKED = "Blocked"
    """It differs from the fleet, but every difference is one that cannot be applied."""
    NEVER_CONNECTED = "NeverConnected"
    NOT_REPORTED = "NotReported"
    """Connected, but its configuration has not been read yet: nothing to compare with."""


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One thing to do on one charger, and why.

    `wire_value` is what would be sent: the ChangeConfiguration/SetVariables value of a key,
    "Operative"/"Inoperative" for availability, the download URL for firmware. `reported` is
    the charger's own text, or None when it reported nothing. `drift` marks a value that was
    applied before and changed since on the charger's side.
    """

    kind: ActionKind
    key: str
    desired: DesiredValue | None
    reported: str | None
    wire_value: str | None
    reason: str
    layer: Layer | None
    drift: bool = False


@dataclass(frozen=True, slots=True)
class ChargerPlan:
    """A charger's plan: its actions, in declaration order, and its undeclared keys."""

    name: str
    identity: str
    version: OcppVersion
    status: PlanStatus
    actions: tuple[PlannedAction, ...] = ()
    info: tuple[ReportedKey, ...] = ()
    """Keys the charger reported that the fleet does not declare (or leaves to hand)."""
    connected: bool | None = None
    """Whether the charger is connected now, as its record says (the server corrects the
    records of a replica that died with `coordination.Liveness` before planning); None when
    the plan was made without records (`chargectl plan` offline)."""

    @property
    def changes(self) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if not a.drift)

    @property
    def drift(self) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if a.drift)


@dataclass(frozen=True, slots=True)
class PlanSummary:
    to_change: int
    in_sync: int
    blocked: int
    never_connected: int
    not_reported: int
    drifted: int
    """Chargers with at least one drifted key (counted in `to_change` as well)."""


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """Every declared charger's plan, by name."""

    chargers: tuple[ChargerPlan, ...]

    @property
    def summary(self) -> PlanSummary:
        count = {status: 0 for status in PlanStatus}
        for charger in self.chargers:
            count[charger.status] += 1
        return PlanSummary(
            to_change=count[PlanStatus.CHANGES],
            in_sync=count[PlanStatus.IN_SYNC],
            blocked=count[PlanStatus.BLOCKED],
            never_connected=count[PlanStatus.NEVER_CONNECTED],
            not_reported=count[PlanStatus.NOT_REPORTED],
            drifted=sum(1 for c in self.chargers if c.drift),
        )

    @property
    def has_changes(self) -> bool:
        """Whether any charger differs from the fleet (what `--detailed-exitcode` 2 means)."""
        return any(c.status in (PlanStatus.CHANGES, PlanStatus.BLOCKED) for c in self.chargers)


@dataclass(frozen=True, slots=True)
class DesiredFirmware:
    """The firmware a charger should run."""

    version: str
    url: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class DesiredExtras:
    """What planning needs beyond `DesiredCharger`: the firmware, and where the availability
    setting was declared (`resolve_charger` keeps its value but not its layer)."""

    firmware: DesiredFirmware | None = None
    availability_origin: Origin | None = None


def desired_extras(fleet: Fleet, loaded: Loaded[Charger]) -> DesiredExtras:
    spec = loaded.resource.spec
    firmware = None
    if spec.firmware is not None:
        origin = Origin(Layer.CHARGER, loaded.source, ("spec", "firmware", "version"))
        firmware = DesiredFirmware(spec.firmware.version, spec.firmware.url, origin)
    availability = None
    location = fleet.locations.get(spec.location)
    if spec.settings.availability is not None:
        availability = Origin(
            Layer.CHARGER, loaded.source, ("spec", "settings", "availability"), "availability"
        )
    elif (
        location is not None
        and location.resource.spec.charger_defaults.settings.availability is not None
    ):
        path = ("spec", "chargerDefaults", "settings", "availability")
        availability = Origin(Layer.LOCATION, location.source, path, "availability")
    return DesiredExtras(firmware, availability)


_NO_STATUSES: Mapping[str, KeyStatus] = MappingProxyType({})
_NO_EXTRAS = DesiredExtras()


def plan_fleet(
    fleet: Fleet,
    records: Iterable[ChargerRecord],
    statuses: Iterable[KeyStatus] = (),
) -> FleetPlan:
    """Plan every declared charger against its record (matched by identity, case-insensitively).

    `statuses` are what the reconciler recorded, as `Store.key_statuses()` returns them, of
    any chargers; records and statuses of chargers the fleet does not declare are ignored.
    """
    by_identity: dict[str, ChargerRecord] = {}
    for record in records:
        by_identity.setdefault(record.identity.lower(), record)
    terminal_by_identity: dict[str, dict[str, KeyStatus]] = {}
    for status in statuses:
        terminal_by_identity.setdefault(status.identity.lower(), {})[status.key] = status
    plans = []
    for name in sorted(fleet.chargers):
        loaded = fleet.chargers[name]
        identity = loaded.resource.identity.lower()
        plans.append(
            plan_charger(
                fleet.desired(loaded),
                by_identity.get(identity),
                terminal=terminal_by_identity.get(identity, _NO_STATUSES),
                extras=desired_extras(fleet, loaded),
            )
        )
    return FleetPlan(tuple(plans))


def plan_charger(
    desired: DesiredCharger,
    reported: ChargerRecord | None,
    *,
    terminal: Mapping[str, KeyStatus] = _NO_STATUSES,
    extras: DesiredExtras = _NO_EXTRAS,
) -> ChargerPlan:
    """The actions that would bring `reported` to `desired`.

    `terminal` is what the reconciler recorded per key (keys as in the plan: configuration
    keys, `availability`, `firmware`). A charger that never connected, or has not reported its
    configuration yet, gets no actions: there is nothing to compare with, and the reconciler
    reads the configuration before it acts.
    """
    base = ChargerPlan(
        desired.name,
        desired.identity,
        desired.version,
        PlanStatus.IN_SYNC,
        connected=reported.connected if reported is not None else None,
    )
    if reported is None or (
        reported.connected_at is None
        and reported.booted_at is None
        and reported.configuration_at is None
    ):
        return _with(base, PlanStatus.NEVER_CONNECTED)
    if reported.configuration_at is None:
        return _with(base, PlanStatus.NOT_REPORTED)
    if reported.configuration is None:
        raise ValueError(
            f"the record of {reported.identity} was loaded without its configuration; "
            "read it with Store.chargers(configuration=True)"
        )
    statuses = {key.lower(): status for key, status in terminal.items()}

    if reported.ocpp_version is not None and reported.ocpp_version != desired.version.value:
        origin = Origin(Layer.CHARGER, desired.source, ("spec", "ocppVersion"))
        mismatch = PlannedAction(
            ActionKind.CANNOT,
            VERSION_KEY,
            DesiredValue(VERSION_KEY, desired.version.value, origin),
            reported.ocpp_version,
            None,
            f"the charger connects with OCPP {reported.ocpp_version}, the fleet declares "
            f"{desired.version.value}: its configuration is not compared until they agree",
            Layer.CHARGER,
        )
        return _with(base, PlanStatus.BLOCKED, (mismatch,))

    keys, info = _compare_keys(desired, reported.configuration, statuses)
    actions = [*keys]
    if desired.availability is not None:
        action = _plan_availability(
            desired, extras.availability_origin, reported, statuses.get(AVAILABILITY_KEY)
        )
        if action is not None:
            actions.append(action)
    if extras.firmware is not None:
        action = _plan_firmware(extras.firmware, reported, statuses.get(FIRMWARE_KEY))
        if action is not None:
            actions.append(action)
    actions.sort(key=lambda a: a.drift)  # changes first, then drift: how every view lists them
    if any(a.kind is not ActionKind.CANNOT for a in actions):
        status = PlanStatus.CHANGES
    elif actions:
        status = PlanStatus.BLOCKED
    else:
        status = PlanStatus.IN_SYNC
    return _with(base, status, tuple(actions), info)


def _with(
    base: ChargerPlan,
    status: PlanStatus,
    actions: tuple[PlannedAction, ...] = (),
    info: tuple[ReportedKey, ...] = (),
) -> ChargerPlan:
    return ChargerPlan(
        base.name, base.identity, base.version, status, actions, info, connected=base.connected
    )


# --- configuration keys ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Declared:
    """One declared key, normalised; `value` is None when the declaration does not parse."""

    desired: DesiredValue
    spec: Spec
    value: Value | None
    wire: str | None
    error: str | None


def _compare_keys(
    desired: DesiredCharger,
    reported: tuple[ReportedKey, ...],
    statuses: Mapping[str, KeyStatus],
) -> tuple[list[PlannedAction], tuple[ReportedKey, ...]]:
    """Declared keys against reported ones, compared structurally.

    Both sides become dicts of normalised values (ints, bools, frozensets for unordered
    lists, tuples for ordered ones), so equality of normalised values is what "in sync" means;
    DeepDiff then says, for the list keys that differ, which members were added or removed,
    which is what a reason should say (see `_differences`).
    """
    hands_off = {key.lower() for key in desired.unmanaged}
    declared: dict[str, _Declared] = {}
    for value in (*desired.configuration.values(), *desired.vendor_configuration.values()):
        if value.key.lower() in hands_off or value.key in declared:
            continue
        declared[value.key] = _declare(desired.version, value)

    found = _match_reported(desired.version, declared, reported)
    matched = {id(r) for r in found.values()}
    info = tuple(r for r in reported if id(r) not in matched)

    want: dict[str, Any] = {}
    have: dict[str, Any] = {}
    for key, item in declared.items():
        if item.value is None:
            continue
        want[key] = item.value
        if key in found:
            have[key] = _reported_value(item.spec, found[key].value)
    details = _differences(want, have)

    actions: list[PlannedAction] = []
    for key, item in declared.items():
        report = found.get(key)
        if item.value is None:
            reason = f"the declared value is invalid: {item.error}"
            shown = report.value if report is not None else None
            actions.append(_action(ActionKind.CANNOT, item, shown, reason))
            continue
        status = statuses.get(key.lower())
        if status is not None and not _same_value(item, status.value):
            status = None  # recorded for an earlier desired value
        action = _plan_key(item, report, key in details, details.get(key, ""), status)
        if action is not None:
            actions.append(action)
    return actions, info


def _declare(version: OcppVersion, item: DesiredValue) -> _Declared:
    spec = CATALOGUES[version].spec(item.key) or _inferred_spec(version, item.key, item.value)
    try:
        value = parse_value(spec, item.value)
        return _Declared(item, spec, value, format_value(spec, value), None)
    except ValueError as exc:
        return _Declared(item, spec, None, None, str(exc))


def _inferred_spec(version: OcppVersion, key: str, value: ConfigValue) -> Spec:
    """A spec for a key the catalogue does not know, typed after the declared value.

    Lists keep their order: for a vendor list, chargectl cannot know that order carries no
    meaning, and a spurious change is safer than a missed one.
    """
    kind = (
        ValueType.BOOLEAN
        if isinstance(value, bool)
        else ValueType.INTEGER
        if isinstance(value, int)
        else ValueType.LIST
        if isinstance(value, list)
        else ValueType.STRING
    )
    ordered = kind is ValueType.LIST
    return CATALOGUES[version].vendor_spec(key, kind, ordered)


def _match_reported(
    version: OcppVersion, declared: Mapping[str, _Declared], reported: tuple[ReportedKey, ...]
) -> dict[str, ReportedKey]:
    """Reported keys by declared key. 1.6 key names compare case-insensitively; 2.0.1 names
    exactly, then case-insensitively for stations that spell them their own way."""
    catalogue = CATALOGUES[version]
    exact = {r.key: r for r in reversed(reported)}
    folded = {r.key.lower(): r for r in reversed(reported)}
    found: dict[str, ReportedKey] = {}
    for key in declared:
        match = exact.get(key) if catalogue.exact_names else None
        if match is None:
            match = folded.get(key.lower())
        if match is not None:
            found[key] = match
    return found


def _reported_value(spec: Spec, raw: str | None) -> Any:
    """The reported text normalised like the declaration; left as text when it does not
    parse, so it compares unequal (a type change) and is shown as the charger sent it."""
    if raw is None:
        return None
    try:
        return parse_value(spec, raw)
    except ValueError:
        return raw


def _differences(want: dict[str, Any], have: dict[str, Any]) -> dict[str, str]:
    """The declared keys whose reported value differs (or is missing), each with what DeepDiff
    says of it.

    Scalars that differ need no more words than their old and new values, so DeepDiff, which
    costs a few hundred microseconds a call, only sees the keys whose both sides are lists:
    a reconcile pass plans every connected charger, thousands at once after a restart. Order
    is kept significant (no `ignore_order`): unordered lists are frozensets already, which
    DeepDiff compares as sets, while ordered ones (TimeSource, NetworkConfigurationPriority)
    must not have their order ignored."""
    missing = object()
    differing = [key for key, value in want.items() if have.get(key, missing) != value]
    details = dict.fromkeys(differing, "")
    lists = [
        key
        for key in differing
        if isinstance(want[key], frozenset | tuple) and isinstance(have.get(key), frozenset | tuple)
    ]
    if lists:
        details.update(_details({k: want[k] for k in lists}, {k: have[k] for k in lists}))
    return details


def _details(want: dict[str, Any], have: dict[str, Any]) -> dict[str, str]:
    """Per differing key, what DeepDiff found: members added and removed for set-valued keys,
    an empty text for anything else (the old and new values say it)."""
    # threshold_to_diff_deeper=0: by default DeepDiff reports two dicts sharing few keys as
    # one replaced root, and a charger that reported little must still get one action per key.
    diff = DeepDiff(want, have, view="tree", threshold_to_diff_deeper=0)
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    details: dict[str, str] = {}
    for report_type, levels in diff.items():
        for level in levels:
            path = level.path(output_format="list")
            if not path:
                continue
            key = str(path[0])
            details.setdefault(key, "")
            # t1 is the declared side and t2 the reported one: a member only the fleet has
            # is one the plan adds.
            if report_type == "set_item_removed":
                added.setdefault(key, []).append(str(level.t1))
            elif report_type == "set_item_added":
                removed.setdefault(key, []).append(str(level.t2))
    for key in details:
        parts = []
        if key in added:
            parts.append("adds " + ", ".join(sorted(added[key])))
        if key in removed:
            parts.append("removes " + ", ".join(sorted(removed[key])))
        details[key] = "; ".join(parts)
    return details


def reads_as_declared(version: OcppVersion, desired: DesiredValue, seen: str | None) -> bool:
    """Whether a value read back from a charger is the declared one, compared exactly as
    planning compares (catalogue type, or the type of the declared value for vendor keys), so
    the reconciler never calls "not applied" what a plan would call in sync."""
    if seen is None:
        return False
    item = _declare(version, desired)
    if item.value is None:
        return False
    return bool(_reported_value(item.spec, seen) == item.value)


def _same_value(item: _Declared, recorded: str) -> bool:
    """Whether a status was recorded for the value declared now (compared normalised)."""
    if item.wire == recorded:
        return True
    try:
        return parse_value(item.spec, recorded) == item.value
    except ValueError:
        return False


def _plan_key(
    item: _Declared,
    report: ReportedKey | None,
    differs: bool,
    detail: str,
    status: KeyStatus | None,
) -> PlannedAction | None:
    unreadable = report is not None and (
        report.value is None or item.spec.mutability is Mutability.WRITE_ONLY
    )
    if unreadable:
        # A write-only key (a password) or a value kept back cannot be compared: trust the
        # reconciler's word that this value was applied, and plan it otherwise.
        if status is not None and status.state is KeyState.APPLIED:
            return None
        differs = True
    if not differs:
        return None
    reported = None if report is None else report.value
    if status is not None and status.state in TERMINAL_STATES:
        return _action(ActionKind.CANNOT, item, reported, _terminal_reason(status))
    if report is not None and report.readonly:
        return _action(ActionKind.CANNOT, item, reported, "read-only on the charger")
    if item.spec.mutability is Mutability.READ_ONLY:
        return _action(ActionKind.CANNOT, item, reported, "read-only in OCPP")
    kind = ActionKind.ADD_KEY if report is None else ActionKind.SET_KEY
    if status is not None and status.state is KeyState.APPLIED and not unreadable:
        return _action(
            kind, item, reported, f"drifted since applied at {iso_seconds(status.at)}", True
        )
    if unreadable:
        reason = "the charger does not show this value, so it is sent"
    elif report is None:
        reason = REASON_NOT_REPORTED
    elif detail:
        reason = detail
    elif not isinstance(_reported_value(item.spec, reported), type(item.value)):
        reason = "the charger reports a value that is not valid for this key"
    else:
        reason = REASON_DIFFERS
    if status is not None:
        reason = f"{_progress(status)}; {reason}"
    return _action(kind, item, reported, reason)


def _action(
    kind: ActionKind, item: _Declared, reported: str | None, reason: str, drift: bool = False
) -> PlannedAction:
    desired = item.desired
    return PlannedAction(
        kind, desired.key, desired, reported, item.wire, reason, desired.origin.layer, drift
    )


def _terminal_reason(status: KeyStatus) -> str:
    what = {
        KeyState.REJECTED: "rejected by the charger",
        KeyState.NOT_SUPPORTED: "not supported by the charger",
    }.get(status.state, "not applied by the charger")
    detail = f": {status.detail}" if status.detail else ""
    return (
        f"{what} at {iso_seconds(status.at)}{detail}; not retried until the declared value changes"
    )


def _progress(status: KeyStatus) -> str:
    if status.state is KeyState.PENDING:
        return f"pending since {iso_seconds(status.at)}"
    if status.state is KeyState.REBOOT_REQUIRED:
        return f"accepted at {iso_seconds(status.at)}, takes effect after a reboot"
    return f"{status.state.value} at {iso_seconds(status.at)}"


# --- availability and firmware -----------------------------------------------------------------


_INOPERATIVE_STATUS = "Unavailable"
_NO_AVAILABILITY = frozenset({"Faulted"})
"""A faulted connector says nothing about whether it was set Operative or Inoperative."""


def reported_availability(record: ChargerRecord) -> str | None:
    """Operative/Inoperative from the connector statuses; None when none tells.

    Connector 0 (the charger as a whole, OCPP 1.6) decides when it reported; otherwise the
    connectors (2.0.1 EVSEs) together: Inoperative when all are Unavailable, and "mixed" when
    only some are, which differs from either declared value.
    """
    known = {
        c.connector_id: c.status for c in record.connectors if c.status not in _NO_AVAILABILITY
    }
    if 0 in known:
        return _availability_of(known[0])
    states = {_availability_of(status) for status in known.values()}
    if not states:
        return None
    return states.pop() if len(states) == 1 else "mixed"


def _availability_of(status: str) -> str:
    return (
        Availability.INOPERATIVE.value
        if status == _INOPERATIVE_STATUS
        else Availability.OPERATIVE.value
    )


def _plan_availability(
    desired: DesiredCharger,
    origin: Origin | None,
    record: ChargerRecord,
    status: KeyStatus | None,
) -> PlannedAction | None:
    assert desired.availability is not None
    want = desired.availability.value
    have = reported_availability(record)
    if have == want:
        return None
    where = origin or Origin(Layer.CHARGER, desired.source, ("spec", "settings", "availability"))
    item = DesiredValue(AVAILABILITY_KEY, want, where)
    return _plan_other(ActionKind.CHANGE_AVAILABILITY, item, have, want, status)


def _plan_firmware(
    firmware: DesiredFirmware, record: ChargerRecord, status: KeyStatus | None
) -> PlannedAction | None:
    have = record.boot.firmware_version if record.boot is not None else None
    if have is not None and have.strip() == firmware.version.strip():
        return None
    item = DesiredValue(FIRMWARE_KEY, firmware.version, firmware.origin)
    return _plan_other(ActionKind.FIRMWARE, item, have, firmware.url, status)


def _plan_other(
    kind: ActionKind,
    item: DesiredValue,
    reported: str | None,
    wire: str,
    status: KeyStatus | None,
) -> PlannedAction:
    """Availability and firmware, with the same use of recorded statuses as keys."""
    if status is not None and status.value not in (wire, item.value):
        status = None
    layer = item.origin.layer
    if status is not None and status.state in TERMINAL_STATES:
        reason = _terminal_reason(status)
        return PlannedAction(ActionKind.CANNOT, item.key, item, reported, wire, reason, layer)
    if status is not None and status.state is KeyState.APPLIED:
        reason = f"drifted since applied at {iso_seconds(status.at)}"
        return PlannedAction(kind, item.key, item, reported, wire, reason, layer, True)
    reason = REASON_NOT_REPORTED if reported is None else REASON_DIFFERS
    if status is not None:
        reason = f"{_progress(status)}; {reason}"
    return PlannedAction(kind, item.key, item, reported, wire, reason, layer)
