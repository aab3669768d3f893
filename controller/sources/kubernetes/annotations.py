"""Imperative commands asked through annotations of a Charger, run once by its session's owner.

For what is not declarative, a user annotates the Charger, and the replica that holds the
charger's session sends the command, through the same path as `chargectl command` and the
API (`controller.web.commands.send`, handed in by the runtime as a `CommandChannel`, since
this layer may not import `web`). The syntax is `<argument>@<timestamp>`; the timestamp
(RFC 3339 with its zone, e.g. `2026-12-07T10:00:00Z`) only makes each request new:

    chargectl.io/reset: hard@2026-12-07T10:00:00Z          (or soft@...)
    chargectl.io/unlock: 1@2026-12-07T10:00:00Z            (the connector)
    chargectl.io/trigger: StatusNotification@2026-...Z     (or StatusNotification:1@..., a
                                                            TriggerKind and a connector)
    chargectl.io/clear-cache: @2026-12-07T10:00:00Z        (no argument)

Remote start and stop are left to the API and `chargectl command`: an annotation would keep a
card id tag or a transaction id in the object for good.

Once, and never again after a restart: the record is the Charger's `status.commands`, by
command (`reset`, `unlock`, ...) the `value` last acted on and its `outcome`. An annotation
whose value equals the recorded one is not run again; a new value (a new timestamp) is a new
command. Before the command is sent, `outcome: Sending` is written with the value, and only
once that write succeeded is the command sent; then the answer replaces it (Accepted,
Rejected, Timeout, ...), with an Event (Normal when the charger accepted, Warning otherwise).
So a process that dies between the two writes leaves `Sending`, which its successor reports
as `Unknown` and never sends again: at most once, by design, rather than at least once.

Who acts: only the process the charger is connected to (`central.connections`; with several
replicas the one holding its session). A charger connected nowhere waits: the command is sent
when it next connects, to whichever replica (remove the annotation to cancel it). A value that
cannot be read (an unknown argument, a missing or zoneless timestamp, a connector out of
range) is recorded as `outcome: Invalid` with a Warning Event and sends nothing; it is
reported by the owner, or, for a charger connected nowhere, by any replica (the status
writer's rule), so with several replicas such a Warning may come once per replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from controller.ocpp.central import CentralSystem, Observer
from controller.sources.kubernetes.status import ObjectRef, StatusSink
from controller.store.coordination import coordination_of, liveness
from controller.values.commands import ChargerCommands
from controller.values.timestamps import iso_seconds

log = logging.getLogger("chargectl.kubernetes.commands")

PREFIX: Final = "chargectl.io/"
COMMANDS: Final = ("reset", "unlock", "trigger", "clear-cache")
"""The commands an annotation may ask, each as `chargectl.io/<command>`."""
ANNOTATIONS: Final = tuple(PREFIX + name for name in COMMANDS)

SENDING: Final = "Sending"
UNKNOWN: Final = "Unknown"
INVALID: Final = "Invalid"
RETRY_SECONDS: Final = 10.0
"""When the record could not be written before sending, how long until it is tried again."""


class BadAnnotation(ValueError):
    """An annotation's value that asks for no command: what is wrong, for the user."""


@dataclass(frozen=True, slots=True)
class Asked:
    """One command an annotation asks: the body `web.commands.parse_command` reads, and the
    timestamp that makes it a new request."""

    command: str
    body: Mapping[str, Any]
    at: datetime


def parse(command: str, value: str) -> Asked:
    """The command `chargectl.io/<command>: <value>` asks (see the module for the syntax).
    Only the syntax is checked here; the values' rules are the command channel's."""
    argument, at, stamp = value.strip().rpartition("@")
    if not at:
        argument, stamp = (stamp, "") if command != "clear-cache" else ("", stamp)
    if not stamp:
        raise BadAnnotation(f"{value!r} has no @<timestamp> (e.g. {_example(command)})")
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        raise BadAnnotation(
            f"{stamp!r} is not an RFC 3339 timestamp (e.g. {_example(command)})"
        ) from None
    if when.tzinfo is None:
        raise BadAnnotation(f"{stamp!r} has no time zone: end it with Z or an offset")
    body: dict[str, Any] = {"command": command}
    if command == "reset":
        if argument not in ("hard", "soft"):
            raise BadAnnotation(f"reset takes hard or soft, not {argument!r}")
        body["hard"] = argument == "hard"
    elif command == "unlock":
        body["connector"] = _number(argument, "unlock takes the connector to unlock")
    elif command == "trigger":
        message, _, connector = argument.partition(":")
        if not message:
            raise BadAnnotation("trigger takes a message (e.g. StatusNotification or "
                                "StatusNotification:1)")  # fmt: skip
        body["message"] = message
        if connector:
            body["connector"] = _number(connector, "trigger's connector is a number")
    elif command == "clear-cache":
        if argument:
            raise BadAnnotation(f"clear-cache takes no argument, not {argument!r}")
    else:
        raise BadAnnotation(f"no command {command!r}: one of {', '.join(COMMANDS)}")
    return Asked(command, body, when.astimezone(UTC))


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise BadAnnotation(f"{what}, not {text!r}")
    return int(text)


