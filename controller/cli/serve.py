"""`chargectl serve`: the central system for a fleet directory, from the command line.

Only turns options into `controller.runtime.serve.ServeOptions` and runs the process; the
serving itself (endpoint, reconciler, HTTP API, `--simulate`'s chargers) is the runtime's.
The options are the serving process's, shared with `chargectl operator`
(`cli.options.central_system_options`), read by `serve_options` and run by `run_server`.
The OCPP stack and the database driver are imported when the command runs, not before.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from controller.cli.options import central_system_options, fleet_paths_argument

if TYPE_CHECKING:
    from controller.runtime.serve import ServeOptions


@click.command("serve")
@fleet_paths_argument()
@central_system_options()
def serve(paths: tuple[Path, ...], **given: Any) -> None:
    """Run the OCPP central system for the fleet in PATHS."""
    run_server(serve_options(list(paths), given))


def serve_options(paths: Sequence[Path], given: Mapping[str, Any]) -> ServeOptions:
    """`ServeOptions` from the values of `central_system_options` (logging is set up too)."""
    from controller.runtime.logsetup import configure
    from controller.runtime.serve import ServeOptions, SimulateOptions
    from controller.web.app import parse_networks

    configure(given["log_level"], given["log_format"])
    host, port = given["listen"]
    http, admin = given["http"], given["admin"]
    http_host, http_port = http if http is not None else ("127.0.0.1", None)
    admin_host, admin_port = admin if admin is not None else ("127.0.0.1", None)
    trusted_proxies: tuple[str, ...] = given["trusted_proxies"]
    try:
        parse_networks(trusted_proxies)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-proxy") from None
    simulate = (
        SimulateOptions(
            given["time_scale"],
            given["sessions_per_hour"],
            drift=given["drift"],
            seed=given["seed"],
        )
        if given["simulate"]
        else None
    )
    return ServeOptions(
        paths=list(paths),
        store_url=given["store_url"],
        host=host,
        port=port,
        tls_cert=given["tls_cert"],
        tls_key=given["tls_key"],
        tls_client_ca=given["tls_client_ca"],
        allow_unknown=given["allow_unknown"],
        max_pending=given["max_pending"],
        max_frame_bytes=given["max_frame_bytes"],
        call_timeout=given["call_timeout"],
        message_log_limit=given["message_log_limit"],
        secrets_dir=given["secrets_dir"],
        http_host=http_host,
        http_port=http_port,
        trusted_proxies=trusted_proxies,
        admin_host=admin_host,
        admin_port=admin_port,
        admin_tokens=given["admin_tokens"],
        resync_interval=given["resync"],
        reconcile=given["reconcile"],
        simulate=simulate,
    )


def run_server(options: ServeOptions) -> None:
    """Serve until SIGINT or SIGTERM; exit 1 when the fleet is invalid (nothing started) or
    the source of desired state stops following it."""
    import asyncio

    from controller.fleet.reporting import format_human
    from controller.runtime.serve import (
        FleetInvalid,
        SourceStopped,
        event_loop_factory,
        serve_forever,
    )
    from controller.sources.base import SourceUnavailable

    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve_forever(options))
    except FleetInvalid as exc:
        from controller.fleet.loading import Locator

        problems = Locator().locate_all(exc.problems)
        click.echo(format_human(problems, "The fleet is invalid; nothing started."), err=True)
        sys.exit(1)
    except SourceUnavailable as exc:
        click.echo(f"chargectl: nothing started: {exc}", err=True)
        sys.exit(1)
    except SourceStopped as exc:
        click.echo(f"chargectl: stopped: {exc}", err=True)
        sys.exit(1)
