"""The imperative escape hatches: one command to one charger, as a value, sent and logged.

For what is not declarative (reset a hung charger, unlock a stuck cable, start a session for a
driver on the phone), an operator sends a single command. The API's JSON body and the CLI's
arguments both become one of the small values below, which say what they are, check their own
fields, and know which `ChargerCommands` method carries them, so nothing here depends on the
OCPP version. `send` runs one and records it as an event in the charger's history (who asked,
what, and what the charger answered), whatever the answer.

With several replicas (`controller.store.coordination`), a charger's session is on one of
them. A command asked of another goes through the database (`forward`): the replica holding
the charger runs it with `send`, through `ForwardedCommands` (which `serve_forwarded` installs
on every replica), so the event names whoever asked, wherever they asked; the outcome
document comes back to the asker, who counts it in its metrics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controller.ocpp.central import CentralSystem
from controller.store.coordination import coordination_of
from controller.values.commands import (
    CallFailed,
    ChargerCommands,
    FailureKind,
    Status,
    TriggerKind,
)

COMMAND_EVENT = "Command"
"""The kind of the event each command leaves in the charger's history."""

SUCCESS = frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.UNLOCKED})
"""Answers that mean the charger will do (or did) what was asked."""


class BadCommand(ValueError):
    """A command body that cannot be sent: what is wrong with it, in words for the requester."""


class CommandName(StrEnum):
    RESET = "reset"
    UNLOCK = "unlock"
    TRIGGER = "trigger"
    REMOTE_START = "remote-start"
    REMOTE_STOP = "remote-stop"
    CLEAR_CACHE = "clear-cache"


@dataclass(frozen=True, slots=True)
class Reset:
    hard: bool = False

    name = CommandName.RESET

    def describe(self) -> str:
        return "hard reset" if self.hard else "soft reset"

    def body(self) -> dict[str, Any]:
        return {"command": self.name.value, "hard": self.hard}

    async def run(self, charger: ChargerCommands) -> Status | CallFailed:
        return await charger.reset(self.hard)


@dataclass(frozen=True, slots=True)
class Unlock:
    connector: int

    name = CommandName.UNLOCK

    def describe(self) -> str:
        return f"unlock connector {self.connector}"

    def body(self) -> dict[str, Any]:
        return {"command": self.name.value, "connector": self.connector}

    async def run(self, charger: ChargerCommands) -> Status | CallFailed:
        return await charger.unlock_connector(self.connector)


@dataclass(frozen=True, slots=True)
class Trigger:
    message: TriggerKind
    connector: int | None = None

    name = CommandName.TRIGGER

    def describe(self) -> str:
        where = f" for connector {self.connector}" if self.connector is not None else ""
        return f"trigger {self.message.value}{where}"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"command": self.name.value, "message": self.message.value}
        if self.connector is not None:
            body["connector"] = self.connector
        return body

    async def run(self, charger: ChargerCommands) -> Status | CallFailed:
        return await charger.trigger_message(self.message, self.connector)


@dataclass(frozen=True, slots=True)
class RemoteStart:
    id_tag: str
    connector: int | None = None

    name = CommandName.REMOTE_START

    def describe(self) -> str:
        where = f" on connector {self.connector}" if self.connector is not None else ""
        return f"remote start for id tag {self.id_tag}{where}"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"command": self.name.value, "idTag": self.id_tag}
        if self.connector is not None:
            body["connector"] = self.connector
        return body

    async def run(self, charger: ChargerCommands) -> Status | CallFailed:
        return await charger.remote_start(self.id_tag, self.connector)


@dataclass(frozen=True, slots=True)
class RemoteStop:
    transaction_id: str
    """Our transaction id, or on OCPP 2.0.1 the charger's own (either is accepted there)."""

    name = CommandName.REMOTE_STOP

    def describe(self) -> str:
        return f"remote stop of transaction {self.transaction_id}"

    def body(self) -> dict[str, Any]:
        return {"command": self.name.value, "transactionId": self.transaction_id}

    async def run(self, charger: ChargerCommands) -> Status | CallFailed:
        return await charger.remote_stop(self.transaction_id)


@dataclass(frozen=True, slots=True)
class ClearCache:
    name = CommandName.CLEAR_CACHE

    def describe(self) -> str:
        return "clear authorization cache"

    def body(self) -> dict[str, Any]:
        return {"command": self.name.value}

    async def run(self, charger: ChargerCommands) -> Status | CallFailed:
        return await charger.clear_cache()


Command = Reset | Unlock | Trigger | RemoteStart | RemoteStop | ClearCache

_FIELDS: dict[CommandName, frozenset[str]] = {
    CommandName.RESET: frozenset({"hard"}),
    CommandName.UNLOCK: frozenset({"connector"}),
    CommandName.TRIGGER: frozenset({"message", "connector"}),
    CommandName.REMOTE_START: frozenset({"idTag", "connector"}),
    CommandName.REMOTE_STOP: frozenset({"transactionId"}),
    CommandName.CLEAR_CACHE: frozenset(),
}


