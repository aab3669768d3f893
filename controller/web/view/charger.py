"""A charger's page (`/chargers/{id}`), its transactions' CSV and a transaction's page.

- The charger: diagnostics (connection, remote address, heartbeat, boot info, connectors) from
  `StatusService.charger`; its configuration as declared against what it reported, from a plan
  of this one charger (`planning.keys.plan_charger`, never the fleet's plan); its settings; its
  newest transactions priced as `chargectl export` prices them; its newest events; and the
  newest frames of its OCPP log, which `static/live-log.js` extends from the stream of
  `controller.web.view.livelog`.
- `/chargers/{id}/transactions.csv`: `exports.export_rows` of this charger only, the rows of
  `chargectl export transactions` for it.
- `/chargers/{id}/transactions/{tid}`: the transaction's facts and cost, and its current per
  phase with the offered limit (a chart and its table).

`id` is the fleet name or the OCPP identity. A charger out of the viewer's scope is a 404, as a
missing one is, on every route; so is a transaction of another charger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web
from babel.numbers import format_decimal

from controller.planning.keys import (
    FIRMWARE_KEY,
    ActionKind,
    PlannedAction,
    PlanStatus,
    desired_extras,
    plan_charger,
)
from controller.planning.power import charging_limits
from controller.planning.transactions import ExportRow, row_for
from controller.values.records import KeyStatus
from controller.web.exports import export_rows, rows_for
from controller.web.responses import refused
from controller.web.status import ChargerRef, log_entry
from controller.web.view import charts, livelog
from controller.web.view.insights import DAY, mask_id_tag, page_count, page_slice
from controller.web.view.power import fed_chargers, location_allocation
from controller.web.view.prefs import prefs_of
from controller.web.view.site import View, csv_download, page_number

TRANSACTIONS_SHOWN = 25
"""Transactions per page of the charger's table."""
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Where the per-day counts that find a page of transactions start."""
EVENTS_SHOWN = 50
LOG_SHOWN = 100
PAYLOAD_SHOWN = 160
"""Characters of a frame shown in the log table; the whole frame is in its title."""


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One line of the configuration table: a declared key (or setting) against the report."""

    key: str
    desired: str | None
    reported: str | None
    state: str
    """in-sync, differs, drifted, blocked or unknown (nothing reported to compare with)."""
    reason: str
    layer: str | None
    status: str | None
    """What the reconciler recorded for it (Applied, Rejected, ...), if anything."""

    @property
    def differs(self) -> bool:
        return self.state in ("differs", "drifted", "blocked")


async def find(view: View, request: web.Request) -> ChargerRef:
    """The charger the URL names, if the viewer sees it; a 404 otherwise."""
    key = request.match_info["id"]
    ref = await view.service.find(key, view.scope(request))
    if ref is None:
        _ = view.gettext(request)
        raise refused(
            HTTPStatus.NOT_FOUND, "not-found", _("There is no charger %(name)s.") % {"name": key}
        )
    return ref


