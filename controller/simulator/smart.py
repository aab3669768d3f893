"""Smart charging as a charger computes it: installed profiles, the limit in force, schedules.

Both OCPP versions describe the same idea with different names, so profiles are turned into
one neutral form here (`ChargingProfile`) and the version modules only translate. The limit a
connector offers is the lowest of: the station-wide maximum profile, the transaction profile
in force (or else the default transaction profile), and the connector's own maximum. Within a
purpose the highest stack level whose schedule covers the moment wins, as both specifications
say. Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Purpose(StrEnum):
    """Profile purposes, in the neutral names used inside the simulator."""

    STATION_MAX = "StationMax"  # 1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile
    TX_DEFAULT = "TxDefault"
    TX = "Tx"
    EXTERNAL = "External"  # 2.0.1 ChargingStationExternalConstraints


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


_CYCLES = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    """Seconds from the start of the schedule."""
    limit: float
    """Amperes per phase, or watts, as the schedule's unit says."""
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    unit: str
    """"A" or "W"."""
    periods: tuple[Period, ...]
    start: datetime | None = None
    duration: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    connector: int
    """0: the whole station (1.6 connector 0, 2.0.1 EVSE 0)."""
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: Schedule
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What a charger allows in profiles (from its configuration)."""

    max_stack_level: int = 8
    max_periods: int = 24
    max_installed: int = 16
    units: frozenset[str] = frozenset({"A", "W"})


@dataclass(frozen=True, slots=True)
class Session:
    """The transaction a limit is computed for: its id and when it started."""

    transaction_id: str
    started_at: datetime


class ChargingProfiles:
    """The profiles installed on one charger."""

    __slots__ = ("installed",)

    def __init__(self) -> None:
        self.installed: list[ChargingProfile] = []

    def __len__(self) -> int:
        return len(self.installed)

    def install(self, profile: ChargingProfile, limits: Limits) -> bool:
        """Install, replacing a profile with the same id or the same connector, purpose and
        stack level; False when the charger would refuse it."""
        if profile.stack_level > limits.max_stack_level or profile.stack_level < 0:
            return False
        if len(profile.schedule.periods) > limits.max_periods or not profile.schedule.periods:
            return False
        if profile.schedule.unit not in limits.units:
            return False
        if profile.purpose is Purpose.STATION_MAX and profile.connector != 0:
            return False
        if profile.purpose is Purpose.TX and profile.connector == 0:
            return False
        kept = [
            p
            for p in self.installed
            if p.id != profile.id
            and not (
                p.connector == profile.connector
                and p.purpose is profile.purpose
                and p.stack_level == profile.stack_level
            )
        ]
        if len(kept) >= limits.max_installed:
            return False
        kept.append(profile)
        self.installed = kept
        return True

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """Remove matching profiles; True when any was removed. An id, when given, is the
        only criterion, as 1.6 section 5.5 says."""
        if profile_id is not None:
            remaining = [p for p in self.installed if p.id != profile_id]
        else:
            remaining = [
                p
                for p in self.installed
                if not (
                    (connector is None or p.connector == connector)
                    and (purpose is None or p.purpose is purpose)
                    and (stack_level is None or p.stack_level == stack_level)
                )
            ]
        removed = len(remaining) != len(self.installed)
        self.installed = remaining
        return removed

    def end_transaction(self, connector: int) -> None:
        """Transaction profiles live only as long as their transaction."""
        self.installed = [
            p for p in self.installed if not (p.purpose is Purpose.TX and p.connector == connector)
        ]

    def limit(
        self,
        connector: int,
        moment: datetime,
        session: Session | None,
        phases: int,
        voltage: float,
    ) -> float | None:
        """Amperes per phase the profiles allow on `connector` at `moment`; None: no limit."""
        found = [
            self._purpose_limit(Purpose.STATION_MAX, (0,), moment, session, phases, voltage),
            self._purpose_limit(Purpose.EXTERNAL, (connector, 0), moment, session, phases, voltage),
        ]
        if connector != 0:
            tx = (
                self._purpose_limit(Purpose.TX, (connector,), moment, session, phases, voltage)
                if session is not None
                else None
            )
            if tx is None:
                tx = self._purpose_limit(
                    Purpose.TX_DEFAULT, (connector,), moment, session, phases, voltage
                )
            if tx is None:
                tx = self._purpose_limit(Purpose.TX_DEFAULT, (0,), moment, session, phases, voltage)
            found.append(tx)
        limits = [x for x in found if x is not None]
        return min(limits) if limits else None

    def _purpose_limit(
        self,
        purpose: Purpose,
        connectors: tuple[int, ...],
        moment: datetime,
        session: Session | None,
        phases: int,
        voltage: float,
    ) -> float | None:
        candidates = [
            p for p in self.installed if p.purpose is purpose and p.connector in connectors
        ]
        if purpose is Purpose.TX and session is not None:
            candidates = [
                p
                for p in candidates
                if p.transaction_id is None or p.transaction_id == session.transaction_id
            ]
        for profile in sorted(candidates, key=lambda p: p.stack_level, reverse=True):
            period = period_at(profile, moment, session)
            if period is not None:
                return amperes(period, profile.schedule.unit, phases, voltage)
        return None

    def composite(
        self,
        connector: int,
        start: datetime,
        duration: int,
        session: Session | None,
        phases: int,
        voltage: float,
        connector_max: float,
    ) -> list[tuple[int, float]]:
        """The limit over [start, start + duration) as (offset seconds, amperes) periods."""
        end = start + timedelta(seconds=duration)
        offsets = {0}
        for profile in self.installed:
            if profile.connector not in (0, connector):
                continue
            for moment in _change_points(profile, start, end, session):
                if start < moment < end:
                    offsets.add(math.ceil((moment - start).total_seconds()))
        periods: list[tuple[int, float]] = []
        for offset in sorted(offsets):
            moment = start + timedelta(seconds=offset)
            found = self.limit(connector, moment, session, phases, voltage)
            value = connector_max if found is None else min(found, connector_max)
            value = math.floor(value * 10) / 10
            if not periods or periods[-1][1] != value:
                periods.append((offset, value))
        return periods


def amperes(period: Period, unit: str, phases: int, voltage: float) -> float:
    """A period's limit in amperes per phase."""
    if unit == "A":
        return period.limit
    return period.limit / (voltage * (period.phases or phases))


