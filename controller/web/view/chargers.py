"""The chargers table (`/chargers`): every charger the viewer sees, filtered, searched, sorted
and paged by the URL's query (`fleetlist`), so a filtered view is a link to share.

Columns: name, identity, location, connection (since when), sync state (`insights.sync_state`,
the dashboard's rule), vendor and model, firmware, OCPP version, last heartbeat. Filters:
location, connection, sync, model, firmware, version, and `q` over name, identity and serial.
The dashboard's tiles link here with `connection=` and `sync=`.

The rows are made from the store's records directly (no open transactions, boot or connector
documents: the table shows none of them), with a fixed number of reads whatever the fleet's
size: the records, the conditions, the key statuses of the unsynced chargers, one reading of
the replicas' locks. Connected is decided as `StatusService` decides it (here, or recorded so
by a replica that still holds the charger's lock).

At 10,000 chargers the records alone take ~0.3 s to read (bench/web.py: /chargers was 433 ms
p50, 876 ms p99 reading them on every request), so from `SHARED_FROM` chargers the whole
fleet's rows are a snapshot shared by every viewer and request (`Snapshot`): younger than
`FRESH` it is used as it is; older, it is still used (up to `STALE`) while one refresh runs
in the background, so no request waits for a read the previous one made a moment ago. Each
request cuts the shared rows to its viewer's scope. A smaller fleet is read on every request:
a page then always shows what the store says now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime

from aiohttp import web

from controller.store.coordination import coordination_of, liveness
from controller.values.records import ChargerRecord
from controller.values.timestamps import iso
from controller.web.access import Scope
from controller.web.view.dashboard import key_statuses_of
from controller.web.view.fleetlist import Connection, Query, Row, choices, select
from controller.web.view.insights import Sync, sync_state, synced_conditions
from controller.web.view.site import View

log = logging.getLogger("chargectl.web")

COLUMNS = ("name", "location", "connection", "sync", "model", "firmware", "version", "heartbeat")

SHARED_FROM = 1000
"""Fleets of this many chargers (declared and pending) or more share one snapshot of rows."""
FRESH = 1.0
"""Seconds a snapshot is used as it is."""
STALE = 10.0
"""Seconds an older snapshot is still shown while a newer one is read; after that (nobody
looked for a while) a request waits for a fresh one."""


def routes(view: View) -> list[web.RouteDef]:
    snapshot = Snapshot(view)

    async def chargers(request: web.Request) -> web.Response:
        scope = view.scope(request)
        query = Query.parse(request.rel_url.query)
        rows = visible(await snapshot.rows(), scope)
        page = select(rows, query)
        locations = sorted(
            (name, loaded.resource.spec.display_name)
            for name, loaded in view.fleet.locations.items()
            if scope.sees_location(name)
        )
        return view.render(
            request,
            "chargers.html",
            table=page,
            q=query,
            columns=COLUMNS,
            choices=choices(rows),
            locations=locations,
            connections=list(Connection),
            syncs=list(Sync),
        )

    return [web.get("/chargers", chargers, name="chargers")]


def visible(rows: Sequence[Row], scope: Scope) -> list[Row]:
    """The rows of the locations the viewer sees (a pending charger's: the one it came
    through), as `StatusService.chargers` cuts them."""
    if scope.locations is None:
        return list(rows)
    return [row for row in rows if scope.sees_location(row.location)]


class Snapshot:
    """The whole fleet's rows, shared by requests when the fleet is large (module docstring)."""

    def __init__(self, view: View) -> None:
        self.view = view
        self._rows: list[Row] | None = None
        self._fleet: object | None = None
        self._at = 0.0
        self._size = 0
        self._refresh: asyncio.Task[list[Row]] | None = None

    async def rows(self) -> list[Row]:
        fleet = self.view.fleet
        if max(len(fleet.chargers), self._size) < SHARED_FROM:
            rows = await all_rows(self.view)
            self._size = len(rows)  # pending chargers count too
            return rows
        age = time.monotonic() - self._at
        if self._rows is not None and self._fleet is fleet and age < STALE:
            if age >= FRESH and self._refresh is None:
                self._refresh = asyncio.create_task(self._read())
                self._refresh.add_done_callback(self._refreshed)
            return self._rows
        if self._refresh is None:  # none yet, too old, or the fleet was reloaded: wait
            self._refresh = asyncio.create_task(self._read())
            self._refresh.add_done_callback(self._refreshed)
        return await asyncio.shield(self._refresh)

    async def _read(self) -> list[Row]:
        fleet = self.view.fleet
        started = time.monotonic()
        rows = await all_rows(self.view)
        self._rows, self._fleet, self._at, self._size = rows, fleet, started, len(rows)
        return rows

    def _refreshed(self, task: asyncio.Task[list[Row]]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is not None:
            log.error("reading the chargers table failed", exc_info=task.exception())


async def all_rows(view: View) -> list[Row]:
    """Every declared charger (by name), then the pending ones not declared (by identity)."""
    fleet = view.fleet
    store = view.central.store
    records = {r.identity.lower(): r for r in await store.chargers()}
    synced = synced_conditions(await store.conditions())
    unsynced = [
        record.identity
        for lowered, record in records.items()
        if (c := synced.get(lowered)) is not None and c.status == "False"
    ]
    statuses = await key_statuses_of(view, unsynced)
    live = await liveness(coordination_of(view.central))
    here = {identity.lower() for identity in view.central.connections}

    def connected(record: ChargerRecord | None) -> bool:
        if record is None:
            return False
        return record.identity.lower() in here or live.connected(record.identity, record.connected)

    rows: list[Row] = []
    declared: set[str] = set()
    for name in sorted(fleet.chargers):
        charger = fleet.chargers[name]
        lowered = charger.resource.identity.lower()
        declared.add(lowered)
        record = records.get(lowered)
        rows.append(
            _row(
                name,
                record.identity if record else charger.resource.identity,
                charger.resource.spec.location,
                record,
                connected(record),
                Connection.CONNECTED if connected(record) else Connection.OFFLINE,
                sync_state(synced.get(lowered), statuses.get(lowered, [])).value,
                charger.resource.spec.ocpp_version.value,
            )
        )
    for lowered, record in sorted(records.items()):
        if record.pending and lowered not in declared:
            rows.append(
                _row(
                    None,
                    record.identity,
                    record.pending_location,
                    record,
                    connected(record),
                    Connection.PENDING,
                    Sync.UNKNOWN.value,
                    None,
                )
            )
    return rows


def _row(
    name: str | None,
    identity: str,
    location: str | None,
    record: ChargerRecord | None,
    connected: bool,
    connection: Connection,
    sync: str,
    declared_version: str | None,
) -> Row:
    boot = record.boot if record is not None else None
    since = None
    if record is not None:
        since = record.connected_at if connected else record.disconnected_at
    return Row(
        name=name,
        identity=identity,
        location=location,
        connection=connection,
        sync=sync,
        vendor=boot.vendor if boot else None,
        model=boot.model if boot else None,
        serial=boot.serial_number if boot else None,
        firmware=boot.firmware_version if boot else None,
        ocpp_version=(record.ocpp_version if record else None) or declared_version,
        last_heartbeat=_iso(record.last_heartbeat if record else None),
        since=_iso(since),
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)
