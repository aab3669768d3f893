"""The click options more than one `chargectl` command takes, each defined once.

`serve --simulate` and `simulate` both run simulated chargers, `serve`, `export`, `logs` and
`plan` all read the store, `command`, `logs` and `plan` all talk to a running server: an option
they share must mean the same thing and accept the same values on each of them. So each is a
decorator factory here, over one value type (a module constant, so a unit test can check that
every command uses the very same one), and a command passes only what is its own: the default
and the help text.

Kept light to import (click and the standard library, and the resources' enums): every command
module imports it, and `chargectl validate` must start quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from controller.cli.client import DEFAULT_SERVER
from controller.resources.settings import OcppVersion

F = TypeVar("F", bound=Callable[..., Any])


DEFAULT_STORE = "sqlite:///chargectl.db"
"""The store `chargectl serve` writes, and so where the commands that read it look by default."""


# --- value types ---------------------------------------------------------------------------------


class HttpUrl(click.ParamType[str]):
    """The URL of a running server's HTTP API: http:// or https://, as given."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.startswith(("http://", "https://")):
            self.fail(f"{text!r} is not an http(s) URL", param, ctx)
        return text


class Address(click.ParamType[tuple[str, int] | None]):
    """HOST:PORT to listen on, as (host, port); an empty host is every interface (0.0.0.0).

    With `allow_off`, the word `off` too, as None: the listener is not started.
    """

    name = "address"

    def __init__(self, *, allow_off: bool = False) -> None:
        self.allow_off = allow_off

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int] | None:
        if value is None:
            return None
        if isinstance(value, tuple):  # already converted
            return str(value[0]), int(value[1])
        text = str(value)
        if self.allow_off and text == "off":
            return None
        host, _, port = text.rpartition(":")
        if not port.isdigit():
            expected = "HOST:PORT or off" if self.allow_off else "HOST:PORT"
            # The hint unquoted, as serve has always said it.
            hint = param.opts[0] if param is not None and param.opts else None
            raise click.BadParameter(f"{text!r} is not {expected}", ctx, param, hint)
        return host or "0.0.0.0", int(port)


SERVER_URL = HttpUrl()
STORE_URL = click.STRING
"""sqlite:///FILE or postgresql://USER@HOST/DB; `controller.store.urls` reads it when used."""
LISTEN_ADDRESS = Address()
HTTP_ADDRESS = Address(allow_off=True)
FLEET_PATH = click.Path(exists=True, path_type=Path)
"""A fleet file or directory that must exist (`validate` alone reports a missing one itself)."""
SECRETS_DIR = click.Path(file_okay=False, path_type=Path)
OCPP_VERSION = click.Choice([version.value for version in OcppVersion])
TIME_SCALE = click.FloatRange(min=0, min_open=True)
SESSIONS_PER_HOUR = click.FloatRange(min=0)
DRIFT = click.FloatRange(0, 1)
SEED = click.INT
CONNECTOR = click.IntRange(1, 99)
CONNECTOR_OR_CHARGER = click.IntRange(0, 99)
"""A connector id, or 0 for the charger as a whole (what TriggerMessage means by it)."""


# --- output --------------------------------------------------------------------------------------


def output_option(*formats: str, help: str) -> Callable[[F], F]:
    """`--output/-o FORMAT`: "human" first and the default, "json" for machines."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(formats),
        default=formats[0],
        show_default=True,
        help=help,
    )


# --- the fleet, the store and the server ---------------------------------------------------------


def fleet_paths_argument(*, exists: bool = True) -> Callable[[F], F]:
    """PATHS: fleet files and directories (read recursively)."""
    kind = FLEET_PATH if exists else click.Path(path_type=Path)
    return click.argument("paths", nargs=-1, required=True, type=kind)


def fleet_option(*, required: bool, help: str) -> Callable[[F], F]:
    """`--fleet PATH`, one fleet file or directory."""
    return click.option("--fleet", "fleet_path", required=required, type=FLEET_PATH, help=help)


def store_option(
    *, flag: str = "--store", default: str | None = DEFAULT_STORE, help: str
) -> Callable[[F], F]:
    """A store's database URL, as the parameter `store_url` (`plan` calls it `--state`)."""
    return click.option(
        flag,
        "store_url",
        type=STORE_URL,
        default=default,
        show_default=default is not None,
        metavar="URL",
        help=help,
    )


