"""The local authorisation list: every charger holds the cards its location accepts.

A charger that loses its connection authorises from its local list, so the list is what
`authorization.authorize` would answer online: the cards the location accepts
(`Fleet.cards_accepted_at`), Accepted ones as Accepted with their expiry and parent id tag,
Blocked ones as Blocked, expired ones as Expired. Refused cards are listed rather than left
out, so that a charger that still has them in its authorisation cache refuses them offline too.

Versions. A list's version is derived from its content (31 bits of a SHA-256 of its canonical
form, the wire values), so the same fleet gives the same version on every charger and after a
restart, any change gives another, and whether a charger is in sync is one GetLocalListVersion
with no state at all. Versions are drawn from [2**16, 2**31): never 0 ("no list") or -1 ("not
supported"), int32 on the wire, and with room below for the intermediate versions of a list
sent in parts. A charger whose list is empty may report 0 for it: an empty desired list is in
sync at 0 as well.

Full or differential. Both OCPP versions refuse a Differential update whose version is not
greater than the charger's (VersionMismatch). A differential is sent when we know what the
charger's version holds (recorded after every accepted message, kept in the store as the
`KeyStatus` "localList" so it survives restarts), the new version is greater than the charger's,
and the changes are fewer than the list. A content hash is not monotonic, so about half of all
edits go out as a Full update: the price of stateless, restart-proof versions.

Large lists. Neither version lets a Full update span messages: a Full update replaces the list
with what that one message holds. A list longer than the charger takes in one message
(SendLocalListMaxLength on 1.6, LocalAuthListCtrlr.ItemsPerMessage on 2.0.1) is sent as a Full
update of the first part and Differential updates of the rest; each differential must raise the
version, so n parts carry V-n+1, ..., V, and only the last one the list's version V. A charger
interrupted half-way reports an intermediate version, which is not V: the next pass completes
it, differentially, since what it holds after each part is recorded.

When. Only chargers that manage a list: a declared `localAuthListEnabled: false` means the
list is not ours to keep, and the step does nothing. With nothing declared the list is sent:
it is harmless on a charger whose list is disabled, and in place the moment it is enabled.
A charger that cannot keep a list (GetLocalListVersion -1, a CALLERROR NotSupported or
NotImplemented, SendLocalList NotSupported, LocalAuthListCtrlr.Available false) is remembered as
such for its session, and synced: a reconnect, as after a firmware update, checks again.

Failures. VersionMismatch, Failed or another CALLERROR to a differential: a Full update once,
in the same pass. A refused Full update, a list longer than the charger keeps
(LocalAuthListMaxLength), or an update accepted but not reported afterwards is terminal for that
version during the charger's session: shown in its Synced condition and not resent at every
resync; a fleet change (another version) or a reconnect tries again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.converge.base import UNSUPPORTED_CODES, PassContext, Step, StepResult
from controller.fleet.model import DesiredCharger, Fleet
from controller.resources import Card
from controller.resources.card import CardStatus
from controller.resources.settings import OcppVersion, setting_key
from controller.values.commands import AuthListStatus, ConfigurationReport, LocalListEntry, Status
from controller.values.errors import CallFailed, FailureKind
from controller.values.records import KeyState, KeyStatus
from controller.values.timestamps import iso

LOCAL_LIST_KEY = "localList"
"""The `KeyStatus` key under which the step keeps what each charger's list holds (its name)."""

VERSION_FLOOR = 1 << 16
"""Lowest list version: below it, the intermediate versions of a list sent in parts."""

VERSION_LIMIT = 1 << 31
"""Versions are int32 on the wire; this one is the first that is not."""


@dataclass(frozen=True, slots=True)
class _Keys:
    """The configuration keys the step reads, for one OCPP version."""

    per_message: str
    capacity: str | None = None
    available: str | None = None


_KEYS: dict[OcppVersion, _Keys] = {
    OcppVersion.V16: _Keys("SendLocalListMaxLength", capacity="LocalAuthListMaxLength"),
    OcppVersion.V201: _Keys(
        "LocalAuthListCtrlr.ItemsPerMessage", available="LocalAuthListCtrlr.Available"
    ),
}


# --- the list, as values -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DesiredList:
    """The list a charger should hold, and its version."""

    version: int
    entries: tuple[LocalListEntry, ...]

    def held_at(self, version: int) -> bool:
        """Whether a charger reporting `version` holds this list (empty lists may read 0)."""
        return version == self.version or (version == 0 and not self.entries)


@dataclass(frozen=True, slots=True)
class ListUpdate:
    """One SendLocalList: a Full update replaces the list, a Differential one edits it."""

    version: int
    entries: tuple[LocalListEntry, ...]
    full: bool