def _example(command: str) -> str:
    argument = {"reset": "hard", "unlock": "1", "trigger": "StatusNotification"}.get(command, "")
    return f"{argument}@2026-12-07T10:00:00Z"


# --- what the runtime hands in -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of a command sent: the charger's answer or the failure, in one word."""

    ok: bool
    outcome: str


class CommandChannel(Protocol):
    """The imperative commands' one path (`controller.web.commands`, from the runtime)."""

    def describe(self, body: Mapping[str, Any]) -> str:
        """The command in words (`hard reset`); `ValueError` saying why when it is none."""
        ...

    async def send(
        self, identity: str, charger: ChargerCommands, body: Mapping[str, Any], requester: str
    ) -> Answer:
        """Send it to the charger connected here and record it as an event of the charger."""
        ...


class ChargerObjects(Protocol):
    """What the source's watch knows of the Charger objects."""

    def objects(self) -> Iterable[ObjectRef]: ...

    def annotations_of(self, kind: str, namespace: str, name: str) -> Mapping[str, str]: ...

    def modifier_of(self, kind: str, namespace: str, name: str) -> str | None: ...

    def status_of(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None: ...


def last_modifier(raw: Mapping[str, Any]) -> str | None:
    """The field manager that changed the object last, but for us (`managedFields`; a real
    API server keeps them, kmock does not)."""
    entries = (raw.get("metadata") or {}).get("managedFields") or []
    others = [e for e in entries if isinstance(e, Mapping) and e.get("manager") not in
              (None, "chargectl") and e.get("subresource") != "status"]  # fmt: skip
    if not others:
        return None
    return str(max(others, key=lambda e: str(e.get("time") or "")).get("manager"))


# --- running them ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class AnnotationCommands(Observer):
    """Runs the commands Charger annotations ask, once, on the process holding the charger."""

    def __init__(
        self,
        central: CentralSystem,
        sink: StatusSink,
        view: ChargerObjects,
        channel: CommandChannel,
        *,
        default_namespace: str = "default",
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.central = central
        self.sink = sink
        self.view = view
        self.channel = channel
        self.default_namespace = default_namespace
        self._clock = clock
        self._acted: dict[tuple[ObjectRef, str], str] = {}
        """The value this process last recorded per object and command (the watch lags)."""
        self._busy: set[tuple[ObjectRef, str]] = set()
        self._locks: dict[ObjectRef, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.done = asyncio.Condition()
        """Notified after each command is recorded (tests wait on it)."""
        self.recorded = 0
        central.observers.append(self)

    # --- being told ------------------------------------------------------------------------

    def consider_all(self) -> None:
        for ref in self.view.objects():
            if ref.kind == "Charger":
                self.consider(ref)

    def consider(self, ref: ObjectRef) -> None:
        """The Charger's annotations or status may have changed: start what is due. Never
        blocks and never sends inline."""
        annotations = self.view.annotations_of(*ref)
        for command in COMMANDS:
            value = annotations.get(PREFIX + command)
            if value is None or (ref, command) in self._busy:
                continue
            recorded = self._recorded(ref, command)
            if recorded is not None and recorded.get("value") == value:
                if recorded.get("outcome") != SENDING or self._acted.get((ref, command)) == value:
                    continue
            elif self._acted.get((ref, command)) == value:
                continue
            self._start(ref, command, value)

    def forget(self, ref: ObjectRef) -> None:
        for command in COMMANDS:
            self._acted.pop((ref, command), None)
        self._locks.pop(ref, None)

    async def charger_connected(self, identity: str, commands: ChargerCommands) -> None:
        """A charger's commands that waited for it run now. Its own object is looked up by
        identity: a scan of every object per connection made 10,000 connections O(N²)."""
        loaded = self.central.fleet.charger_by_identity(identity)
        if loaded is None:
            return
        namespace = loaded.resource.metadata.namespace or self.default_namespace
        self.consider(ObjectRef("Charger", namespace, loaded.resource.metadata.name))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- acting -------------------------------------------------------------------------------

    def _recorded(self, ref: ObjectRef, command: str) -> Mapping[str, Any] | None:
        status = self.view.status_of(*ref) or {}
        commands = status.get("commands")
        found = commands.get(command) if isinstance(commands, Mapping) else None
        return found if isinstance(found, Mapping) else None

    def _charger(self, ref: ObjectRef) -> str | None:
        """The identity of the charger the object declares, if the fleet in force has it."""
        if ref.kind != "Charger":
            return None
        loaded = self.central.fleet.chargers.get(ref.name)
        if loaded is None:
            return None
        namespace = loaded.resource.metadata.namespace or self.default_namespace
        return loaded.resource.identity if namespace == ref.namespace else None

    def _live(self, identity: str) -> tuple[str, ChargerCommands] | None:
        connections = self.central.connections
        if identity in connections:
            return identity, connections[identity]
        lowered = identity.lower()
        return next(((i, c) for i, c in connections.items() if i.lower() == lowered), None)

    def _start(self, ref: ObjectRef, command: str, value: str) -> None:
        key = (ref, command)
        self._busy.add(key)
        task = asyncio.create_task(self._run(ref, command, value), name=f"{ref.name} {command}")
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._busy.discard(key)
            if not done.cancelled() and done.exception() is not None:
                log.error("annotation command %s on %s failed", command, ref,
                          exc_info=done.exception())  # fmt: skip

        task.add_done_callback(finished)

    async def _run(self, ref: ObjectRef, command: str, value: str) -> None:
        lock = self._locks.setdefault(ref, asyncio.Lock())
        async with lock:  # one command at a time per charger
            annotation = PREFIX + command
            identity = self._charger(ref)
            live = self._live(identity) if identity is not None else None
            recorded = self._recorded(ref, command)
            if recorded is not None and recorded.get("value") == value:
                # What a process that stopped mid-command left: never sent again.
                if live is not None and recorded.get("outcome") == SENDING:
                    message = "the operator stopped before the charger answered; not sent again"
                    await self._record(ref, command, value, UNKNOWN, message)
                return
            try:
                asked = parse(command, value)
                described = self.channel.describe(asked.body)
            except ValueError as error:
                if live is None and not await self._connected_nowhere(identity):
                    return  # the replica holding it reports it
                message = f"{annotation}: {error}"
                if await self._record(ref, command, value, INVALID, message):
                    await self._event(ref, "Warning", "InvalidCommand", message)
                return
            if live is None:
                log.debug("%s on %s waits until the charger connects here", annotation, ref)
                return
            connected, charger = live
            requester = self._requester(ref, annotation)
            asking = f"{described} asked by {requester}"
            if not await self._record(ref, command, value, SENDING, asking):
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self.consider, ref)
                return
            try:
                answer = await self.channel.send(connected, charger, asked.body, requester)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("%s on %s: not sent", annotation, ref)
                answer = Answer(False, type(error).__name__)
            await self._record(ref, command, value, answer.outcome, asking)
            kind, reason = ("Normal", "CommandSent") if answer.ok else ("Warning", "CommandFailed")
            await self._event(ref, kind, reason, f"{asking} ({annotation}: {value}): "
                              f"{answer.outcome}")  # fmt: skip

    async def _connected_nowhere(self, identity: str | None) -> bool:
        if identity is None:
            return True
        record = await self.central.store.charger(identity)
        if record is None or not record.connected:
            return True
        live = await liveness(coordination_of(self.central))
        return not live.record(record).connected  # a replica that died is not connected

    def _requester(self, ref: ObjectRef, annotation: str) -> str:
        """`annotation:chargectl.io/reset`, and who last changed the object if it says."""
        modifier = self.view.modifier_of(*ref)
        asked = f"annotation:{annotation}"
        return f"{asked} (last modified by {modifier})" if modifier else asked

    async def _record(
        self, ref: ObjectRef, command: str, value: str, outcome: str, message: str
    ) -> bool:
        """Write the record to the object's status; whether it was written."""
        record = {"value": value, "outcome": outcome, "at": iso_seconds(self._clock()),
                  "message": message}  # fmt: skip
        try:
            await self.sink.patch_status(*ref, {"commands": {command: record}})
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("%s on %s: the record was not written (%s)", command, ref, error)
            return False
        self._acted[(ref, command)] = value
        self.recorded += 1
        async with self.done:
            self.done.notify_all()
        return True

    async def _event(self, ref: ObjectRef, type: str, reason: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await self.sink.event(*ref, type, reason, message)
