"""Transactions as accounting gets them, read from the store: the rows of `chargectl export
transactions` and of the web view's CSV export, which must be the same rows with the same costs.

Pricing is `controller.planning.transactions.row_for` (pure); this module reads the store for
it. It sits in the web layer, below the command line, so that both the command
(`controller.cli.export`) and the view's pages import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from controller.fleet.model import Fleet
from controller.planning.transactions import ExportRow, row_for
from controller.store.base import Store
from controller.values.records import Transaction

SAMPLE_QUERIES = 8
"""Meter-value reads in flight at once while pricing many transactions."""


async def export_rows(
    fleet: Fleet,
    store: Store,
    *,
    location: str | None = None,
    identity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ExportRow]:
    """Rows for the transactions that started in [since, until), at `location` and of the
    charger with OCPP `identity` if given, oldest first (by start, then id)."""
    identities = None
    if location is not None:
        identities = [c.resource.identity for c in fleet.chargers_at(location)]
    if identity is not None:
        wanted = identity.lower()
        identities = (
            [identity] if identities is None else [i for i in identities if i.lower() == wanted]
        )
    transactions = await store.transactions(identities=identities, since=since, until=until)
    return await rows_for(fleet, store, sorted(transactions, key=lambda t: (t.started_at, t.id)))


async def rows_for(
    fleet: Fleet, store: Store, transactions: Sequence[Transaction]
) -> list[ExportRow]:
    """The priced rows of these transactions, in their order (a page of a table, or an
    export): each is priced from its own meter samples, read a few at a time."""
    slots = asyncio.Semaphore(SAMPLE_QUERIES)

    async def one(transaction: Transaction) -> ExportRow:
        async with slots:
            samples = await store.meter_values(transaction.id)
        return row_for(fleet, transaction, samples)

    return list(await asyncio.gather(*(one(t) for t in transactions)))


def parse_when(value: str | None) -> datetime | None:
    """A bound of an export: a date or an RFC 3339 time; without a zone it is UTC.

    Raises ValueError for anything else (the caller says which option or parameter it was).
    """
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
