"""The web view's charts, drawn on the server as SVG: no JavaScript, no asset from elsewhere.

Three kinds, each a frozen input value and a function from it to a standalone SVG string
(`markupsafe.Markup`, ready for a template or an `image/svg+xml` response):

- `bar_chart(BarChart)`: energy or sessions per day, utilisation by hour — labelled bars on a
  zero baseline, round-numbered ticks, "no data" when there is nothing to show.
- `line_chart(LineChart)`: a transaction's current per phase over time, with the offered limit
  as a dotted step line; `current_chart(samples)` builds one from meter samples.
- `power_diagram(location)`: a location's circuit tree, top down, each circuit with its limit in
  force, what is allocated under it and a usage bar, and the chargers it feeds beneath it.

Every chart is also a table (`rows()` on each input: a header and rows of text with the same
numbers), so a page shows the figures to whoever cannot see the drawing. Text (names come from
user YAML) is escaped. Colours are CSS classes over custom properties (`--chart-1`..`--chart-4`,
`--accent`, `--bad`, `--muted`, `--grid`, `--border`, `--surface`), with fallbacks for an SVG
shown on its own, so the theme and the team's branding apply. Numbers go through a
`NumberFormat` the page gives (a locale-aware one); values are rounded before, so the formatter
never decides the precision. The same input always gives the same bytes (the location page
refetches its diagram and replaces it only when it changed).

Pure: no I/O, no clock, nothing but the standard library and markupsafe.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from markupsafe import Markup, escape

NumberFormat = Callable[[float], str]
"""A number as the viewer reads it, e.g. `functools.partial(babel.numbers.format_decimal,
locale="nl")`. It gets values already rounded to the digits shown."""

TimeFormat = Callable[[datetime], str]
"""A moment as an axis label or table cell shows it (the page passes one in the viewer's zone)."""


def plain(value: float) -> str:
    """The default `NumberFormat`: `12`, `12.5`, `-0.25`; no grouping, a point for decimals."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def hours_minutes(at: datetime) -> str:
    """The default `TimeFormat`: `14:05`, in the moment's own timezone."""
    return at.strftime("%H:%M")


@dataclass(frozen=True, slots=True)
class Table:
    """A chart's numbers for an accessible `<table>`: column headings, then one row per item."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def nice_ticks(high: float, *, count: int = 5, integer: bool = False) -> tuple[float, ...]:
    """Axis ticks from 0 to at least `high` in round steps (1, 2, 2.5 or 5 times a power of
    ten), about `count` of them; whole steps only with `integer`. `high` <= 0 gives 0 to 1."""
    if not math.isfinite(high) or high <= 0:
        high = 1.0
    raw = high / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = 10 * power
    for multiple in (1.0, 2.0, 2.5, 5.0):
        if multiple * power >= raw * (1 - 1e-9):
            step = multiple * power
            break
    if integer:
        step = max(1.0, float(math.ceil(step)))
    steps = math.ceil(high / step - 1e-9)
    return tuple(round(i * step, 10) for i in range(steps + 1))


# --- bar chart ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarChart:
    """Labelled values on a zero baseline: kWh per day, sessions per day, % per hour.

    `bars` is (label, value) pairs in drawing order (labels as shown: dates, hours). `digits`
    is how many decimals a value is shown with (0 also keeps ticks whole). `y_max` makes the
    axis reach at least that far (100 for a percentage). Negative values are drawn as zero.
    """

    title: str
    unit: str
    bars: Sequence[tuple[str, float]]
    digits: int = 1
    y_max: float | None = None
    label_heading: str = ""
    value_heading: str = ""
    no_data: str = "No data"
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "bars", tuple((str(lb), float(v)) for lb, v in self.bars))

    @property
    def empty(self) -> bool:
        """Nothing to show: no bars, or every one zero."""
        return not any(value > 0 for _, value in self.bars)

    def rows(self, number: NumberFormat = plain) -> Table:
        """One row per bar: its label and its value as the chart shows it."""
        value_heading = self.value_heading or f"{self.title} ({self.unit})"
        return Table(
            (self.label_heading or self.title, value_heading),
            tuple((label, number(round(value, self.digits))) for label, value in self.bars),
        )


_BAR_W, _BAR_H = 720, 280
_BAR_LEFT, _BAR_RIGHT, _BAR_TOP, _BAR_BOTTOM = 56, 12, 28, 40
_MAX_X_LABELS = 12


def bar_chart(
    chart: BarChart, *, number: NumberFormat = plain, chart_id: str | None = None
) -> Markup:
    """`chart` as an SVG bar chart. `chart_id` makes its element ids unique on a page (by
    default derived from the title)."""
    cid = chart_id or _auto_id("bar", chart.title)
    values = [value for _, value in chart.bars]
    ticks = nice_ticks(max([*values, chart.y_max or 0.0, 0.0]), integer=chart.digits == 0)
    axis_max = ticks[-1]
    plot_w = _BAR_W - _BAR_LEFT - _BAR_RIGHT
    plot_h = _BAR_H - _BAR_TOP - _BAR_BOTTOM
    base = _BAR_H - _BAR_BOTTOM
    description = chart.description or (
        chart.no_data if chart.empty else f"{len(chart.bars)} × {chart.unit}"
    )
    parts = [_open(cid, _BAR_W, _BAR_H, chart.title, description, "cc-bar-chart")]
    parts.append(_y_axis(ticks, base, plot_h, _BAR_LEFT, _BAR_W - _BAR_RIGHT, number))
    parts.append(_text(_BAR_LEFT - 6, _BAR_TOP - 14, chart.unit, "cc-unit", "end"))
    count = len(chart.bars)
    slot = plot_w / max(count, 1)
    width = slot * 0.72
    every = max(1, math.ceil(count / _MAX_X_LABELS))
    parts.append('<g class="cc-bars">')
    for index, (label, value) in enumerate(chart.bars):
        height = max(value, 0.0) / axis_max * plot_h
        x = _BAR_LEFT + index * slot + (slot - width) / 2
        shown = number(round(value, chart.digits))
        parts.append(
            f'<rect class="cc-bar" x="{_n(x)}" y="{_n(base - height)}" width="{_n(width)}"'
            f' height="{_n(height)}" data-value="{_e(shown)}">'
            f"<title>{_e(label)}: {_e(shown)} {_e(chart.unit)}</title></rect>"
        )
    parts.append("</g>")
    parts.append('<g class="cc-x-labels">')
    for index, (label, _) in enumerate(chart.bars):
        if index % every == 0:
            parts.append(_text(_BAR_LEFT + (index + 0.5) * slot, base + 18, label, "cc-tick"))
    parts.append("</g>")
    parts.append(_axes(_BAR_LEFT, _BAR_TOP, _BAR_W - _BAR_RIGHT, base))
    if chart.empty:
        parts.append(
            _text(_BAR_LEFT + plot_w / 2, _BAR_TOP + plot_h / 2, chart.no_data, "cc-empty")
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# --- line chart --------------------------------------------------------------------------------


class SeriesKind(StrEnum):
    """How a series is drawn."""

    MEASURED = "measured"
    """Straight lines between samples, in the series' colour."""
    LIMIT = "limit"
    """A dotted step line: the value holds until the next one (an offered current)."""


Point = tuple[datetime, float | None]
"""A sample; None for a gap (the line breaks there)."""


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a `LineChart`; its points are sorted by time."""

    name: str
    points: Sequence[Point]
    kind: SeriesKind = SeriesKind.MEASURED

    def __post_init__(self) -> None:
        ordered = sorted(
            ((at, None if v is None else float(v)) for at, v in self.points), key=lambda p: p[0]
        )
        object.__setattr__(self, "points", tuple(ordered))


@dataclass(frozen=True, slots=True)
class LineChart:
    """Series over time: current per phase of a transaction, and the limit offered.

    Series may have their own sample times and gaps: a None value breaks a line, and so does
    a pause longer than `max_gap` (when given) between two samples of a measured series.
    """

    title: str
    series: Sequence[Series]
    unit: str = "A"
    digits: int = 1
    max_gap: timedelta | None = None
    time_heading: str = "Time"
    no_data: str = "No data"
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", tuple(self.series))

    @property
    def empty(self) -> bool:
        return not any(v is not None for s in self.series for _, v in s.points)

    def rows(self, number: NumberFormat = plain, time_format: TimeFormat = hours_minutes) -> Table:
        """One row per sample time (of any series), a column per series; empty where a
        series has no sample at that time."""
        times = sorted({at for s in self.series for at, _ in s.points})
        by_series = [dict(s.points) for s in self.series]
        rows = []
        for at in times:
            cells = [time_format(at)]
            for values in by_series:
                value = values.get(at)
                cells.append("" if value is None else number(round(value, self.digits)))
            rows.append(tuple(cells))
        header = (self.time_heading, *(f"{s.name} ({self.unit})" for s in self.series))
        return Table(header, tuple(rows))


class SampleLike(Protocol):
    """A meter sample as the store gives it (`controller.values.records.MeterSample`)."""

    @property
    def timestamp(self) -> datetime: ...
    @property
    def value(self) -> str: ...
    @property
    def measurand(self) -> str: ...
    @property
    def phase(self) -> str | None: ...
    @property
    def unit(self) -> str | None: ...


CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"


def current_chart(
    samples: Iterable[SampleLike],
    *,
    title: str,
    offered_name: str = "Offered",
    total_name: str = "Current",
    max_gap: timedelta | None = None,
    time_heading: str = "Time",
    no_data: str = "No data",
) -> LineChart:
    """A transaction's current from its meter samples: one series per phase (`L1-N` counts as
    `L1`), or one named `total_name` when the charger does not sample per phase; and the
    offered limit (`Current.Offered`, the highest phase at each time) as a dotted step line.
    A value in mA is converted; a value that is not a number is left out."""
    phases: dict[str, dict[datetime, float]] = {}
    offered: dict[datetime, float] = {}
    for sample in samples:
        if sample.measurand not in (CURRENT, CURRENT_OFFERED):
            continue
        amperes = _amperes(sample.value, sample.unit)
        if amperes is None:
            continue
        if sample.measurand == CURRENT_OFFERED:
            offered[sample.timestamp] = max(amperes, offered.get(sample.timestamp, amperes))
        else:
            phase = (sample.phase or "").split("-", 1)[0]
            by_time = phases.setdefault(phase, {})
            by_time[sample.timestamp] = by_time.get(sample.timestamp, 0.0) + amperes
    if len(phases) > 1:
        phases.pop("", None)  # a total beside per-phase readings says nothing more
    series = [
        Series(name or total_name, tuple(values.items())) for name, values in sorted(phases.items())
    ]
    if offered:
        series.append(Series(offered_name, tuple(offered.items()), SeriesKind.LIMIT))
    return LineChart(title, series, max_gap=max_gap, time_heading=time_heading, no_data=no_data)


_LINE_W, _LINE_H = 720, 300
_LINE_LEFT, _LINE_RIGHT, _LINE_TOP, _LINE_BOTTOM = 56, 16, 44, 36
_TIME_STEPS = tuple(
    timedelta(seconds=s)
    for s in (
        1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        172800, 604800,
    )
)  # fmt: skip


def line_chart(
    chart: LineChart,
    *,
    number: NumberFormat = plain,
    time_format: TimeFormat = hours_minutes,
    chart_id: str | None = None,
) -> Markup:
    """`chart` as an SVG line chart with a legend; time runs left to right."""
    cid = chart_id or _auto_id("line", chart.title)
    times = [at for s in chart.series for at, _ in s.points]
    values = [v for s in chart.series for _, v in s.points if v is not None]
    ticks = nice_ticks(max([*values, 0.0]))
    axis_max = ticks[-1]
    start, end = (min(times), max(times)) if times else (None, None)
    plot_w = _LINE_W - _LINE_LEFT - _LINE_RIGHT
    plot_h = _LINE_H - _LINE_TOP - _LINE_BOTTOM
    base = _LINE_H - _LINE_BOTTOM
    right = _LINE_W - _LINE_RIGHT
    names = ", ".join(s.name for s in chart.series)
    description = chart.description or (chart.no_data if chart.empty else names)
    parts = [_open(cid, _LINE_W, _LINE_H, chart.title, description, "cc-line-chart")]
    parts.append(_y_axis(ticks, base, plot_h, _LINE_LEFT, right, number))
    parts.append(_text(_LINE_LEFT - 6, _LINE_TOP - 8, chart.unit, "cc-unit", "end"))

    if start is not None and end is not None:
        if end - start < timedelta(minutes=1):
            start, end = start - timedelta(seconds=30), end + timedelta(seconds=30)
        span = (end - start).total_seconds()

        def x_of(at: datetime) -> float:
            return _LINE_LEFT + (at - start).total_seconds() / span * plot_w

        def y_of(value: float) -> float:
            return base - max(value, 0.0) / axis_max * plot_h

        parts.append('<g class="cc-x-labels">')
        for at in _time_ticks(start, end):
            x = x_of(at)
            parts.append(
                f'<line class="cc-grid" x1="{_n(x)}" y1="{_n(base)}"'
                f' x2="{_n(x)}" y2="{_n(base + 4)}"/>'
            )
            parts.append(_text(x, base + 18, time_format(at), "cc-tick"))
        parts.append("</g>")
        measured = 0
        for series in chart.series:
            if series.kind is SeriesKind.LIMIT:
                css, dash = "cc-line cc-limit", ' stroke-dasharray="1 5" stroke-linecap="round"'
                runs = _step_runs(series.points, end)
            else:
                measured += 1
                css, dash = f"cc-line cc-s{(measured - 1) % 4 + 1}", ""
                runs = _runs(series.points, chart.max_gap)
            parts.append(f'<g class="cc-series" data-series="{_e(series.name)}">')
            parts.append(f"<title>{_e(series.name)}</title>")
            for run in runs:
                if len(run) == 1:
                    at, value = run[0]
                    parts.append(
                        f'<circle class="{css} cc-dot" cx="{_n(x_of(at))}"'
                        f' cy="{_n(y_of(value))}" r="2"/>'
                    )
                    continue
                d = " ".join(
                    f"{'M' if i == 0 else 'L'}{_n(x_of(at))} {_n(y_of(value))}"
                    for i, (at, value) in enumerate(run)
                )
                parts.append(f'<path class="{css}" d="{d}" fill="none"{dash}/>')
            parts.append("</g>")
    parts.append(_axes(_LINE_LEFT, _LINE_TOP, right, base))
    parts.append(_legend(chart.series, _LINE_LEFT, 16))
    if chart.empty:
        parts.append(
            _text(_LINE_LEFT + plot_w / 2, _LINE_TOP + plot_h / 2, chart.no_data, "cc-empty")
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(points: Sequence[Point], max_gap: timedelta | None) -> list[list[tuple[datetime, float]]]:
    """The unbroken stretches of a measured series."""
    runs: list[list[tuple[datetime, float]]] = []
    current: list[tuple[datetime, float]] = []
    for at, value in points:
        if value is None:
            if current:
                runs.append(current)
            current = []
            continue
        if current and max_gap is not None and at - current[-1][0] > max_gap:
            runs.append(current)
            current = []
        current.append((at, value))
    if current:
        runs.append(current)
    return runs


def _step_runs(points: Sequence[Point], end: datetime) -> list[list[tuple[datetime, float]]]:
    """A limit's stretches as step lines: each value holds until the next sample (a gap ends
    it), the last one until the end of the chart."""
    runs: list[list[tuple[datetime, float]]] = []
    current: list[tuple[datetime, float]] = []
    for at, value in points:
        if current:
            current.append((at, current[-1][1]))
        if value is None:
            if current:
                runs.append(current)
            current = []
            continue
        current.append((at, value))
    if current:
        if current[-1][0] < end:
            current.append((end, current[-1][1]))
        runs.append(current)
    return runs


def _time_ticks(start: datetime, end: datetime, count: int = 6) -> list[datetime]:
    """Round moments between `start` and `end`, aligned in `start`'s own timezone."""
    span = end - start
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    offset = start.utcoffset() or timedelta(0)
    seconds = step.total_seconds()
    local = start.timestamp() + offset.total_seconds()
    first = math.ceil(local / seconds) * seconds - offset.total_seconds()
    ticks = []
    at = start + timedelta(seconds=first - start.timestamp())
    while at <= end:
        ticks.append(at)
        at += step
    return ticks


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    parts = ['<g class="cc-legend">']
    measured = 0
    for item in series:
        if item.kind is SeriesKind.LIMIT:
            css, dash = "cc-line cc-limit", ' stroke-dasharray="1 5" stroke-linecap="round"'
        else:
            measured += 1
            css, dash = f"cc-line cc-s{(measured - 1) % 4 + 1}", ""
        parts.append(
            f'<line class="{css}" x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 22)}" y2="{_n(y)}"{dash}/>'
        )
        parts.append(_text(x + 28, y + 4, item.name, "cc-legend-label", "start"))
        x += 40 + 7 * len(item.name)
    parts.append("</g>")
    return "".join(parts)


