"""The chargers table (`/chargers`): every charger the viewer sees, filtered, searched, sorted
and paged by the URL's query (`fleetlist`), so a filtered view is a link to share.

Columns: name, identity, location, connection (since when), sync state (`insights.sync_state`,
the dashboard's rule), vendor and model, firmware, OCPP version, last heartbeat. Filters:
location, connection, sync, model, firmware, version, and `q` over name, identity and serial.
The dashboard's tiles link here with `connection=` and `sync=`.

The rows are the fleet's shared rows (`rows.shared_rows`: one snapshot for every viewer
once the fleet is large), cut to the viewer's scope.
"""

from __future__ import annotations

from aiohttp import web

from controller.web.view.fleetlist import Connection, Query, choices, select
from controller.web.view.insights import Sync
from controller.web.view.rows import shared_rows, visible
from controller.web.view.site import View

COLUMNS = ("name", "location", "connection", "sync", "model", "firmware", "version", "heartbeat")


def routes(view: View) -> list[web.RouteDef]:
    snapshot = shared_rows(view)

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
