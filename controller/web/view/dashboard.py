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

The store is read with a fixed number of queries, whatever the fleet's size: the chargers
document (records, open transactions, liveness), the conditions, the key statuses of the
unsynced, and the totals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from controller.values.records import KeyStatus
from controller.web.status import Document
from controller.web.view import charts
from controller.web.view.insights import (
    OFFLINE_AFTER,
    QUARTER,
    Attention,
    Concern,
    DayTotal,
    Sync,
    faulted_connectors,
    fold_days,
    key_concerns,
    last_days,
    offline_for_long,
    start_of_day,
    sync_state,
    synced_conditions,
    totals_since,
)
from controller.web.view.prefs import prefs_of
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
    async def dashboard(request: web.Request) -> web.Response:
        scope = view.scope(request)
        store = view.central.store
        zone = prefs_of(request).zone
        now = datetime.now(UTC)

        document = await view.service.chargers(scope)
        items: list[Document] = document["chargers"]
        declared = [item for item in items if item["declared"]]
        synced = synced_conditions(await store.conditions())
        unsynced = [
            item
            for item in declared
            if (condition := synced.get(item["identity"].lower())) is not None
            and condition.status == "False"
        ]
        statuses = await key_statuses_of(view, [item["identity"] for item in unsynced])

        counts = Counts(pending=sum(1 for item in items if item["pending"]))
        needing: list[Needing] = []
        for item in declared:
            lowered = item["identity"].lower()
            keys = statuses.get(lowered, [])
            counts.declared += 1
            counts.connected += bool(item["connected"])
            counts.sync[sync_state(synced.get(lowered), keys)] += 1
            reasons = _reasons(item, keys, now)
            if reasons:
                needing.append(Needing(item["name"], item["identity"], item["location"], reasons))
        needing.sort(key=lambda n: (n.rank, n.name))

        days = last_days(now, zone)
        today = start_of_day(days[-1], zone)
        month = start_of_day(days[-1].replace(day=1), zone)
        since = min(start_of_day(days[0], zone), month)
        identities = None if scope.locations is None else [i["identity"] for i in declared]
        buckets = (
            await store.transaction_totals(
                since=since, until=now + QUARTER, bucket=QUARTER, identities=identities
            )
            if identities is None or identities
            else []
        )
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


async def key_statuses_of(view: View, identities: Sequence[str]) -> dict[str, list[KeyStatus]]:
    """Key statuses of these chargers by lower-cased identity: concurrent reads, which the
    store answers with one query (its per-charger reads are batched)."""
    store = view.central.store
    found = await asyncio.gather(*(store.key_statuses(identity) for identity in identities))
    return {i.lower(): list(s) for i, s in zip(identities, found, strict=True)}


def _reasons(item: Document, keys: Sequence[KeyStatus], now: datetime) -> tuple[Attention, ...]:
    reasons: list[Attention] = []
    away = offline_for_long(bool(item["connected"]), _moment(item["disconnectedAt"]), now)
    if away is not None:
        reasons.append(away)
    reasons.extend(faulted_connectors(item["connectors"]))
    reasons.extend(key_concerns(keys))
    return tuple(reasons)


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


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
