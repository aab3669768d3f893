"""Reboot decisions: policy, idleness and the location's maintenance window."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.planning.maintenance import in_window, may_reboot, next_window_start
from controller.resources.charger import RebootPolicy
from controller.resources.common import Weekday, WeeklyTimeRange

NIGHTS = [WeeklyTimeRange(days=list(Weekday), start="02:00", end="05:00")]
WEEKEND_WRAP = [WeeklyTimeRange(days=[Weekday.SUNDAY], start="22:00", end="02:00")]
AMS = "Europe/Amsterdam"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_window_is_read_in_the_locations_time() -> None:
    # 01:30 UTC in winter is 02:30 in Amsterdam: inside 02:00-05:00 local
    assert in_window(NIGHTS, utc("2026-01-14T01:30:00"), AMS)
    assert not in_window(NIGHTS, utc("2026-01-14T00:30:00"), AMS)
    # summer time: 01:30 UTC is 03:30 local
    assert in_window(NIGHTS, utc("2026-07-14T01:30:00"), AMS)


def test_a_window_that_wraps_past_midnight_covers_the_next_morning() -> None:
    assert in_window(WEEKEND_WRAP, utc("2026-11-29T23:30:00"), "UTC")  # Sunday 23:30
    assert in_window(WEEKEND_WRAP, utc("2026-11-30T01:30:00"), "UTC")  # Monday 01:30
    assert not in_window(WEEKEND_WRAP, utc("2026-11-30T02:00:00"), "UTC")


def test_the_next_window_start_is_the_coming_opening() -> None:
    assert next_window_start(NIGHTS, utc("2026-01-14T12:00:00"), "UTC") == utc(
        "2026-01-15T02:00:00"
    )
    assert next_window_start([], utc("2026-01-14T12:00:00"), "UTC") is None


def test_never_means_never_even_when_idle_in_the_window() -> None:
    decision = may_reboot(
        RebootPolicy.NEVER,
        idle=True,
        windows=NIGHTS,
        timezone="UTC",
        at=utc("2026-01-14T03:00:00"),
    )
    assert not decision.allowed and "Never" in decision.reason


def test_when_idle_waits_for_running_transactions() -> None:
    busy = may_reboot(
        RebootPolicy.WHEN_IDLE,
        idle=False,
        windows=[],
        timezone="UTC",
        at=utc("2026-01-14T12:00:00"),
    )
    idle = may_reboot(
        RebootPolicy.WHEN_IDLE, idle=True, windows=[], timezone="UTC", at=utc("2026-01-14T12:00:00")
    )
    assert not busy.allowed and "transaction" in busy.reason
    assert idle.allowed


def test_maintenance_window_needs_both_idle_and_the_window() -> None:
    outside = may_reboot(
        RebootPolicy.MAINTENANCE_WINDOW,
        idle=True,
        windows=NIGHTS,
        timezone="UTC",
        at=utc("2026-01-14T12:00:00"),
    )
    inside = may_reboot(
        RebootPolicy.MAINTENANCE_WINDOW,
        idle=True,
        windows=NIGHTS,
        timezone="UTC",
        at=utc("2026-01-14T03:00:00"),
    )
    assert not outside.allowed and "waiting until Thu 02:00" in outside.reason
    assert inside.allowed
