"""`GET /api/plan`: the plan `chargectl plan` prints, computed by the server from live state.

The server knows what the chargers reported (the store, with their configuration) and what the
reconciler recorded per key (Rejected, NotSupported, RebootRequired: what it will not retry),
so its plan is the one the reconciler acts on. `chargectl plan --server URL` reads this document
back with `planning.document.plan_from_json`, so it is `plan_to_json`, cut to the
chargers the requester's scope covers.

A record a replica that died left connected is read as the replicas' locks say
(`coordination.Liveness.record`, as the status API reads it), so the plan's `connected` never
calls such a charger connected.

Planning a large fleet is pure CPU work; it runs in a worker thread so the OCPP sessions that
share the event loop keep being answered meanwhile.
"""

from __future__ import annotations

import asyncio

from controller.ocpp.central import CentralSystem
from controller.planning.document import only_chargers, plan_to_json
from controller.planning.keys import plan_fleet
from controller.store.coordination import coordination_of, liveness
from controller.web.access import Scope
from controller.web.status import Document


class PlanService:
    """A `PlanProvider` for `WebServer(plan=...)`: the plan of the fleet in force."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    async def __call__(self, scope: Scope) -> Document:
        fleet = self.central.fleet
        store = self.central.store
        records = await store.chargers(configuration=True)
        if any(record.connected for record in records):
            records = (await liveness(coordination_of(self.central))).records(records)
        statuses = await store.key_statuses()

        def compute() -> Document:
            plan = plan_fleet(fleet, records, statuses)
            if not scope.sees_everything:
                visible = [
                    name
                    for name, charger in fleet.chargers.items()
                    if scope.sees_location(charger.resource.spec.location)
                ]
                plan = only_chargers(plan, visible)
            return plan_to_json(plan)

        return await asyncio.to_thread(compute)