def server_option(
    *, default: str | None = DEFAULT_SERVER, envvar: bool = True, help: str
) -> Callable[[F], F]:
    """`--server URL`, a running `chargectl serve`'s HTTP API (or $CHARGECTL_SERVER)."""
    return click.option(
        "--server",
        "server",
        type=SERVER_URL,
        envvar="CHARGECTL_SERVER" if envvar else None,
        default=default,
        show_default=default is not None,
        help=help,
    )


def secrets_dir_option() -> Callable[[F], F]:
    return click.option(
        "--secrets-dir",
        type=SECRETS_DIR,
        default=None,
        help="Kubernetes Secrets mounted as files: secretKeyRef {name, key} is DIR/name/key.",
    )


def ocpp_version_option(*, help: str) -> Callable[[F], F]:
    return click.option(
        "--ocpp-version",
        type=OCPP_VERSION,
        default=OcppVersion.V16.value,
        show_default=True,
        help=help,
    )


def address_option(
    flag: str, *, default: str, allow_off: bool = False, help: str
) -> Callable[[F], F]:
    """HOST:PORT to listen on (and `off` with `allow_off`); the command gets (host, port)."""
    return click.option(
        flag,
        type=HTTP_ADDRESS if allow_off else LISTEN_ADDRESS,
        default=default,
        show_default=True,
        help=help,
    )


# --- simulated chargers --------------------------------------------------------------------------


def time_scale_option(*, default: float, help: str) -> Callable[[F], F]:
    return click.option(
        "--time-scale", type=TIME_SCALE, default=default, show_default=True, help=help
    )


def sessions_per_hour_option(*, default: float, help: str) -> Callable[[F], F]:
    return click.option(
        "--sessions-per-hour", type=SESSIONS_PER_HOUR, default=default, show_default=True, help=help
    )


def drift_option(*, default: float, help: str) -> Callable[[F], F]:
    """`--drift`, the share (0 to 1) of declared keys a simulated charger starts without."""
    return click.option("--drift", type=DRIFT, default=default, show_default=True, help=help)


def seed_option(*, help: str) -> Callable[[F], F]:
    return click.option("--seed", type=SEED, default=None, help=help)


# --- chargectl command ---------------------------------------------------------------------------


def connector_option(*, required: bool = False, charger_wide: bool = False) -> Callable[[F], F]:
    """`--connector N`; with `charger_wide`, 0 too (the charger as a whole).

    No default is given at all: click takes even `default=None` for one, and a required
    option with a default is never missing.
    """
    return click.option(
        "--connector",
        type=CONNECTOR_OR_CHARGER if charger_wide else CONNECTOR,
        required=required,
        help="Connector id.",
    )


# --- the serving process: `serve` and `operator` -------------------------------------------------

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