def list_entries(cards: Iterable[Card], now: datetime) -> tuple[LocalListEntry, ...]:
    """The entries for these cards at `now`, what `authorize` would answer for each, by id tag."""
    by_tag: dict[str, LocalListEntry] = {}
    for card in cards:
        spec = card.spec
        if spec.status is CardStatus.BLOCKED:
            entry = LocalListEntry(spec.id_tag, AuthListStatus.BLOCKED)
        elif spec.expires_at is not None and spec.expires_at <= now:
            entry = LocalListEntry(spec.id_tag, AuthListStatus.EXPIRED, spec.expires_at)
        else:
            entry = LocalListEntry(
                spec.id_tag, AuthListStatus.ACCEPTED, spec.expires_at, spec.parent_id_tag
            )
        by_tag.setdefault(spec.id_tag.casefold(), entry)  # id tags are unique once validated
    return tuple(sorted(by_tag.values(), key=_order))


def list_version(entries: Sequence[LocalListEntry]) -> int:
    """The version of a list with these entries: the same for the same content, never 0."""
    digest = hashlib.sha256(_canonical(entries)).digest()
    bits = int.from_bytes(digest[:4], "big") >> 1  # the first 31 bits
    return VERSION_FLOOR + bits % (VERSION_LIMIT - VERSION_FLOOR)


def desired_list(cards: Iterable[Card], now: datetime) -> DesiredList:
    entries = list_entries(cards, now)
    return DesiredList(list_version(entries), entries)


def list_changes(
    held: Sequence[LocalListEntry], desired: Sequence[LocalListEntry]
) -> tuple[LocalListEntry, ...]:
    """What turns `held` into `desired`: new and changed entries, and removals (status None)."""
    old = {entry.id_tag.casefold(): _row(entry) for entry in held}
    new = {entry.id_tag.casefold() for entry in desired}
    changed = [entry for entry in desired if old.get(entry.id_tag.casefold()) != _row(entry)]
    removed = [LocalListEntry(e.id_tag, None) for e in held if e.id_tag.casefold() not in new]
    return tuple(sorted([*changed, *removed], key=_order))


def apply_update(held: Sequence[LocalListEntry], update: ListUpdate) -> tuple[LocalListEntry, ...]:
    """What a charger holds after accepting `update` (id tags compare case-insensitively)."""
    entries = {} if update.full else {entry.id_tag.casefold(): entry for entry in held}
    for entry in update.entries:
        if entry.status is None:
            entries.pop(entry.id_tag.casefold(), None)
        else:
            entries[entry.id_tag.casefold()] = entry
    return tuple(sorted(entries.values(), key=_order))


def full_updates(desired: DesiredList, per_message: int | None) -> tuple[ListUpdate, ...]:
    """The whole list: a Full update of the first part, Differential updates of the rest."""
    return _staged(desired.version, _split(desired.entries, per_message), full=True)


def differential_updates(
    version: int,
    held: Sequence[LocalListEntry],
    desired: DesiredList,
    per_message: int | None,
) -> tuple[ListUpdate, ...] | None:
    """The changes from `held` (at `version`), or None when a Full update is the way: the
    charger would refuse them (their versions must exceed its own), or they are no shorter."""
    if version <= 0:
        return None
    changes = list_changes(held, desired.entries)
    if not changes or len(changes) >= max(len(desired.entries), 1):
        return None
    parts = _split(changes, per_message)
    if desired.version - (len(parts) - 1) <= version:
        return None
    return _staged(desired.version, parts, full=False)


def plan_updates(
    version: int,
    held: Sequence[LocalListEntry] | None,
    desired: DesiredList,
    per_message: int | None,
) -> tuple[ListUpdate, ...]:
    """What to send to a charger at `version`, holding `held` if we know it; () when in sync."""
    if desired.held_at(version):
        return ()
    if held is not None:
        updates = differential_updates(version, held, desired, per_message)
        if updates is not None:
            return updates
    return full_updates(desired, per_message)


def _split(
    entries: tuple[LocalListEntry, ...], per_message: int | None
) -> list[tuple[LocalListEntry, ...]]:
    if not entries:
        return [()]
    # Never more parts than there are intermediate versions below the list's own.
    size = max(per_message or len(entries), math.ceil(len(entries) / VERSION_FLOOR))
    return [entries[start : start + size] for start in range(0, len(entries), size)]


def _staged(
    version: int, parts: Sequence[tuple[LocalListEntry, ...]], *, full: bool
) -> tuple[ListUpdate, ...]:
    last = len(parts) - 1
    return tuple(
        ListUpdate(version - (last - i), part, full and i == 0) for i, part in enumerate(parts)
    )


def _order(entry: LocalListEntry) -> tuple[str, str]:
    return entry.id_tag.casefold(), entry.id_tag


def _row(entry: LocalListEntry) -> list[str | None]:
    """An entry as it goes on the wire: what versions and comparisons are made of."""
    return [
        entry.id_tag,
        entry.status.value if entry.status is not None else None,
        iso(entry.expires_at) if entry.expires_at is not None else None,
        entry.parent_id_tag,
    ]


def _canonical(entries: Iterable[LocalListEntry]) -> bytes:
    return json.dumps([_row(e) for e in entries], separators=(",", ":")).encode()


