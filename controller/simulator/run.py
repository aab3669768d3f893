"""Running many simulated chargers together: start, drive, misbehave, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from controller.simulator.charger import SimulatedCharger
from controller.simulator.driver import DriverOptions, run_driver
from controller.simulator.errors import SimulatorError
from controller.simulator.frames import BadFrame

log = logging.getLogger("controller.simulator")


async def run_simulation(
    chargers: Sequence[SimulatedCharger],
    *,
    driver: DriverOptions | None = None,
    misbehave: Sequence[BadFrame] = (),
    stagger: float = 0.0,
) -> None:
    """Run `chargers` until cancelled, then disconnect them all.

    `driver` plugs cars in and out; `misbehave` has every charger send those bad frames
    once after its first boot (the replies are logged and kept in `exchanges`); `stagger`
    spreads the first connections over that many real seconds, so ten thousand chargers do
    not knock at once.
    """
    tasks: list[asyncio.Future[None]] = []
    step = stagger / len(chargers) if chargers and stagger > 0 else 0.0
    try:
        for charger in chargers:
            tasks.append(asyncio.ensure_future(charger.run()))
            if step:
                await asyncio.sleep(step)
        if driver is not None:
            tasks.append(asyncio.ensure_future(run_driver(chargers, driver)))
        if misbehave:
            tasks.append(asyncio.ensure_future(_misbehave(chargers, misbehave)))
        await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.stop() for c in chargers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


async def _misbehave(chargers: Sequence[SimulatedCharger], kinds: Sequence[BadFrame]) -> None:
    async def one(charger: SimulatedCharger) -> None:
        for kind in kinds:
            await charger.booted.wait()
            try:
                exchange = await charger.misbehave(kind)
            except SimulatorError as exc:
                log.warning("%s: %s not sent: %s", charger.identity, kind, exc)
                continue
            outcome = "connection closed" if exchange.closed else (exchange.reply or "no reply")
            log.warning("%s: sent %s, got %.300s", charger.identity, kind, outcome)

    await asyncio.gather(*(one(c) for c in chargers))
