"""`chargectl schemas`: the JSON Schemas and CRDs regenerated from the resource models.

`--check` only reports what is stale and exits 1 if anything is, for CI; the generation itself
is `controller.resources.generation`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.fleet.reporting import plural


@click.command("schemas")
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
