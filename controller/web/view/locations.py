"""The locations list (`/locations`) and a location's page (`/locations/{name}`), with its CSV
export and its live power diagram.

- The list: the locations the viewer sees, with their team, address and charger counts
  (total, connected, charging), from one chargers document of the viewer's scope.
- A location: insights over the last 30 days in the location's own timezone (energy and
  sessions per day from one `transaction_totals` query, utilisation by hour from its
  sessions), its chargers (status, sync, power now), its transactions newest first (a page
  found through per-day counts, so only that page is read and priced), the power diagram
  (drawn with the location's allocation now, `power.location_allocation`: each circuit's and
  connector's share in amperes, as a charger's page shows its profiles), its tariff, member
  teams, accepted cards (id tags masked but for their last 4 characters) and the pending
  chargers that came through its URL.
- `/locations/{name}/transactions.csv?since=&until=`: `exports.export_rows`, the very rows and
  costs of `chargectl export transactions --location NAME --from --to`.
- `/locations/{name}/power.svg` and `/locations/{name}/power` (the diagram and its tables, an
  HTML fragment): what `static/power.js` refetches every few seconds.

A location out of the viewer's scope is a 404, as a missing one is, on every route.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web
from babel.numbers import format_decimal

from controller.web.exports import export_rows, parse_when, rows_for
from controller.web.responses import refused
from controller.web.status import Document
from controller.web.view import charts
from controller.web.view.i18n import timezone
from controller.web.view.insights import (
    DAY,
    QUARTER,
    WINDOW_DAYS,
    fold_days,
    last_days,
    mask_id_tag,
    page_count,
    page_slice,
    start_of_day,
    sync_state,
    synced_conditions,
    utilisation_by_hour,
)
from controller.web.view.power import location_allocation
from controller.web.view.prefs import prefs_of
from controller.web.view.rows import key_statuses_of
from controller.web.view.site import View, csv_download, page_number

PAGE_SIZE = 25
"""Transactions per page of a location's table."""

CARDS_SHOWN = 100
"""Accepted cards listed on the page; the rest are counted (search finds them)."""

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

POWER_CHART_ID = "power-diagram"
"""The diagram's SVG id (and its title's and description's prefix): not `power`, the section's."""


