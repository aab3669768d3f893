"""What a convergence step is given and what it answers.

The reconciler runs a charger's steps in order, once per pass, each on a `PassContext`. A step
may hand the steps after it a context that knows more (the configuration step hands on the
record it read and the plan it made), or end the pass (the reboot step, while a reboot that
applies changes is under way). What a step answers (`StepResult`) is all the reconciler needs
to record the pass: whether the charger is in sync, the message its Synced condition shows,
and the counts it reports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from controller.fleet.model import DesiredCharger, Fleet, Loaded
from controller.ocpp.central import CentralSystem
from controller.planning.keys import ChargerPlan
from controller.resources import Charger
from controller.values.commands import CallFailed, ChargerCommands
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
    """What the pass knows of the charger's reported state: only its identity until the
    configuration step (the first) has read the charger, then the store's record with the
    configuration just read."""
    central: CentralSystem
    call: Call
    plan: ChargerPlan | None = None
    """The charger's plan (keys, availability, firmware), once the configuration step made it;
    None before, or when the charger's configuration could not be read."""
    owned_keys: frozenset[str] = frozenset()
    """The `KeyStatus` keys the pass's steps own (`Step.status_keys`): the statuses of every
    other key are the configuration's."""


@dataclass(frozen=True)
class StepResult:
    synced: bool
    message: str = ""
    differed: bool = False
    """The charger differed from the fleet in what this step owns when the pass began (so a
    synced pass counts as Converged rather than InSync)."""
    drifted: int = 0
    """Values found changed on the charger's side since they were applied (drift)."""
    context: PassContext | None = None
    """What the steps after this one see, when this step learnt more about the charger."""
    final: bool = False
    """The pass ends after this step, its result counted as usual: the steps after it would
    act without knowing the charger (its configuration could not be read)."""
    halt: bool = False
    """The pass ends here, waiting for the charger (a reboot that applies changes): the steps
    after this one do not run, and the charger's conditions show this step's message alone."""


Wake = Callable[[str], None]
"""Asks the reconciler to run a pass over a charger (by identity) soon."""


class Step(ABC):
    """Base of convergence steps; implement `run`, and override the hooks a step needs."""

    name = "step"
    wake: Wake | None = None

    @property
    def status_keys(self) -> frozenset[str]:
        """The `KeyStatus` keys this step records and reads (its name, unless it says
        otherwise); the configuration step leaves them alone."""
        return frozenset({self.name})

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

    def awaited(self, identity: str) -> str | None:
        """Why nothing may be sent to the charger now (it accepted a Reset and has not booted
        since), or None; the reconciler then skips the pass and shows the reason."""
        return None

    def booted(self, identity: str) -> None:
        """The charger sent BootNotification (it started, or restarted after a reset)."""
        return None

    def forget(self, identity: str) -> None:
        """The charger disconnected: drop what the step remembers about its session."""
        return None

    def close(self) -> None:
        """The reconciler stops: cancel timers."""
        return None