def routes(view: View) -> list[web.RouteDef]:
    async def charger(request: web.Request) -> web.Response:
        ref = await find(view, request)
        store = view.central.store
        # transactions=0: the page reads and prices its own page of them (_transactions_page)
        document = await view.service.charger(ref, events=EVENTS_SHOWN, transactions=0)
        page = page_number(request)
        shown, total = await _transactions_page(view, ref, page)
        profiles = await _profiles(view, ref)
        frames = [log_entry(e) for e in await store.message_log(ref.identity, limit=LOG_SHOWN)]
        statuses = await store.key_statuses(ref.identity)
        rows, plan_status = _configuration(view, ref, statuses)
        firmware = next((st for st in statuses if st.key == FIRMWARE_KEY), None)
        settings = ref.declared.resource.spec.settings if ref.declared is not None else None
        return view.render(
            request,
            "charger.html",
            charger=document,
            key=ref.declared.name if ref.declared is not None else ref.identity,
            keys=rows,
            plan_status=plan_status,
            firmware=firmware,
            settings=settings,
            transactions=shown,
            transactions_total=total,
            page=page,
            pages=page_count(total, TRANSACTIONS_SHOWN),
            profiles=profiles,
            events=list(reversed(document["events"])),
            frames=frames,
            actions=sorted({f["action"] for f in frames if f["action"]}),
            abbreviate=_abbreviate,
            mask=mask_id_tag,
        )

    async def csv(request: web.Request) -> web.Response:
        ref = await find(view, request)
        rows = await export_rows(view.fleet, view.central.store, identity=ref.identity)
        return csv_download(rows, ref.declared.name if ref.declared is not None else ref.identity)

    async def transaction(request: web.Request) -> web.Response:
        ref = await find(view, request)
        _ = view.gettext(request)
        store = view.central.store
        try:
            tid = int(request.match_info["tid"])
        except ValueError:
            tid = -1
        found = await store.transaction(tid) if tid >= 0 else None
        if found is None or found.identity.lower() != ref.identity.lower():
            raise refused(
                HTTPStatus.NOT_FOUND,
                "not-found",
                _("There is no transaction %(id)s on this charger.")
                % {"id": request.match_info["tid"]},
            )
        samples = await store.meter_values(found.id)
        row = row_for(view.fleet, found, samples)
        fmt = prefs_of(request).formats()
        number = partial(_number, fmt.locale)

        def at(moment: Any) -> str:
            local = fmt.local(moment)
            return "" if local is None else local.strftime("%H:%M:%S")

        chart = charts.current_chart(
            samples,
            title=_("Current per phase (A)"),
            offered_name=_("Offered"),
            total_name=_("Current"),
            time_heading=_("Time"),
            no_data=_("No data"),
        )
        return view.render(
            request,
            "transaction.html",
            charger_key=ref.declared.name if ref.declared is not None else ref.identity,
            charger_name=ref.declared.name if ref.declared is not None else None,
            transaction=found,
            row=row,
            chart_title=chart.title,
            chart_svg=charts.line_chart(chart, number=number, time_format=at, chart_id="current"),
            chart_table=chart.rows(number, at),
            mask=mask_id_tag,
        )

    return [
        web.get("/chargers/{id}", charger, name="charger"),
        web.get("/chargers/{id}/transactions.csv", csv, name="charger-csv"),
        web.get("/chargers/{id}/transactions/{tid}", transaction, name="charger-transaction"),
        *livelog.routes(view, find),
    ]


def _configuration(
    view: View, ref: ChargerRef, recorded: Sequence[KeyStatus]
) -> tuple[list[KeyRow], str | None]:
    """The declared keys and settings of this charger against what it reported: a plan of
    this charger alone, from its record and the reconciler's statuses of its keys."""
    if ref.declared is None:
        return [], None
    fleet = view.fleet
    desired = fleet.desired(ref.declared)
    statuses = {s.key: s for s in recorded}
    plan = plan_charger(
        desired, ref.record, terminal=statuses, extras=desired_extras(fleet, ref.declared)
    )
    compared = plan.status not in (PlanStatus.NEVER_CONNECTED, PlanStatus.NOT_REPORTED)
    actions: dict[str, PlannedAction] = {a.key.lower(): a for a in plan.actions}
    reported: dict[str, str | None] = {}
    if ref.record is not None and ref.record.configuration is not None:
        reported = {k.key.lower(): k.value for k in ref.record.configuration}
    by_key = {k.lower(): s for k, s in statuses.items()}
    rows: list[KeyRow] = []
    seen: set[str] = set()
    for values in (desired.configuration, desired.vendor_configuration):
        for key in sorted(values):
            value = values[key]
            seen.add(key.lower())
            action = actions.get(key.lower())
            rows.append(
                _row(
                    key,
                    action,
                    str(value.value) if action is None else _shown(action),
                    reported.get(key.lower()),
                    value.origin.layer.value,
                    by_key.get(key.lower()),
                    compared,
                )
            )
    for action in plan.actions:  # availability, firmware, a version mismatch
        if action.key.lower() in seen:
            continue
        rows.append(
            _row(
                action.key,
                action,
                _shown(action),
                action.reported,
                action.layer.value if action.layer is not None else None,
                by_key.get(action.key.lower()),
                compared,
            )
        )
    return rows, plan.status.value


