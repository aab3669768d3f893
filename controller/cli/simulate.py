"""`chargectl simulate`: simulated chargers for demos, tests and benchmarks.

Registered on the `chargectl` group by `controller/cli/app.py`; everything it does goes through
the public API of `controller.simulator`, so `chargectl serve --simulate` and the benchmarks can
do the same things from Python. Its options shared with `serve --simulate` (time scale, drift,
sessions per hour, seed) are `controller.cli.options`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli.options import (
    drift_option,
    fleet_option,
    ocpp_version_option,
    secrets_dir_option,
    seed_option,
    sessions_per_hour_option,
    time_scale_option,
)
from controller.simulator.frames import BadFrame
from controller.simulator.profile import DEFAULT_PROFILE, FirmwareFailure

if TYPE_CHECKING:
    from controller.simulator.charger import SimulatedCharger
    from controller.simulator.driver import DriverOptions


@click.command("simulate")
@click.option(
    "--url",
    default="ws://127.0.0.1:9000/ocpp",
    show_default=True,
    help="Central system websocket URL; each charger appends /<identity>.",
)
@fleet_option(
    required=False, help="Simulate the chargers declared in this fleet (file or directory)."
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="N anonymous chargers.")
@ocpp_version_option(help="OCPP version of anonymous chargers.")
@click.option("--prefix", default="SIM-", show_default=True, help="Identity prefix (--count).")
@click.option(
    "--connectors",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Connectors per anonymous charger.",
)
@click.option(
    "--max-current",
    type=click.IntRange(1, 1000),
    default=32,
    show_default=True,
    help="Amperes per phase each connector can give.",
)
@click.option(
    "--phases", type=click.Choice(["1", "3"]), default="3", show_default=True, help="AC phases."
)
@click.option(
    "--password",
    envvar="CHARGECTL_SIMULATOR_PASSWORD",
    default=None,
    help="Basic auth password of anonymous chargers [env: CHARGECTL_SIMULATOR_PASSWORD].",
)
@time_scale_option(default=1.0, help="Simulated seconds per real second (60: a minute per second).")
@drift_option(default=0.0, help="Fraction of declared keys that start at other values.")
@sessions_per_hour_option(
    default=0.0, help="Cars arriving per connector per simulated hour (0: no driver)."
)
@click.option(
    "--session-minutes",
    type=click.FloatRange(min=1),
    default=45.0,
    show_default=True,
    help="Mean time a car stays plugged in (simulated minutes).",
)
@click.option(
    "--car-max-current",
    type=click.IntRange(min=1),
    default=None,
    help="Amperes the cars draw at most (default: whatever is offered).",
)
@click.option(
    "--firmware-failure",
    type=click.Choice([f.value for f in FirmwareFailure]),
    default="none",
    show_default=True,
    help="Make UpdateFirmware fail at this step.",
)
@click.option(
    "--misbehave",
    type=click.Choice([b.value for b in BadFrame]),
    multiple=True,
    help="Send this bad frame once after booting (repeatable).",
)
@click.option(
    "--stagger",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Spread the first connections over this many seconds.",
)
@click.option(
    "--cafile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA certificates to trust for a wss:// URL.",
)
@click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate.")
@secrets_dir_option()
@click.option("--no-validate", is_flag=True, help="Skip schema checks of our own messages.")
@seed_option(help="Seed for the driver's randomness.")
@click.option("-v", "--verbose", count=True, help="-v: sessions and errors; -vv: every frame.")
def simulate(
    url: str,
    fleet_path: Path | None,
    count: int | None,
    ocpp_version: str,
    prefix: str,
    connectors: int,
    max_current: int,
    phases: str,
    password: str | None,
    time_scale: float,
    drift: float,
    sessions_per_hour: float,
    session_minutes: float,
    car_max_current: int | None,
    firmware_failure: str,
    misbehave: tuple[str, ...],
    stagger: float,
    cafile: str | None,
    insecure: bool,
    secrets_dir: Path | None,
    no_validate: bool,
    seed: int | None,
    verbose: int,
) -> None:
    """Run simulated chargers against a central system until interrupted.

    Either --fleet (one charger per declared charger, with its identity, version,
    connectors, password and cards) or --count (anonymous chargers).
    """
    if (fleet_path is None) == (count is None):
        raise click.UsageError("give either --fleet or --count")
    logging.basicConfig(
        level=logging.WARNING if verbose == 0 else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("ocpp").setLevel(logging.INFO if verbose > 1 else logging.CRITICAL)
    # The OCPP library and websockets load here, not when chargectl starts.
    from controller.simulator.clock import SimClock
    from controller.simulator.driver import DriverOptions
    from controller.simulator.fleet import anonymous_chargers, chargers_from_fleet
    from controller.simulator.state import ConnectorSpec

    profile = replace(
        DEFAULT_PROFILE,
        drift=drift,
        car_max_current=car_max_current,
        firmware_failure=FirmwareFailure(firmware_failure),
        validate_messages=not no_validate,
    )
    clock = SimClock(time_scale)
    context = _tls(url, cafile, insecure)
    chargers: list[SimulatedCharger]
    if fleet_path is not None:
        from controller.fleet.checking import check_paths
        from controller.fleet.credentials import SecretResolver
        from controller.fleet.reporting import format_human, plural

        report = check_paths([fleet_path])
        if not report.valid:
            summary = f"{plural(report.errors, 'error')}: the fleet is not valid."
            click.echo(format_human(report.problems, summary), err=True)
            sys.exit(1)
        base = fleet_path if fleet_path.is_dir() else fleet_path.parent
        chargers = chargers_from_fleet(
            report.fleet,
            url,
            profile=profile,
            resolver=SecretResolver(base_dir=base, secrets_dir=secrets_dir),
            clock=clock,
            ssl=context,
        )
    else:
        assert count is not None
        chargers = anonymous_chargers(
            count,
            url,
            ocpp_version=ocpp_version,
            prefix=prefix,
            connectors=[
                ConnectorSpec(n, max_current, int(phases)) for n in range(1, connectors + 1)
            ],
            profile=profile,
            clock=clock,
            password=password,
            ssl=context,
        )
    if not chargers:
        raise click.ClickException("no chargers to simulate")
    driver = (
        DriverOptions(sessions_per_hour, session_minutes, seed) if sessions_per_hour > 0 else None
    )
    click.echo(
        f"Simulating {len(chargers)} chargers against {url} (time x{time_scale:g}); Ctrl-C stops.",
        err=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(chargers, driver, [BadFrame(m) for m in misbehave], stagger))


async def _main(
    chargers: Sequence[SimulatedCharger],
    driver: DriverOptions | None,
    misbehave: Sequence[BadFrame],
    stagger: float,
) -> None:
    from controller.simulator.run import run_simulation

    status = asyncio.ensure_future(_report(chargers))
    try:
        await run_simulation(chargers, driver=driver, misbehave=misbehave, stagger=stagger)
    finally:
        status.cancel()


async def _report(chargers: Sequence[SimulatedCharger], every: float = 10.0) -> None:
    """A status line now and then: how many are connected, accepted, charging."""
    last = ""
    while True:
        await asyncio.sleep(every)
        connected = sum(c.connected.is_set() for c in chargers)
        booted = sum(c.booted.is_set() for c in chargers)
        charging = sum(
            1 for c in chargers for k in c.connectors.values() if k.transaction is not None
        )
        line = f"{connected}/{len(chargers)} connected, {booted} accepted, {charging} charging"
        if line != last:
            click.echo(line, err=True)
            last = line


def _tls(url: str, cafile: str | None, insecure: bool) -> ssl.SSLContext | None:
    if not url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
