"""The one interface every source of desired state offers the serving process.

`chargectl serve` reads the fleet from a directory of YAML files; `chargectl operator`
reads it from Kubernetes custom resources. Everything below a source (the endpoint, the
reconciler, the store, the web view) sees only a validated `Fleet`, and hears of a new one
through the listener, so the two commands differ in nothing but the source they start: the
serving process (`controller.runtime.serve.running`) is handed a `SourceFactory`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from controller.fleet.credentials import SecretStore
from controller.fleet.model import Fleet

if TYPE_CHECKING:
    from controller.ocpp.central import CentralSystem

FleetListener = Callable[[Fleet, Fleet], Awaitable[None]]
"""Called with (old, new) after a valid fleet replaced the one in force."""


class SourceUnavailable(Exception):
    """The desired state cannot be read at start (the API unreachable, credentials missing):
    nothing is started; the message says what was tried."""


class DesiredStateSource(Protocol):
    """Where the declared fleet comes from, and how its changes arrive.

    `current` is always a fleet that validated: a source refuses an invalid change (with
    validate's problems) and keeps what was in force — the directory refuses an edit as a
    whole, the Kubernetes source one resource at a time.
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


@dataclass(frozen=True)
class OpenedSource:
    """A source as a `SourceFactory` opened it, with what else it brings the serving process."""

    source: DesiredStateSource
    secrets: SecretStore | None = None
    """Where the Kubernetes Secrets its chargers name are read (the operator's API session);
    None: the serving process reads them itself (mounted files, or the `kubernetes` client)."""
    attach: Callable[[CentralSystem], Awaitable[None]] | None = None
    """Called once the central system serves the source's fleet, before any charger connects
    (the operator's status writer starts there)."""


class SourceFactory(Protocol):
    """Opens a source: `async with factory(listener) as opened:` reads the first fleet (or
    raises, with nothing started), and stops following changes on exit.

    The listener is called only from the source's `run` and `reload`, never while opening:
    the serving process builds its central system from `current` first."""

    def __call__(self, listener: FleetListener) -> AbstractAsyncContextManager[OpenedSource]: ...
