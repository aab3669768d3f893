"""Local days, utilisation by hour, sync state, attention and pages: what the dashboard and the
location page derive, checked on values (the pages themselves: tests/integration)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from controller.planning.keys import FIRMWARE_KEY
from controller.values.records import ChargerCondition, KeyState, KeyStatus, TransactionBucket
from controller.web.view.insights import (
    DAY,
    QUARTER,
    Concern,
    DayTotal,
    Sync,
    faulted_connectors,
    fold_days,
    key_concerns,
    last_days,
    mask_id_tag,
    offline_for_long,
    page_slice,
    start_of_day,
    sync_state,
    totals_since,
    utilisation_by_hour,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
KOLKATA = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 11, 25, tzinfo=UTC)


def bucket(start: datetime, sessions: int = 1, energy_wh: int = 1000) -> TransactionBucket:
    return TransactionBucket(start, sessions, 0, energy_wh, 0, 0)


def test_buckets_fold_into_local_days_not_utc_ones() -> None:
    # 23:15 UTC on the 24th is 00:15 on the 25th in Amsterdam (UTC+1 in November).
    days = [date(2026, 11, 24), date(2026, 11, 25)]
    folded = fold_days(
        [bucket(T0 - timedelta(minutes=45)), bucket(T0 - timedelta(hours=2), energy_wh=500)],
        AMSTERDAM,
        days,
    )
    assert folded == [DayTotal(days[0], 1, 500), DayTotal(days[1], 1, 1000)]


def test_quarter_hour_zones_fold_on_their_own_midnight() -> None:
    # Kolkata is UTC+5:30: its midnight is 18:30 UTC, a quarter-hour boundary.
    midnight = start_of_day(date(2026, 11, 25), KOLKATA)
    assert midnight == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
    folded = fold_days(
        [bucket(midnight - QUARTER), bucket(midnight)],
        KOLKATA,
        [date(2026, 11, 24), date(2026, 11, 25)],
    )
    assert [d.sessions for d in folded] == [1, 1]


def test_days_without_transactions_are_zero_and_outside_ones_are_left_out() -> None:
    days = last_days(T0 + timedelta(hours=12), UTC, 3)
    assert days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    folded = fold_days([bucket(T0 - 10 * DAY), bucket(T0)], UTC, days)
    assert [(d.sessions, d.energy_wh) for d in folded] == [(0, 0), (0, 0), (1, 1000)]


def test_a_day_after_a_dst_change_starts_at_its_own_offset() -> None:
    assert start_of_day(date(2026, 3, 29), AMSTERDAM) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert start_of_day(date(2026, 3, 30), AMSTERDAM) == datetime(2026, 3, 29, 22, tzinfo=UTC)


def test_totals_since_count_what_started_from_then() -> None:
    totals = totals_since([bucket(T0 - QUARTER), bucket(T0, 2, 300)], T0)
    assert (totals.sessions, totals.energy_wh) == (2, 300)


def test_a_session_is_spread_over_the_local_hours_it_covers() -> None:
    since, until = T0, T0 + DAY
    # 09:30 to 11:00 in Amsterdam (08:30 to 10:00 UTC), on one of two connectors.
    use = utilisation_by_hour(
        [(T0 + timedelta(hours=8, minutes=30), T0 + timedelta(hours=10))],
        AMSTERDAM,
        since,
        until,
        connectors=2,
    )
    busy = {u.hour: u.busy_seconds for u in use if u.busy_seconds}
    assert busy == {9: 1800.0, 10: 3600.0}
    assert use[10].available_seconds == 2 * 3600
    assert use[10].share == 0.5 and use[9].share == 0.25


def test_an_open_session_runs_until_the_end_of_the_window_and_overlaps_are_capped() -> None:
    since, until = T0, T0 + timedelta(hours=2)
    use = utilisation_by_hour(
        [(T0 - DAY, None), (T0, T0 + DAY)],  # started before the window; one ends after it
        UTC,
        since,
        until,
        connectors=1,
    )
    assert use[0].busy_seconds == 7200 and use[0].share == 1.0
    assert use[1].share == 1.0 and use[5].available_seconds == 0 and use[5].share == 0.0


def condition(status: str) -> ChargerCondition:
    return ChargerCondition("CP-1", "Synced", status, "x", "", T0)


def key(name: str, state: KeyState, detail: str = "") -> KeyStatus:
    return KeyStatus("CP-1", name, state, "v", T0, detail)


def test_sync_state_comes_from_the_condition_and_the_keys_given_up_on() -> None:
    assert sync_state(None, []) is Sync.UNKNOWN
    assert sync_state(condition("True"), [key("A", KeyState.REJECTED)]) is Sync.SYNCED
    assert sync_state(condition("False"), [key("A", KeyState.PENDING)]) is Sync.OUT_OF_SYNC
    assert sync_state(condition("False"), [key("A", KeyState.NOT_SUPPORTED)]) is Sync.BLOCKED
    assert sync_state(condition("False"), [key(FIRMWARE_KEY, KeyState.FAILED)]) is Sync.BLOCKED


def test_attention_names_blocked_keys_failed_firmware_faults_and_long_absences() -> None:
    concerns = key_concerns(
        [
            key("MeterValueSampleInterval", KeyState.REJECTED),
            key("AuthorizeRemoteTxRequests", KeyState.NOT_SUPPORTED),
            key("HeartbeatInterval", KeyState.APPLIED),
            key(FIRMWARE_KEY, KeyState.FAILED, "InstallationFailed"),
        ]
    )
    assert [(c.concern, c.detail) for c in concerns] == [
        (
            Concern.BLOCKED_KEYS,
            "AuthorizeRemoteTxRequests (NotSupported), MeterValueSampleInterval (Rejected)",
        ),
        (Concern.FIRMWARE_FAILED, "InstallationFailed"),
    ]
    faulted = faulted_connectors(
        [
            {"id": 1, "status": "Faulted", "errorCode": "GroundFailure"},
            {"id": 2, "status": "Available", "errorCode": "NoError"},
        ]
    )
    assert [(c.concern, c.detail) for c in faulted] == [(Concern.FAULTED, "1 · GroundFailure")]
    assert offline_for_long(False, T0, T0 + timedelta(minutes=16)) is not None
    assert offline_for_long(False, T0, T0 + timedelta(minutes=14)) is None
    assert offline_for_long(False, None, T0) is None  # never connected: not installed yet
    assert offline_for_long(True, T0, T0 + DAY) is None


def test_a_page_of_a_newest_first_list_is_found_from_per_day_counts() -> None:
    days = [bucket(T0 + DAY * i, sessions) for i, sessions in enumerate([3, 0, 5, 2])]
    # Newest first: 2 (day 3), 5 (day 2), 3 (day 0).
    first = page_slice(days, DAY, 0, 4)
    assert first is not None
    assert (first.since, first.until, first.skip) == (T0 + 2 * DAY, T0 + 4 * DAY, 0)
    second = page_slice(days, DAY, 4, 4)
    assert second is not None
    assert (second.since, second.until, second.skip) == (T0, T0 + 3 * DAY, 2)
    assert page_slice(days, DAY, 10, 4) is None
    assert page_slice([], DAY, 0, 4) is None


def test_id_tags_show_their_last_four_characters_only() -> None:
    assert mask_id_tag("04AABBCC") == "••••BBCC"
    assert mask_id_tag("ABC") == "•••"