def _shown(action: PlannedAction) -> str | None:
    if action.kind is ActionKind.FIRMWARE and action.desired is not None:
        return str(action.desired.value)
    if action.wire_value is not None:
        return action.wire_value
    return None if action.desired is None else str(action.desired.value)


def _row(
    key: str,
    action: PlannedAction | None,
    desired: str | None,
    reported: str | None,
    layer: str | None,
    status: Any,
    compared: bool,
) -> KeyRow:
    if action is None:
        state, reason = ("in-sync", "") if compared else ("unknown", "")
    elif action.drift:
        state, reason = "drifted", action.reason
    elif action.kind is ActionKind.CANNOT:
        state, reason = "blocked", action.reason
    else:
        state, reason = "differs", action.reason
    return KeyRow(
        key=key,
        desired=desired,
        reported=reported,
        state=state,
        reason=reason,
        layer=layer,
        status=status.state.value if status is not None else None,
    )


async def _transactions_page(view: View, ref: ChargerRef, page: int) -> tuple[list[ExportRow], int]:
    """Page `page` of the charger's transactions, newest first, priced, and how many it has:
    found through per-day counts, so only that page's transactions are read and priced
    (a charger may have years of them)."""
    store = view.central.store
    now = datetime.now(UTC)
    identities = [ref.identity]
    days = await store.transaction_totals(
        since=EPOCH, until=now + DAY, bucket=DAY, identities=identities
    )
    total = sum(b.sessions for b in days)
    found = page_slice(days, DAY, (page - 1) * TRANSACTIONS_SHOWN, TRANSACTIONS_SHOWN)
    if found is None:
        return [], total
    window = await store.transactions(identities=identities, since=found.since, until=found.until)
    window.sort(key=lambda t: (t.started_at, t.id), reverse=True)
    chosen = window[found.skip : found.skip + TRANSACTIONS_SHOWN]
    return await rows_for(view.fleet, store, chosen), total


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """A charging profile the power step gives this charger now, and why (its allocation)."""

    profile_id: int
    purpose: str
    connector: int
    amperes: float
    transaction_id: str | None
    state: str | None
    reason: str | None
    circuit: str | None


async def _profiles(view: View, ref: ChargerRef) -> list[ProfileRow] | None:
    """The profiles in force, as the power step computes them: its location's allocation
    (`power.location_allocation`, the one the location page's diagram draws) cut to this
    charger (`charging_limits`). None when no circuit feeds it (nothing is limited, no profile
    is sent)."""
    if ref.declared is None:
        return None
    name = ref.declared.name
    location = ref.declared.resource.spec.location
    if name not in {c.name for c in fed_chargers(view.fleet, location)}:
        return None
    plan = await location_allocation(view, location)
    if plan is None:  # not so: a circuit of the location feeds it
        return None
    allocations = {a.connector: a for a in plan.for_charger(name)}
    rows = []
    for limit in charging_limits(plan, name):
        allocation = allocations.get(limit.connector)
        rows.append(
            ProfileRow(
                profile_id=limit.profile_id,
                purpose=limit.purpose.value,
                connector=limit.connector,
                amperes=max((p.amperes for p in limit.periods), default=0.0),
                transaction_id=limit.transaction_id,
                state=allocation.state.value if allocation is not None else None,
                reason=allocation.reason if allocation is not None else None,
                circuit=allocation.circuit if allocation is not None else None,
            )
        )
    return rows


def _abbreviate(frame: str) -> str:
    return frame if len(frame) <= PAYLOAD_SHOWN else frame[: PAYLOAD_SHOWN - 1] + "…"


def _number(locale: Any, value: float) -> str:
    return str(format_decimal(value, locale=locale))
