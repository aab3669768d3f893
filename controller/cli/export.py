"""`chargectl export transactions`: the stored transactions, priced by their location's tariff.

What an operator hands to accounting, as CSV or JSON. The rows and their prices are
`controller.planning.transactions` (pure), read from the store by
`controller.web.exports.export_rows`, which the web view's CSV export shares (the web layer
may not import the command line); this module is the command around it. The store's driver is
imported when the command runs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from controller.cli.options import fleet_option, store_option
from controller.web.exports import export_rows, parse_when


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


def _parse_when(value: str | None, name: str) -> datetime | None:
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a date or RFC 3339 time", param_hint=name
        ) from exc
