"""The local authorisation list as values: which cards a charger should hold, the list's
version, and the updates that bring a charger's list there. Pure: the step
(`controller.converge.locallist`) reads what the charger holds and sends what this plans.

The list is what `authorization.authorize` would answer online: the cards the location accepts
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
(its capability `local_list_per_message`, `controller.resources.capabilities`) is sent as a Full
update of the first part and Differential updates of the rest; each differential must raise the
version, so n parts carry V-n+1, ..., V, and only the last one the list's version V. A charger
interrupted half-way reports an intermediate version, which is not V: the next pass completes
it, differentially, since what it holds after each part is recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.fleet.model import DesiredCharger
from controller.resources import Card
from controller.resources.capabilities import Capabilities
from controller.resources.card import CardStatus
from controller.resources.settings import setting_key
from controller.values.commands import AuthListStatus, CallFailed, LocalListEntry, Status
from controller.values.records import KeyState, KeyStatus
from controller.values.timestamps import iso

LOCAL_LIST_KEY = "localList"
"""The `KeyStatus` key under which the step keeps what each charger's list holds (its name)."""

VERSION_FLOOR = 1 << 16
"""Lowest list version: below it, the intermediate versions of a list sent in parts."""

VERSION_LIMIT = 1 << 31
"""Versions are int32 on the wire; this one is the first that is not."""


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


# --- what is known of a charger ----------------------------------------------------------


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


def next_expiry(cards: Iterable[Card], now: datetime) -> datetime | None:
    """When the next Accepted card expires after `now`: the list changes then, with the same
    cards; None when none will."""
    expiries = [
        c.spec.expires_at
        for c in cards
        if c.spec.status is CardStatus.ACCEPTED
        and c.spec.expires_at is not None
        and c.spec.expires_at > now
    ]
    return min(expiries, default=None)


# --- the charger's limits -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """What a charger's reported capabilities say about its list: entries per message, how many
    it keeps (None: not said), and whether it has one."""

    per_message: int | None
    capacity: int | None
    available: bool


def missing_keys(capabilities: Capabilities, reported: Mapping[str, str | None]) -> list[str]:
    """The capability keys to ask the charger: those not in `reported` (by casefolded key)."""
    return [key for key in capabilities.local_list_keys() if key.casefold() not in reported]


def read_limits(capabilities: Capabilities, reported: Mapping[str, str | None]) -> Limits:
    """The limits in `reported` (values by casefolded key); what is missing sets no limit."""

    def value(key: str | None) -> str | None:
        return reported.get(key.casefold()) if key is not None else None

    available = value(capabilities.local_list_available)
    return Limits(
        _positive(value(capabilities.local_list_per_message)),
        _positive(value(capabilities.local_list_capacity)),
        available is None or available.strip().casefold() != "false",
    )


# --- words -------------------------------------------------------------------------------------


def answer_text(answer: Status | CallFailed) -> str:
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


def cards_text(count: int) -> str:
    return f"{count} card" if count == 1 else f"{count} cards"


def describe_updates(
    updates: tuple[ListUpdate, ...],
    base: tuple[LocalListEntry, ...] | None,
    desired: DesiredList,
) -> str:
    parts = f" in {len(updates)} messages" if len(updates) > 1 else ""
    if updates[0].full:
        return f"Full update, {cards_text(len(desired.entries))}{parts}"
    changes = sum(len(u.entries) for u in updates)
    change = "change" if changes == 1 else "changes"
    return f"Differential update, {changes} {change}{parts}, {cards_text(len(desired.entries))}"