def central_system_options() -> Callable[[F], F]:
    """Every option of the serving process, which `serve` and `operator` share: the OCPP
    endpoint and its TLS, unknown chargers, the store, the HTTP API and the admin channel,
    convergence, the demo's simulated chargers, Secrets, logging. The two commands differ only
    in where the fleet comes from; `cli.serve.serve_options` reads these into `ServeOptions`.

    The defaults of `--max-pending` and `--max-frame-size` are written as numbers (the OCPP
    stack is not imported for `--help`), and a unit test holds them to the endpoint's own.
    """
    decorators: list[Callable[[F], F]] = [
        address_option(
            "--listen",
            default="127.0.0.1:9000",
            help="Address of the OCPP endpoint; chargers connect to ws://HOST:PORT/ocpp/ID. "
            "Loopback by default: chargers on the network need --listen 0.0.0.0:9000.",
        ),
        store_option(help="sqlite:///FILE or postgresql://USER@HOST/DB."),
        click.option(
            "--tls-cert", type=click.Path(exists=True), help="Certificate for wss (profile 2)."
        ),
        click.option("--tls-key", type=click.Path(exists=True), help="Private key for wss."),
        click.option(
            "--tls-client-ca",
            type=click.Path(exists=True),
            help="CA of charger client certificates (security profile 3).",
        ),
        click.option(
            "--allow-unknown",
            is_flag=True,
            help="Record chargers not in the fleet as pending instead of refusing them, whatever "
            "URL they use (without it, only through /ocpp/LOCATION/ID of a location that sets "
            "allowUnknownChargers).",
        ),
        click.option(
            "--max-pending",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Unknown chargers kept pending at most; for a new one, the oldest is forgotten.",
        ),
        address_option(
            "--http",
            default="127.0.0.1:8080",
            allow_off=True,
            help="Address of the read-only status API, /metrics, /healthz and /readyz (HOST:PORT); "
            "off: none. Beyond loopback, the API answers only --trusted-proxy peers.",
        ),
        click.option(
            "--trusted-proxy",
            "trusted_proxies",
            multiple=True,
            metavar="ADDRESS[/BITS]",
            help="An authenticating proxy (e.g. oauth2-proxy) whose X-Forwarded-Email the status "
            "API believes; repeat for several. Without one, the status API answers loopback only.",
        ),
        address_option(
            "--admin",
            default="127.0.0.1:8081",
            allow_off=True,
            help="Address of the admin channel, where `chargectl command` sends commands with a "
            "bearer token (HOST:PORT); off: none.",
        ),
        click.option(
            "--admin-tokens",
            type=click.Path(dir_okay=True, path_type=Path),
            envvar="CHARGECTL_ADMIN_TOKEN_FILE",
            help="The admin token file (NAME:TOKEN lines) or a directory of token files (a mounted "
            "Secret). Default ~/.config/chargectl/admin-token, written with a new token on first "
            "start (mode 0600).",
        ),
        click.option(
            "--max-frame-size",
            "max_frame_bytes",
            type=click.IntRange(min=4096),
            default=1024 * 1024,
            show_default=True,
            help="Largest OCPP frame in bytes a charger may send; a larger one closes the "
            "connection (1009) with a log line naming the charger.",
        ),
        click.option(
            "--reconcile/--no-reconcile",
            default=True,
            show_default=True,
            help="Converge chargers to the fleet; --no-reconcile only records what they report "
            "(observe a fleet, then `chargectl plan --server` shows what would change).",
        ),
        click.option(
            "--resync",
            type=float,
            default=300.0,
            show_default=True,
            help="Seconds between convergence passes over a charger that is in sync (catches "
            "drift).",
        ),
        click.option(
            "--simulate",
            is_flag=True,
            help="Demo: also run a simulated charger for every declared charger, in this process.",
        ),
        time_scale_option(default=60.0, help="With --simulate: simulated seconds per real second."),
        sessions_per_hour_option(
            default=2.0, help="With --simulate: cars arriving per connector per simulated hour."
        ),
        drift_option(
            default=0.3,
            help="With --simulate: share of declared keys the chargers start with at other values.",
        ),
        seed_option(help="With --simulate: seed for the drivers' randomness."),
        secrets_dir_option(),
        click.option(
            "--call-timeout",
            type=float,
            default=30.0,
            show_default=True,
            help="Seconds to wait for a charger's answer to a command.",
        ),
        click.option(
            "--message-log-limit",
            type=int,
            default=1000,
            show_default=True,
            help="OCPP messages kept per charger in the store.",
        ),
        click.option(
            "--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True
        ),
        click.option(
            "--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True
        ),
    ]

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply
