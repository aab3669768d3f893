"""What the dashboard and the location page derive from the store: pure, tested without a server.

- Days and hours are local: the store sums transactions in UTC buckets aligned to UTC midnight
  (`Store.transaction_totals`), and a page folds 15-minute buckets into the days of a timezone
  (the viewer's on the dashboard, the location's own on its page). Every offset in use is a
  whole number of quarter hours, so a 15-minute bucket never straddles a local midnight.
- Utilisation by hour of day: the share of connector time in use during each local hour over a
  window, from the sessions' start and stop (an open session runs until now). A session is
  spread over the hours it covers, not counted in the hour it started.
- Sync state, kept apart from connection as Argo CD keeps sync apart from health: what the
  reconciler recorded (the `Synced` condition, and the key statuses it will not retry), never
  recomputed from a plan.
- Attention: why a charger needs someone to look at it.
- Pages of a list that is newest first, found through per-day counts so that only the
  transactions on the page are read.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from controller.planning.keys import FIRMWARE_KEY, TERMINAL_STATES
from controller.values.records import ChargerCondition, KeyStatus, TransactionBucket

QUARTER = timedelta(minutes=15)
"""The bucket the store sums in for local days and hours: every offset is whole quarters."""

DAY = timedelta(days=1)

WINDOW_DAYS = 30
"""Days of the charts: the last 30, today included."""

OFFLINE_AFTER = timedelta(minutes=15)
"""A declared charger disconnected for longer than this needs attention (a charger that
reboots for a firmware update or a configuration change is back well within it)."""

FAULTED = "Faulted"
"""The connector status that needs attention (the same word in OCPP 1.6 and 2.0.1)."""


# --- local days ----------------------------------------------------------------------------------


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """The first instant of a local day, in UTC (a day after a DST change has 23 or 25 hours)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def last_days(now: datetime, zone: tzinfo, days: int = WINDOW_DAYS) -> list[date]:
    """The `days` local days ending today, oldest first."""
    today = now.astimezone(zone).date()
    return [today - timedelta(days=back) for back in range(days - 1, -1, -1)]


@dataclass(frozen=True, slots=True)
class DayTotal:
    """Transactions that started on one local day."""

    day: date
    sessions: int
    energy_wh: int


def fold_days(
    buckets: Iterable[TransactionBucket], zone: tzinfo, days: Sequence[date]
) -> list[DayTotal]:
    """One total per day of `days` (zero where nothing started), from UTC buckets."""
    sessions = dict.fromkeys(days, 0)
    energy = dict.fromkeys(days, 0)
    for bucket in buckets:
        day = bucket.start.astimezone(zone).date()
        if day in sessions:
            sessions[day] += bucket.sessions
            energy[day] += bucket.energy_wh
    return [DayTotal(day, sessions[day], energy[day]) for day in days]


@dataclass(frozen=True, slots=True)
class Totals:
    sessions: int = 0
    energy_wh: int = 0


def totals_since(buckets: Iterable[TransactionBucket], since: datetime) -> Totals:
    """What started at or after `since` (a bucket's start decides)."""
    sessions = energy = 0
    for bucket in buckets:
        if bucket.start >= since:
            sessions += bucket.sessions
            energy += bucket.energy_wh
    return Totals(sessions, energy)


# --- utilisation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HourUse:
    """One local hour of the day over a window: connector time in use, and its share."""

    hour: int
    busy_seconds: float
    available_seconds: float

    @property
    def share(self) -> float:
        """0..1; sessions overlapping on one connector (a missed stop) do not exceed 1."""
        if self.available_seconds <= 0:
            return 0.0
        return min(1.0, self.busy_seconds / self.available_seconds)


def utilisation_by_hour(
    sessions: Iterable[tuple[datetime, datetime | None]],
    zone: tzinfo,
    since: datetime,
    until: datetime,
    connectors: int,
) -> list[HourUse]:
    """For each local hour 0..23: the connector seconds in use within [since, until) against
    those available (`connectors` × the window's seconds falling in that hour).

    `sessions` are (started, stopped) with stopped None for one still open (it runs until
    `until`). The window is cut in UTC quarter hours, whose local hour is looked up once each.
    """
    first = _quarter_floor(since)
    count = max(0, int((until - first) / QUARTER) + 1)
    hours = [(first + QUARTER * i).astimezone(zone).hour for i in range(count)]
    available = [0.0] * 24
    for index, hour in enumerate(hours):
        start = max(since, first + QUARTER * index)
        end = min(until, first + QUARTER * (index + 1))
        if end > start:
            available[hour] += (end - start).total_seconds() * connectors
    busy = [0.0] * 24
    for started, stopped in sessions:
        start = max(started, since)
        end = min(stopped if stopped is not None else until, until)
        if end <= start:
            continue
        index = int((_quarter_floor(start) - first) / QUARTER)
        at = start
        while at < end and index < count:
            edge = min(end, first + QUARTER * (index + 1))
            busy[hours[index]] += (edge - at).total_seconds()
            at = edge
            index += 1
    return [HourUse(hour, busy[hour], available[hour]) for hour in range(24)]


