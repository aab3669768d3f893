"""Transactions as accounting gets them, read from the store: the rows of `chargectl export
transactions` and of the web view's CSV export, which must be the same rows with the same costs.

Pricing is `controller.planning.transactions.row_for` (pure); this module reads the store for
it. It sits in the web layer, below the command line, so that both the command
(`controller.cli.export`) and the view's pages import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from controller.fleet.model import Fleet
from controller.planning.transactions import ExportRow, row_for
from controller.store.base import Store
from controller.values.records import Transaction

SAMPLE_BATCH = 25
"""Transactions whose meter samples are read in one query while pricing many: a page's worth,
so an export of a year holds no more samples at a time than a page does (a long session can
have thousands)."""


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
    export): each is priced from its own meter samples, read `SAMPLE_BATCH` transactions a
    query (a page of 25 was 25 queries, ~27 ms of a location page at 200,000 transactions)."""
    found: list[ExportRow] = []
    for start in range(0, len(transactions), SAMPLE_BATCH):
        batch = transactions[start : start + SAMPLE_BATCH]
        samples = await store.meter_values_of([t.id for t in batch])
        found.extend(row_for(fleet, t, samples.get(t.id, [])) for t in batch)
    return found


def parse_when(value: str | None) -> datetime | None:
    """A bound of an export: a date or an RFC 3339 time; without a zone it is UTC.

    Raises ValueError for anything else (the caller says which option or parameter it was).
    """
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
