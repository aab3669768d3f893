"""What a convergence step is given and what it answers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from controller.fleet.model import DesiredCharger, Fleet, Loaded
from controller.ocpp.central import CentralSystem
from controller.resources import Charger
from controller.values.commands import ChargerCommands
from controller.values.errors import CallFailed
from controller.values.records import ChargerRecord, Transaction

UNSUPPORTED_CODES = frozenset({"NotSupported", "NotImplemented"})
"""CALLERROR codes that mean the charger does not do an action at all (a step then stops
asking it, rather than retrying)."""

Call = Callable[[Awaitable[Any]], Awaitable[Any]]
"""Sends one command, counted; a timeout, an invalid answer or a disconnect raises
`TransportFailure` and the pass is retried later."""


class TransportFailure(Exception):
    """The charger did not answer usefully; the pass is retried later with backoff."""

    def __init__(self, failure: CallFailed) -> None:
        super().__init__(str(failure))
        self.failure = failure


@dataclass(frozen=True)
class PassContext:
    """One reconcile pass over one connected charger."""

    identity: str
    commands: ChargerCommands
    fleet: Fleet
    charger: Loaded[Charger]
    desired: DesiredCharger
    record: ChargerRecord
    central: CentralSystem
    call: Call


@dataclass(frozen=True)
class StepResult:
    synced: bool
    message: str = ""


Wake = Callable[[str], None]
"""Asks the reconciler to run a pass over a charger (by identity) soon."""


class Step(ABC):
    """Base of convergence steps; implement `run`, and override the hooks a step needs."""

    name = "step"
    wake: Wake | None = None

    def bind(self, wake: Wake) -> None:
        """Lets the step wake chargers itself (timers, a charger waiting its turn)."""
        self.wake = wake

    @abstractmethod
    async def run(self, ctx: PassContext) -> StepResult:
        """Converge what this step owns on one charger, once."""

    def wake_on_transaction(
        self, fleet: Fleet, identity: str, transaction: Transaction
    ) -> Collection[str]:
        """Chargers (identities) to reconcile again when a transaction starts or stops."""
        return ()

    async def charger_reported(
        self, fleet: Fleet, identity: str, kind: str, data: dict[str, Any]
    ) -> Collection[str]:
        """Chargers to reconcile again after a notification (firmware status, ...)."""
        return ()

    def wake_on_fleet_change(self, old: Fleet, new: Fleet) -> Collection[str]:
        """Chargers to reconcile again when the fleet changed in ways DesiredCharger misses."""
        return ()

    def forget(self, identity: str) -> None:
        """The charger disconnected: drop what the step remembers about its session."""
        return None

    def close(self) -> None:
        """The reconciler stops: cancel timers."""
        return None
