"""The shared options: one definition each, the same value type on every command that takes it.

Walks the real command tree (`chargectl` and its groups), so a command that grows its own
`--drift` or `--store` instead of taking the shared one fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from controller.cli import options
from controller.cli.app import main

FLEET = Path(__file__).resolve().parents[3] / "examples" / "fleet"

COMMAND_SUBCOMMANDS = {"reset", "unlock", "trigger", "remote-start", "remote-stop", "clear-cache"}
SERVER_COMMANDS = {"plan", "logs"} | {f"command {name}" for name in COMMAND_SUBCOMMANDS}

SHARED: dict[str, tuple[tuple[click.ParamType, ...], set[str]]] = {
    "--drift": ((options.DRIFT,), {"serve", "simulate"}),
    "--time-scale": ((options.TIME_SCALE,), {"serve", "simulate"}),
    "--sessions-per-hour": ((options.SESSIONS_PER_HOUR,), {"serve", "simulate"}),
    "--seed": ((options.SEED,), {"serve", "simulate"}),
    "--secrets-dir": ((options.SECRETS_DIR,), {"serve", "simulate"}),
    "--ocpp-version": ((options.OCPP_VERSION,), {"import", "simulate"}),
    "--fleet": ((options.FLEET_PATH,), {"simulate", "export transactions"}),
    "--store": ((options.STORE_URL,), {"serve", "logs", "export transactions"}),
    "--state": ((options.STORE_URL,), {"plan"}),
    "--server": ((options.SERVER_URL,), SERVER_COMMANDS),
    "--listen": ((options.LISTEN_ADDRESS,), {"serve"}),
    "--http": ((options.HTTP_ADDRESS,), {"serve"}),
    "--admin": ((options.HTTP_ADDRESS,), {"serve"}),
    "--connector": (
        (options.CONNECTOR, options.CONNECTOR_OR_CHARGER),
        {"command unlock", "command trigger", "command remote-start"},
    ),
}
"""Option: the value types it may have, and the commands known to take it (at least)."""


def commands(group: click.Group = main, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every command below `group`, by its path ("export transactions"), groups included."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        path = f"{prefix}{name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} ")


def taking(flag: str) -> dict[str, click.Option]:
    """The commands that take `flag`, with their option."""
    found = {}
    for path, command in commands():
        for param in command.params:
            if isinstance(param, click.Option) and flag in param.opts:
                found[path] = param
    return found


@pytest.mark.parametrize("flag", list(SHARED))
def test_a_shared_option_has_the_same_value_type_on_every_command(flag: str) -> None:
    types, expected = SHARED[flag]
    found = taking(flag)
    assert set(found) >= expected
    for path, option in found.items():
        assert any(option.type is kind for kind in types), f"{path} {flag}: {option.type!r}"
    assert len({option.name for option in found.values()}) == 1, "one parameter name"


def test_store_and_state_are_the_same_database_url() -> None:
    names = {option.name for option in [*taking("--store").values(), *taking("--state").values()]}
    assert names == {"store_url"}
    assert {option.metavar for option in taking("--store").values()} == {"URL"}


def test_output_is_a_format_everywhere_but_the_file_export_writes() -> None:
    found = taking("--output")
    assert set(found) >= {"validate", "plan", "logs", "command reset"}
    for path, option in found.items():
        assert "-o" in option.opts, path
        if path == "export transactions":  # its formats are --format; -o is the file
            assert isinstance(option.type, click.Path)
            continue
        assert isinstance(option.type, click.Choice), path
        assert list(option.type.choices)[:2] == ["human", "json"], path
        assert option.default == "human", path


def test_only_the_command_server_options_read_the_environment() -> None:
    """`plan` reads no $CHARGECTL_SERVER: it would silently stop reading the local store.
    `command` reads its own variable: it goes to the admin channel, not the status API."""
    envvars = {path: option.envvar for path, option in taking("--server").items()}
    assert envvars.pop("plan") is None
    assert envvars.pop("logs") == "CHARGECTL_SERVER"
    assert set(envvars.values()) == {"CHARGECTL_ADMIN_SERVER"}


def test_the_default_store_is_one_fact() -> None:
    defaults = {path: option.default for path, option in taking("--store").items()}
    assert defaults == {
        "serve": options.DEFAULT_STORE,
        "operator": options.DEFAULT_STORE,  # the same serving options as serve
        "export transactions": options.DEFAULT_STORE,
        "logs": None,  # the server's API unless --store is given
    }


@pytest.mark.parametrize(
    "args",
    [["serve", str(FLEET), "--simulate"], ["simulate", "--count", "1"]],
    ids=["serve", "simulate"],
)
def test_drift_outside_0_to_1_is_refused(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--drift", "1.5"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--drift': 1.5 is not in the range 0<=x<=1." in result.output


@pytest.mark.parametrize(
    "args",
    [["serve", str(FLEET), "--simulate"], ["simulate", "--count", "1"]],
    ids=["serve", "simulate"],
)
def test_time_scale_must_be_positive(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--time-scale", "0"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--time-scale'" in result.output


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0.0.0.0:9000", ("0.0.0.0", 9000)), (":80", ("0.0.0.0", 80)), ("[::1]:9", ("[::1]", 9))],
)
def test_an_address_is_host_and_port(text: str, parsed: tuple[str, int]) -> None:
    assert options.LISTEN_ADDRESS.convert(text, None, None) == parsed
    assert options.HTTP_ADDRESS.convert(text, None, None) == parsed


def test_off_turns_only_the_http_listener_off() -> None:
    assert options.HTTP_ADDRESS.convert("off", None, None) is None
    with pytest.raises(click.BadParameter, match="'off' is not HOST:PORT"):
        options.LISTEN_ADDRESS.convert("off", None, None)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--listen", "Invalid value for --listen: 'localhost' is not HOST:PORT"),
        ("--http", "Invalid value for --http: 'localhost' is not HOST:PORT or off"),
    ],
)
def test_a_bad_address_is_a_usage_error_naming_the_option(flag: str, message: str) -> None:
    result = CliRunner().invoke(main, ["serve", str(FLEET), flag, "localhost"])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["plan", str(FLEET), "--server", "127.0.0.1:8080"],
        ["logs", "CP-1", "--server", "ftp://example.com"],
        ["command", "CP-1", "reset", "--server", "example.com"],
    ],
    ids=["plan", "logs", "command"],
)
def test_a_server_is_an_http_url(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "is not an http(s) URL" in result.output


def test_serves_endpoint_limits_default_to_the_endpoints_own() -> None:
    """`cli.serve` writes them as numbers to stay light to import; they must not drift."""
    from controller.ocpp.central import DEFAULT_MAX_PENDING
    from controller.ocpp.server import MAX_FRAME_BYTES

    assert taking("--max-pending")["serve"].default == DEFAULT_MAX_PENDING
    assert taking("--max-frame-size")["serve"].default == MAX_FRAME_BYTES