def schedule_origin(
    profile: ChargingProfile, moment: datetime, session: Session | None
) -> datetime | None:
    """When the schedule of `profile` (the cycle in force, for recurring ones) started."""
    schedule = profile.schedule
    if profile.kind is Kind.RELATIVE:
        return session.started_at if session is not None else moment
    origin = schedule.start or profile.valid_from
    if origin is None:
        return session.started_at if session is not None else None
    if profile.kind is Kind.RECURRING:
        cycle = _CYCLES.get(profile.recurrency or "Daily", _CYCLES["Daily"])
        if moment >= origin:
            origin += cycle * ((moment - origin) // cycle)
    return origin


def period_at(profile: ChargingProfile, moment: datetime, session: Session | None) -> Period | None:
    """The period of `profile` in force at `moment`, or None when the profile is not."""
    if profile.valid_from is not None and moment < profile.valid_from:
        return None
    if profile.valid_to is not None and moment >= profile.valid_to:
        return None
    origin = schedule_origin(profile, moment, session)
    if origin is None or moment < origin:
        return None
    elapsed = (moment - origin).total_seconds()
    schedule = profile.schedule
    if schedule.duration is not None and elapsed >= schedule.duration:
        return None
    current: Period | None = None
    for period in schedule.periods:
        if period.start <= elapsed:
            current = period
        else:
            break
    return current


def _change_points(
    profile: ChargingProfile, start: datetime, end: datetime, session: Session | None
) -> Iterator[datetime]:
    """Moments in [start, end] at which `profile` may start, stop or change its limit."""
    if profile.valid_from is not None:
        yield profile.valid_from
    if profile.valid_to is not None:
        yield profile.valid_to
    for origin in _origins(profile, start, end, session):
        for period in profile.schedule.periods:
            yield origin + timedelta(seconds=period.start)
        if profile.schedule.duration is not None:
            yield origin + timedelta(seconds=profile.schedule.duration)


def _origins(
    profile: ChargingProfile, start: datetime, end: datetime, session: Session | None
) -> Iterable[datetime]:
    first = schedule_origin(profile, start, session)
    if first is None:
        return ()
    if profile.kind is not Kind.RECURRING:
        return (first,)
    cycle = _CYCLES.get(profile.recurrency or "Daily", _CYCLES["Daily"])
    origins: list[datetime] = []
    moment = first
    while moment <= end and len(origins) < 64:
        origins.append(moment)
        moment += cycle
    return origins
