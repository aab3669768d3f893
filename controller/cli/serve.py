"""`chargectl serve`: the central system for a fleet, from the command line.

Only turns options into `controller.runtime.serve.ServeOptions` and runs the process; the
serving itself (endpoint, reconciler, HTTP API, `--simulate`'s chargers) is the runtime's.
The OCPP stack and the database driver are imported when the command runs, not before; so
the defaults of `--max-pending` and `--max-frame-size` are written here as numbers, and a
unit test holds them to the endpoint's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli.options import (
    address_option,
    drift_option,
    fleet_paths_argument,
    secrets_dir_option,
    seed_option,
    sessions_per_hour_option,
    store_option,
    time_scale_option,
)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@click.command("serve")
@fleet_paths_argument()
@address_option(
    "--listen",
    default="127.0.0.1:9000",
    help="Address of the OCPP endpoint; chargers connect to ws://HOST:PORT/ocpp/ID. "
    "Loopback by default: chargers on the network need --listen 0.0.0.0:9000.",
)
@store_option(help="sqlite:///FILE or postgresql://USER@HOST/DB.")
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
    help="Record chargers not in the fleet as pending instead of refusing them, whatever "
    "URL they use (without it, only through /ocpp/LOCATION/ID of a location that sets "
    "allowUnknownChargers).",
)
@click.option(
    "--max-pending",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Unknown chargers kept pending at most; for a new one, the oldest is forgotten.",
)
@address_option(
    "--http",
    default="127.0.0.1:8080",
    allow_off=True,
    help="Address of the read-only status API, /metrics, /healthz and /readyz (HOST:PORT); "
    "off: none. Beyond loopback, the API answers only --trusted-proxy peers.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS[/BITS]",
    help="An authenticating proxy (e.g. oauth2-proxy) whose X-Forwarded-Email the status API "
    "believes; repeat for several. Without one, the status API answers loopback only.",
)
@address_option(
    "--admin",
    default="127.0.0.1:8081",
    allow_off=True,
    help="Address of the admin channel, where `chargectl command` sends commands with a "
    "bearer token (HOST:PORT); off: none.",
)
@click.option(
    "--admin-tokens",
    type=click.Path(dir_okay=True, path_type=Path),
    envvar="CHARGECTL_ADMIN_TOKEN_FILE",
    help="The admin token file (NAME:TOKEN lines) or a directory of token files (a mounted "
    "Secret). Default ~/.config/chargectl/admin-token, written with a new token on first "
    "start (mode 0600).",
)
@click.option(
    "--max-frame-size",
    "max_frame_bytes",
    type=click.IntRange(min=4096),
    default=1024 * 1024,
    show_default=True,
    help="Largest OCPP frame in bytes a charger may send; a larger one closes the connection "
    "(1009) with a log line naming the charger.",
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
@time_scale_option(default=60.0, help="With --simulate: simulated seconds per real second.")
@sessions_per_hour_option(
    default=2.0, help="With --simulate: cars arriving per connector per simulated hour."
)
@drift_option(
    default=0.3,
    help="With --simulate: share of declared keys the chargers start with at other values.",
)
@seed_option(help="With --simulate: seed for the drivers' randomness.")
@secrets_dir_option()
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
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True)
def serve(
    paths: tuple[Path, ...],
    listen: tuple[str, int],
    store_url: str,
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    allow_unknown: bool,
    max_pending: int,
    http: tuple[str, int] | None,
    trusted_proxies: tuple[str, ...],
    admin: tuple[str, int] | None,
    admin_tokens: Path | None,
    max_frame_bytes: int,
    reconcile: bool,
    resync: float,
    simulate: bool,
    time_scale: float,
    sessions_per_hour: float,
    drift: float,
    seed: int | None,
    secrets_dir: Path | None,
    call_timeout: float,
    message_log_limit: int,
    log_level: str,
    log_format: str,
) -> None:
    """Run the OCPP central system for the fleet in PATHS."""
    import asyncio

    from controller.fleet.reporting import format_human
    from controller.runtime.logsetup import configure
    from controller.runtime.serve import (
        FleetInvalid,
        ServeOptions,
        SimulateOptions,
        event_loop_factory,
        serve_forever,
    )

    configure(log_level, log_format)
    host, port = listen
    http_host, http_port = http if http is not None else ("127.0.0.1", None)
    admin_host, admin_port = admin if admin is not None else ("127.0.0.1", None)
    from controller.web.app import parse_networks

    try:
        parse_networks(trusted_proxies)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-proxy") from None
    options = ServeOptions(
        paths=list(paths),
        store_url=store_url,
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        allow_unknown=allow_unknown,
        max_pending=max_pending,
        max_frame_bytes=max_frame_bytes,
        call_timeout=call_timeout,
        message_log_limit=message_log_limit,
        secrets_dir=secrets_dir,
        http_host=http_host,
        http_port=http_port,
        trusted_proxies=trusted_proxies,
        admin_host=admin_host,
        admin_port=admin_port,
        admin_tokens=admin_tokens,
        resync_interval=resync,
        reconcile=reconcile,
        simulate=SimulateOptions(time_scale, sessions_per_hour, drift=drift, seed=seed)
        if simulate
        else None,
    )
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve_forever(options))
    except FleetInvalid as exc:
        from controller.fleet.loading import Locator

        problems = Locator().locate_all(exc.problems)
        click.echo(format_human(problems, "The fleet is invalid; nothing started."), err=True)
        sys.exit(1)
