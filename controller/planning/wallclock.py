"""Weekly wall-clock times in a location's timezone: one copy of the arithmetic that tariffs,
power schedules and maintenance windows share.

Weekly ranges (`WeeklyTimeRange.intervals()`) are minutes of the week, Monday 00:00 being 0,
read on the location's wall clock, so office hours stay 08:00-18:00 across daylight saving
changes. Two questions follow, answered here once: which minute of the week an instant is
(`minute_of_week`), and at which instants the wall clock reads given minutes of the week or
jumps (`wall_instants`, `offset_changes`), which is where a limit or a price may change.
Pure, on zoneinfo.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY

_MICROSECOND = timedelta(microseconds=1)
_OFFSET_SCAN_STEP = timedelta(hours=1)


def minute_of_week(at: datetime, zone: ZoneInfo | str) -> int:
    """The minute of the week `at` (aware) reads on the wall clock of `zone`."""
    local = at.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)
    return local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute


def wall_instants(
    minutes: Iterable[int], zone: ZoneInfo, start: datetime, end: datetime
) -> set[datetime]:
    """Instants (UTC) around [start, end], from the day before to the day after, at which the
    wall clock of `zone` reads one of these minutes of the week (taken modulo a week).

    A wall time in a repeated hour happens twice and both are taken; one in a skipped hour maps
    to an instant near the jump. Callers keep the instants in the range they need.
    """
    by_weekday: dict[int, set[int]] = {}
    for minute in minutes:
        weekday, of_day = divmod(minute % MINUTES_PER_WEEK, MINUTES_PER_DAY)
        by_weekday.setdefault(weekday, set()).add(of_day)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    found: set[datetime] = set()
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        day = date.fromordinal(ordinal)
        midnight = datetime.combine(day, time())
        for of_day in by_weekday.get(day.weekday(), ()):
            wall = midnight + timedelta(minutes=of_day)
            for fold in (0, 1):
                found.add(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC))
    return found


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Instants (UTC) in (start, end] at which the zone's UTC offset changes: the wall clock
    jumps there, past whatever minutes it skips.

    zoneinfo does not list its transitions, so the offset is compared hour by hour and a
    change narrowed down to the microsecond; zones do not change their offset twice within an
    hour.
    """
    found: list[datetime] = []
    before, offset = start, start.astimezone(zone).utcoffset()
    while before < end:
        after = min(before + _OFFSET_SCAN_STEP, end)
        new_offset = after.astimezone(zone).utcoffset()
        if new_offset != offset:
            low, high = before, after
            while high - low > _MICROSECOND:
                middle = low + (high - low) // 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high.astimezone(UTC))
        before, offset = after, new_offset
    return [moment for moment in found if start < moment <= end]
