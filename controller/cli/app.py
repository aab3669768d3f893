"""The `chargectl` group: the console script's entry point, and where each command is found.

Each command lives in a module of its own, named in `COMMANDS`, and that module is imported
only when the command is run (or `--help` lists it). `chargectl validate` in CI then loads
the fleet checker and nothing else: not the OCPP stack, not the database driver, not the
simulator.

Human output by default, `--output json` for machines, `--output github` for annotations in
GitHub Actions. Exit codes follow the conventions CI relies on: 0 valid, 1 problems found,
2 usage errors (click's own exit code for a bad invocation).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

import click

from controller import __version__

COMMANDS: Mapping[str, str] = {
    "validate": "controller.cli.validate:validate",
    "plan": "controller.cli.plan:plan",
    "serve": "controller.cli.serve:serve",
    "operator": "controller.cli.operator:operator",
    "simulate": "controller.cli.simulate:simulate",
    "import": "controller.cli.importing:import_",
    "export": "controller.cli.export:export",
    "logs": "controller.cli.command:logs",
    "command": "controller.cli.command:command",
    "schemas": "controller.cli.schemas:schemas",
}
"""Command name to "module:attribute" of its click command."""


class LazyGroup(click.Group):
    """A group whose commands are imported by name when first asked for."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            loaded = getattr(importlib.import_module(module), attribute)
            if not isinstance(loaded, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(loaded, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="chargectl")
def main() -> None:
    """chargectl: run a fleet of EV chargers as code.

    Declare teams, locations, chargers, cards, tariffs and power limits in YAML; chargectl is
    the OCPP central system they connect to, and converges them to what is declared.
    """
    if os.environ.get("NO_COLOR"):  # https://no-color.org: no colour even on a terminal
        click.get_current_context().color = False
