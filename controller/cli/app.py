"""The `chargectl` command line.

Human output by default, `--output json` for machines, `--output github` for annotations in
GitHub Actions. Exit codes follow the conventions CI relies on: 0 valid, 1 problems found,
2 usage errors (click's own exit code for a bad invocation).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from controller import __version__
from controller.fleet.reporting import format_github, format_human, format_json, plural

OUTPUT_FORMATS = ("human", "json", "github")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chargectl")
def main() -> None:
    """chargectl: run a fleet of EV chargers as code.

    Declare teams, locations, chargers, cards, tariffs and power limits in YAML; chargectl is
    the OCPP central system they connect to, and converges them to what is declared.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Choice(OUTPUT_FORMATS),
    default="human",
    show_default=True,
    help="human: compiler-style text; json: machine-readable; github: Actions annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(paths: tuple[Path, ...], output: str, strict: bool) -> None:
    """Check fleet files offline: schema, references, OCPP keys, circuits, tariffs, cards.

    PATHS are YAML files or directories (read recursively). Every problem is reported, with
    file, line and column. Exits 0 when the fleet is valid, 1 when it is not.
    """
    from controller.fleet.checking import check_paths

    report = check_paths(paths)
    resources = len(report.fleet)
    failed = not report.valid or (strict and report.warnings > 0)
    if output == "json":
        click.echo(
            format_json(
                report.problems,
                {
                    "valid": not failed,
                    "files": len(report.files),
                    "resources": resources,
                    "errors": report.errors,
                    "warnings": report.warnings,
                },
            )
        )
    elif output == "github":
        if report.problems:
            click.echo(format_github(report.problems))
        click.echo(_summary(report.errors, report.warnings, resources, len(report.files)))
    else:
        click.echo(
            format_human(
                report.problems,
                _summary(report.errors, report.warnings, resources, len(report.files)),
            ),
            color=None,
        )
    sys.exit(1 if failed else 0)


def _summary(errors: int, warnings: int, resources: int, files: int) -> str:
    checked = f"{plural(resources, 'resource')} in {plural(files, 'file')}"
    if errors == 0 and warnings == 0:
        return click.style("✓ ", fg="green") + f"{checked}: valid."
    parts = [plural(errors, "error")] + ([plural(warnings, "warning")] if warnings else [])
    mark = click.style("✗ ", fg="red") if errors else click.style("! ", fg="yellow")
    return mark + f"{' and '.join(parts)} ({checked} checked)."


@main.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project root that holds schemas/ and charts/.",
)
@click.option("--check", is_flag=True, help="Only report stale files; exit 1 if any.")
def schemas(root: Path, check: bool) -> None:
    """Regenerate schemas/*.json and the CRDs in charts/chargectl/crds from the models."""
    from controller.resources.generation import stale_files, write_all

    if check:
        stale = stale_files(root)
        for path in stale:
            click.echo(f"stale: {path}")
        if stale:
            click.echo("Run `chargectl schemas` and commit the result.", err=True)
        sys.exit(1 if stale else 0)
    changed = write_all(root)
    for written in changed:
        click.echo(f"wrote {written}")
    click.echo(f"{plural(len(changed), 'file')} changed.")


@main.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--location", required=True, help="Location the imported chargers stand at.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write Charger files into (created if needed); default: print them.",
)
@click.option("--single-file", is_flag=True, help="Write one multi-document chargers.yaml.")
@click.option("--skip-invalid", is_flag=True, help="Write the good rows even if some are bad.")
@click.option(
    "--ocpp-version",
    type=click.Choice(["1.6", "2.0.1"]),
    default="1.6",
    show_default=True,
    help="OCPP version for rows that do not say.",
)
@click.option(
    "--schema-ref",
    default=None,
    help="Schema path for the yaml-language-server modeline (default: relative to --out).",
)
def import_(
    csv_file: Path,
    location: str,
    out: Path | None,
    single_file: bool,
    skip_invalid: bool,
    ocpp_version: str,
    schema_ref: str | None,
) -> None:
    """Turn a spreadsheet (CSV) of chargers into Charger resources.

    Nothing is written unless every row is good, or --skip-invalid is given.
    """
    import io
    import os

    from ruamel.yaml import YAML

    from controller.cli.importing import import_chargers, write_documents
    from controller.fleet.loading import Locator

    result = import_chargers(csv_file, location, default_ocpp_version=ocpp_version)
    problems = Locator().locate_all(result.problems)
    if problems:
        click.echo(
            format_human(problems, f"{plural(len(problems), 'problem')} in {csv_file}."), err=True
        )
        if not skip_invalid:
            click.echo("Nothing written: fix the rows or pass --skip-invalid.", err=True)
            sys.exit(1)
    if out is None:
        yaml = YAML()
        yaml.default_flow_style = False
        buffer = io.StringIO()
        yaml.dump_all(list(result.documents), buffer)
        click.echo(buffer.getvalue(), nl=False)
    else:
        out.mkdir(parents=True, exist_ok=True)
        ref = schema_ref or os.path.relpath(_schemas_dir() / "charger.json", out.resolve())
        try:
            written = write_documents(
                result.documents, out, single_file=single_file, schema_ref=ref
            )
        except FileExistsError as exc:
            raise click.ClickException(f"{exc}; nothing written") from exc
        for path in written:
            click.echo(f"wrote {path}")
    click.echo(
        f"Imported {plural(len(result.documents), 'charger')}"
        + (f", skipped {result.skipped_rows} rows." if result.skipped_rows else "."),
        err=True,
    )
    sys.exit(1 if problems and not result.documents else 0)


