"""The end-to-end rig: `serve` in-process on a fleet, simulated chargers against it over real
sockets, and waiting for what should follow — with a deadline, never a timed assertion.

The tests of one concern (convergence, local lists, firmware, power) each add what only they
need on top: their fleet, their step, their samplers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import pytest

from controller.converge.base import Step
from controller.fleet.checking import check_paths
from controller.runtime.serve import Running, ServeOptions, running
from controller.simulator import SimClock, SimulatedCharger, chargers_from_fleet
from controller.simulator.profile import DEFAULT_PROFILE, SimProfile

DEADLINE = 20.0
POLL_SECONDS = 0.1

OPS_TEAM = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: ops
spec:
  displayName: Ops
  handle: ops
"""
"""The team every fleet here belongs to: the first document (no braces, so it can head a
`str.format` template or an f-string alike)."""

S = TypeVar("S", bound=Step)


def write_fleet(root: Path, text: str, folder: str = "fleet") -> Path:
    """`text` as `<root>/<folder>/fleet.yaml`, checked valid: a typo fails here, not as a
    charger that never converges."""
    fleet = root / folder
    fleet.mkdir(exist_ok=True)
    (fleet / "fleet.yaml").write_text(text)
    assert check_paths([fleet]).valid
    return fleet


@dataclass
class Rig:
    """The running central system and the simulated chargers, by OCPP identity."""

    server: Running
    chargers: dict[str, SimulatedCharger]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, identities: Iterable[str]) -> None:
        """Connect these chargers (each runs until the rig closes)."""
        for identity in identities:
            self.tasks.append(asyncio.create_task(self.chargers[identity].run()))

    def step(self, kind: type[S]) -> S:
        """The reconciler's step of this kind, to look at what it decided."""
        assert self.server.reconciler is not None
        return next(s for s in self.server.reconciler.steps if isinstance(s, kind))


@contextlib.asynccontextmanager
async def serving(
    fleet: Path,
    profile: SimProfile = DEFAULT_PROFILE,
    *,
    resync: float = 300.0,
    start: bool = True,
) -> AsyncIterator[Rig]:
    """`serve` on `fleet` (store next to it, a free port) and one simulated charger per declared
    one, validating every message and rebooting in half a second.

    `start=False` leaves the chargers unconnected, for a test to adjust them or choose the order.
    """
    options = ServeOptions(
        paths=[fleet],
        store_url=f"sqlite:///{fleet.parent / 'state.db'}",
        host="127.0.0.1",
        port=0,
        watch=False,
        resync_interval=resync,
        call_timeout=5.0,
    )
    async with running(options) as server:
        sims = chargers_from_fleet(
            server.central.fleet,
            server.url,
            profile=replace(profile, reboot_seconds=0.5, validate_messages=True),
            clock=SimClock(1.0),
        )
        rig = Rig(server, {sim.identity: sim for sim in sims})
        if start:
            rig.start(rig.chargers)
        try:
            yield rig
        finally:
            for sim in sims:
                await sim.stop()
            for task in rig.tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def until(
    condition: Callable[[], object],
    what: str | Callable[[], str],
    deadline: float = DEADLINE,
) -> None:
    """Wait until `condition()` — or what it returns, when that is awaitable — is true; past
    the deadline, fail saying `what` (a callable: to describe the state it gave up in)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > end:
            pytest.fail(f"gave up waiting: {what if isinstance(what, str) else what()}")
        await asyncio.sleep(POLL_SECONDS)
