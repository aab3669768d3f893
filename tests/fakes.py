"""The one home of the fakes tests share: a charger, a store and a central system.

Each fake stands in for one I/O boundary (DESIGN: one interface per boundary) so a step or a
mapping can be tested without sockets or a database. They record what they are asked, so a
test can say exactly what went over the wire, and their answers are configurable, so a test
can play a charger that refuses, fails or never answers.

Sections, one per boundary; append a new section (or extend one) rather than copying a fake
into a test file:

- chargers: `FakeCharger`, implementing `controller.values.commands.ChargerCommands`
- store: `FakeStore`, the part of `controller.store.base.Store` the steps use
- central system: `FakeCentral`, the part of `controller.ocpp.central.CentralSystem` they use
- OCPP endpoint: `MemoryTransport` (an in-memory `Transport` under a real `Session`),
  `MessageLog`, `ScriptedSession` (a session for one version's handlers and commands),
  `EndpointCentral` with `CardFleet` and `ReportStore` (the central system as those use it),
  and `VirtualTimeLoop` / `run_in_virtual_time` (timeouts that pass at once)
- reconciler: `PassStore` (a `FakeStore` that also keeps what a whole pass writes: reported
  configuration, records, conditions), `FakeReporter` (the reconciler's `Reporter`, with a
  queue of outcomes to wait on) and `ScriptedStep` (a step that answers what a test says)
"""

from __future__ import annotations

import asyncio
import json
import selectors
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from controller.converge.base import PassContext, Step, StepResult
from controller.fleet.authorization import AuthDecision, AuthStatus
from controller.ocpp import schemas
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Handler
from controller.ocpp.transport import TransportClosed
from controller.values.commands import (
    BootReply,
    BootStatus,
    CallFailed,
    ChargingLimit,
    CompositeSchedule,
    ConfigStatus,
    ConfigurationReport,
    DataTransferResult,
    LimitPeriod,
    LimitPurpose,
    LocalListEntry,
    Status,
    TriggerKind,
)
from controller.values.records import (
    BootInfo,
    ChargerCondition,
    ChargerRecord,
    ConnectorStatus,
    Event,
    KeyStatus,
    LogEntry,
    MeterSample,
    ReportedKey,
    Transaction,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)

T = TypeVar("T")

# --- chargers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One command a fake charger was sent: its OCPP action name and its arguments by name."""

    identity: str
    action: str
    arguments: dict[str, Any]


Responder = Callable[[Call], Any]
"""An answer to a call instead of the fake's own; None lets the fake answer. It may raise, as
the reconciler's call does when a connection is lost or a charger does not answer."""


def always(answer: Any) -> Responder:
    """Answer every call with `answer`."""
    return lambda call: answer


def in_turn(*answers: Any) -> Responder:
    """Answer the next calls with `answers`, one each, then let the fake answer again."""
    pending = list(answers)
    return lambda call: pending.pop(0) if pending else None


def raising(error: BaseException) -> Responder:
    """Raise `error` at every call, as a lost connection does."""

    def respond(call: Call) -> Any:
        raise error

    return respond


