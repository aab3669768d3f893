"""Plans for people: Terraform-style text, as `chargectl plan` prints it.

The machine-readable form is `controller.planning.document`; `--server` plans are read back
from it and printed here exactly as a local plan is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click

from controller.fleet.reporting import plural
from controller.planning.document import shown_desired
from controller.planning.keys import (
    REASON_DIFFERS,
    REASON_NOT_REPORTED,
    ActionKind,
    ChargerPlan,
    FleetPlan,
    PlannedAction,
    PlanStatus,
)

_MAX_VALUE_COLUMN = 48
"""Values longer than this (measurand lists) do not widen the column for every other line."""

_HEADLINES: Mapping[PlanStatus, str] = {
    PlanStatus.CHANGES: "will be updated",
    PlanStatus.BLOCKED: "differs, and nothing can be applied",
    PlanStatus.NOT_REPORTED: "is connected but has not reported its configuration yet",
    PlanStatus.NEVER_CONNECTED: "has never connected",
}

_WAITING = (PlanStatus.NOT_REPORTED, PlanStatus.NEVER_CONNECTED)
"""Chargers with nothing to compare yet: one line each, after the ones that differ."""

_COLOURS: Mapping[str, str] = {"~": "yellow", "+": "green", "!": "red"}


# --- human -------------------------------------------------------------------------------------


def format_plan_human(plan: FleetPlan, *, base: Path | None = None) -> str:
    """Every charger that is not in sync, then the summary line.

    File names are shown relative to `base` (the fleet directory) when they are inside it.
    """
    out: list[str] = []
    for charger in plan.chargers:
        if charger.status in (PlanStatus.CHANGES, PlanStatus.BLOCKED):
            out.extend(_charger_lines(charger, base))
            out.append("")
    waiting = [c for c in plan.chargers if c.status in _WAITING]
    for charger in sorted(waiting, key=lambda c: _WAITING.index(c.status)):
        out.extend(_charger_lines(charger, base))
    if waiting:
        out.append("")
    out.append(summary_line(plan))
    return "\n".join(out)


def summary_line(plan: FleetPlan) -> str:
    """`Plan: 4 chargers to change, 12 in sync, 2 never connected.`, plus what else applies."""
    summary = plan.summary
    changing = f"{plural(summary.to_change, 'charger')} to change"
    if summary.drifted:
        changing += f" ({summary.drifted} drifted)"
    parts = [changing, f"{summary.in_sync} in sync"]
    if summary.blocked:
        parts.append(f"{summary.blocked} blocked")
    if summary.not_reported:
        parts.append(f"{summary.not_reported} not reported yet")
    parts.append(f"{summary.never_connected} never connected")
    return f"Plan: {', '.join(parts)}."


def _charger_lines(charger: ChargerPlan, base: Path | None) -> list[str]:
    title = f"{charger.identity}, OCPP {charger.version.value}"
    lines = [
        "  "
        + click.style(f"# charger {charger.name} ({title}) {_HEADLINES[charger.status]}", bold=True)
    ]
    if not charger.actions:
        return lines
    key_width = max(len(a.key) for a in charger.actions)
    middles = [_middle(a) for a in charger.actions]
    middle_width = min(max(len(m) for m in middles), _MAX_VALUE_COLUMN)
    for action, middle in zip(charger.actions, middles, strict=True):
        symbol = action.kind.symbol
        tail = _tail(action, base)
        text = f"{action.key:<{key_width}}  {middle:<{middle_width}}"
        text = f"{text}  {tail}" if tail else text
        lines.append(f"  {click.style(symbol, fg=_COLOURS[symbol], bold=True)} {text.rstrip()}")
    if charger.info:
        count = len(charger.info)
        lines.append(
            f"    ({count} more {'key' if count == 1 else 'keys'} reported and not declared)"
        )
    return lines


def _middle(action: PlannedAction) -> str:
    """Old -> new, or for what cannot be applied, why not."""
    if action.kind is ActionKind.CANNOT:
        return action.reason
    old = "(not reported)" if action.reported is None else _quoted(action.reported)
    new = shown_desired(action)
    return f"{old} -> {'(unknown)' if new is None else _quoted(new)}"


def _tail(action: PlannedAction, base: Path | None) -> str:
    parts = []
    if action.kind is ActionKind.CANNOT:
        if action.reported is not None:
            parts.append(f"reports {_quoted(action.reported)}")
        desired = shown_desired(action)
        if desired is not None:
            parts.append(f"declared {_quoted(desired)}")
    elif action.reason not in (REASON_DIFFERS, REASON_NOT_REPORTED):
        parts.append(action.reason)
    where = _origin_text(action, base)
    if where:
        parts.append(where)
    return f"({'; '.join(parts)})" if parts else ""


def _origin_text(action: PlannedAction, base: Path | None) -> str:
    if action.desired is None:
        return action.layer.value if action.layer is not None else ""
    origin = action.desired.origin
    if origin.source is None:
        return origin.layer.value
    return f"{origin.layer.value}: {_relative(origin.source.file, base)}"


def _relative(file: str, base: Path | None) -> str:
    if base is None:
        return file
    try:
        return Path(file).resolve().relative_to(base.resolve()).as_posix()
    except (ValueError, OSError):
        return file


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
