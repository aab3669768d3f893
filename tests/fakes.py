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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.values.commands import (
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
from controller.values.errors import CallFailed
from controller.values.records import Event, KeyStatus, ReportedKey, Transaction

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
