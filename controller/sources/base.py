"""The one interface every source of desired state offers the serving process.

`chargectl serve` reads the fleet from a directory of YAML files; `chargectl operator` will
read it from Kubernetes custom resources. Everything below a source (the endpoint, the
reconciler, the store, the web view) sees only a validated `Fleet`, and hears of a new one
through the listener, so the two commands differ in nothing but the source they start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from controller.fleet.model import Fleet

FleetListener = Callable[[Fleet, Fleet], Awaitable[None]]
"""Called with (old, new) after a valid fleet replaced the one in force."""


class DesiredStateSource(Protocol):
    """Where the declared fleet comes from, and how its changes arrive.

    `current` is always the last fleet that validated as a whole: a source refuses an invalid
    change entirely (with validate's problems) and keeps the fleet in force.
    """

    reloaded: int
    """How many new fleets took effect since start."""
    refused: int
    """How many changes were refused as invalid since start."""

    @property
    def current(self) -> Fleet:
        """The fleet in force."""
        ...

    async def reload(self) -> bool:
        """Read the desired state again now; True when a new valid fleet took effect."""
        ...

    async def run(self) -> None:
        """Follow changes until cancelled, calling the listener on every new valid fleet."""
        ...
