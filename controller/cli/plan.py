"""`chargectl plan`: what the reconciler would change on each charger, before it does.

The I/O edge of planning: the fleet comes from PATHS, the reported state either straight from
the store (`--state`) or as a finished plan from a running server (`--server`), and the plan
is printed Terraform-style or as JSON. Exit codes follow `terraform plan`: 0 by default, and
with `--detailed-exitcode` 0 when every charger matches, 2 when something differs, 1 on errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import click

from controller.cli.planview import format_plan_human
from controller.fleet.problems import Problem, Severity
from controller.fleet.reporting import format_human, format_json, plural
from controller.planning.document import (
    PlanFormatError,
    format_plan_json,
    only_chargers,
    plan_from_json,
)
from controller.planning.keys import FleetPlan, plan_fleet
from controller.values.records import ChargerRecord, KeyStatus

DEFAULT_STATE = "sqlite:///chargectl.db"
SERVER_TIMEOUT = 30.0
"""Seconds to wait for `/api/plan`: planning a large fleet on the server takes a moment."""


@click.command("plan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--state",
    "state_url",
    default=None,
    metavar="URL",
    help=f"The store `chargectl serve` writes to: a SQLite file, sqlite:///FILE or "
    f"postgresql://USER@HOST/DB. [default: {DEFAULT_STATE}]",
)
@click.option(
    "--server",
    "server_url",
    default=None,
    metavar="URL",
    help="A running chargectl server: its plan is read from URL/api/plan.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(("human", "json")),
    default="human",
    show_default=True,
    help="human: Terraform-style text; json: machine-readable, versioned.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when every charger matches the fleet, 2 when any differs, 1 on errors.",
)
def plan(
    paths: tuple[Path, ...],
    state_url: str | None,
    server_url: str | None,
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
    if state_url is not None and server_url is not None:
        raise click.UsageError("give --state or --server, not both")
    from controller.fleet.checking import check_paths

    report = check_paths(paths)
    if not report.valid:
        _print_invalid(report.problems, output)
        sys.exit(1)
    names = sorted(report.fleet.chargers)
    if server_url is not None:
        result = only_chargers(_fetch_plan(server_url), names)
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
        records, statuses = asyncio.run(_load_state(state_url or DEFAULT_STATE))
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
            f"(it writes {DEFAULT_STATE} by default), or --server"
        )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        async with open_store(url) as store:
            return await store.chargers(configuration=True), await store.key_statuses()
    except (OSError, SQLAlchemyError) as exc:
        raise click.ClickException(f"cannot read the store: {exc}") from exc


def _fetch_plan(server: str) -> FleetPlan:
    url = server.rstrip("/") + "/api/plan"
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{server!r} is not an http(s) URL", param_hint="--server")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=SERVER_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{url} answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"cannot reach {url}: {reason}") from exc
    try:
        return plan_from_json(json.loads(body))
    except (ValueError, PlanFormatError) as exc:
        raise click.ClickException(f"{url} did not answer with a plan: {exc}") from exc
