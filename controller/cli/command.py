"""`chargectl command` and `chargectl logs`: the escape hatches and the OCPP log, from a shell.

Both talk to a running `chargectl serve`, since only the process a charger is connected to can
send it a command: `command` through the admin channel (`serve --admin`, default
127.0.0.1:8081) with a bearer token (`--token`, `$CHARGECTL_TOKEN`, or the token file `serve`
writes on first start, `controller.web.tokens.default_token_path`), `logs` through the
read-only status API (`--http`); `logs` can also read the store directly (`--store`), which
works when the server is down. Human output by default,
`--output json` for scripts. `command` exits 1 when the charger refused or did not answer, or
the server refused the request; click's usage errors exit 2.

Kept light to import (no aiohttp, no OCPP session code): the CLI loads it on every start.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from controller.cli.client import (
    DEFAULT_ADMIN_SERVER,
    DEFAULT_SERVER,
    ApiClient,
    ApiError,
    Document,
)
from controller.cli.options import (
    SERVER_URL,
    connector_option,
    output_option,
    server_option,
    store_option,
)
from controller.web.tokens import TokenFileError, client_token

TRIGGER_MESSAGES = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
)
"""`controller.values.commands.TriggerKind`, spelled out here to keep this module light (a unit
test checks the two agree)."""

ARROWS = {"sent": "→", "received": "←"}
"""Seen from the central system: → to the charger, ← from it."""

FOLLOW_INTERVAL = 1.0
"""Seconds between polls of `logs -f`."""

FOLLOW_PAGE = 1000
"""Frames asked for per poll while following (the API's maximum)."""

F = TypeVar("F", bound=Callable[..., Any])


# --- chargectl command ---------------------------------------------------------------------------


def _server_options(function: F) -> F:
    """What every `command` subcommand takes: where the admin channel is, the token to show
    it, how long to wait for it, and how to print its answer."""
    function = click.option(
        "--token-file",
        type=click.Path(dir_okay=True, path_type=Path),
        envvar="CHARGECTL_ADMIN_TOKEN_FILE",
        help="The admin token file serve wrote (default: ~/.config/chargectl/admin-token, or "
        "$CHARGECTL_ADMIN_TOKEN_FILE); its first token is used.",
    )(function)
    function = click.option(
        "--token",
        envvar="CHARGECTL_TOKEN",
        help="An admin token (or $CHARGECTL_TOKEN); instead of the token file.",
    )(function)
    function = output_option(
        "human", "json", help="human: one line; json: the server's outcome document."
    )(function)
    function = click.option(
        "--timeout",
        type=float,
        default=60.0,
        show_default=True,
        help="Seconds to wait for the server (which waits for the charger).",
    )(function)
    function = click.option(
        "--server",
        "server",
        type=SERVER_URL,
        envvar="CHARGECTL_ADMIN_SERVER",
        default=DEFAULT_ADMIN_SERVER,
        show_default=True,
        help="URL of the chargectl serve admin channel (or $CHARGECTL_ADMIN_SERVER).",
    )(function)
    return _channel(function)  # type: ignore[return-value]


@dataclass(frozen=True)
class Channel:
    """Where a command goes and how: the admin channel's URL, the token, the wait, the output."""

    server: str
    timeout: float
    output: str
    token: str | None
    token_file: Path | None


def _channel(function: Callable[..., None]) -> Callable[..., None]:
    """Gathers `_server_options`' parameters into one `channel` for the subcommand."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        channel = Channel(
            kwargs.pop("server"),
            kwargs.pop("timeout"),
            kwargs.pop("output"),
            kwargs.pop("token"),
            kwargs.pop("token_file"),
        )
        function(*args, channel=channel, **kwargs)

    return wrapper


@click.group("command")
@click.argument("charger")
@click.pass_context
def command(context: click.Context, charger: str) -> None:
    """Send one OCPP command to CHARGER (name or OCPP identity) through a running server.

    For what is not declarative: the command is sent as is, recorded as an event of the
    charger, and the charger's answer printed. Exits 1 when the charger refused or did not
    answer.
    """
    context.obj = charger


@command.command("reset")
@click.option("--hard/--soft", default=False, show_default=True, help="Hard: reboot now.")
@_server_options
@click.pass_obj
def reset(charger: str, hard: bool, channel: Channel) -> None:
    """Reset the charger (soft: after its sessions end cleanly; hard: at once)."""
    _send(charger, {"command": "reset", "hard": hard}, channel)


@command.command("unlock")
@connector_option(required=True)
@_server_options
@click.pass_obj
def unlock(charger: str, connector: int, channel: Channel) -> None:
    """Unlock a connector (a cable stuck in the socket)."""
    _send(charger, {"command": "unlock", "connector": connector}, channel)


@command.command("trigger")
@click.argument("message", type=click.Choice(TRIGGER_MESSAGES, case_sensitive=False))
@connector_option(charger_wide=True)
@_server_options
@click.pass_obj
def trigger(charger: str, message: str, connector: int | None, channel: Channel) -> None:
    """Ask the charger to send MESSAGE now (e.g. StatusNotification, MeterValues)."""
    body = _on_connector({"command": "trigger", "message": message}, connector)
    _send(charger, body, channel)


@command.command("remote-start")
@click.option("--id-tag", required=True, help="The id tag to start the session for.")
@connector_option()
@_server_options
@click.pass_obj
def remote_start(charger: str, id_tag: str, connector: int | None, channel: Channel) -> None:
    """Start a charging session for an id tag, as if the card had been presented."""
    body = _on_connector({"command": "remote-start", "idTag": id_tag}, connector)
    _send(charger, body, channel)


@command.command("remote-stop")
@click.option(
    "--transaction",
    required=True,
    help="Transaction id (chargectl's; on OCPP 2.0.1 the charger's own works too).",
)
@_server_options
@click.pass_obj
def remote_stop(charger: str, transaction: str, channel: Channel) -> None:
    """Stop a charging session."""
    body: Document = {"command": "remote-stop", "transactionId": transaction}
    _send(charger, body, channel)


@command.command("clear-cache")
@_server_options
@click.pass_obj
def clear_cache(charger: str, channel: Channel) -> None:
    """Clear the charger's authorization cache."""
    _send(charger, {"command": "clear-cache"}, channel)


def _on_connector(body: Document, connector: int | None) -> Document:
    """The command's body, for one connector when one is named (else the whole charger)."""
    return body if connector is None else {**body, "connector": connector}


def _send(charger: str, body: Document, channel: Channel) -> None:
    output = channel.output
    try:
        token = client_token(channel.token, channel.token_file)
    except TokenFileError as error:
        _fail(ApiError(None, "no-token", str(error)), output)
    client = ApiClient(channel.server, timeout=channel.timeout, token=token)
    try:
        outcome = client.post(client.charger_path(charger, "commands"), body)
    except ApiError as error:
        _fail(error, output)
    if output == "json":
        click.echo(json.dumps(outcome, indent=2))
    else:
        click.echo(_describe_outcome(outcome))
    sys.exit(0 if outcome.get("ok") else 1)


def _describe_outcome(outcome: Document) -> str:
    name = outcome.get("charger", "?")
    command_body = outcome.get("command", {})
    what = command_body.get("command", "command")
    seconds = outcome.get("seconds")
    took = f" ({seconds:.2f} s)" if isinstance(seconds, int | float) else ""
    if outcome.get("status") is not None:
        return f"{name}: {what}: {outcome['status']}{took}"
    failed = outcome.get("failed") or {}
    code = f" {failed['code']}" if failed.get("code") else ""
    return (
        f"{name}: {what}: no answer: {failed.get('kind', '?')}{code}: "
        f"{failed.get('description', '')}{took}"
    )


def _fail(error: ApiError, output: str) -> NoReturn:
    if output == "json":
        click.echo(json.dumps(error.document(), indent=2))
    else:
        click.echo(f"error: {error.message}", err=True)
    sys.exit(1)


# --- chargectl logs ------------------------------------------------------------------------------


@click.command("logs")
@click.argument("charger")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new frames as they come.")
@server_option(
    default=None,
    help=f"URL of the chargectl serve HTTP API (default {DEFAULT_SERVER}, or $CHARGECTL_SERVER).",
)
@store_option(
    default=None,
    help="Read the store directly instead (sqlite:///FILE or postgresql://...); CHARGER is "
    "then the OCPP identity.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="How many of the newest frames to print first.",
)
@output_option(
    "human", "json", help="human: time, direction, action, frame; json: one JSON object per line."
)
def logs(
    charger: str,
    follow: bool,
    server: str | None,
    store_url: str | None,
    limit: int,
    output: str,
) -> None:
    """Print CHARGER's OCPP message log: time, direction (→ sent to it, ← received), action,
    frame. With -f, keep printing new frames until interrupted."""
    if server is not None and store_url is not None:
        raise click.UsageError("give --server or --store, not both")
    print_entry = _print_json if output == "json" else _print_human
    try:
        if store_url is not None:
            asyncio.run(_store_log(store_url, charger, limit, follow, print_entry))
        else:
            _api_log(server or DEFAULT_SERVER, charger, limit, follow, print_entry)
    except ApiError as error:
        _fail(error, output)
    except KeyboardInterrupt:
        pass


def _api_log(
    server: str,
    charger: str,
    limit: int,
    follow: bool,
    print_entry: Callable[[Document], None],
) -> None:
    client = ApiClient(server, timeout=30.0)
    path = client.charger_path(charger, "log")
    after: int | None = None
    page_limit = limit
    while True:
        page = client.get(path, {"after": after, "limit": page_limit})
        for entry in page.get("entries", []):
            print_entry(entry)
        after = page.get("last", after)
        if not follow:
            return
        page_limit = FOLLOW_PAGE
        time.sleep(FOLLOW_INTERVAL)


async def _store_log(
    url: str,
    identity: str,
    limit: int,
    follow: bool,
    print_entry: Callable[[Document], None],
) -> None:
    from controller.store import open_store
    from controller.web.status import log_entry

    store = open_store(url)
    await store.open()
    try:
        after: int | None = None
        page_limit = limit
        while True:
            entries = await store.message_log(identity, limit=page_limit, after_id=after)
            for entry in entries:
                print_entry(log_entry(entry))
            if entries:
                after = entries[-1].id
            if not follow:
                return
            page_limit = FOLLOW_PAGE
            await asyncio.sleep(FOLLOW_INTERVAL)
    finally:
        await store.close()


def _print_human(entry: Document) -> None:
    at = entry.get("at") or ""
    arrow = ARROWS.get(str(entry.get("direction")), "?")
    action = entry.get("action") or "-"
    click.echo(f"{at}  {arrow}  {action:<30} {entry.get('frame', '')}")


def _print_json(entry: Document) -> None:
    click.echo(json.dumps(entry, separators=(",", ":")))
