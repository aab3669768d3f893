"""Drivers for demos and benchmarks: cars arrive, charge for a while and leave.

One task drives every charger of a simulation from a single queue of events (arrivals and
departures in simulated time), rather than one sleeping task per connector, so a simulation
of ten thousand chargers still has one driver task. Arrivals are a Poisson process per
connector; session lengths are exponential around the mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from controller.simulator.charger import SimulatedCharger
from controller.simulator.errors import SimulatorError

log = logging.getLogger("controller.simulator")


@dataclass(frozen=True)
class DriverOptions:
    """How busy the chargers are."""

    sessions_per_hour: float = 1.0
    """Arrivals per connector per simulated hour."""
    session_minutes: float = 45.0
    """Mean plugged-in time of a session, in simulated minutes."""
    seed: int | None = None


def _tag(rng: random.Random, charger: SimulatedCharger) -> str:
    """A card the charger's location accepts, or a made-up one for anonymous chargers."""
    if charger.id_tags:
        return rng.choice(charger.id_tags)
    return f"SIM{rng.getrandbits(32):08X}"


async def run_driver(chargers: Sequence[SimulatedCharger], options: DriverOptions) -> None:
    """Plug cars in and out of `chargers` until cancelled."""
    if not chargers or options.sessions_per_hour <= 0:
        return
    clock = chargers[0].clock
    rng = random.Random(options.seed)
    rate = options.sessions_per_hour / 3600.0
    mean = max(1.0, options.session_minutes * 60.0)
    tasks: set[asyncio.Future[None]] = set()
    queue: list[tuple[float, int, int, int, bool]] = []
    start = clock.seconds()
    for index, charger in enumerate(chargers):
        for connector in charger.connectors:
            heapq.heappush(queue, (start + rng.expovariate(rate), index, connector, 0, True))

    async def arrive(charger: SimulatedCharger, connector: int, tag: str) -> None:
        try:
            await charger.plug_in(connector, tag)
        except SimulatorError as exc:
            log.info("%s: session not started: %s", charger.identity, exc)

    async def leave(charger: SimulatedCharger, connector: int) -> None:
        try:
            await charger.unplug(connector)
        except SimulatorError as exc:
            log.info("%s: unplug: %s", charger.identity, exc)

    def spawn(work: asyncio.Future[None]) -> None:
        tasks.add(work)
        work.add_done_callback(tasks.discard)

    try:
        while queue:
            due, index, connector, _, arriving = queue[0]
            await clock.sleep(due - clock.seconds())
            heapq.heappop(queue)
            charger = chargers[index]
            c = charger.connectors[connector]
            if arriving:
                if charger.booted.is_set() and c.transaction is None and not c.plugged:
                    spawn(asyncio.ensure_future(arrive(charger, connector, _tag(rng, charger))))
                    leaving = due + rng.expovariate(1 / mean)
                    heapq.heappush(queue, (leaving, index, connector, 1, False))
                else:
                    heapq.heappush(queue, (due + rng.expovariate(rate), index, connector, 0, True))
            else:
                spawn(asyncio.ensure_future(leave(charger, connector)))
                heapq.heappush(queue, (due + rng.expovariate(rate), index, connector, 0, True))
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