def parse_command(body: object) -> Command:
    """A command from a JSON body such as `{"command": "reset", "hard": true}`.

    Unknown commands and fields, missing fields and wrong types are refused with `BadCommand`
    saying which, so a typo never sends something else than was meant.
    """
    if not isinstance(body, Mapping):
        raise BadCommand('the body must be a JSON object such as {"command": "reset"}')
    raw_name = body.get("command")
    try:
        name = CommandName(raw_name if isinstance(raw_name, str) else "")
    except ValueError:
        choices = ", ".join(c.value for c in CommandName)
        raise BadCommand(f"command must be one of {choices}; got {raw_name!r}") from None
    unknown = sorted(set(body) - {"command"} - _FIELDS[name])
    if unknown:
        allowed = ", ".join(sorted(_FIELDS[name])) or "none"
        raise BadCommand(f"{name.value} takes no field {', '.join(unknown)} (fields: {allowed})")
    if name is CommandName.RESET:
        hard = body.get("hard", False)
        if not isinstance(hard, bool):
            raise BadCommand("hard must be true or false")
        return Reset(hard)
    if name is CommandName.UNLOCK:
        connector = _connector(body, least=1)
        if connector is None:
            raise BadCommand("unlock needs the connector to unlock")
        return Unlock(connector)
    if name is CommandName.TRIGGER:
        message = body.get("message")
        try:
            kind = TriggerKind(message if isinstance(message, str) else "")
        except ValueError:
            choices = ", ".join(k.value for k in TriggerKind)
            raise BadCommand(f"message must be one of {choices}; got {message!r}") from None
        return Trigger(kind, _connector(body, least=0))
    if name is CommandName.REMOTE_START:
        id_tag = body.get("idTag")
        if not isinstance(id_tag, str) or not 1 <= len(id_tag) <= 36:
            raise BadCommand("idTag must be a string of 1 to 36 characters")
        return RemoteStart(id_tag, _connector(body, least=1))
    if name is CommandName.REMOTE_STOP:
        transaction = body.get("transactionId")
        if isinstance(transaction, int) and not isinstance(transaction, bool):
            transaction = str(transaction)
        if not isinstance(transaction, str) or not transaction.strip():
            raise BadCommand("transactionId must be a transaction id (number or string)")
        return RemoteStop(transaction.strip())
    return ClearCache()


def _connector(body: Mapping[str, Any], *, least: int) -> int | None:
    value = body.get("connector")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= 99:
        raise BadCommand(f"connector must be a whole number from {least} to 99")
    return value


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command: the charger's answer, or why there was none."""

    identity: str
    command: Command
    status: Status | None
    failure: CallFailed | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS

    @property
    def label(self) -> str:
        """The answer in one word: a status, or the kind of failure (Timeout, CallError, ...)."""
        if self.status is not None:
            return self.status.value
        assert self.failure is not None
        return self.failure.kind.value

    def document(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "charger": self.identity,
            "command": self.command.body(),
            "ok": self.ok,
            "status": self.status.value if self.status is not None else None,
            "failed": (
                {
                    "kind": failure.kind.value,
                    "action": failure.action,
                    "code": failure.code,
                    "description": failure.description,
                }
                if failure is not None
                else None
            ),
            "seconds": round(self.seconds, 3),
        }


async def send(
    central: CentralSystem,
    identity: str,
    charger: ChargerCommands,
    command: Command,
    requester: str | None = None,
) -> Outcome:
    """Send `command` and record it, with its answer, as an event of the charger."""
    began = time.monotonic()
    answer = await command.run(charger)
    seconds = time.monotonic() - began
    outcome = (
        Outcome(identity, command, None, answer, seconds)
        if isinstance(answer, CallFailed)
        else Outcome(identity, command, answer, None, seconds)
    )
    answered = (
        f"{outcome.status.value}"
        if outcome.status is not None
        else f"no answer ({outcome.failure})"
    )
    await central.event(
        identity,
        COMMAND_EVENT,
        f"{command.describe()} requested by {requester or 'an operator'}: {answered}",
        {
            "command": command.body(),
            "requester": requester,
            "ok": outcome.ok,
            "status": outcome.label,
        },
    )
    return outcome


# --- across replicas ---------------------------------------------------------------------------


def outcome_label(document: Mapping[str, Any]) -> str:
    """`Outcome.label` of an outcome document (one that came back from another replica)."""
    status = document.get("status")
    if isinstance(status, str):
        return status
    failed = document.get("failed")
    kind = failed.get("kind") if isinstance(failed, Mapping) else None
    return kind if isinstance(kind, str) else "Error"


async def forward(
    central: CentralSystem,
    identity: str,
    command: Command,
    requester: str | None,
    timeout: float,
) -> dict[str, Any]:
    """Have the replica holding `identity` send `command`; its outcome document.

    Raises `coordination.NotHeld` when no replica holds the charger, and
    `coordination.ForwardTimeout` when the one holding it did not answer within `timeout`.
    """
    return await coordination_of(central).forward(identity, command.body(), requester, timeout)


class ForwardedCommands:
    """Runs, for the chargers connected here, the commands other replicas forward: parsed and
    sent as if asked here (`send`), in the name of who asked there."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    def _connection(self, identity: str) -> tuple[str, ChargerCommands] | None:
        found = self.central.connections.get(identity)
        if found is not None:
            return identity, found
        lowered = identity.lower()  # OCPP identities compare without case
        for connected, commands in self.central.connections.items():
            if connected.lower() == lowered:
                return connected, commands
        return None

    def holds(self, identity: str) -> bool:
        return self._connection(identity) is not None

    async def run(
        self, identity: str, body: Mapping[str, Any], requester: str | None
    ) -> dict[str, Any]:
        command = parse_command(body)
        found = self._connection(identity)
        if found is None:  # it left between the asking and now
            answer = CallFailed(FailureKind.DISCONNECTED, command.name.value, "not connected")
            return Outcome(identity, command, None, answer, 0.0).document()
        connected, charger = found
        outcome = await send(self.central, connected, charger, command, requester)
        return outcome.document()


def serve_forwarded(central: CentralSystem) -> None:
    """Run here the commands other replicas forward for chargers connected here."""
    central.coordination.serve_commands(ForwardedCommands(central))
