"""What a charging session costs under a `Tariff`, in decimals, with the rules an invoice shows.

`price(tariff, timezone, usage)` is a pure function: the store calls it when a transaction ends
and the export command calls it again for invoices, so both always agree. The rules:

Periods
    A tariff's periods are weekly wall-clock ranges in the location's timezone. An instant
    belongs to the wall-clock minute it falls in (converted with zoneinfo), and a minute belongs
    to the first period, in declaration order, whose days and times cover it; otherwise the base
    prices apply. A price a period leaves out is the base price. Around a daylight saving change
    the wall clock decides: on the night clocks go forward, the skipped hour does not happen, so
    a 02:00-03:00 period does not apply at all and a 23:00-07:00 period lasts 7 hours; on the
    night clocks go back, the repeated hour happens twice and a period covering it applies to
    both occurrences (a 02:00-03:00 period lasts 2 hours, a 23:00-07:00 period 9 hours).

Lines
    The session, started -> stopped, is cut where the applicable prices change; each piece is a
    line labelled "base" or "period N" (N counts the tariff's periods from 1). Line times are
    UTC instants, to be shown in the location's timezone: a zone-local datetime in a repeated
    hour compares unequal to every datetime in another zone and subtracts as wall-clock time.

Energy
    `energy_wh` (meter stop - meter start) is the energy billed; samples only decide how it is
    split over the lines. With meter samples, a line gets the share of the register increase
    that happened within it, the register being interpolated linearly between samples (and held
    at the first/last sample before/after them); include the transaction's meter start and stop
    as samples for an exact split. Without samples, or when the samples show no increase within
    the session, energy is split in proportion to the charging time in each line (started ->
    charging_ended, or stopped when it is None); a session with no charging time at all puts its
    energy in its first line. The energy price of each line applies to its exact share, which
    keeps the cost monotone in energy; the kWh shown per line are whole Wh (largest remainder,
    ties to the earlier line), so they always add up to the session's energy.

Time
    The time price per hour applies to the whole session, started -> stopped, idle time
    included, at the price of each line. Line hours are shown to 4 decimals; the amount uses the
    exact duration.

Idle fee
    Only when charging_ended is known: every started minute from charging_ended to stopped,
    minus the free grace minutes, costs idleFee.pricePerMinute.

Start fee
    Once per session.

Rounding
    Everything is computed exactly (rational arithmetic, no binary floats). Each component -
    energy, time, start fee, idle fee - is then rounded once to the currency's minor units
    (ISO 4217: 2 for EUR, 0 for JPY, 3 for BHD) with ROUND_HALF_UP: halves round away from zero,
    so 4.305 becomes 4.31.

VAT
    Prices excluding VAT (pricesIncludeVat false): net = sum of the rounded components,
    vat = net x rate / 100 rounded once, total = net + vat.
    Prices including VAT: total = sum of the rounded components, net = total / (1 + rate / 100)
    rounded once, vat = total - net.
    Either way net + vat == total exactly.

What adds up
    The `Cost` components are always net, so energy + time + start_fee + idle == net. With
    prices including VAT they are the net share of each rounded gross component, the net being
    split in proportion to them by largest remainder (ties to the earlier component, in the order
    energy, time, start fee, idle). Line amounts are likewise net and split energy + time over the
    lines in proportion to their exact amounts, so they add up to energy + time exactly; a line
    amount can therefore differ by a minor unit from its own quantities times its prices.

Input
    Inconsistent input is refused with a ValueError rather than invoiced: naive datetimes,
    stopped before started, negative energy (a meter reset or rollover), charging_ended outside
    the session, a register that decreases between samples, an unknown timezone. Samples may come
    in any order (chargers deliver buffered meter values late); they are ordered by time, and
    samples outside the session only shape the interpolation at its edges.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.planning import wallclock
from controller.planning.wallclock import minute_of_week
from controller.resources.codes import minor_units
from controller.resources.tariff import TariffPeriod, TariffSpec

__all__ = ["BASE_LABEL", "Cost", "CostLine", "Usage", "price"]

BASE_LABEL = "base"
"""Label of the lines priced at the tariff's base prices."""

