"""When a charger may be rebooted or updated: its reboot policy, its location's maintenance
window (weekly ranges in the location's timezone), and whether it is idle.

Pure functions: the reconciler and firmware rollouts ask, `chargectl plan` explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from controller.planning.wallclock import MINUTES_PER_WEEK, minute_of_week
from controller.resources.charger import RebootPolicy
from controller.resources.common import WeeklyTimeRange

_WEEK = MINUTES_PER_WEEK


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


def in_window(windows: Sequence[WeeklyTimeRange], at: datetime, timezone: str) -> bool:
    """Whether `at` (wall clock of the location) falls in one of the weekly windows."""
    minute = minute_of_week(at, timezone)
    return any(
        start <= minute < end or start <= minute + _WEEK < end
        for window in windows
        for start, end in window.intervals()
    )


def next_window_start(
    windows: Sequence[WeeklyTimeRange], at: datetime, timezone: str
) -> datetime | None:
    """The next moment a window opens (minute resolution), within a week; None without windows."""
    if not windows:
        return None
    minute = minute_of_week(at, timezone)
    starts = sorted({start % _WEEK for window in windows for start, _ in window.intervals()})
    ahead = min((start - minute) % _WEEK or _WEEK for start in starts)
    return (at + timedelta(minutes=ahead)).replace(second=0, microsecond=0)


def may_reboot(
    policy: RebootPolicy,
    *,
    idle: bool,
    windows: Sequence[WeeklyTimeRange],
    timezone: str,
    at: datetime,
) -> Decision:
    """Whether a change that needs a reboot may reboot the charger now, and why (not)."""
    if policy is RebootPolicy.NEVER:
        return Decision(False, "rebootPolicy is Never: waiting for someone to reboot it")
    if not idle:
        return Decision(False, "a transaction is running: waiting until the charger is idle")
    if policy is RebootPolicy.WHEN_IDLE:
        return Decision(True, "idle, and rebootPolicy is WhenIdle")
    if not windows:
        return Decision(False, "rebootPolicy is MaintenanceWindow but the location has none")
    if in_window(windows, at, timezone):
        return Decision(True, "idle and inside the maintenance window")
    opens = next_window_start(windows, at, timezone)
    when = opens.astimezone(ZoneInfo(timezone)).strftime("%a %H:%M") if opens else "?"
    return Decision(False, f"outside the maintenance window: waiting until {when}")