def _amperes(value: str, unit: str | None) -> float | None:
    try:
        amperes = Decimal(value)
    except InvalidOperation:
        return None
    if not amperes.is_finite():
        return None
    if unit == "mA":
        amperes /= 1000
    return float(amperes)


# --- power diagram -----------------------------------------------------------------------------


class LoadLike(Protocol):
    """A circuit's load in a power plan (`controller.planning.power.CircuitLoad`)."""

    @property
    def limit_amperes(self) -> float: ...
    @property
    def static_amperes(self) -> float: ...
    @property
    def allocated(self) -> float: ...
    @property
    def sessions(self) -> int: ...


class AllocationLike(Protocol):
    """A connector's share in a power plan (`controller.planning.power.Allocation`)."""

    @property
    def connector(self) -> int: ...
    @property
    def amperes(self) -> float: ...
    @property
    def state(self) -> str: ...


UNMANAGED = "Unmanaged"
"""The state of an allocation that limits nothing (`planning.power.State.UNMANAGED`: a DC
connector, a charger no circuit feeds): drawn as no allocation, with the connector's status."""


class PlanLike(Protocol):
    """A power plan (`controller.planning.power.PowerPlan`): what was allocated, not drawn."""

    @property
    def circuits(self) -> Mapping[str, LoadLike]: ...
    def for_charger(self, charger: str) -> Sequence[AllocationLike]: ...