_US_PER_HOUR = 3_600_000_000
_US_PER_MINUTE = 60_000_000
_HOURS_PLACES = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Usage:
    """What happened in one charging session, as the charger reported it."""

    started: datetime
    """When the transaction started (timezone-aware)."""
    stopped: datetime
    """When the transaction stopped (timezone-aware)."""
    energy_wh: int
    """Energy of the transaction: meter stop - meter start, in Wh."""
    meter_samples: tuple[tuple[datetime, int], ...] = ()
    """Optional (time, cumulative register in Wh) samples, to split energy over periods."""
    charging_ended: datetime | None = None
    """When energy stopped flowing (last increase of the register); idle after it."""


@dataclass(frozen=True)
class CostLine:
    """One stretch of the session at one set of prices."""

    label: str
    """ "base" or "period N", N counting the tariff's periods from 1."""
    start: datetime
    """Start of the stretch, in UTC."""
    end: datetime
    """End of the stretch (exclusive), in UTC."""
    energy_kwh: Decimal
    """Energy charged in the stretch, in kWh with 3 decimals (whole Wh)."""
    energy_price: Decimal
    """Price per kWh in the stretch, as the tariff declares it."""
    hours: Decimal
    """Duration of the stretch in hours, to 4 decimals."""
    time_price: Decimal
    """Price per hour in the stretch, as the tariff declares it."""
    amount: Decimal
    """Net energy and time amount of the stretch, in minor units of the currency."""


@dataclass(frozen=True)
class Cost:
    """The price of a session: net components, VAT and total, with a per-period breakdown."""

    currency: str
    energy_kwh: Decimal
    """Energy of the session in kWh, 3 decimals."""
    energy: Decimal
    """Net energy charge."""
    time: Decimal
    """Net time charge."""
    start_fee: Decimal
    """Net start fee."""
    idle: Decimal
    """Net idle fee."""
    net: Decimal
    """energy + time + start_fee + idle."""
    vat: Decimal
    total: Decimal
    """net + vat."""
    lines: tuple[CostLine, ...]
    """The session cut where prices change; amounts add up to energy + time."""


@dataclass(frozen=True)
class _Segment:
    start_us: int
    end_us: int
    period: int | None


def price(tariff: TariffSpec, timezone: str, usage: Usage) -> Cost:
    """What `usage` costs under `tariff` at a location in `timezone` (IANA name)."""
    zone = _zone(timezone)
    started_us, stopped_us, charge_end_us = _check_times(usage)
    samples = _ordered_samples(usage.meter_samples)
    places = minor_units(tariff.currency)

    segments = _segments(tariff.periods, zone, started_us, stopped_us)
    energy_prices = [Fraction(_energy_price(tariff, s.period)) for s in segments]
    time_prices = [Fraction(_time_price(tariff, s.period)) for s in segments]

    energy_weights = _sample_weights(samples, segments)
    if sum(energy_weights) == 0:
        energy_weights = [
            Fraction(max(0, min(s.end_us, charge_end_us) - s.start_us)) for s in segments
        ]
    line_wh = _shares(Fraction(usage.energy_wh), energy_weights)
    line_hours = [Fraction(s.end_us - s.start_us, _US_PER_HOUR) for s in segments]
    line_energy = [wh / 1000 * ep for wh, ep in zip(line_wh, energy_prices, strict=True)]
    line_time = [h * tp for h, tp in zip(line_hours, time_prices, strict=True)]

    energy = _round(sum(line_energy, Fraction(0)), places)
    time_ = _round(sum(line_time, Fraction(0)), places)
    start_fee = _round(Fraction(tariff.start_fee), places)
    idle = _round(_idle_exact(tariff, usage, charge_end_us, stopped_us), places)
    components = [energy, time_, start_fee, idle]

    rate = Fraction(tariff.vat_rate) / 100
    if tariff.prices_include_vat:
        total = sum(components, Decimal(0))
        net = _round(Fraction(total) / (1 + rate), places)
        vat = total - net
        components = _split_money(net, components, places)
    else:
        net = sum(components, Decimal(0))
        vat = _round(Fraction(net) * rate, places)
        total = net + vat

    line_exact = [e + t for e, t in zip(line_energy, line_time, strict=True)]
    amounts = _split_money(components[0] + components[1], line_exact, places)
    line_units = _allocate(usage.energy_wh, line_wh)
    lines = tuple(
        CostLine(
            label=BASE_LABEL if s.period is None else f"period {s.period + 1}",
            start=_instant(s.start_us),
            end=_instant(s.end_us),
            energy_kwh=Decimal(wh).scaleb(-3),
            energy_price=_energy_price(tariff, s.period),
            hours=_round(h, _HOURS_PLACES),
            time_price=_time_price(tariff, s.period),
            amount=amount,
        )
        for s, wh, h, amount in zip(segments, line_units, line_hours, amounts, strict=True)
    )
    return Cost(
        currency=tariff.currency,
        energy_kwh=Decimal(usage.energy_wh).scaleb(-3),
        energy=components[0],
        time=components[1],
        start_fee=components[2],
        idle=components[3],
        net=net,
        vat=vat,
        total=total,
        lines=lines,
    )