def _schemas_dir() -> Path:
    """schemas/ of this checkout; fleets usually live in the same repository."""
    return Path(__file__).resolve().parent.parent / "schemas"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--listen",
    default="0.0.0.0:9000",
    show_default=True,
    help="Address of the OCPP endpoint; chargers connect to ws://HOST:PORT/ocpp/ID.",
)
@click.option(
    "--store",
    "store_url",
    default="sqlite:///chargectl.db",
    show_default=True,
    help="sqlite:///FILE or postgresql://USER@HOST/DB.",
)
@click.option("--tls-cert", type=click.Path(exists=True), help="Certificate for wss (profile 2).")
@click.option("--tls-key", type=click.Path(exists=True), help="Private key for wss.")
@click.option(
    "--tls-client-ca",
    type=click.Path(exists=True),
    help="CA of charger client certificates (security profile 3).",
)
@click.option(
    "--allow-unknown",
    is_flag=True,
    help="Record chargers not in the fleet as pending instead of refusing them.",
)
@click.option(
    "--http",
    default="0.0.0.0:8080",
    show_default=True,
    help="Address of the status API, /metrics, /healthz and /readyz (HOST:PORT); off: none.",
)
@click.option(
    "--reconcile/--no-reconcile",
    default=True,
    show_default=True,
    help="Converge chargers to the fleet; --no-reconcile only records what they report "
    "(observe a fleet, then `chargectl plan --server` shows what would change).",
)
@click.option(
    "--resync",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds between convergence passes over a charger that is in sync (catches drift).",
)
@click.option(
    "--simulate",
    is_flag=True,
    help="Demo: also run a simulated charger for every declared charger, in this process.",
)
@click.option(
    "--time-scale",
    type=float,
    default=60.0,
    show_default=True,
    help="With --simulate: simulated seconds per real second.",
)
@click.option(
    "--sessions-per-hour",
    type=float,
    default=2.0,
    show_default=True,
    help="With --simulate: cars arriving per connector per simulated hour.",
)
@click.option(
    "--drift",
    type=float,
    default=0.3,
    show_default=True,
    help="With --simulate: share of declared keys the chargers start with at other values.",
)
@click.option(
    "--secrets-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Kubernetes Secrets mounted as files: secretKeyRef {name, key} is DIR/name/key.",
)
@click.option(
    "--call-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for a charger's answer to a command.",
)
@click.option(
    "--message-log-limit",
    type=int,
    default=1000,
    show_default=True,
    help="OCPP messages kept per charger in the store.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def serve(
    paths: tuple[Path, ...],
    listen: str,
    store_url: str,
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    allow_unknown: bool,
    http: str,
    reconcile: bool,
    resync: float,
    simulate: bool,
    time_scale: float,
    sessions_per_hour: float,
    drift: float,
    secrets_dir: Path | None,
    call_timeout: float,
    message_log_limit: int,
    log_level: str,
    log_format: str,
) -> None:
    """Run the OCPP central system for the fleet in PATHS."""
    import asyncio

    from controller.runtime.logsetup import configure
    from controller.runtime.serve import (
        FleetInvalid,
        ServeOptions,
        SimulateOptions,
        event_loop_factory,
        serve_forever,
    )

    configure(log_level, log_format)
    http_host, _, http_port = http.rpartition(":")
    if http != "off" and not http_port.isdigit():
        raise click.BadParameter(f"{http!r} is not HOST:PORT or off", param_hint="--http")
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--listen")
    options = ServeOptions(
        paths=list(paths),
        store_url=store_url,
        host=host or "0.0.0.0",
        port=int(port),
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        allow_unknown=allow_unknown,
        call_timeout=call_timeout,
        message_log_limit=message_log_limit,
        secrets_dir=secrets_dir,
        http_host=http_host or "0.0.0.0",
        http_port=None if http == "off" else int(http_port),
        resync_interval=resync,
        reconcile=reconcile,
        simulate=SimulateOptions(time_scale, sessions_per_hour, drift=drift) if simulate else None,
    )
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve_forever(options))
    except FleetInvalid as exc:
        from controller.fleet.loading import Locator

        problems = Locator().locate_all(exc.problems)
        click.echo(format_human(problems, "The fleet is invalid; nothing started."), err=True)
        sys.exit(1)


@main.group()
def export() -> None:
    """Export what the central system recorded."""


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


@export.command("transactions")
@click.option(
    "--fleet",
    "fleet_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The fleet (for locations, tariffs and cards).",
)
@click.option(
    "--store",
    "store_url",
    default="sqlite:///chargectl.db",
    show_default=True,
    help="The store chargectl serve wrote to.",
)
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

    from controller.cli.export import export_rows, to_csv, to_json
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


def _register_simulate() -> None:
    from controller.cli.simulate import simulate

    main.add_command(simulate)


_register_simulate()


def _register_web() -> None:
    from controller.cli.command import command, logs
    from controller.cli.plan import plan

    main.add_command(plan)
    main.add_command(command)
    main.add_command(logs)


_register_web()
