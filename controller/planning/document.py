"""A plan as a versioned JSON document, and back.

The same document is printed by `chargectl plan --output json` and answered by the server at
`/api/plan`, so `chargectl plan --server` reads it back (`plan_from_json`) and prints it as a
local plan is printed. Changes and drift are kept apart in it: a change is the fleet moving,
drift is a charger moving away from what was applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from controller.fleet.model import DesiredValue, Layer, Origin
from controller.fleet.problems import Source
from controller.planning.keys import (
    ActionKind,
    ChargerPlan,
    FleetPlan,
    PlannedAction,
    PlanStatus,
)
from controller.resources.settings import ConfigValue, OcppVersion
from controller.values.records import ReportedKey

PLAN_FORMAT_VERSION = 1
"""Bumped when a field changes meaning or goes away; new fields may appear without a bump."""


def shown_desired(action: PlannedAction) -> str | None:
    """The new value as a person reads it: the firmware version rather than its URL."""
    if action.kind is ActionKind.FIRMWARE and action.desired is not None:
        return str(action.desired.value)
    return action.wire_value


def format_plan_json(plan: FleetPlan) -> str:
    return json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False)


def plan_to_json(plan: FleetPlan) -> dict[str, Any]:
    """The plan as a JSON-ready document (`formatVersion` 1)."""
    summary = plan.summary
    return {
        "formatVersion": PLAN_FORMAT_VERSION,
        "summary": {
            "toChange": summary.to_change,
            "inSync": summary.in_sync,
            "blocked": summary.blocked,
            "notReported": summary.not_reported,
            "neverConnected": summary.never_connected,
            "drifted": summary.drifted,
            "hasChanges": plan.has_changes,
        },
        "chargers": [_charger_json(c) for c in plan.chargers],
    }


def _charger_json(charger: ChargerPlan) -> dict[str, Any]:
    return {
        "name": charger.name,
        "identity": charger.identity,
        "ocppVersion": charger.version.value,
        "status": charger.status.value,
        "connected": charger.connected,
        "changes": [_action_json(a) for a in charger.changes],
        "drift": [_action_json(a) for a in charger.drift],
        "undeclared": [
            {"key": k.key, "value": k.value, "readonly": k.readonly} for k in charger.info
        ],
    }


def _action_json(action: PlannedAction) -> dict[str, Any]:
    desired = action.desired
    origin = desired.origin if desired is not None else None
    return {
        "kind": action.kind.value,
        "symbol": action.kind.symbol,
        "key": action.key,
        "reported": action.reported,
        "desired": shown_desired(action),
        "wire": action.wire_value,
        "declared": desired.value if desired is not None else None,
        "reason": action.reason,
        "layer": action.layer.value if action.layer is not None else None,
        "origin": None
        if origin is None
        else {
            "file": origin.source.file if origin.source is not None else None,
            "document": origin.source.document if origin.source is not None else None,
            "path": list(origin.path),
            "setting": origin.setting,
        },
    }


class PlanFormatError(ValueError):
    """A plan document this version of chargectl cannot read."""


def plan_from_json(document: object) -> FleetPlan:
    """A plan document (as `plan_to_json` writes it) back into a `FleetPlan`.

    Raises PlanFormatError naming the first field that is missing or of the wrong type.
    """
    root = _mapping(document, "the document")
    version = root.get("formatVersion")
    if version != PLAN_FORMAT_VERSION:
        raise PlanFormatError(
            f"plan format version {version!r} is not supported (this chargectl reads "
            f"{PLAN_FORMAT_VERSION})"
        )
    chargers = _field(root, "chargers", list, "the document")
    return FleetPlan(
        tuple(_charger_from(item, f"chargers[{i}]") for i, item in enumerate(chargers))
    )


def _charger_from(item: object, where: str) -> ChargerPlan:
    data = _mapping(item, where)
    changes = _field(data, "changes", list, where)
    drift = _field(data, "drift", list, where)
    actions = [_action_from(a, f"{where}.changes[{i}]", False) for i, a in enumerate(changes)]
    actions += [_action_from(a, f"{where}.drift[{i}]", True) for i, a in enumerate(drift)]
    info = []
    for i, raw in enumerate(_field(data, "undeclared", list, where)):
        key = _mapping(raw, f"{where}.undeclared[{i}]")
        info.append(
            ReportedKey(
                _field(key, "key", str, where),
                _optional(key, "value", str, where),
                bool(key.get("readonly", False)),
            )
        )
    return ChargerPlan(
        name=_field(data, "name", str, where),
        identity=_field(data, "identity", str, where),
        version=_enum(OcppVersion, _field(data, "ocppVersion", str, where), where),
        status=_enum(PlanStatus, _field(data, "status", str, where), where),
        actions=tuple(actions),
        info=tuple(info),
        connected=_optional(data, "connected", bool, where),
    )


def _action_from(item: object, where: str, drift: bool) -> PlannedAction:
    data = _mapping(item, where)
    key = _field(data, "key", str, where)
    kind = _enum(ActionKind, _field(data, "kind", str, where), where)
    layer_text = _optional(data, "layer", str, where)
    layer = _enum(Layer, layer_text, where) if layer_text is not None else None
    desired: DesiredValue | None = None
    origin_data = data.get("origin")
    if origin_data is not None and layer is not None:
        origin = _mapping(origin_data, f"{where}.origin")
        file = _optional(origin, "file", str, where)
        document = origin.get("document") or 0
        if not isinstance(document, int):
            raise PlanFormatError(f"{where}.origin.document: expected an integer")
        path = _field(origin, "path", list, where)
        source = Source(file, document) if file is not None else None
        desired = DesiredValue(
            key,
            _declared(data.get("declared"), where),
            Origin(
                layer,
                source,
                tuple(p for p in path if isinstance(p, str | int)),
                _optional(origin, "setting", str, where),
            ),
        )
    return PlannedAction(
        kind=kind,
        key=key,
        desired=desired,
        reported=_optional(data, "reported", str, where),
        wire_value=_optional(data, "wire", str, where),
        reason=_field(data, "reason", str, where),
        layer=layer,
        drift=drift,
    )


def _declared(value: object, where: str) -> ConfigValue:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise PlanFormatError(f"{where}.declared: expected a boolean, integer, string or list")


_T = TypeVar("_T")
_E = TypeVar("_E", ActionKind, PlanStatus, Layer, OcppVersion)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PlanFormatError(f"{where}: expected an object")
    return value


def _field(data: Mapping[str, Any], name: str, kind: type[_T], where: str) -> _T:
    value = data.get(name)
    if not isinstance(value, kind):
        raise PlanFormatError(f"{where}.{name}: expected {kind.__name__}, got {value!r}")
    return value


def _optional(data: Mapping[str, Any], name: str, kind: type[_T], where: str) -> _T | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise PlanFormatError(f"{where}.{name}: expected {kind.__name__} or null, got {value!r}")
    return value


def _enum(enum: type[_E], value: str, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise PlanFormatError(f"{where}: {value!r} is not one of {allowed}") from None


def only_chargers(plan: FleetPlan, names: Sequence[str]) -> FleetPlan:
    """The plan of these chargers only, in the plan's order."""
    wanted = set(names)
    return FleetPlan(tuple(c for c in plan.chargers if c.name in wanted))