@dataclass(frozen=True, slots=True)
class Words:
    """The words of a power diagram and its tables, in the viewer's language."""

    limit: str = "Limit"
    static: str = "static"
    scheduled: str = "scheduled"
    allocated: str = "Allocated"
    sessions: str = "Sessions"
    draw: str = "Draw"
    offered: str = "Offered"
    offline: str = "Offline"
    not_on_a_circuit: str = "Not on a circuit"
    circuit: str = "Circuit"
    parent: str = "Parent"
    charger: str = "Charger"
    connector: str = "Connector"
    status: str = "Status"
    per_phase: str = "A per phase"


@dataclass(frozen=True, slots=True)
class ConnectorView:
    """A connector in the diagram: its status and, when known, its allocated share (A)."""

    id: int
    status: str | None
    allocated: float | None = None
    state: str | None = None
    session: bool = False


@dataclass(frozen=True, slots=True)
class ChargerView:
    """A charger in the diagram: its live draw per phase (A), the current offered to it."""

    name: str
    identity: str
    connected: bool
    watts: float | None
    amperes: tuple[tuple[str, float], ...]
    offered: float | None
    connectors: tuple[ConnectorView, ...]
    sessions: int


@dataclass(frozen=True, slots=True)
class CircuitView:
    """A circuit in the diagram. `limit` is the limit in force (A per phase), `static` the
    declared one; `allocated` what is given out under it (the plan's shares, else the current
    offered to its chargers); `chargers` those it feeds directly (names)."""

    name: str
    parent: str | None
    limit: float | None
    static: float | None
    scheduled: bool
    allocated: float | None
    sessions: int
    amperes: tuple[tuple[str, float], ...]
    chargers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PowerDiagram:
    """A location's power as the diagram draws it: its circuits and its chargers, by name."""

    name: str
    title: str
    circuits: tuple[CircuitView, ...]
    chargers: tuple[ChargerView, ...] = field(default=())

    @classmethod
    def from_location(
        cls, document: Mapping[str, Any], plan: PlanLike | None = None
    ) -> PowerDiagram:
        """The diagram of a location document (`StatusService.location`). A circuit's
        `limitAmperes`, `staticAmperes`, `allocatedAmperes` and `sessions`, and a connector's
        `allocatedAmperes`, are read when the document carries them (as the Kubernetes status
        does), and `plan`'s loads and allocations win over them (but for an `UNMANAGED`
        connector's, which limit nothing). Without either, the limit in force is the static one
        and the allocation the current offered to the chargers."""
        chargers = tuple(
            _charger_view(item, plan)
            for item in sorted(document.get("chargers") or (), key=_charger_name)
        )
        by_name = {c.name: c for c in chargers}
        raw = sorted(document.get("circuits") or (), key=lambda c: str(c.get("name", "")))
        children: dict[str | None, list[str]] = {}
        for circuit in raw:
            children.setdefault(circuit.get("parent"), []).append(str(circuit["name"]))
        fed = {str(c["name"]): [str(n) for n in c.get("chargers") or ()] for c in raw}

        def subtree_chargers(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
            names = set(fed.get(name, ()))
            for child in children.get(name, ()):
                if child not in seen:
                    names |= subtree_chargers(child, seen | {name})
            return names

        circuits = []
        for circuit in raw:
            name = str(circuit["name"])
            load = plan.circuits.get(name) if plan is not None else None
            under = [by_name[n] for n in sorted(subtree_chargers(name)) if n in by_name]
            static = _float(circuit.get("staticAmperes", circuit.get("amperesPerPhase")))
            limit: float | None
            if load is not None:
                limit, static = float(load.limit_amperes), float(load.static_amperes)
                allocated: float | None = float(load.allocated)
                sessions = load.sessions
            else:
                limit = _float(circuit.get("limitAmperes")) or static
                allocated = _float(circuit.get("allocatedAmperes"))
                if allocated is None:
                    offers = [c.offered for c in under if c.offered is not None]
                    allocated = sum(offers) if offers else None
                count = circuit.get("sessions")
                sessions = int(count) if count is not None else sum(c.sessions for c in under)
            circuits.append(
                CircuitView(
                    name=name,
                    parent=circuit.get("parent"),
                    limit=limit,
                    static=static,
                    scheduled=bool(circuit.get("scheduled")),
                    allocated=allocated,
                    sessions=sessions,
                    amperes=_phases(circuit.get("amperes")),
                    chargers=tuple(n for n in fed[name] if n in by_name),
                )
            )
        title = str(document.get("displayName") or document.get("name") or "")
        return cls(str(document.get("name") or ""), title, tuple(circuits), chargers)

    def roots(self) -> tuple[CircuitView, ...]:
        """Circuits with no parent in this location."""
        names = {c.name for c in self.circuits}
        return tuple(c for c in self.circuits if c.parent not in names)

    def children(self, circuit: str) -> tuple[CircuitView, ...]:
        return tuple(c for c in self.circuits if c.parent == circuit and c.name != circuit)

    def placed_under(self, circuit: str) -> tuple[ChargerView, ...]:
        """The chargers drawn under `circuit`: those it feeds that no circuit below it feeds
        (a charger hangs under the most specific circuit that names or selects it)."""
        below = self._descendants(circuit)
        deeper = {n for c in self.circuits if c.name in below for n in c.chargers}
        mine = next((c.chargers for c in self.circuits if c.name == circuit), ())
        return tuple(c for c in self.chargers if c.name in mine and c.name not in deeper)

    def unfed(self) -> tuple[ChargerView, ...]:
        """Chargers no circuit feeds: not limited."""
        fed = {n for c in self.circuits for n in c.chargers}
        return tuple(c for c in self.chargers if c.name not in fed)

    def _descendants(self, circuit: str) -> set[str]:
        found: set[str] = set()
        todo = [circuit]
        while todo:
            for child in self.children(todo.pop()):
                if child.name not in found and child.name != circuit:
                    found.add(child.name)
                    todo.append(child.name)
        return found

    def rows(self, number: NumberFormat = plain, words: Words = Words()) -> Table:
        """One row per circuit: parent, limit in force, static limit, allocated, sessions,
        draw per phase (A)."""
        return Table(
            (
                words.circuit,
                words.parent,
                f"{words.limit} ({words.per_phase})",
                f"{words.limit}, {words.static} ({words.per_phase})",
                f"{words.allocated} (A)",
                words.sessions,
                f"{words.draw} (A)",
            ),
            tuple(
                (
                    c.name,
                    c.parent or "",
                    _maybe(c.limit, number),
                    _maybe(c.static, number),
                    _maybe(c.allocated, number),
                    number(c.sessions),
                    _per_phase(c.amperes, number),
                )
                for c in self.circuits
            ),
        )

    def charger_rows(self, number: NumberFormat = plain, words: Words = Words()) -> Table:
        """One row per connector: charger, circuit it hangs under, connector, status,
        allocated (A); and the charger's offered current and draw per phase (A)."""
        under = {ch.name: c.name for c in self.circuits for ch in self.placed_under(c.name)}
        rows = []
        for charger in self.chargers:
            for connector in charger.connectors or (ConnectorView(0, None),):
                rows.append(
                    (
                        charger.name,
                        under.get(charger.name, ""),
                        str(connector.id) if connector.id else "",
                        (connector.state or connector.status or "")
                        if charger.connected
                        else words.offline,
                        _maybe(connector.allocated, number),
                        _maybe(charger.offered, number),
                        _per_phase(charger.amperes, number),
                    )
                )
        return Table(
            (
                words.charger,
                words.circuit,
                words.connector,
                words.status,
                f"{words.allocated} (A)",
                f"{words.offered} (A)",
                f"{words.draw} (A)",
            ),
            tuple(rows),
        )


def _charger_name(item: Mapping[str, Any]) -> str:
    return str(item.get("name") or item.get("identity") or "")


def _charger_view(item: Mapping[str, Any], plan: PlanLike | None) -> ChargerView:
    name = _charger_name(item)
    power = item.get("power") or {}
    sessions = [t for t in item.get("openTransactions") or () if t.get("open", True)]
    in_session = {t.get("connector") for t in sessions}
    shares = (
        {a.connector: a for a in plan.for_charger(name) if str(a.state) != UNMANAGED}
        if plan is not None
        else {}
    )
    connectors = []
    for connector in item.get("connectors") or ():
        cid = int(connector.get("id", 0))
        share = shares.get(cid)
        connectors.append(
            ConnectorView(
                id=cid,
                status=connector.get("status"),
                allocated=(
                    float(share.amperes)
                    if share is not None
                    else _float(connector.get("allocatedAmperes"))
                ),
                state=str(share.state) if share is not None else None,
                session=cid in in_session,
            )
        )
    return ChargerView(
        name=name,
        identity=str(item.get("identity") or name),
        connected=bool(item.get("connected")),
        watts=_float(power.get("watts")),
        amperes=_phases(power.get("amperes")),
        offered=_float(power.get("offeredAmperes")),
        connectors=tuple(connectors),
        sessions=len(sessions),
    )


def _phases(amperes: Mapping[str, Any] | None) -> tuple[tuple[str, float], ...]:
    return tuple(
        (str(phase), float(value))
        for phase, value in sorted((amperes or {}).items())
        if _float(value) is not None
    )


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _maybe(value: float | None, number: NumberFormat, digits: int = 1) -> str:
    return "" if value is None else number(round(value, digits))


def _per_phase(amperes: Sequence[tuple[str, float]], number: NumberFormat) -> str:
    return " / ".join(
        f"{phase}: {number(round(a, 1))}" if phase else number(round(a, 1)) for phase, a in amperes
    )


_CIRCUIT_W, _CIRCUIT_H = 290, 104
_CHARGER_W = 230
_CHARGER_HEAD, _CONNECTOR_LINE = 44, 16
_GAP_X, _GAP_Y, _STACK_GAP = 24, 40, 10
_COLUMN = 6
"""Chargers under one circuit are stacked in columns of at most this many, side by side."""
_BUS = 12
_MARGIN = 12


@dataclass
class _Node:
    """A box of the tree being laid out: a circuit, the location, or a column of chargers."""

    kind: str
    width: float
    height: float
    circuit: CircuitView | None = None
    chargers: tuple[ChargerView, ...] = ()
    children: list[_Node] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0

    def span(self) -> float:
        inner = sum(c.span() for c in self.children) + _GAP_X * max(len(self.children) - 1, 0)
        return max(self.width, inner)


def power_diagram(
    location: Mapping[str, Any] | PowerDiagram,
    *,
    plan: PlanLike | None = None,
    number: NumberFormat = plain,
    words: Words = Words(),
    chart_id: str | None = None,
) -> Markup:
    """The power diagram of a location document (`StatusService.location`) or a
    `PowerDiagram`: the location on top, its circuits beneath it as a tree (a child circuit
    under its parent), and under each circuit the chargers it feeds, with what each connector
    is allocated and what each charger draws; chargers no circuit feeds at the side."""
    diagram = (
        location
        if isinstance(location, PowerDiagram)
        else PowerDiagram.from_location(location, plan)
    )
    cid = chart_id or _auto_id("power", diagram.name or diagram.title)
    root = _Node("location", _CIRCUIT_W, 40)
    visited: set[str] = set()

    def circuit_node(circuit: CircuitView) -> _Node:
        visited.add(circuit.name)
        node = _Node("circuit", _CIRCUIT_W, _CIRCUIT_H, circuit=circuit)
        for child in diagram.children(circuit.name):
            if child.name not in visited:
                node.children.append(circuit_node(child))
        node.children.extend(_columns(diagram.placed_under(circuit.name)))
        return node

    for circuit in diagram.roots():
        root.children.append(circuit_node(circuit))
    root.children.extend(_columns(diagram.unfed(), unfed=True))
    _place(root, _MARGIN, _MARGIN)
    width = root.span() + 2 * _MARGIN
    height = _bottom(root) + _MARGIN
    description = "; ".join(
        f"{c.name}: {_maybe(c.allocated, number) or '–'} / {_maybe(c.limit, number) or '–'} A"
        for c in diagram.circuits
    )
    parts = [_open(cid, width, height, diagram.title, description, "cc-power")]
    parts.append(_draw_node(root, diagram, number, words))
    parts.append("</svg>")
    return Markup("".join(parts))


def _charger_height(charger: ChargerView) -> float:
    return _CHARGER_HEAD + _CONNECTOR_LINE * len(charger.connectors)


def _columns(chargers: Sequence[ChargerView], *, unfed: bool = False) -> list[_Node]:
    columns = []
    for start in range(0, len(chargers), _COLUMN):
        chunk = tuple(chargers[start : start + _COLUMN])
        height = sum(_charger_height(c) for c in chunk) + _STACK_GAP * (len(chunk) - 1)
        if unfed and start == 0:
            height += 20
        kind = "unfed" if unfed and start == 0 else "chargers"
        columns.append(_Node(kind, _CHARGER_W + _BUS, height, chargers=chunk))
    return columns


def _place(node: _Node, left: float, top: float) -> None:
    span = node.span()
    node.x = left + (span - node.width) / 2
    node.y = top
    inner = sum(c.span() for c in node.children) + _GAP_X * max(len(node.children) - 1, 0)
    x = left + (span - inner) / 2
    for child in node.children:
        _place(child, x, top + node.height + _GAP_Y)
        x += child.span() + _GAP_X


def _bottom(node: _Node) -> float:
    return max([node.y + node.height, *(_bottom(c) for c in node.children)])


def _draw_node(node: _Node, diagram: PowerDiagram, number: NumberFormat, words: Words) -> str:
    parts: list[str] = []
    centre, bottom = node.x + node.width / 2, node.y + node.height
    for child in node.children:
        if child.kind in ("chargers", "unfed"):
            tx, ty = child.x + _BUS / 2, child.y
        else:
            tx, ty = child.x + child.width / 2, child.y
        mid = bottom + _GAP_Y / 2
        parts.append(
            f'<path class="cc-link" d="M{_n(centre)} {_n(bottom)} V{_n(mid)} H{_n(tx)}'
            f' V{_n(ty)}" fill="none"/>'
        )
    if node.kind == "location":
        parts.append(
            f'<g class="cc-node cc-location"><rect class="cc-box" x="{_n(node.x)}"'
            f' y="{_n(node.y)}" width="{_n(node.width)}" height="{_n(node.height)}" rx="6"/>'
        )
        parts.append(_label(centre, node.y + 25, diagram.title, node.width, "cc-name", "middle"))
        parts.append("</g>")
    elif node.kind == "circuit" and node.circuit is not None:
        parts.append(_circuit_box(node, node.circuit, number, words))
    else:
        parts.append(_charger_column(node, number, words))
    for child in node.children:
        parts.append(_draw_node(child, diagram, number, words))
    return "".join(parts)


def _circuit_box(node: _Node, circuit: CircuitView, number: NumberFormat, words: Words) -> str:
    x, y, w = node.x, node.y, node.width
    over = (
        circuit.limit is not None
        and circuit.allocated is not None
        and circuit.allocated > circuit.limit + 1e-9
    )
    parts = [
        f'<g class="cc-node cc-circuit{" cc-over" if over else ""}"'
        f' data-circuit="{_e(circuit.name)}" data-parent="{_e(circuit.parent or "")}">'
        f"<title>{_e(circuit.name)}</title>",
        f'<rect class="cc-box" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}"'
        f' height="{_n(node.height)}" rx="6"/>',
        _label(x + 10, y + 20, circuit.name, w - 20, "cc-name", "start"),
    ]
    limit = f"{words.limit} {_maybe(circuit.limit, number) or '–'} {words.per_phase}"
    if circuit.static is not None and circuit.limit is not None and circuit.static != circuit.limit:
        limit += f" ({words.static} {_maybe(circuit.static, number)})"
    elif circuit.scheduled:
        limit += f" ({words.scheduled})"
    parts.append(_label(x + 10, y + 40, limit, w - 20, "cc-detail cc-limit-text", "start"))
    allocated = (
        f"{words.allocated} {_maybe(circuit.allocated, number) or '–'} A · "
        f"{words.sessions} {number(circuit.sessions)}"
    )
    parts.append(_label(x + 10, y + 58, allocated, w - 20, "cc-detail cc-allocated-text", "start"))
    if circuit.amperes:
        draw = f"{words.draw} {_per_phase(circuit.amperes, number)} A"
        parts.append(_label(x + 10, y + 76, draw, w - 20, "cc-detail cc-muted", "start"))
    bar_w = w - 20
    share = 0.0
    if circuit.limit and circuit.allocated is not None:
        share = min(max(circuit.allocated / circuit.limit, 0.0), 1.0)
    parts.append(
        f'<rect class="cc-usage-track" x="{_n(x + 10)}" y="{_n(y + 88)}" width="{_n(bar_w)}"'
        f' height="8" rx="3"/>'
        f'<rect class="cc-usage" x="{_n(x + 10)}" y="{_n(y + 88)}" width="{_n(bar_w * share)}"'
        f' height="8" rx="3" data-share="{_n(share)}"/>'
    )
    parts.append("</g>")
    return "".join(parts)


def _charger_column(node: _Node, number: NumberFormat, words: Words) -> str:
    parts = ['<g class="cc-chargers">']
    bus_x = node.x + _BUS / 2
    y = node.y
    if node.kind == "unfed":
        parts.append(
            _label(
                node.x + _BUS,
                y + 12,
                words.not_on_a_circuit,
                _CHARGER_W,
                "cc-detail cc-muted",
                "start",
            )
        )
        y += 20
    box_x = node.x + _BUS
    ticks = []
    for charger in node.chargers:
        height = _charger_height(charger)
        ticks.append(y + 14)
        css = "cc-node cc-charger" + ("" if charger.connected else " cc-offline")
        parts.append(
            f'<g class="{css}" data-charger="{_e(charger.name)}"><title>{_e(charger.name)}'
            f" ({_e(charger.identity)})</title>"
            f'<rect class="cc-box" x="{_n(box_x)}" y="{_n(y)}" width="{_n(_CHARGER_W)}"'
            f' height="{_n(height)}" rx="4"/>'
        )
        parts.append(_label(box_x + 8, y + 16, charger.name, _CHARGER_W - 16, "cc-name", "start"))
        if not charger.connected:
            live = words.offline
        else:
            live = f"{words.draw} {_per_phase(charger.amperes, number) or '–'} A"
            if charger.offered is not None:
                live += f" · {words.offered} {_maybe(charger.offered, number)} A"
        parts.append(_label(box_x + 8, y + 33, live, _CHARGER_W - 16, "cc-detail", "start"))
        line = y + _CHARGER_HEAD + 8
        for connector in charger.connectors:
            text = f"#{connector.id} {connector.state or connector.status or '–'}"
            if connector.allocated is not None:
                text += f" · {_maybe(connector.allocated, number)} A"
            css = "cc-detail cc-connector" + (" cc-session" if connector.session else "")
            parts.append(
                f'<g data-connector="{connector.id}">'
                + _label(box_x + 16, line, text, _CHARGER_W - 24, css, "start")
                + "</g>"
            )
            line += _CONNECTOR_LINE
        parts.append("</g>")
        y += height + _STACK_GAP
    if ticks and node.kind != "unfed":
        parts.append(
            f'<path class="cc-link" d="M{_n(bus_x)} {_n(node.y)} V{_n(ticks[-1])}" fill="none"/>'
        )
        for tick in ticks:
            parts.append(
                f'<path class="cc-link" d="M{_n(bus_x)} {_n(tick)} H{_n(box_x)}" fill="none"/>'
            )
    parts.append("</g>")
    return "".join(parts)


# --- SVG pieces --------------------------------------------------------------------------------

_STYLE = (
    "<style>"
    ".cc-chart{font-family:inherit;font-size:12px;color:inherit}"
    ".cc-chart text{fill:currentColor}"
    ".cc-chart .cc-tick,.cc-chart .cc-unit,.cc-chart .cc-muted,.cc-chart .cc-empty"
    "{fill:var(--muted,#4d5661)}"
    ".cc-chart .cc-tick{font-size:11px}"
    ".cc-chart .cc-empty{font-size:14px}"
    ".cc-chart .cc-grid{stroke:var(--grid,#dde2e8);stroke-width:1}"
    ".cc-chart .cc-axis{stroke:currentColor;stroke-width:1}"
    ".cc-chart .cc-bar{fill:var(--chart-1,#1f5fbf)}"
    ".cc-chart .cc-line{stroke-width:2;fill:none}"
    ".cc-chart .cc-dot{stroke-width:0}"
    ".cc-chart .cc-s1{stroke:var(--chart-1,#1f5fbf);fill:var(--chart-1,#1f5fbf)}"
    ".cc-chart .cc-s2{stroke:var(--chart-2,#b3400a);fill:var(--chart-2,#b3400a)}"
    ".cc-chart .cc-s3{stroke:var(--chart-3,#0b7a55);fill:var(--chart-3,#0b7a55)}"
    ".cc-chart .cc-s4{stroke:var(--chart-4,#7a3fb0);fill:var(--chart-4,#7a3fb0)}"
    ".cc-chart .cc-limit{stroke:currentColor;stroke-width:2.5;fill:currentColor}"
    ".cc-chart .cc-box{fill:var(--surface,#f4f6f8);stroke:var(--border,#c9d0d8)}"
    ".cc-chart .cc-location .cc-box{stroke:var(--brand,#1f5fbf);stroke-width:2}"
    ".cc-chart .cc-offline .cc-box{stroke-dasharray:4 3}"
    ".cc-chart .cc-offline text{fill:var(--muted,#4d5661)}"
    ".cc-chart .cc-name{font-weight:700}"
    ".cc-chart .cc-session{font-weight:700}"
    ".cc-chart .cc-link{stroke:var(--border,#c9d0d8);stroke-width:1.5;fill:none}"
    ".cc-chart .cc-usage-track{fill:var(--grid,#dde2e8)}"
    ".cc-chart .cc-usage{fill:var(--accent,#0b7a55)}"
    ".cc-chart .cc-over .cc-usage{fill:var(--bad,#b3261e)}"
    ".cc-chart .cc-over .cc-box{stroke:var(--bad,#b3261e)}"
    "</style>"
)


def _open(cid: str, width: float, height: float, title: str, description: str, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}"'
        f' width="100%" role="img" class="cc-chart {kind}" id="{_e(cid)}"'
        f' aria-labelledby="{_e(cid)}-title" aria-describedby="{_e(cid)}-desc">'
        f'<title id="{_e(cid)}-title">{_e(title)}</title>'
        f'<desc id="{_e(cid)}-desc">{_e(description)}</desc>{_STYLE}'
    )