def _quarter_floor(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


# --- sync state ----------------------------------------------------------------------------------


class Sync(enum.StrEnum):
    """A charger's sync state, apart from whether it is connected."""

    SYNCED = "Synced"
    """The reconciler's Synced condition is True: the charger is as the fleet declares."""
    OUT_OF_SYNC = "OutOfSync"
    """Synced is False and what differs can still be applied (pending, in flight)."""
    BLOCKED = "Blocked"
    """Synced is False and the reconciler recorded a value it will not try again (Rejected,
    NotSupported, Failed: a key, or the firmware) until the declaration changes."""
    UNKNOWN = "Unknown"
    """Not reconciled yet (never connected, or no pass since the store was new)."""


def synced_conditions(conditions: Iterable[ChargerCondition]) -> dict[str, ChargerCondition]:
    """The Synced condition of each charger, by lower-cased identity."""
    return {c.identity.lower(): c for c in conditions if c.type == "Synced"}


def sync_state(synced: ChargerCondition | None, statuses: Sequence[KeyStatus]) -> Sync:
    """The state from the charger's Synced condition and (when it is False) its key statuses."""
    if synced is None or synced.status == "Unknown":
        return Sync.UNKNOWN
    if synced.status == "True":
        return Sync.SYNCED
    if any(status.state in TERMINAL_STATES for status in statuses):
        return Sync.BLOCKED
    return Sync.OUT_OF_SYNC


def blocked_keys(statuses: Iterable[KeyStatus]) -> list[KeyStatus]:
    """The configuration keys (and availability) the reconciler gave up on, by key."""
    return sorted(
        (s for s in statuses if s.state in TERMINAL_STATES and s.key != FIRMWARE_KEY),
        key=lambda s: s.key.lower(),
    )


def failed_firmware(statuses: Iterable[KeyStatus]) -> KeyStatus | None:
    """The firmware update that failed (and will not be sent again), if any."""
    for status in statuses:
        if status.key == FIRMWARE_KEY and status.state in TERMINAL_STATES:
            return status
    return None


# --- attention -----------------------------------------------------------------------------------


class Concern(enum.StrEnum):
    OFFLINE = "offline"
    BLOCKED_KEYS = "blocked-keys"
    FIRMWARE_FAILED = "firmware-failed"
    FAULTED = "faulted"


@dataclass(frozen=True, slots=True)
class Attention:
    """One reason a charger needs someone to look at it; `detail` is the charger's or the
    reconciler's own words (an error code, a rejected key, a firmware failure)."""

    concern: Concern
    detail: str = ""
    since: datetime | None = None


def offline_for_long(
    connected: bool, disconnected_at: datetime | None, now: datetime
) -> Attention | None:
    """A charger that connected once and has been away longer than OFFLINE_AFTER (one that
    never connected is not yet installed: it is counted offline, but is nobody's alarm)."""
    if connected or disconnected_at is None or now - disconnected_at <= OFFLINE_AFTER:
        return None
    return Attention(Concern.OFFLINE, since=disconnected_at)


def faulted_connectors(connectors: Iterable[Mapping[str, object]]) -> list[Attention]:
    """Connectors reporting Faulted (status documents: `id`, `status`, `errorCode`, `info`)."""
    found = []
    for connector in connectors:
        if connector.get("status") != FAULTED:
            continue
        words = [str(connector.get("id"))]
        for field in ("errorCode", "vendorErrorCode", "info"):
            value = connector.get(field)
            if value and value != "NoError":
                words.append(str(value))
        found.append(Attention(Concern.FAULTED, " · ".join(words)))
    return found


def key_concerns(statuses: Sequence[KeyStatus]) -> list[Attention]:
    concerns = []
    blocked = blocked_keys(statuses)
    if blocked:
        detail = ", ".join(f"{s.key} ({s.state.value})" for s in blocked)
        concerns.append(Attention(Concern.BLOCKED_KEYS, detail, since=min(s.at for s in blocked)))
    firmware = failed_firmware(statuses)
    if firmware is not None:
        concerns.append(
            Attention(Concern.FIRMWARE_FAILED, firmware.detail or firmware.value, firmware.at)
        )
    return concerns


# --- pages of a newest-first list ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slice:
    """Where a page of a newest-first list lies: read [since, until), newest first, skip
    `skip`, keep the page size."""

    since: datetime
    until: datetime
    skip: int


def page_count(total: int, size: int) -> int:
    """Pages of `size` that `total` items fill; one (empty) page when there are none."""
    return max(1, -(-total // size))


def page_slice(
    buckets: Sequence[TransactionBucket], bucket: timedelta, offset: int, limit: int
) -> Slice | None:
    """The time range holding items [offset, offset + limit) of a list sorted newest first,
    from its per-bucket counts (oldest first, as the store returns them); None past the end."""
    seen = 0
    newest: TransactionBucket | None = None
    skip = 0
    oldest: TransactionBucket | None = None
    for item in reversed(buckets):
        if item.sessions == 0:
            continue
        if newest is None and seen + item.sessions > offset:
            newest, skip = item, offset - seen
        seen += item.sessions
        if newest is not None:
            oldest = item
            if seen >= offset + limit:
                break
    if newest is None or oldest is None:
        return None
    return Slice(oldest.start, newest.start + bucket, skip)


def mask_id_tag(id_tag: str, shown: int = 4) -> str:
    """An RFID id tag with all but its last `shown` characters hidden: enough to tell cards
    apart on a screen, not enough to clone one (the tag is what a reader is given)."""
    if len(id_tag) <= shown:
        return "•" * len(id_tag)
    return "•" * (len(id_tag) - shown) + id_tag[-shown:]