def _entry(row: Sequence[Any]) -> LocalListEntry:
    tag, status, expires, parent = row
    return LocalListEntry(
        str(tag),
        AuthListStatus(status) if status is not None else None,
        datetime.fromisoformat(expires) if expires is not None else None,
        str(parent) if parent is not None else None,
    )


def local_list_enabled(desired: DesiredCharger) -> bool:
    """False only when the fleet declares the charger's local list disabled."""
    key = setting_key("local_auth_list_enabled", desired.version)
    declared = desired.configuration.get(key) if key is not None else None
    return declared is None or str(declared.value).casefold() != "false"


# --- what the step knows of a charger ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Held:
    """What a charger's list holds, as far as we know: its version and its entries."""

    version: int
    entries: tuple[LocalListEntry, ...]


@dataclass(frozen=True, slots=True)
class Recorded:
    """The stored "localList" status: the outcome about version `target`, and what is held."""

    state: KeyState
    target: int
    held: Held | None


def encode_record(record: Recorded) -> str:
    held = record.held
    return json.dumps(
        {
            "target": record.target,
            "version": held.version if held is not None else None,
            "entries": [_row(e) for e in held.entries] if held is not None else None,
        },
        separators=(",", ":"),
    )


def decode_record(status: KeyStatus) -> Recorded | None:
    """The record in a stored status; None when it cannot be read (then nothing is known)."""
    try:
        data = json.loads(status.value)
        held = None
        if data["version"] is not None:
            held = Held(int(data["version"]), tuple(_entry(row) for row in data["entries"]))
        return Recorded(status.state, int(data["target"]), held)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class _Limits:
    per_message: int | None
    capacity: int | None
    available: bool


@dataclass
class _Session:
    """What the step knows of one connected charger; dropped when it disconnects."""

    loaded: bool = False
    held: Held | None = None
    saved: tuple[KeyState, int, int | None] | None = None
    """(state, target, held version) as last stored: unchanged ones are not written again."""
    limits: _Limits | None = None
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
        expiries = [
            c.spec.expires_at
            for c in cards
            if c.spec.status is CardStatus.ACCEPTED
            and c.spec.expires_at is not None
            and c.spec.expires_at > now
        ]
        value = desired_list(cards, now)
        self._desired[location] = _Cached(fleet, min(expiries, default=None), value)
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

        limits = await self._limits(ctx, session)
        if not limits.available:
            why = f"{_KEYS[ctx.desired.version].available} is false"
            return await self._unsupported(ctx, session, desired, why)
        if limits.capacity is not None and len(desired.entries) > limits.capacity:
            why = (
                f"{len(desired.entries)} cards are accepted at {ctx.desired.location}, the "
                f"charger keeps at most {limits.capacity} "
                f"({_KEYS[ctx.desired.version].capacity})"
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
            why = f"SendLocalList: {_answer(sent.answer)}"
            return await self._unsupported(ctx, session, desired, why)
        if not sent.accepted:
            kind = "Full" if updates[0].full else "Differential"
            why = (
                f"the charger answered {_answer(sent.answer)} to a {kind} update to version "
                f"{desired.version} ({_cards(len(desired.entries))})"
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
        how = _how(updates, base, desired)
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

    async def _limits(self, ctx: PassContext, session: _Session) -> _Limits:
        """The charger's limits, from its last report or asked once per session."""
        if session.limits is not None:
            return session.limits
        keys = _KEYS[ctx.desired.version]
        wanted = [k for k in (keys.per_message, keys.capacity, keys.available) if k is not None]
        values = {r.key.casefold(): r.value for r in ctx.record.configuration or ()}
        missing = [key for key in wanted if key.casefold() not in values]
        if missing:
            report: ConfigurationReport | CallFailed = await ctx.call(
                ctx.commands.get_configuration(missing)
            )
            if isinstance(report, ConfigurationReport):
                values.update((r.key.casefold(), r.value) for r in report.values)

        def value(key: str | None) -> str | None:
            return values.get(key.casefold()) if key is not None else None

        available = value(keys.available)
        session.limits = _Limits(
            _positive(value(keys.per_message)),
            _positive(value(keys.capacity)),
            available is None or available.strip().casefold() != "false",
        )
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


def _answer(answer: Status | CallFailed) -> str:
    if isinstance(answer, CallFailed):
        return f"CALLERROR {answer.code}: {answer.description}".rstrip(": ")
    return answer.value


def _positive(value: str | None) -> int | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        number = int(value.strip())
        if number > 0:
            return number
    return None


def _cards(count: int) -> str:
    return f"{count} card" if count == 1 else f"{count} cards"


def _how(
    updates: tuple[ListUpdate, ...],
    base: tuple[LocalListEntry, ...] | None,
    desired: DesiredList,
) -> str:
    parts = f" in {len(updates)} messages" if len(updates) > 1 else ""
    if updates[0].full:
        return f"Full update, {_cards(len(desired.entries))}{parts}"
    changes = sum(len(u.entries) for u in updates)
    change = "change" if changes == 1 else "changes"
    return f"Differential update, {changes} {change}{parts}, {_cards(len(desired.entries))}"
