"""`chargectl validate`: the fleet checked offline, as CI runs it on every pull request.

Prints what `controller.fleet.checking` finds, compiler-style for people, as JSON for tools, or
as GitHub Actions annotations on the changed lines. Exits 0 when the fleet is valid, 1 when it
is not (or, with --strict, has warnings). Loads the fleet checker and nothing heavier.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli.options import fleet_paths_argument, output_option
from controller.fleet.reporting import format_github, format_human, format_json, plural

OUTPUT_FORMATS = ("human", "json", "github")


@click.command("validate")
@fleet_paths_argument(exists=False)
@output_option(
    *OUTPUT_FORMATS,
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
