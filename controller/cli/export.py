"""`chargectl export transactions`: the stored transactions, priced by their location's tariff.

What an operator hands to accounting, as CSV or JSON. The rows and their prices are
`controller.planning.transactions` (pure, shared with the web view); this module reads the
store for them (`export_rows`) and is the command around it. The store and its driver are
imported when the command runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli.options import fleet_option, store_option
from controller.planning.transactions import ExportRow, row_for

if TYPE_CHECKING:
    from controller.fleet.model import Fleet
    from controller.store.base import Store


@click.group("export")
def export() -> None:
    """Export what the central system recorded."""


@export.command("transactions")
@fleet_option(required=True, help="The fleet (for locations, tariffs and cards).")
@store_option(help="The store chargectl serve wrote to.")
@click.option("--location", default=None, help="Only transactions at this location.")
@click.option("--from", "since", default=None, help="Started at or after (date or RFC 3339).")
@click.option("--to", "until", default=None, help="Started before (date or RFC 3339).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write; standard output by default.",
)
def export_transactions(
    fleet_path: Path,
    store_url: str,
    location: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Transactions with energy and cost from each location's Tariff, as CSV or JSON."""
    import asyncio

    from controller.planning.transactions import to_csv, to_json
    from controller.runtime.serve import FleetInvalid, load_fleet
    from controller.store import open_store

    try:
        fleet = load_fleet([fleet_path])
    except FleetInvalid as exc:
        raise click.ClickException("the fleet is invalid; run chargectl validate") from exc
    if location is not None and location not in fleet.locations:
        raise click.BadParameter(f"no location {location!r} in the fleet", param_hint="--location")
    start, end = _parse_when(since, "--from"), _parse_when(until, "--to")

    async def collect() -> str:
        store = open_store(store_url)
        await store.open()
        try:
            rows = await export_rows(fleet, store, location=location, since=start, until=end)
        finally:
            await store.close()
        return to_csv(rows) if fmt == "csv" else to_json(rows)

    text = asyncio.run(collect())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


async def export_rows(
    fleet: Fleet,
    store: Store,
    *,
    location: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ExportRow]:
    """Rows for the transactions that started in [since, until), at `location` if given."""
    identities = None
    if location is not None:
        identities = [c.resource.identity for c in fleet.chargers_at(location)]
    transactions = await store.transactions(identities=identities, since=since, until=until)
    rows = []
    for transaction in sorted(transactions, key=lambda t: (t.started_at, t.id)):
        samples = await store.meter_values(transaction.id)
        rows.append(row_for(fleet, transaction, samples))
    return rows


def _parse_when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a date or RFC 3339 time", param_hint=name
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
