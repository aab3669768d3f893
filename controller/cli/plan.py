"""`chargectl plan`: what the reconciler would change on each charger, before it does.

The I/O edge of planning: the fleet comes from PATHS, the reported state either straight from
the store (`--state`) or as a finished plan from a running server (`--server`), and the plan
is printed Terraform-style or as JSON. Exit codes follow `terraform plan`: 0 by default, and
with `--detailed-exitcode` 0 when every charger matches, 2 when something differs, 1 on errors.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from controller.cli.client import ApiClient, ApiError
from controller.cli.options import (
    DEFAULT_STORE,
    fleet_paths_argument,
    output_option,
    server_option,
    store_option,
)
from controller.cli.planview import format_plan_human
from controller.fleet.problems import Problem, Severity
from controller.fleet.reporting import format_human, format_json, plural
from controller.planning.document import (
    format_plan_json,
    only_chargers,
    plan_from_json,
)
from controller.planning.keys import FleetPlan, plan_fleet
from controller.values.records import ChargerRecord, KeyStatus

PLAN_PATH = "/api/plan"
SERVER_TIMEOUT = 30.0
"""Seconds to wait for `/api/plan`: planning a large fleet on the server takes a moment."""


@click.command("plan")
@fleet_paths_argument()
@store_option(
    flag="--state",
    default=None,
    help=f"The store `chargectl serve` writes to: a SQLite file, sqlite:///FILE or "
    f"postgresql://USER@HOST/DB. [default: {DEFAULT_STORE}]",
)
@server_option(
    default=None,
    envvar=False,
    help="A running chargectl server: its plan is read from URL/api/plan.",
)
@output_option(
    "human", "json", help="human: Terraform-style text; json: machine-readable, versioned."
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when every charger matches the fleet, 2 when any differs, 1 on errors.",
)
def plan(
    paths: tuple[Path, ...],
    store_url: str | None,
    server: str | None,
    output: str,
    detailed_exitcode: bool,
) -> None:
    """Compare the fleet in PATHS with what the chargers last reported.

    Shows, per charger, each key that would be changed (~), set (+) or cannot be applied (!),
    with the reported and the declared value and the layer the declared value comes from.
    Keys a charger reports that the fleet does not declare are counted, never changed.

    With --state the store `chargectl serve` writes is read directly, with what the
    reconciler recorded: values a charger rejected show as cannot be applied, and values
    changed on the charger after they were applied show as drift. With --server the server's
    own plan is shown, for the chargers declared in PATHS.
    """
    if store_url is not None and server is not None:
        raise click.UsageError("give --state or --server, not both")
    from controller.fleet.checking import check_paths

    report = check_paths(paths)
    if not report.valid:
        _print_invalid(report.problems, output)
        sys.exit(1)
    names = sorted(report.fleet.chargers)
    if server is not None:
        result = only_chargers(_fetch_plan(server), names)
        missing = sorted(set(names) - {c.name for c in result.chargers})
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            click.echo(
                f"warning: {plural(len(missing), 'charger')} declared here {verb} not in the "
                f"server's plan ({', '.join(missing)}): the server may run another version of "
                "the fleet, or not show them to you",
                err=True,
            )
    else:
        records, statuses = asyncio.run(_load_state(store_url or DEFAULT_STORE))
        result = plan_fleet(report.fleet, records, statuses)
    if output == "json":
        click.echo(format_plan_json(result))
    else:
        click.echo(format_plan_human(result, base=_base(paths)), color=None)
    sys.exit(2 if detailed_exitcode and result.has_changes else 0)


def _print_invalid(problems: Sequence[Problem], output: str) -> None:
    """What `validate` prints, so the fix is the same whichever command found it."""
    if output == "json":
        click.echo(format_json(problems, {"valid": False}))
        return
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    summary = click.style("✗ ", fg="red") + (
        f"{plural(errors, 'error')}: the fleet is invalid; nothing planned."
    )
    click.echo(format_human(problems, summary), err=True, color=None)


def _base(paths: Sequence[Path]) -> Path | None:
    """The fleet directory file names are shown relative to: the first path, if a directory."""
    first = paths[0]
    return first if first.is_dir() else first.parent


async def _load_state(url: str) -> tuple[list[ChargerRecord], list[KeyStatus]]:
    """Every charger's record with its configuration, and the reconciler's key statuses.

    Refuses to create a SQLite file that is not there: a mistyped path is an error, not an
    empty fleet state.
    """
    from controller.store import open_store
    from controller.store.urls import database_url

    try:
        parsed = database_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--state") from exc
    database = parsed.database
    if parsed.drivername.startswith("sqlite") and database and not Path(database).exists():
        raise click.ClickException(
            f"no store at {database}: pass the --state chargectl serve uses "
            f"(it writes {DEFAULT_STORE} by default), or --server"
        )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        async with open_store(url) as store:
            return await store.chargers(configuration=True), await store.key_statuses()
    except (OSError, SQLAlchemyError) as exc:
        raise click.ClickException(f"cannot read the store: {exc}") from exc


def _fetch_plan(server: str) -> FleetPlan:
    """The server's own plan, from its /api/plan; every failure an error naming that URL."""
    client = ApiClient(server, timeout=SERVER_TIMEOUT)
    url = client.server + PLAN_PATH
    try:
        document = client.get_json(PLAN_PATH)
    except ApiError as error:
        if error.status is not None:
            raise click.ClickException(f"{url} answered {error.status} {error.reason}") from error
        if error.code == "bad-response":
            raise click.ClickException(
                f"{url} did not answer with a plan: {error.reason}"
            ) from error
        raise click.ClickException(f"cannot reach {url}: {error.reason}") from error
    try:
        return plan_from_json(document)
    except ValueError as exc:  # PlanFormatError, or a value the plan types refuse
        raise click.ClickException(f"{url} did not answer with a plan: {exc}") from exc