# --- input ----------------------------------------------------------------------------------------


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: e.g. "Europe"
        raise ValueError(f"{timezone!r} is not an IANA timezone, e.g. Europe/Amsterdam") from exc


def _micros(value: datetime, what: str) -> int:
    """Microseconds since the epoch; aware datetimes only, whatever their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no timezone; give an aware datetime")
    return (value - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _check_times(usage: Usage) -> tuple[int, int, int]:
    """Started, stopped and end of charging in microseconds, after checking they are sane."""
    started = _micros(usage.started, "started")
    stopped = _micros(usage.stopped, "stopped")
    if stopped < started:
        raise ValueError(
            f"session stopped ({usage.stopped.isoformat()}) before it started "
            f"({usage.started.isoformat()})"
        )
    if usage.energy_wh < 0:
        raise ValueError(
            f"session energy is negative ({usage.energy_wh} Wh): the meter was reset or rolled "
            "over; correct the meter values before pricing the session"
        )
    if usage.charging_ended is None:
        return started, stopped, stopped
    charge_end = _micros(usage.charging_ended, "charging_ended")
    if not started <= charge_end <= stopped:
        raise ValueError(
            f"charging ended at {usage.charging_ended.isoformat()}, outside the session "
            f"{usage.started.isoformat()} - {usage.stopped.isoformat()}"
        )
    return started, stopped, charge_end


def _ordered_samples(samples: Sequence[tuple[datetime, int]]) -> list[tuple[int, int]]:
    """Samples in time order; a register that goes down is a meter reset, which is refused."""
    ordered = sorted((_micros(at, "meter sample"), wh) for at, wh in samples)
    for (before_us, before), (after_us, after) in pairwise(ordered):
        if after < before:
            raise ValueError(
                f"meter register goes down from {before} Wh at {_instant(before_us).isoformat()} "
                f"to {after} Wh at {_instant(after_us).isoformat()}: a meter reset or rollover; "
                "correct the samples or price the session without them"
            )
    return ordered


# --- periods --------------------------------------------------------------------------------------


def _energy_price(tariff: TariffSpec, period: int | None) -> Decimal:
    if period is not None:
        own = tariff.periods[period].energy_price
        if own is not None:
            return own
    return tariff.energy_price


def _time_price(tariff: TariffSpec, period: int | None) -> Decimal:
    if period is not None:
        own = tariff.periods[period].time_price
        if own is not None:
            return own
    return tariff.time_price


def _segments(
    periods: Sequence[TariffPeriod], zone: ZoneInfo, started: int, stopped: int
) -> list[_Segment]:
    """The session cut where the applicable period changes, adjacent equal pieces merged."""
    spans = [period.intervals() for period in periods]

    def covering(micros: int) -> int | None:
        minute = minute_of_week(_instant(micros), zone)
        for index, intervals in enumerate(spans):
            if any(start <= minute < end for start, end in intervals):
                return index
        return None

    if started == stopped:
        return [_Segment(started, stopped, covering(started))]
    cuts = {started, stopped}
    if spans:
        cuts.update(_offset_changes(zone, started, stopped))
        cuts.update(_wall_boundaries(spans, zone, started, stopped))
    segments: list[_Segment] = []
    for start, end in pairwise(sorted(cuts)):
        period = covering(start)
        if segments and segments[-1].period == period:
            segments[-1] = _Segment(segments[-1].start_us, end, period)
        else:
            segments.append(_Segment(start, end, period))
    return segments


def _offset_changes(zone: ZoneInfo, started: int, stopped: int) -> list[int]:
    """Instants within the session where the zone's UTC offset changes (the wall clock jumps)."""
    changes = wallclock.offset_changes(zone, _instant(started), _instant(stopped))
    return [m for m in (_micros(c, "offset change") for c in changes) if started < m < stopped]


