"""The `chargectl` group: every command is found by name, and only loaded when asked for."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from controller.cli.app import COMMANDS, main


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_registered_command_loads_under_its_name(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == set(COMMANDS)


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["valdiate"])
    assert result.exit_code == 2
    assert "No such command 'valdiate'" in result.output


def test_the_group_imports_no_command_module() -> None:
    """Importing the entry point loads the group alone; each command comes when it is run."""
    code = (
        "import sys, controller.cli.app; "
        "print(sorted(m for m in sys.modules if m.startswith('controller.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "controller.cli.validate" not in done.stdout
    assert "controller.cli.serve" not in done.stdout
    assert "controller.fleet" not in done.stdout