def routes(view: View) -> list[web.RouteDef]:
    async def locations(request: web.Request) -> web.Response:
        scope = view.scope(request)
        fleet = view.fleet
        document = await view.service.chargers(scope)
        counts: dict[str, dict[str, int]] = {}
        for item in document["chargers"]:
            if not item["declared"]:
                continue
            count = counts.setdefault(item["location"], {"total": 0, "connected": 0, "charging": 0})
            count["total"] += 1
            count["connected"] += bool(item["connected"])
            count["charging"] += len(item["openTransactions"])
        rows = [
            {
                "name": name,
                "display": loaded.resource.spec.display_name,
                "team": _team_name(view, loaded.resource.spec.team),
                "address": loaded.resource.spec.address,
                "counts": counts.get(name, {"total": 0, "connected": 0, "charging": 0}),
            }
            for name, loaded in sorted(fleet.locations.items())
            if scope.sees_location(name)
        ]
        return view.render(request, "locations.html", locations=rows)

    async def location(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        document = await _document(view, request, name)
        scope = view.scope(request)
        fleet = view.fleet
        store = view.central.store
        loaded = fleet.locations[name]
        spec = loaded.resource.spec
        zone = timezone(spec.timezone)
        now = datetime.now(UTC)
        fmt = prefs_of(request).formats()
        number = partial(_number, fmt.locale)
        _ = view.gettext(request)

        items: list[Document] = document["chargers"]
        identities = [item["identity"] for item in items]
        days = last_days(now, zone)
        since = start_of_day(days[0], zone)
        buckets = (
            await store.transaction_totals(
                since=since, until=now + QUARTER, bucket=QUARTER, identities=identities
            )
            if identities
            else []
        )
        per_day = fold_days(buckets, zone, days)
        recent = (
            await store.transactions(identities=identities, since=since - 2 * DAY)
            if identities
            else []
        )
        connectors = sum(max(1, len(i["connectors"])) for i in items)
        hours = utilisation_by_hour(
            [(t.started_at, t.stopped_at) for t in recent], zone, since, now, max(1, connectors)
        )
        charts_ = {
            "energy": _bar(
                _("Energy per day (kWh)"),
                "kWh",
                [(d.day.strftime("%d-%m"), d.energy_wh / 1000) for d in per_day],
                1,
                number,
            ),
            "sessions": _bar(
                _("Sessions per day"),
                _("sessions"),
                [(d.day.strftime("%d-%m"), d.sessions) for d in per_day],
                0,
                number,
            ),
            "utilisation": _bar(
                _("Utilisation by hour of day (%)"),
                "%",
                [(f"{u.hour:02d}", round(u.share * 100, 1)) for u in hours],
                1,
                number,
                y_max=100,
            ),
        }

        # Sync state of its chargers: the Synced conditions, and key statuses of the unsynced.
        synced = synced_conditions(await store.conditions(identities=identities))
        unsynced = [
            i["identity"]
            for i in items
            if (c := synced.get(i["identity"].lower())) is not None and c.status == "False"
        ]
        statuses = await key_statuses_of(view, unsynced)
        syncs = {
            i["identity"]: sync_state(
                synced.get(i["identity"].lower()), statuses.get(i["identity"].lower(), [])
            )
            for i in items
        }

        # One page of its transactions, newest first, found through per-day counts.
        page = page_number(request)
        days_all = (
            await store.transaction_totals(
                since=EPOCH, until=now + DAY, bucket=DAY, identities=identities
            )
            if identities
            else []
        )
        total = sum(b.sessions for b in days_all)
        found = page_slice(days_all, DAY, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        shown: list[Any] = []
        if found is not None:
            window = await store.transactions(
                identities=identities, since=found.since, until=found.until
            )
            window.sort(key=lambda t: (t.started_at, t.id), reverse=True)
            shown = await rows_for(fleet, store, window[found.skip : found.skip + PAGE_SIZE])

        tariff = fleet.tariffs.get(spec.tariff) if spec.tariff else None
        cards = [c for c in fleet.cards_accepted_at(name) if scope.sees_card(c.name)]
        members = [{"team": spec.team, "name": _team_name(view, spec.team), "role": None}] + [
            {"team": m.team, "name": _team_name(view, m.team), "role": m.role.value}
            for m in spec.members
        ]
        return view.render(
            request,
            "location.html",
            location=document,
            spec=spec,
            zone_name=spec.timezone,
            charts=charts_,
            per_day=per_day,
            hours=hours,
            syncs=syncs,
            transactions=shown,
            page=page,
            pages=page_count(total, PAGE_SIZE),
            total=total,
            tariff=tariff.resource.spec if tariff else None,
            tariff_name=spec.tariff,
            members=members,
            cards=cards[:CARDS_SHOWN],
            cards_total=len(cards),
            mask=mask_id_tag,
            power=await _power(view, request, document),
            window_days=WINDOW_DAYS,
        )

    async def csv(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await _document(view, request, name)
        try:
            since = parse_when(request.query.get("since"))
            until = parse_when(request.query.get("until"))
        except ValueError:
            _ = view.gettext(request)
            raise refused(
                HTTPStatus.BAD_REQUEST,
                "bad-parameter",
                _("since and until are dates or RFC 3339 times."),
            ) from None
        rows = await export_rows(
            view.fleet, view.central.store, location=name, since=since, until=until
        )
        return csv_download(rows, name)

    async def power_svg(request: web.Request) -> web.Response:
        document = await _document(view, request, request.match_info["name"])
        svg = (await _power(view, request, document))["svg"]
        return web.Response(
            text=str(svg), content_type="image/svg+xml", headers={"Cache-Control": "no-store"}
        )

    async def power_fragment(request: web.Request) -> web.Response:
        document = await _document(view, request, request.match_info["name"])
        text = view.render_text(
            request,
            "partials/location_power.html",
            location=document,
            power=await _power(view, request, document),
        )
        return web.Response(
            text=text, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    return [
        web.get("/locations", locations, name="locations"),
        web.get("/locations/{name}", location, name="location"),
        web.get("/locations/{name}/transactions.csv", csv, name="location-csv"),
        web.get("/locations/{name}/power.svg", power_svg, name="location-power-svg"),
        web.get("/locations/{name}/power", power_fragment, name="location-power"),
    ]


async def _document(view: View, request: web.Request, name: str) -> Document:
    document = await view.service.location(name, view.scope(request))
    if document is None:
        _ = view.gettext(request)
        raise refused(
            HTTPStatus.NOT_FOUND, "not-found", _("There is no location %(name)s.") % {"name": name}
        )
    return document


def _team_name(view: View, team: str) -> str:
    loaded = view.fleet.teams.get(team)
    return loaded.resource.spec.display_name if loaded is not None else team


def _number(locale: Any, value: float) -> str:
    return str(format_decimal(value, locale=locale))


def _bar(
    title: str,
    unit: str,
    bars: list[tuple[str, float]],
    digits: int,
    number: Any,
    y_max: float | None = None,
) -> dict[str, Any]:
    chart = charts.BarChart(
        title=title, unit=unit, bars=bars, digits=digits, y_max=y_max, value_heading=unit
    )
    return {
        "title": title,
        "svg": charts.bar_chart(chart, number=number),
        "table": chart.rows(number),
    }


async def _power(view: View, request: web.Request, document: Document) -> dict[str, Any]:
    """The power diagram and its two tables, drawn with the location's allocation now
    (`power.location_allocation`, what the power step would give each circuit and connector
    and what a charger's page shows as its profiles)."""
    fmt = prefs_of(request).formats()
    number = partial(_number, fmt.locale)
    _ = view.gettext(request)
    words = charts.Words(
        limit=_("Limit"),
        static=_("static"),
        scheduled=_("scheduled"),
        allocated=_("Allocated"),
        sessions=_("Sessions"),
        draw=_("Draw"),
        offered=_("Offered"),
        offline=_("Offline"),
        not_on_a_circuit=_("Not on a circuit"),
        circuit=_("Circuit"),
        parent=_("Parent"),
        charger=_("Charger"),
        connector=_("Connector"),
        status=_("Status"),
        per_phase=_("A per phase"),
    )
    plan = await location_allocation(view, str(document["name"]))
    diagram = charts.PowerDiagram.from_location(document, plan)
    return {
        "svg": charts.power_diagram(diagram, number=number, words=words, chart_id=POWER_CHART_ID),
        "circuits": diagram.rows(number, words),
        "chargers": diagram.charger_rows(number, words),
    }