@dataclass
class Gate:
    """Holds a call until the test opens it: `reached` is set when the call arrives."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    open: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self) -> None:
        self.reached.set()
        await self.open.wait()


def flat(amperes: float) -> CompositeSchedule:
    """A composite schedule of one limit from now on."""
    return CompositeSchedule(Status.ACCEPTED, (LimitPeriod(0, amperes),))


@dataclass
class FakeCharger:
    """A charger as the steps see it (`ChargerCommands`), whatever its OCPP version.

    Every command goes to `calls`, and to `log` too when one is given: pass one list to several
    fakes to see the order across chargers. Then, if `gates` holds one for the action, the
    answer waits for the test to open it. Then a `respond[action]` may answer instead (see
    `Responder`: `always`, `in_turn`, `raising`); otherwise the fake answers as a charger that
    keeps what it is sent:

    - configuration: `configuration` is what GetConfiguration reports (names matched without
      case); ChangeConfiguration sets it.
    - charging profiles: an accepted profile is in force unless `applies` is off (a charger
      that says Accepted and ignores it); GetCompositeSchedule answers the lowest of the
      station maximum, the connector's Tx profile (or else its TxDefault) and `connector_max`.
    - local list: `list_version` and `list_entries` (by id tag, without case) are the list it
      holds; a Differential update must raise the version (else VersionMismatch) and a message
      longer than `per_message` fails.
    - everything else is Accepted.
    """

    identity: str = "CP-1"
    log: list[Call] | None = None
    calls: list[Call] = field(default_factory=list)
    respond: dict[str, Responder] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    configuration: dict[str, str] = field(default_factory=dict)
    applies: bool = True
    connector_max: float = 32.0
    installed: dict[int, ChargingLimit] = field(default_factory=dict)
    list_version: int = 0
    list_entries: dict[str, LocalListEntry] = field(default_factory=dict)
    per_message: int | None = None

    # the record

    async def _call(self, action: str, **arguments: Any) -> Any:
        """Record the call, wait at its gate, and return the responder's answer (or None)."""
        call = Call(self.identity, action, arguments)
        self.calls.append(call)
        if self.log is not None:
            self.log.append(call)
        gate = self.gates.get(action)
        if gate is not None:
            await gate.wait()
        respond = self.respond.get(action)
        return None if respond is None else respond(call)

    def actions(self) -> list[str]:
        """The actions of the calls so far, in order."""
        return [call.action for call in self.calls]

    def arguments(self, action: str) -> list[dict[str, Any]]:
        """The arguments of each call of `action` so far, in order."""
        return [call.arguments for call in self.calls if call.action == action]

    # configuration

    async def get_configuration(self, keys: Sequence[str] = ()) -> ConfigurationReport | CallFailed:
        answer = await self._call("GetConfiguration", keys=tuple(keys))
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        known = {k.casefold(): (k, v) for k, v in self.configuration.items()}
        if not keys:
            return ConfigurationReport(tuple(ReportedKey(k, v) for k, v in known.values()))
        values = tuple(
            ReportedKey(key, known[key.casefold()][1]) for key in keys if key.casefold() in known
        )
        return ConfigurationReport(values, tuple(k for k in keys if k.casefold() not in known))

    async def change_configuration(self, key: str, value: str) -> ConfigStatus | CallFailed:
        answer = await self._call("ChangeConfiguration", key=key, value=value)
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        self.configuration[key] = value
        return ConfigStatus.ACCEPTED

    # charging profiles

    async def set_charging_profile(self, limit: ChargingLimit) -> Status | CallFailed:
        answer = await self._call("SetChargingProfile", limit=limit)
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        if self.applies:
            self.installed[limit.profile_id] = limit
        return Status.ACCEPTED

    async def clear_charging_profile(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: LimitPurpose | None = None,
    ) -> Status | CallFailed:
        answer = await self._call(
            "ClearChargingProfile", profile_id=profile_id, connector=connector, purpose=purpose
        )
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        self.installed.pop(profile_id or 0, None)
        return Status.ACCEPTED

    async def get_composite_schedule(
        self, connector: int, duration: int
    ) -> CompositeSchedule | CallFailed:
        answer = await self._call("GetCompositeSchedule", connector=connector, duration=duration)
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        return flat(self.in_force(connector))

    def in_force(self, connector: int) -> float:
        """The limit the charger computes for `connector` (0: the whole charger)."""

        def limits(purpose: LimitPurpose, where: int) -> list[float]:
            return [
                limit.periods[0].amperes
                for limit in self.installed.values()
                if limit.purpose is purpose and limit.connector == where
            ]

        found = [self.connector_max, *limits(LimitPurpose.STATION_MAX, 0)]
        if connector:
            found += limits(LimitPurpose.TX, connector) or limits(
                LimitPurpose.TX_DEFAULT, connector
            )
        return min(found)

    def transaction_ended(self) -> None:
        """A transaction ended: its Tx profiles go with it, as OCPP says."""
        for pid, limit in list(self.installed.items()):
            if limit.purpose is LimitPurpose.TX:
                del self.installed[pid]

    # local list

    async def get_local_list_version(self) -> int | CallFailed:
        answer = await self._call("GetLocalListVersion")
        return self.list_version if answer is None else answer

    async def send_local_list(
        self, version: int, entries: Sequence[LocalListEntry], full: bool
    ) -> Status | CallFailed:
        answer = await self._call(
            "SendLocalList", version=version, entries=tuple(entries), full=full
        )
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        if self.per_message is not None and len(entries) > self.per_message:
            return Status.FAILED
        if not full and version <= self.list_version:
            return Status.VERSION_MISMATCH
        current = {} if full else dict(self.list_entries)
        for item in entries:
            if item.status is None:
                current.pop(item.id_tag.casefold(), None)
            else:
                current[item.id_tag.casefold()] = item
        self.list_entries, self.list_version = current, version
        return Status.ACCEPTED

    # everything else: recorded, Accepted unless answered otherwise

    async def _accepted(self, action: str, **arguments: Any) -> Any:
        answer = await self._call(action, **arguments)
        return Status.ACCEPTED if answer is None else answer

    async def reset(self, hard: bool) -> Status | CallFailed:
        return await self._accepted("Reset", hard=hard)  # type: ignore[no-any-return]

    async def change_availability(self, connector: int, operative: bool) -> Status | CallFailed:
        return await self._accepted(  # type: ignore[no-any-return]
            "ChangeAvailability", connector=connector, operative=operative
        )

    async def update_firmware(
        self, url: str, retrieve_at: datetime, request_id: int = 1
    ) -> Status | CallFailed:
        return await self._accepted(  # type: ignore[no-any-return]
            "UpdateFirmware", url=url, retrieve_at=retrieve_at, request_id=request_id
        )

    async def trigger_message(
        self, message: TriggerKind, connector: int | None = None
    ) -> Status | CallFailed:
        return await self._accepted(  # type: ignore[no-any-return]
            "TriggerMessage", message=message, connector=connector
        )

    async def remote_start(self, id_tag: str, connector: int | None = None) -> Status | CallFailed:
        return await self._accepted(  # type: ignore[no-any-return]
            "RemoteStartTransaction", id_tag=id_tag, connector=connector
        )

    async def remote_stop(self, transaction_id: str) -> Status | CallFailed:
        return await self._accepted(  # type: ignore[no-any-return]
            "RemoteStopTransaction", transaction_id=transaction_id
        )

    async def unlock_connector(self, connector: int) -> Status | CallFailed:
        return await self._accepted("UnlockConnector", connector=connector)  # type: ignore[no-any-return]

    async def clear_cache(self) -> Status | CallFailed:
        return await self._accepted("ClearCache")  # type: ignore[no-any-return]

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult | CallFailed:
        answer = await self._call(
            "DataTransfer", vendor_id=vendor_id, message_id=message_id, data=data
        )
        return DataTransferResult(Status.ACCEPTED) if answer is None else answer


