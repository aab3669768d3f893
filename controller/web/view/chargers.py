"""The chargers table (`/chargers`): every charger the viewer sees, filtered, searched, sorted
and paged by the URL's query (`fleetlist`), so a filtered view is a link to share.

Columns: name, identity, location, connection (since when), sync state (`insights.sync_state`,
the dashboard's rule), vendor and model, firmware, OCPP version, last heartbeat. Filters:
location, connection, sync, model, firmware, version, and `q` over name, identity and serial.
The dashboard's tiles link here with `connection=` and `sync=`.

The store is read with a fixed number of queries whatever the fleet's size (the chargers
document, the conditions, the key statuses of the unsynced chargers); the rest is in memory.
"""

from __future__ import annotations

from aiohttp import web

from controller.web.status import Document
from controller.web.view.dashboard import key_statuses_of
from controller.web.view.fleetlist import Connection, Query, Row, choices, select
from controller.web.view.insights import Sync, sync_state, synced_conditions
from controller.web.view.site import View

COLUMNS = ("name", "location", "connection", "sync", "model", "firmware", "version", "heartbeat")


def routes(view: View) -> list[web.RouteDef]:
    async def chargers(request: web.Request) -> web.Response:
        scope = view.scope(request)
        query = Query.parse(request.rel_url.query)
        rows = await table_rows(view, await view.service.chargers(scope))
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


async def table_rows(view: View, document: Document) -> list[Row]:
    items = document["chargers"]
    synced = synced_conditions(await view.central.store.conditions())
    unsynced = [
        item["identity"]
        for item in items
        if (c := synced.get(item["identity"].lower())) is not None and c.status == "False"
    ]
    statuses = await key_statuses_of(view, unsynced)
    rows = []
    for item in items:
        lowered = item["identity"].lower()
        boot = item["boot"] or {}
        if item["pending"]:
            connection = Connection.PENDING
        elif item["connected"]:
            connection = Connection.CONNECTED
        else:
            connection = Connection.OFFLINE
        rows.append(
            Row(
                name=item["name"],
                identity=item["identity"],
                location=item["location"],
                connection=connection,
                sync=sync_state(synced.get(lowered), statuses.get(lowered, [])).value,
                vendor=boot.get("vendor"),
                model=boot.get("model"),
                serial=boot.get("serialNumber"),
                firmware=boot.get("firmwareVersion"),
                ocpp_version=item["reportedOcppVersion"] or item["ocppVersion"],
                last_heartbeat=item["lastHeartbeat"],
                since=item["connectedAt"] if item["connected"] else item["disconnectedAt"],
            )
        )
    return rows
