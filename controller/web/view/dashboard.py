"""The dashboard (`/`): the viewer's fleet at a glance, cut to their scope.

- Connection and sync are counted apart, as Argo CD keeps health and sync apart: Connected /
  Offline (declared chargers), and Synced / OutOfSync / Blocked / not reconciled yet, from what
  the reconciler recorded (`insights.sync_state`); pending chargers are counted on their own.
- Sessions and energy today and this month, and energy per day over the last 30 days, in the
  viewer's timezone: one `transaction_totals` query in 15-minute buckets, folded into local days.
- Chargers needing attention, with the reason: offline for more than 15 minutes
  (`insights.OFFLINE_AFTER`), keys the reconciler gave up on, a failed firmware update, a
  Faulted connector. The key statuses are read only for the chargers whose Synced condition is
  False (one batched read), so a healthy fleet of 10,000 costs nothing there.

The chargers are the fleet's shared rows (`rows.shared_rows`, the chargers table's: one
snapshot for every viewer and page once the fleet is large), so the dashboard itself reads only
the totals: a fixed number of queries whatever the fleet's size, and for a large fleet those are
shared too (`shared.SharedByKey`, by time window and the viewer's chargers). The counts and the
attention list therefore agree with the chargers table its tiles link to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from controller.values.records import TransactionBucket
from controller.web.view import charts
from controller.web.view.fleetlist import Connection, Row
from controller.web.view.insights import (
    OFFLINE_AFTER,
    QUARTER,
    Attention,
    Concern,
    DayTotal,
    Sync,
    fold_days,
    last_days,
    offline_for_long,
    start_of_day,
    totals_since,
)
from controller.web.view.prefs import prefs_of
from controller.web.view.rows import shared_rows, visible
from controller.web.view.shared import SharedByKey
from controller.web.view.site import View

ATTENTION_SHOWN = 50
"""Chargers listed as needing attention; the rest are counted (the chargers page filters)."""

CONCERN_ORDER = (Concern.FAULTED, Concern.FIRMWARE_FAILED, Concern.BLOCKED_KEYS, Concern.OFFLINE)
"""Most pressing first: a fault stops charging; a long absence may be a power cut."""


@dataclass(frozen=True, slots=True)
class Needing:
    """A charger that needs attention, and why (one or more reasons)."""

    name: str
    identity: str
    location: str | None
    reasons: tuple[Attention, ...]

    @property
    def rank(self) -> int:
        return min(CONCERN_ORDER.index(r.concern) for r in self.reasons)


@dataclass
class Counts:
    declared: int = 0
    connected: int = 0
    pending: int = 0
    sync: dict[Sync, int] = field(default_factory=lambda: dict.fromkeys(Sync, 0))

    @property
    def offline(self) -> int:
        return self.declared - self.connected


def routes(view: View) -> list[web.RouteDef]:
    snapshot = shared_rows(view)
    totals: SharedByKey[list[TransactionBucket]] = SharedByKey("the dashboard's totals")

    async def dashboard(request: web.Request) -> web.Response:
        scope = view.scope(request)
        zone = prefs_of(request).zone
        now = datetime.now(UTC)

        rows = visible(await snapshot.rows(), scope)
        declared = [row for row in rows if row.name is not None]
        counts = Counts(pending=len(rows) - len(declared))
        needing: list[Needing] = []
        for row in declared:
            counts.declared += 1
            counts.connected += row.connection is Connection.CONNECTED
            counts.sync[Sync(row.sync)] += 1
            reasons = _reasons(row, now)
            if reasons:
                needing.append(Needing(row.key, row.identity, row.location, reasons))
        needing.sort(key=lambda n: (n.rank, n.name))

        days = last_days(now, zone)
        today = start_of_day(days[-1], zone)
        month = start_of_day(days[-1].replace(day=1), zone)
        since = min(start_of_day(days[0], zone), month)
        identities = None if scope.locations is None else [row.identity for row in declared]

        async def read_totals() -> list[TransactionBucket]:
            if identities is not None and not identities:
                return []
            return await view.central.store.transaction_totals(
                since=since,
                until=datetime.now(UTC) + QUARTER,
                bucket=QUARTER,
                identities=identities,
            )

        if snapshot.large:  # shared by the viewers of the same chargers, as the rows are
            key = (since, None if identities is None else frozenset(identities))
            buckets = await totals.get(key, read_totals, view.fleet)
        else:
            buckets = await read_totals()
        per_day = fold_days(buckets, zone, days)
        return view.render(
            request,
            "dashboard.html",
            counts=counts,
            syncs=Sync,
            today=totals_since(buckets, today),
            month=totals_since(buckets, month),
            per_day=per_day,
            energy_chart=_energy_chart(view, request, per_day),
            needing=needing[:ATTENTION_SHOWN],
            needing_total=len(needing),
            concerns=Concern,
            offline_minutes=int(OFFLINE_AFTER.total_seconds() // 60),
            now=now,
        )

    return [web.get("/", dashboard, name="dashboard")]


def _reasons(row: Row, now: datetime) -> tuple[Attention, ...]:
    away = offline_for_long(row.connection is Connection.CONNECTED, row.away_since, now)
    return row.troubles if away is None else (away, *row.troubles)


def _energy_chart(view: View, request: web.Request, per_day: Sequence[DayTotal]) -> object:
    """Energy per day as an SVG bar chart; its numbers are the table beside it."""
    fmt = prefs_of(request).formats()
    chart = charts.BarChart(
        title=view.gettext(request)("Energy per day (kWh)"),
        unit="kWh",
        bars=[(d.day.strftime("%d-%m"), d.energy_wh / 1000) for d in per_day],
        digits=1,
    )
    return charts.bar_chart(chart, number=lambda v: fmt.number(v, 1), chart_id="energy")