# --- store ---------------------------------------------------------------------------------------

TRANSACTIONS_START = datetime(2024, 6, 8, 12, 0, tzinfo=UTC)


@dataclass
class FakeStore:
    """What the steps read and write of the store: open transactions, events, key statuses.

    Writes are immediate, so `flush` has nothing to do. `start` and `stop` play a charger's
    transactions; the n-th one started starts n minutes after `started`.
    """

    open: dict[str, list[Transaction]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    rows: dict[tuple[str, str], KeyStatus] = field(default_factory=dict)
    """Key statuses by (identity, key)."""
    started: datetime = TRANSACTIONS_START
    next_id: int = 1

    async def open_transactions(self, identity: str) -> list[Transaction]:
        return list(self.open.get(identity, []))

    async def add_event(self, event: Event) -> None:
        self.events.append(event)

    async def key_statuses(self, identity: str | None = None) -> list[KeyStatus]:
        return [s for (i, _), s in sorted(self.rows.items()) if identity in (None, i)]

    async def record_key_statuses(self, statuses: Sequence[KeyStatus]) -> None:
        for status in statuses:
            self.rows[(status.identity, status.key)] = status

    async def forget_key_statuses(self, identity: str, keys: Collection[str]) -> None:
        for key in keys:
            self.rows.pop((identity, key), None)

    async def flush(self) -> None:
        return None

    def start(self, identity: str, connector: int = 1) -> Transaction:
        transaction = Transaction(
            self.next_id, identity, connector, self.started + timedelta(minutes=self.next_id), 0
        )
        self.next_id += 1
        self.open.setdefault(identity, []).append(transaction)
        return transaction

    def stop(self, identity: str) -> Transaction:
        return self.open[identity].pop()


# --- central system ------------------------------------------------------------------------------


class FakeCentral:
    """The central system as a step uses it: a store, open transactions and events.

    Events go to `events` as (kind, message), not to the store.
    """

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.events: list[tuple[str, str]] = []

    async def open_transactions(self, identity: str) -> list[Transaction]:
        return await self.store.open_transactions(identity)

    async def event(
        self, identity: str | None, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        self.events.append((kind, message))


# --- OCPP endpoint -------------------------------------------------------------------------------
#
# For the OCPP layer's own tests (tests/unit/ocpp): an in-memory transport for a real `Session`,
# a scripted session for a version's handlers and commands, the central system and store as
# those see them, and an event loop whose clock jumps, for timeouts without waiting.

CARD_EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)
"""When the endpoint central's accepted card (`card-1`) expires."""


class MemoryTransport:
    """`controller.ocpp.transport.Transport` in memory; the test plays the charger's end.

    `deliver()` is a frame from the charger, `next_frame()` the next one the session sent
    (parsed), `disconnect()` the charger going away.
    """

    def __init__(
        self, subprotocol: str | None = "ocpp1.6", remote_address: str | None = "192.0.2.7:5000"
    ) -> None:
        self.subprotocol = subprotocol
        self.remote_address = remote_address
        self.close_code: int | None = None
        self.close_reason = ""
        self.sent: list[str] = []
        self._incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()

    # the session's end

    async def send(self, text: str) -> None:
        if self.close_code is not None:
            raise TransportClosed(f"closed ({self.close_code})")
        self.sent.append(text)
        self._outgoing.put_nowait(text)

    async def recv(self) -> str | bytes:
        frame = await self._incoming.get()
        if frame is None:
            self._incoming.put_nowait(None)  # every later recv() sees the close too
            raise TransportClosed(f"closed ({self.close_code})")
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.disconnect(code, reason)

    # the charger's end

    def deliver(self, frame: str | bytes | list[Any]) -> None:
        """A frame from the charger: text as is, or a list serialised as JSON."""
        self._incoming.put_nowait(json.dumps(frame) if isinstance(frame, list) else frame)

    async def next_frame(self, timeout: float = 5.0) -> list[Any]:
        """The next frame the session sent, parsed; fails after `timeout` if none comes."""
        async with asyncio.timeout(timeout):
            text = await self._outgoing.get()
        frame: list[Any] = json.loads(text)
        return frame

    def unread(self) -> int:
        """Frames sent and not yet taken by `next_frame()`."""
        return self._outgoing.qsize()

    def disconnect(self, code: int = 1006, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._incoming.put_nowait(None)


class MessageLog:
    """The session's frame log (`session.FrameLog`): every frame, both directions."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    async def log_message(self, entry: LogEntry) -> None:
        self.entries.append(entry)


ScriptedReply = dict[str, Any] | CallFailed | Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A scripted answer to one CALL: a payload, a failure, or a coroutine building the payload."""


class ScriptedSession:
    """A version's handlers and commands see this instead of a `Session`.

    Records every CALL sent (each checked against its request schema) and answers from a
    script (each payload checked against the response schema); `handle()` feeds a charger's
    CALL through the handlers the way the session does.
    """

    def __init__(
        self, version: RpcVersion, identity: str = "CP-1", call_timeout: float = 1.0
    ) -> None:
        self.rpc = version
        self.identity = identity
        self.handlers: Mapping[str, Handler] = {}
        self.call_timeout = call_timeout
        self.closed = asyncio.Event()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.replies: dict[str, list[ScriptedReply]] = {}
        self.called = asyncio.Event()

    def validate_request(self, action: str, payload: dict[str, Any]) -> None:
        schemas.validate(self.rpc, action, payload, "1", response=False)

    def validate_response(self, action: str, payload: dict[str, Any]) -> None:
        schemas.validate(self.rpc, action, payload, "1", response=True)

    def script(self, action: str, *replies: ScriptedReply) -> None:
        self.replies.setdefault(action, []).extend(replies)

    def payloads(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.requests if name == action]

    async def call(
        self, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any] | CallFailed:
        self.validate_request(action, payload)
        self.requests.append((action, payload))
        self.called.set()
        queue = self.replies.get(action)
        assert queue, f"no reply scripted for {action}"
        reply = queue.pop(0)
        if isinstance(reply, CallFailed):
            return reply
        answer = reply if isinstance(reply, dict) else await reply(payload)
        self.validate_response(action, answer)
        return answer

    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The session's path for a charger's CALL: request schema, handler, response schema."""
        self.validate_request(action, payload)
        reply = await self.handlers[action](payload)
        self.validate_response(action, reply)
        return reply


@dataclass
class CardFleet:
    """The fleet as commands see it: which id tags are cards."""

    cards: set[str]

    def card_by_id_tag(self, id_tag: str) -> object | None:
        return id_tag if id_tag.lower() in self.cards else None


@dataclass
class ReportStore:
    """The store as handlers write it directly: complete configuration reports."""

    configurations: list[tuple[str, tuple[ReportedKey, ...]]] = field(default_factory=list)

    async def record_configuration(
        self, identity: str, values: Any, at: datetime, *, partial: bool = False
    ) -> None:
        assert not partial
        self.configurations.append((identity, tuple(values)))


class EndpointCentral:
    """The central system as a version's handlers and commands use it; records every call.

    Transactions are kept as the store keeps them: with `station_ids` (OCPP 2.0.1) by the
    station's transaction id, which every start, update and stop must name (a start with a
    known one returns the stored transaction, an update of an unknown one returns None);
    without (OCPP 1.6) by chargectl's id, which the charger is given at the start.
    Id tag `card-1` is accepted (expiring `CARD_EXPIRES`, group `TEAM-A`), `blocked` is
    blocked, any other is invalid.
    """

    def __init__(self, *, station_ids: bool = True) -> None:
        self.station_ids = station_ids
        self.calls: list[tuple[str, Any]] = []
        self.transactions: dict[str, Transaction] = {}
        self.fleet = CardFleet({"card-1", "04a1b2c3"})
        self.store = ReportStore()
        self.boot_reply = BootReply(BootStatus.ACCEPTED, 120)

    def called(self, name: str) -> list[Any]:
        return [arg for call, arg in self.calls if call == name]

    def _key(self, charger_transaction_id: str | None, transaction_id: int | None) -> str:
        if self.station_ids:
            assert charger_transaction_id is not None
            return charger_transaction_id
        assert charger_transaction_id is None and transaction_id is not None
        return str(transaction_id)

    async def boot(self, identity: str, boot: BootInfo) -> BootReply:
        self.calls.append(("boot", boot))
        return self.boot_reply

    async def heartbeat(self, identity: str) -> datetime:
        self.calls.append(("heartbeat", identity))
        return datetime(2026, 11, 25, 10, tzinfo=UTC)

    async def status(self, status: ConnectorStatus) -> None:
        self.calls.append(("status", status))

    def authorize(self, identity: str, id_tag: str) -> AuthDecision:
        self.calls.append(("authorize", id_tag))
        if id_tag.lower() == "card-1":
            return AuthDecision(AuthStatus.ACCEPTED, "accepted", "card-1", CARD_EXPIRES, "TEAM-A")
        if id_tag.lower() == "blocked":
            return AuthDecision(AuthStatus.BLOCKED, "blocked", "blocked")
        return AuthDecision(AuthStatus.INVALID, "no card has this id tag")

    async def start_transaction(self, start: TransactionStart) -> Transaction:
        self.calls.append(("start", start))
        if self.station_ids:
            assert start.charger_transaction_id is not None
            existing = self.transactions.get(start.charger_transaction_id)
            if existing is not None:
                return existing
        else:
            assert start.charger_transaction_id is None
        transaction = Transaction(
            id=len(self.transactions) + 100,
            identity=start.identity,
            connector_id=start.connector_id,
            started_at=start.started_at,
            meter_start_wh=start.meter_start_wh,
            id_tag=start.id_tag,
            charger_transaction_id=start.charger_transaction_id,
            meter_last_wh=start.meter_start_wh,
        )
        self.transactions[self._key(start.charger_transaction_id, transaction.id)] = transaction
        return transaction

    async def update_transaction(self, update: TransactionUpdate) -> Transaction | None:
        self.calls.append(("update", update))
        key = self._key(update.charger_transaction_id, update.transaction_id)
        row = self.transactions.get(key)
        if row is None or row.stopped_at is not None:
            return row
        changed = replace(
            row,
            updated_at=update.at,
            id_tag=update.id_tag if update.id_tag is not None else row.id_tag,
            connector_id=update.connector_id
            if update.connector_id is not None
            else row.connector_id,
            meter_last_wh=update.meter_wh if update.meter_wh is not None else row.meter_last_wh,
            meter_start_wh=row.meter_start_wh
            if row.meter_start_wh is not None
            else update.meter_wh,
        )
        self.transactions[key] = changed
        return changed

    async def stop_transaction(self, stop: TransactionStop) -> Transaction | None:
        self.calls.append(("stop", stop))
        key = self._key(stop.charger_transaction_id, stop.transaction_id)
        row = self.transactions.get(key)
        if row is None or row.stopped_at is not None:
            return row
        meter_stop = stop.meter_stop_wh if stop.meter_stop_wh is not None else row.meter_last_wh
        stopped = replace(
            row,
            stopped_at=stop.stopped_at,
            meter_stop_wh=meter_stop,
            stop_reason=stop.reason,
            stop_id_tag=stop.id_tag,
        )
        self.transactions[key] = stopped
        return stopped

    async def open_transactions(self, identity: str) -> list[Transaction]:
        return [t for t in self.transactions.values() if t.is_open]

    async def meter_values(self, samples: list[MeterSample]) -> None:
        self.calls.append(("meter_values", list(samples)))

    async def reported(self, identity: str, kind: str, message: str, data: dict[str, Any]) -> None:
        self.calls.append(("reported", (kind, message, data)))

    async def event(
        self, identity: str | None, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        self.calls.append(("event", (kind, message, data)))


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, moves the loop's clock to the next timer
    instead of waiting for it."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # no timer at all: only I/O can wake the loop
            return super().select(None)
        self._loop.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: time stands still while anything is runnable, and
    jumps to the next timer when everything waits. Timeouts of any length pass at once and
    in a fixed order, so a test says "30 s later" without waiting or racing."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def run_in_virtual_time(main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` to completion on a `VirtualTimeLoop` (from a plain, non-async test)."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(_as_coroutine(main))


async def _as_coroutine(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


async def advance(seconds: float) -> None:
    """On a `VirtualTimeLoop`: let `seconds` of virtual time pass (every timer due before then
    fires, in order), taking no real time."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop), "advance() is for virtual time"
    reached: asyncio.Future[None] = loop.create_future()
    loop.call_later(seconds, reached.set_result, None)
    await reached


# --- reconciler ----------------------------------------------------------------------------------


@dataclass
class PassStore(FakeStore):
    """A `FakeStore` that also keeps what a reconcile pass writes and reads: the reported
    configuration (by identity and key), the chargers' records, their conditions."""

    reported: dict[str, dict[str, ReportedKey]] = field(default_factory=dict)
    records: dict[str, ChargerRecord] = field(default_factory=dict)
    """What `chargers` answers, by identity (a bare record for others)."""
    recorded_conditions: dict[tuple[str, str], ChargerCondition] = field(default_factory=dict)

    async def record_configuration(
        self,
        identity: str,
        values: Sequence[ReportedKey],
        at: datetime,
        *,
        partial: bool = False,
    ) -> None:
        current = self.reported.setdefault(identity, {})
        if not partial:
            current.clear()
        current.update({value.key: value for value in values})

    async def chargers(
        self, *, identities: Collection[str] | None = None, configuration: bool = False
    ) -> list[ChargerRecord]:
        wanted = self.records if identities is None else identities
        return [self.records.get(i, ChargerRecord(identity=i, pending=False)) for i in wanted]

    async def record_conditions(self, conditions: Sequence[ChargerCondition]) -> None:
        for condition in conditions:
            self.recorded_conditions[(condition.identity, condition.type)] = condition

    async def conditions(
        self, identity: str | None = None, *, identities: Collection[str] | None = None
    ) -> list[ChargerCondition]:
        return [
            c
            for (i, _), c in sorted(self.recorded_conditions.items())
            if identity in (None, i) and (identities is None or i in identities)
        ]

    def condition(self, identity: str, kind: str = "Synced") -> ChargerCondition:
        """The charger's condition of this type (it must have been recorded)."""
        return self.recorded_conditions[(identity, kind)]


class FakeReporter:
    """The reconciler's `Reporter`: every outcome goes to `outcomes` and to a queue that
    `outcome()` waits on, so a test waits for passes to end rather than for time to pass."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []
        self.drifts: list[int] = []
        self._ended: asyncio.Queue[str] = asyncio.Queue()

    def reconcile(self, outcome: str, seconds: float) -> None:
        self.outcomes.append(outcome)
        self._ended.put_nowait(outcome)

    def drifted(self, keys: int) -> None:
        self.drifts.append(keys)

    async def outcome(self, timeout: float = 5.0) -> str:
        """The outcome of the next pass to end (of any charger)."""
        async with asyncio.timeout(timeout):
            return await self._ended.get()

    async def outcomes_of(self, passes: int, timeout: float = 5.0) -> list[str]:
        """The outcomes of the next `passes` passes to end."""
        return [await self.outcome(timeout) for _ in range(passes)]


class ScriptedStep(Step):
    """A step that answers `results` in turn (the last one again when they run out) and
    records each charger it ran on, in `ran`, `entered` (a queue to wait on) and `order`
    (shared by several steps to see the order they ran in). `gate`, when given, holds every
    run until the test opens it; `active` / `most_active` count the runs inside it at once."""

    def __init__(
        self,
        name: str,
        *results: StepResult | BaseException,
        order: list[str] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.name = name
        self.results = list(results) or [StepResult(True)]
        self.order = order if order is not None else []
        self.gate = gate
        self.ran: list[str] = []
        self.seen: list[PassContext] = []
        self.active = 0
        self.most_active = 0
        self.entered: asyncio.Queue[str] = asyncio.Queue()
        """Each charger the step starts running on, as it starts."""

    async def run(self, ctx: PassContext) -> StepResult:
        self.ran.append(ctx.identity)
        self.seen.append(ctx)
        self.entered.put_nowait(ctx.identity)
        self.order.append(self.name)
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.active -= 1
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result


# --- status writer -------------------------------------------------------------------------------
#
# For `controller.sources.kubernetes.status`: the API server as the status writer sees it, both
# its sink (status patches, Events) and its view of the objects (generations, the source's
# problems, the status each object shows), and a central system with an empty store, for tests
# of when the writer writes (on virtual time) rather than of what.

from collections.abc import Iterable  # noqa: E402

from controller.sources.kubernetes.status import ObjectRef  # noqa: E402


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch: objects merge, None removes, anything else replaces."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        elif isinstance(value, Mapping):
            result[key] = merge_patch({}, value)
        else:
            result[key] = json.loads(json.dumps(value))
    return result


class StatusApi:
    """Custom resources with a status subresource, as `StatusSink` and `ObjectView` both.

    Every object watched has a generation (`generations`), the problems the source found in it
    (`problems`) and the status it shows (`statuses`: patches merged in, as the API server does;
    `status_of` answers them at once, or nothing with `echo` off: a watch that has not caught up).
    Every patch and Event is kept in order; `fail` makes that many patches raise. `written` is
    set on every patch, for a test to wait on.
    """

    def __init__(self, refs: Iterable[ObjectRef] = ()) -> None:
        self.generations: dict[ObjectRef, int] = {ref: 1 for ref in refs}
        self.problems: dict[ObjectRef, list[str]] = {}
        self.statuses: dict[ObjectRef, dict[str, Any]] = {}
        self.patches: list[tuple[ObjectRef, dict[str, Any]]] = []
        self.events: list[tuple[ObjectRef, str, str, str]] = []
        self.echo = True
        self.fail = 0
        self.written = asyncio.Event()

    @classmethod
    def of_fleet(cls, fleet: Any, namespace: str = "default") -> StatusApi:
        """Every resource of a `Fleet`, at generation 1, in `namespace`."""
        return cls(
            ObjectRef(loaded.kind, loaded.resource.metadata.namespace or namespace, loaded.name)
            for loaded in fleet.all()
        )

    # StatusSink
    async def patch_status(
        self, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("the API server is away")
        ref = ObjectRef(kind, namespace, name)
        self.patches.append((ref, json.loads(json.dumps(status))))
        self.statuses[ref] = merge_patch(self.statuses.get(ref, {}), status)
        self.written.set()

    async def event(
        self, kind: str, namespace: str, name: str, type: str, reason: str, message: str
    ) -> None:
        self.events.append((ObjectRef(kind, namespace, name), type, reason, message))

    # ObjectView
    def objects(self) -> list[ObjectRef]:
        return sorted(self.generations)

    def generation_of(self, kind: str, namespace: str, name: str) -> int | None:
        return self.generations.get(ObjectRef(kind, namespace, name))

    def problems_of(self, kind: str, namespace: str, name: str) -> list[str]:
        return list(self.problems.get(ObjectRef(kind, namespace, name), []))

    def status_of(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if not self.echo:
            return None
        return self.statuses.get(ObjectRef(kind, namespace, name))

    # for tests
    def patches_of(self, ref: ObjectRef) -> list[dict[str, Any]]:
        return [patch for of, patch in self.patches if of == ref]

    def condition(self, ref: ObjectRef, type: str) -> dict[str, Any]:
        """The object's condition of this type, as it shows now."""
        found = [c for c in self.statuses[ref]["conditions"] if c["type"] == type]
        assert len(found) == 1, self.statuses[ref]
        return dict(found[0])


class EmptyStatusStore:
    """A store that has heard nothing from any charger: what the status writer reads of one."""

    async def chargers(
        self, *, identities: Collection[str] | None = None, configuration: bool = False
    ) -> list[ChargerRecord]:
        return []

    async def charger(self, identity: str) -> ChargerRecord | None:
        return None

    async def conditions(
        self, identity: str | None = None, *, identities: Collection[str] | None = None
    ) -> list[ChargerCondition]:
        return []

    async def key_statuses(self, identity: str | None = None) -> list[KeyStatus]:
        return []

    async def open_transactions(self, identity: str) -> list[Transaction]:
        return []


@dataclass
class StatusCentral:
    """The central system as the status writer reads it: the fleet, the store, who is here."""

    fleet: Any
    store: Any = field(default_factory=EmptyStatusStore)
    connections: dict[str, Any] = field(default_factory=dict)
    observers: list[Any] = field(default_factory=list)


from controller.store.coordination import Claim, Coordination, charger_key  # noqa: E402


class FakeLocks(Coordination):
    """Replicas' locks as a test sets them: `held` is the identities some replica holds (as
    `pg_locks` would say); `shared`, as on PostgreSQL."""

    shared = True

    def __init__(self, *held: str) -> None:
        self.held_identities: set[str] = set(held)
        self.reads = 0

    async def claim(self, identity: str, timeout: float = 5.0) -> Claim | None:
        self.held_identities.add(identity)
        return Claim(identity, charger_key(identity))

    async def held(self) -> frozenset[int] | None:
        self.reads += 1
        return frozenset(charger_key(identity) for identity in self.held_identities)