def _wall_boundaries(
    spans: Sequence[Sequence[tuple[int, int]]], zone: ZoneInfo, started: int, stopped: int
) -> set[int]:
    """Instants within the session when the wall clock reads a period's start or end.

    One in a skipped hour maps to an instant near the jump, which is harmless: an extra cut only
    splits a piece in two, and equal neighbours are merged again.
    """
    minutes = {minute for intervals in spans for interval in intervals for minute in interval}
    instants = wallclock.wall_instants(minutes, zone, _instant(started), _instant(stopped))
    found = {_micros(instant, "boundary") for instant in instants}
    return {micros for micros in found if started < micros < stopped}


# --- quantities -----------------------------------------------------------------------------------


def _sample_weights(
    samples: Sequence[tuple[int, int]], segments: Sequence[_Segment]
) -> list[Fraction]:
    """Register increase within each segment, interpolated between samples."""
    if not samples:
        return [Fraction(0)] * len(segments)
    times = [at for at, _ in samples]

    def register(micros: int) -> Fraction:
        after = bisect.bisect_right(times, micros)
        if after == 0:
            return Fraction(samples[0][1])
        if after == len(samples):
            return Fraction(samples[-1][1])
        (t0, v0), (t1, v1) = samples[after - 1], samples[after]
        return v0 + Fraction((v1 - v0) * (micros - t0), t1 - t0)

    return [register(s.end_us) - register(s.start_us) for s in segments]


def _idle_exact(tariff: TariffSpec, usage: Usage, charge_end: int, stopped: int) -> Fraction:
    if tariff.idle_fee is None or usage.charging_ended is None:
        return Fraction(0)
    started_minutes = -(-(stopped - charge_end) // _US_PER_MINUTE)
    billed = max(0, started_minutes - tariff.idle_fee.grace_period_minutes)
    return billed * Fraction(tariff.idle_fee.price_per_minute)


def _shares(total: Fraction, weights: Sequence[Fraction]) -> list[Fraction]:
    """`total` split exactly in proportion to `weights`; all of it to the first if they are 0."""
    whole = sum(weights, Fraction(0))
    if whole == 0:
        return [total if index == 0 else Fraction(0) for index in range(len(weights))]
    return [total * weight / whole for weight in weights]


def _allocate(total: int, weights: Sequence[Fraction]) -> list[int]:
    """Whole units adding up to `total`, in proportion to `weights`: largest remainder method.

    Each share is rounded down, then the units left over go to the largest remainders, ties to
    the earlier share.
    """
    exact = _shares(Fraction(total), weights)
    units = [math.floor(share) for share in exact]
    left = total - sum(units)
    by_remainder = sorted(range(len(exact)), key=lambda index: (units[index] - exact[index], index))
    for index in by_remainder[:left]:
        units[index] += 1
    return units


# --- money ----------------------------------------------------------------------------------------


def _round(amount: Fraction, places: int) -> Decimal:
    """`amount` rounded to `places` decimals, ROUND_HALF_UP (halves away from zero)."""
    scaled = abs(amount) * 10**places
    units, remainder = divmod(scaled.numerator, scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        units += 1
    return Decimal(-units if amount < 0 else units).scaleb(-places)


def _split_money(
    total: Decimal, weights: Sequence[Fraction | Decimal], places: int
) -> list[Decimal]:
    """`total` split into amounts in minor units that add up to it exactly."""
    units = _allocate(int(total.scaleb(places)), [Fraction(weight) for weight in weights])
    return [Decimal(unit).scaleb(-places) for unit in units]
