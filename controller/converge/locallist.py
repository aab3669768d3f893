"""The local authorisation list: every charger holds the cards its location accepts.

I/O around a pure plan (`controller.planning.locallist`, where the list's content, its
versions, full or differential updates and lists sent in parts are explained): read the
charger's list version and its limits, send the updates the plan gives, record what the
charger holds after each one, and say how it went. What the charger can do is read from the
keys of its OCPP version's capabilities (`controller.resources.capabilities`).

When. Only chargers that manage a list: a declared `localAuthListEnabled: false` means the
list is not ours to keep, and the step does nothing. With nothing declared the list is sent:
it is harmless on a charger whose list is disabled, and in place the moment it is enabled.
A charger that cannot keep a list (GetLocalListVersion -1, a CALLERROR NotSupported or
NotImplemented, SendLocalList NotSupported, `local_list_available` false) is remembered as
such for its session, and synced: a reconnect, as after a firmware update, checks again.

Failures. VersionMismatch, Failed or another CALLERROR to a differential: a Full update once,
in the same pass. A refused Full update, a list longer than the charger keeps
(`local_list_capacity`), or an update accepted but not reported afterwards is terminal for that
version during the charger's session: shown in its Synced condition and not resent at every
resync; a fleet change (another version) or a reconnect tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.converge.base import UNSUPPORTED_CODES, PassContext, Step, StepResult
from controller.fleet.model import Fleet
from controller.planning.locallist import (
    LOCAL_LIST_KEY,
    DesiredList,
    Held,
    Limits,
    ListUpdate,
    Recorded,
    answer_text,
    apply_update,
    cards_text,
    decode_record,
    describe_updates,
    desired_list,
    encode_record,
    full_updates,
    local_list_enabled,
    missing_keys,
    next_expiry,
    plan_updates,
    read_limits,
)
from controller.resources.capabilities import capabilities
from controller.values.commands import (
    CallFailed,
    ConfigurationReport,
    FailureKind,
    LocalListEntry,
    Status,
)
from controller.values.records import KeyState, KeyStatus


@dataclass
class _Session:
    """What the step knows of one connected charger; dropped when it disconnects."""

    loaded: bool = False
    held: Held | None = None
    saved: tuple[KeyState, int, int | None] | None = None
    """(state, target, held version) as last stored: unchanged ones are not written again."""
    limits: Limits | None = None
    unsupported: str | None = None
    refused: tuple[int, str] | None = None
    """(desired version, why): not sent again during the session."""


@dataclass(frozen=True, slots=True)
class _Cached:
    fleet: Fleet
    until: datetime | None
    """When the next card expires: the list changes then, with the same fleet."""
    value: DesiredList

    def serves(self, fleet: Fleet, now: datetime) -> bool:
        return fleet is self.fleet and (self.until is None or now < self.until)


@dataclass(frozen=True, slots=True)
class _Sent:
    """How a run of updates ended: all accepted, or the first answer that was not Accepted."""

    answer: Status | CallFailed

    @property
    def accepted(self) -> bool:
        return self.answer is Status.ACCEPTED


def _now() -> datetime:
    return datetime.now(UTC)


class LocalListStep(Step):
    """Converges each charger's local authorisation list; see the module docstring.

    `clock` says what "now" is, for which cards have expired.
    """

    name = LOCAL_LIST_KEY

    def __init__(self, *, clock: Callable[[], datetime] = _now) -> None:
        self.clock = clock
        self._sessions: dict[str, _Session] = {}
        self._desired: dict[str, _Cached] = {}

    def forget(self, identity: str) -> None:
        self._sessions.pop(identity, None)

    def desired(self, fleet: Fleet, location: str) -> DesiredList:
        """The list for chargers at `location`, computed once per fleet, until a card expires."""
        now = self.clock()
        cached = self._desired.get(location)
        if cached is not None and cached.serves(fleet, now):
            return cached.value
        cards = [loaded.resource for loaded in fleet.cards_accepted_at(location)]
        value = desired_list(cards, now)
        self._desired[location] = _Cached(fleet, next_expiry(cards, now), value)
        return value

    async def run(self, ctx: PassContext) -> StepResult:
        if not local_list_enabled(ctx.desired):
            return StepResult(synced=True)
        session = self._sessions.setdefault(ctx.identity, _Session())
        if session.unsupported is not None:
            return StepResult(synced=True, message=session.unsupported)
        desired = self.desired(ctx.fleet, ctx.desired.location)

        version: int | CallFailed = await ctx.call(ctx.commands.get_local_list_version())
        if isinstance(version, CallFailed):
            if version.code in UNSUPPORTED_CODES:
                why = f"GetLocalListVersion: CALLERROR {version.code}"
                return await self._unsupported(ctx, session, desired, why)
            return StepResult(synced=False, message=f"local list: {version}")
        if version == -1:
            return await self._unsupported(ctx, session, desired, "it reports list version -1")
        await self._load(ctx, session)
        if desired.held_at(version):
            session.held = Held(version, desired.entries)
            await self._save(ctx, session, KeyState.APPLIED, desired, "in sync")
            return StepResult(synced=True)
        if session.refused is not None and session.refused[0] == desired.version:
            return StepResult(synced=False, message=session.refused[1])

        keys = capabilities(ctx.desired.version)
        limits = await self._limits(ctx, session)
        if not limits.available:
            why = f"{keys.local_list_available} is false"
            return await self._unsupported(ctx, session, desired, why)
        if limits.capacity is not None and len(desired.entries) > limits.capacity:
            why = (
                f"{len(desired.entries)} cards are accepted at {ctx.desired.location}, the "
                f"charger keeps at most {limits.capacity} "
                f"({keys.local_list_capacity})"
            )
            return await self._refuse(ctx, session, desired, why)

        held = session.held
        base = held.entries if held is not None and held.version == version else None
        updates = plan_updates(version, base, desired, limits.per_message)
        sent = await self._send(ctx, session, updates, base, desired)
        if not sent.accepted and not updates[0].full and not _unsupported_answer(sent.answer):
            updates = full_updates(desired, limits.per_message)
            sent = await self._send(ctx, session, updates, None, desired)
        if _unsupported_answer(sent.answer):
            why = f"SendLocalList: {answer_text(sent.answer)}"
            return await self._unsupported(ctx, session, desired, why)
        if not sent.accepted:
            kind = "Full" if updates[0].full else "Differential"
            why = (
                f"the charger answered {answer_text(sent.answer)} to a {kind} update to version "
                f"{desired.version} ({cards_text(len(desired.entries))})"
            )
            return await self._refuse(ctx, session, desired, why)
        return await self._verify(ctx, session, desired, updates, base)

    # --- the calls -----------------------------------------------------------------------------

    async def _send(
        self,
        ctx: PassContext,
        session: _Session,
        updates: tuple[ListUpdate, ...],
        base: tuple[LocalListEntry, ...] | None,
        desired: DesiredList,
    ) -> _Sent:
        """Send the updates in order; what the charger holds is recorded after each one."""
        held = base or ()
        for i, update in enumerate(updates):
            answer: Status | CallFailed = await ctx.call(
                ctx.commands.send_local_list(update.version, update.entries, update.full)
            )
            if answer is not Status.ACCEPTED:
                return _Sent(answer)
            held = (
                desired.entries if update.version == desired.version else apply_update(held, update)
            )
            session.held = Held(update.version, held)
            if i < len(updates) - 1:
                detail = f"part {i + 1} of {len(updates)} accepted"
                await self._save(ctx, session, KeyState.PENDING, desired, detail)
        return _Sent(Status.ACCEPTED)

    async def _verify(
        self,
        ctx: PassContext,
        session: _Session,
        desired: DesiredList,
        updates: tuple[ListUpdate, ...],
        base: tuple[LocalListEntry, ...] | None,
    ) -> StepResult:
        """Accepted is not done until the charger reports the version."""
        reported: int | CallFailed = await ctx.call(ctx.commands.get_local_list_version())
        if isinstance(reported, CallFailed) or not desired.held_at(reported):
            session.held = None  # what it holds is anybody's guess
            seen = str(reported) if isinstance(reported, CallFailed) else f"version {reported}"
            why = f"accepted version {desired.version}, but the charger reports {seen}"
            return await self._refuse(ctx, session, desired, why)
        how = describe_updates(updates, base, desired)
        await self._save(ctx, session, KeyState.APPLIED, desired, how)
        await ctx.central.event(
            ctx.identity,
            "LocalListUpdated",
            f"local list version {desired.version}: {how}",
            {
                "version": desired.version,
                "entries": len(desired.entries),
                "updateType": "Full" if updates[0].full else "Differential",
                "messages": len(updates),
            },
        )
        return StepResult(synced=True, message=f"local list version {desired.version}: {how}")

    async def _limits(self, ctx: PassContext, session: _Session) -> Limits:
        """The charger's limits, from its last report or asked once per session."""
        if session.limits is not None:
            return session.limits
        keys = capabilities(ctx.desired.version)
        values = {r.key.casefold(): r.value for r in ctx.record.configuration or ()}
        missing = missing_keys(keys, values)
        if missing:
            report: ConfigurationReport | CallFailed = await ctx.call(
                ctx.commands.get_configuration(missing)
            )
            if isinstance(report, ConfigurationReport):
                values.update((r.key.casefold(), r.value) for r in report.values)
        session.limits = read_limits(keys, values)
        return session.limits

    # --- outcomes ------------------------------------------------------------------------------

    async def _unsupported(
        self, ctx: PassContext, session: _Session, desired: DesiredList, why: str
    ) -> StepResult:
        message = f"local list: not supported by the charger ({why})"
        session.unsupported = message
        session.held = None
        await self._save(ctx, session, KeyState.NOT_SUPPORTED, desired, why)
        await ctx.central.event(ctx.identity, "LocalListNotSupported", message, {})
        return StepResult(synced=True, message=message)

    async def _refuse(
        self, ctx: PassContext, session: _Session, desired: DesiredList, why: str
    ) -> StepResult:
        message = f"local list: {why}"
        session.refused = (desired.version, message)
        await self._save(ctx, session, KeyState.FAILED, desired, why)
        await ctx.central.event(
            ctx.identity, "LocalListRefused", message, {"version": desired.version}
        )
        return StepResult(synced=False, message=message)

    # --- the record ----------------------------------------------------------------------------

    async def _load(self, ctx: PassContext, session: _Session) -> None:
        """What the charger held when we last spoke to it, once per session, from the store."""
        if session.loaded:
            return
        session.loaded = True
        for status in await ctx.central.store.key_statuses(ctx.identity):
            if status.key != LOCAL_LIST_KEY:
                continue
            record = decode_record(status)
            if record is not None:
                session.held = record.held
                version = record.held.version if record.held is not None else None
                session.saved = (record.state, record.target, version)

    async def _save(
        self,
        ctx: PassContext,
        session: _Session,
        state: KeyState,
        desired: DesiredList,
        detail: str,
    ) -> None:
        held = session.held
        saved = (state, desired.version, held.version if held is not None else None)
        if saved == session.saved:
            return
        record = Recorded(state, desired.version, held)
        status = KeyStatus(
            ctx.identity, LOCAL_LIST_KEY, state, encode_record(record), self.clock(), detail
        )
        await ctx.central.store.record_key_statuses([status])
        session.saved = saved


def _unsupported_answer(answer: Status | CallFailed) -> bool:
    if isinstance(answer, CallFailed):
        return answer.kind is FailureKind.CALL_ERROR and answer.code in UNSUPPORTED_CODES
    return answer is Status.NOT_SUPPORTED
