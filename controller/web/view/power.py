"""A location's power allocation now, as the power step computes it, for the pages that show it.

Why one function: a charger's page shows the charging profiles its location's allocation gives
it, and a location's page draws that same allocation on its power diagram (each circuit's and
connector's share in amperes). Computed apart, the two could disagree (one counting a session
the other does not), and the diagram showed no allocation at all outside Kubernetes, where no
status document carries one. So both ask `location_allocation`, which does what the power step
(`controller.converge.power`) does: the open transactions of the chargers the location's
circuits feed, read in one query (`store.open_transactions_of`), made sessions
(`planning.profiles.sessions_from`) and divided (`planning.power.allocate(fleet, sessions, now,
location)`). It is what the step would decide now, not a record of what it last sent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from controller.fleet.model import Fleet, Loaded
from controller.planning.power import PowerPlan, allocate
from controller.planning.profiles import sessions_from
from controller.resources.charger import Charger
from controller.values.records import Transaction
from controller.web.view.site import View


def fed_chargers(fleet: Fleet, location: str) -> list[Loaded[Charger]]:
    """The chargers a circuit (a `PowerLimit`) of `location` feeds, by name: those whose power
    is managed there."""
    fed = {
        charger.name: charger
        for limit in fleet.power_limits.values()
        if limit.resource.spec.location == location
        for charger in fleet.chargers_fed_by(limit.name)
    }
    return sorted(fed.values(), key=lambda c: c.name)


async def location_allocation(
    view: View, location: str, at: datetime | None = None
) -> PowerPlan | None:
    """The allocation of `location` at `at` (now by default), from the open transactions of the
    chargers its circuits feed (one query). None when the location has no circuit: nothing is
    limited there, so there is nothing to allocate."""
    fleet = view.fleet
    if not any(p.resource.spec.location == location for p in fleet.power_limits.values()):
        return None
    chargers = fed_chargers(fleet, location)
    by_identity = {c.resource.identity.lower(): c for c in chargers}
    running: dict[str, list[Transaction]] = {c.name: [] for c in chargers}
    if chargers:
        for transaction in await view.central.store.open_transactions_of(
            [c.resource.identity for c in chargers]
        ):
            owner = by_identity.get(transaction.identity.lower())
            if owner is not None:
                running[owner.name].append(transaction)
    sessions = sessions_from((c, running[c.name]) for c in chargers)
    return allocate(fleet, sessions, at or datetime.now(UTC), location)
