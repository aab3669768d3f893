"""Charging profiles as the simulated charger applies them: stack levels, purposes, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.simulator.smart import (
    ChargingProfile,
    ChargingProfiles,
    Kind,
    Limits,
    Period,
    Purpose,
    Schedule,
    Session,
)

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
V = 230.0


def profile(
    id: int,
    purpose: Purpose,
    limit: float,
    *,
    connector: int = 1,
    stack: int = 0,
    kind: Kind = Kind.ABSOLUTE,
    start: datetime | None = T0,
    unit: str = "A",
    periods: tuple[Period, ...] | None = None,
    duration: int | None = None,
    recurrency: str | None = None,
    tx: str | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        id=id,
        connector=connector,
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        recurrency=recurrency,
        transaction_id=tx,
        schedule=Schedule(unit, periods or (Period(0, limit),), start, duration),
    )


def installed(*profiles: ChargingProfile) -> ChargingProfiles:
    store = ChargingProfiles()
    for p in profiles:
        assert store.install(p, Limits())
    return store


def test_no_profiles_no_limit() -> None:
    assert ChargingProfiles().limit(1, T0, None, 3, V) is None


def test_lowest_of_station_max_and_tx_default() -> None:
    store = installed(
        profile(1, Purpose.STATION_MAX, 20, connector=0),
        profile(2, Purpose.TX_DEFAULT, 16, connector=0),
    )
    assert store.limit(1, T0, None, 3, V) == 16
    store.install(profile(3, Purpose.TX_DEFAULT, 25, connector=1), Limits())
    assert store.limit(1, T0, None, 3, V) == 20  # connector-specific default overrides 0's


def test_tx_profile_only_with_its_transaction() -> None:
    store = installed(
        profile(1, Purpose.TX_DEFAULT, 16, connector=0),
        profile(2, Purpose.TX, 10, kind=Kind.RELATIVE, start=None, tx="7"),
    )
    assert store.limit(1, T0, None, 3, V) == 16
    assert store.limit(1, T0, Session("7", T0), 3, V) == 10
    assert store.limit(1, T0, Session("8", T0), 3, V) == 16
    store.end_transaction(1)
    assert store.limit(1, T0, Session("7", T0), 3, V) == 16


def test_highest_stack_level_in_force_wins() -> None:
    later = T0 + timedelta(hours=1)
    store = installed(
        profile(1, Purpose.TX_DEFAULT, 32, stack=0),
        profile(2, Purpose.TX_DEFAULT, 8, stack=1, start=later),
    )
    assert store.limit(1, T0, None, 3, V) == 32
    assert store.limit(1, later, None, 3, V) == 8


def test_watts_become_amperes_per_phase() -> None:
    store = installed(profile(1, Purpose.STATION_MAX, 11040, connector=0, unit="W"))
    assert store.limit(1, T0, None, 3, V) == 16
    assert store.limit(1, T0, None, 1, V) == 48


def test_periods_duration_and_recurrence() -> None:
    periods = (Period(0, 6), Period(3600, 16))
    store = installed(
        profile(
            1,
            Purpose.TX_DEFAULT,
            0,
            periods=periods,
            duration=7200,
            recurrency="Daily",
            kind=Kind.RECURRING,
        )
    )
    assert store.limit(1, T0 + timedelta(minutes=30), None, 3, V) == 6
    assert store.limit(1, T0 + timedelta(minutes=90), None, 3, V) == 16
    assert store.limit(1, T0 + timedelta(hours=3), None, 3, V) is None
    assert store.limit(1, T0 + timedelta(days=3, minutes=90), None, 3, V) == 16


def test_install_rules_and_replacement() -> None:
    store = ChargingProfiles()
    assert not store.install(profile(1, Purpose.STATION_MAX, 10, connector=1), Limits())
    assert not store.install(profile(1, Purpose.TX, 10, connector=0), Limits())
    assert not store.install(profile(1, Purpose.TX_DEFAULT, 10, stack=9), Limits())
    assert not store.install(
        profile(1, Purpose.TX_DEFAULT, 10, unit="W"), Limits(units=frozenset("A"))
    )
    assert store.install(profile(1, Purpose.TX_DEFAULT, 10), Limits())
    assert store.install(profile(2, Purpose.TX_DEFAULT, 12), Limits())  # same stack: replaces
    assert [p.id for p in store.installed] == [2]
    assert not store.install(profile(3, Purpose.TX_DEFAULT, 12, stack=1), Limits(max_installed=1))


def test_clear_by_id_or_criteria() -> None:
    store = installed(
        profile(1, Purpose.TX_DEFAULT, 10),
        profile(2, Purpose.STATION_MAX, 20, connector=0),
        profile(3, Purpose.TX_DEFAULT, 12, stack=2),
    )
    assert store.clear(profile_id=2)
    assert not store.clear(profile_id=2)
    assert store.clear(purpose=Purpose.TX_DEFAULT, stack_level=2)
    assert [p.id for p in store.installed] == [1]
    assert store.clear()
    assert len(store) == 0


def test_composite_schedule_merges_changes() -> None:
    store = installed(
        profile(1, Purpose.TX_DEFAULT, 0, periods=(Period(0, 16), Period(1800, 10))),
        profile(2, Purpose.STATION_MAX, 13, connector=0),
    )
    periods = store.composite(1, T0, 3600, None, 3, V, 32)
    assert periods == [(0, 13.0), (1800, 10.0)]
    assert store.composite(1, T0 + timedelta(hours=2), 600, None, 3, V, 32) == [(0, 10.0)]