def _y_axis(
    ticks: Sequence[float],
    base: float,
    plot_h: float,
    left: float,
    right: float,
    number: NumberFormat,
) -> str:
    axis_max = ticks[-1]
    digits = _digits(ticks[1] - ticks[0]) if len(ticks) > 1 else 0
    parts = ['<g class="cc-y-axis">']
    for tick in ticks:
        y = base - tick / axis_max * plot_h
        parts.append(
            f'<line class="cc-grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}"/>'
        )
        parts.append(_text(left - 6, y + 4, number(round(tick, digits)), "cc-tick", "end"))
    parts.append("</g>")
    return "".join(parts)


def _axes(left: float, top: float, right: float, base: float) -> str:
    return (
        f'<line class="cc-axis" x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(base)}"/>'
        f'<line class="cc-axis" x1="{_n(left)}" y1="{_n(base)}" x2="{_n(right)}" y2="{_n(base)}"/>'
    )


def _text(x: float, y: float, text: str, css: str, anchor: str = "middle") -> str:
    return f'<text class="{css}" x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}">{_e(text)}</text>'


def _label(x: float, y: float, text: str, width: float, css: str, anchor: str) -> str:
    """Text cut to fit `width` (about 7 units a character at 12px), with an ellipsis; a cut
    text keeps the whole as its tooltip (the table beside the chart has it too)."""
    fits = max(int(width / 7), 4)
    if len(text) <= fits:
        return _text(x, y, text, css, anchor)
    return (
        f'<text class="{css}" x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}">'
        f"<title>{_e(text)}</title>{_e(text[: fits - 1])}…</text>"
    )


def _digits(step: float) -> int:
    for digits in range(7):
        if abs(round(step, digits) - step) < 1e-9:
            return digits
    return 6


def _n(value: float) -> str:
    """A coordinate: two decimals at most, so output is short and the same on every run."""
    return plain(round(value, 2))


def _e(text: str) -> str:
    return str(escape(text))


def _auto_id(kind: str, title: str) -> str:
    return f"chart-{kind}-{zlib.crc32(title.encode()):08x}"
