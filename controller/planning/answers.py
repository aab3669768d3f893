"""What a charger's answers mean for its configuration, availability and reboot.

The pure half of the configuration step (with the availability it sends) and the reboot step
(`controller.converge`):
from an answer or a read-back to the `KeyStatus` that is recorded, which recorded statuses a
pass settles or forgets, whether a change waits for a reboot, and the text the charger's
Synced condition shows. The steps send and store; this decides, so it is tested without a
charger, a store or an event loop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from controller.fleet.model import DesiredCharger
from controller.planning.keys import (
    AVAILABILITY_KEY,
    ActionKind,
    ChargerPlan,
    PlannedAction,
    reads_as_declared,
)
from controller.resources.settings import OcppVersion
from controller.values.commands import CallFailed, ConfigStatus, Status
from controller.values.records import KeyState, KeyStatus, ReportedKey

CHANGE_STATES: Mapping[ConfigStatus, KeyState] = {
    ConfigStatus.ACCEPTED: KeyState.PENDING,
    ConfigStatus.REBOOT_REQUIRED: KeyState.REBOOT_REQUIRED,
    ConfigStatus.REJECTED: KeyState.REJECTED,
    ConfigStatus.NOT_SUPPORTED: KeyState.NOT_SUPPORTED,
}
"""A ChangeConfiguration / SetVariables answer, as recorded: Accepted is only Pending until
the value reads back as sent."""

AVAILABILITY_STATES: Mapping[Status, KeyState] = {
    Status.ACCEPTED: KeyState.APPLIED,
    Status.SCHEDULED: KeyState.PENDING,
    Status.REJECTED: KeyState.REJECTED,
}
"""A ChangeAvailability answer, as recorded; any other answer counts as Rejected."""

SETTLED_DETAIL = "read back after reboot"
"""The detail of a key that was waiting (for a reboot, a read-back) and now reads as desired."""

_WAITING = frozenset({KeyState.REBOOT_REQUIRED, KeyState.PENDING, KeyState.FAILED})


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether what a step owns is in sync, and the message the Synced condition shows."""

    synced: bool
    message: str


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """The event that records one configuration change and the charger's answer."""

    kind: str
    message: str
    data: dict[str, Any]


# --- configuration keys ------------------------------------------------------------------------


def failed_read(failure: CallFailed) -> str:
    """What a charger's CALLERROR to a configuration read shows: the action and its code."""
    code = failure.code or failure.kind.value
    text = f"{failure.action} failed: {code}"
    return f"{text}: {failure.description}" if failure.description else text


def change_status(
    identity: str, action: PlannedAction, answer: ConfigStatus | CallFailed, at: datetime
) -> KeyStatus:
    """The status of a key after its ChangeConfiguration / SetVariables was answered."""
    if isinstance(answer, CallFailed):
        state, detail = KeyState.FAILED, f"CALLERROR {answer.code}: {answer.description}"
    else:
        state, detail = CHANGE_STATES[answer], answer.value
    return KeyStatus(identity, action.key, state, action.wire_value or "", at, detail)


def change_event(action: PlannedAction, status: KeyStatus) -> ChangeEvent:
    """The event of one change: the old and new value, where the value came from, the answer."""
    kind = "ConfigurationRejected" if status.state is KeyState.REJECTED else "ConfigurationChanged"
    layer = action.layer.value if action.layer is not None else "declared"
    value = status.value
    return ChangeEvent(
        kind,
        f"{action.key}: {action.reported!r} -> {value!r} ({layer}): {status.detail}",
        {"key": action.key, "value": value, "answer": status.detail, "drift": action.drift},
    )


def verified(
    identity: str,
    version: OcppVersion,
    changed: Sequence[PlannedAction],
    report: Sequence[ReportedKey],
    at: datetime,
) -> list[KeyStatus]:
    """The read-back of accepted changes: a charger that said Accepted and still reports the
    old value has not applied it (Failed, terminal until the desired value changes)."""
    reported = {v.key.lower(): v.value for v in report}
    statuses = []
    for action in changed:
        value = action.wire_value or ""
        seen = reported.get(action.key.lower())
        applied = (
            reads_as_declared(version, action.desired, seen)
            if action.desired is not None
            else seen == action.wire_value
        )
        if applied:
            statuses.append(KeyStatus(identity, action.key, KeyState.APPLIED, value, at))
        else:
            detail = f"accepted, but the charger still reports {seen!r}"
            statuses.append(KeyStatus(identity, action.key, KeyState.FAILED, value, at, detail))
    return statuses


def unverified(
    identity: str, changed: Sequence[PlannedAction], failure: CallFailed, at: datetime
) -> list[KeyStatus]:
    """Accepted changes whose read-back got a CALLERROR: still Pending (not terminal), so the
    next pass reads them again."""
    detail = f"accepted, not read back: {failed_read(failure)}"
    return [
        KeyStatus(identity, a.key, KeyState.PENDING, a.wire_value or "", at, detail)
        for a in changed
    ]


def settled(
    statuses: Mapping[str, KeyStatus],
    plan: ChargerPlan,
    owned_elsewhere: Collection[str],
    at: datetime,
) -> list[KeyStatus]:
    """Keys that were waiting (for a reboot, a read-back) and now read as desired are done.

    `owned_elsewhere` are the keys other steps record (availability, the local list, ...).
    """
    open_keys = {a.key for a in plan.actions}
    return [
        replace(status, state=KeyState.APPLIED, at=at, detail=SETTLED_DETAIL)
        for key, status in statuses.items()
        if key not in open_keys and key not in owned_elsewhere and status.state in _WAITING
    ]


def undeclared(
    statuses: Iterable[str], desired: DesiredCharger, owned_elsewhere: Collection[str]
) -> list[str]:
    """Keys with a status that are no longer declared: their statuses mean nothing any more."""
    return [
        key for key in statuses if key not in desired.configuration and key not in owned_elsewhere
    ]


def blocked(
    plan: ChargerPlan, keys: Collection[str] | None = None, *, but: Collection[str] = ()
) -> list[PlannedAction]:
    """The plan's differences that cannot be applied: of `keys` (all when None), except `but`."""
    return [
        a
        for a in plan.actions
        if a.kind is ActionKind.CANNOT and (keys is None or a.key in keys) and a.key not in but
    ]


def verdict(updates: Sequence[KeyStatus], cannot: Sequence[PlannedAction]) -> Verdict:
    """In sync when every update applied and nothing is blocked; else what is left, by key."""
    pending = [u for u in updates if u.state is not KeyState.APPLIED]
    if not pending and not cannot:
        return Verdict(True, f"converged: {summary(updates)}" if updates else "")
    message = "; ".join(
        [f"{u.key}: {u.state.value} {u.detail}".strip() for u in pending]
        + [f"{a.key}: {a.reason}" for a in cannot]
    )
    return Verdict(False, message)


def summary(updates: Sequence[KeyStatus]) -> str:
    """How many updates ended in each state, e.g. "2 Applied, 1 Pending"."""
    tally: dict[str, int] = {}
    for status in updates:
        tally[status.state.value] = tally.get(status.state.value, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(tally.items())) or "nothing to do"


# --- availability and reboot -------------------------------------------------------------------


def availability_status(
    identity: str, action: PlannedAction, answer: Status | CallFailed, at: datetime
) -> KeyStatus:
    """The availability status after ChangeAvailability was answered."""
    value = action.wire_value or ""
    if isinstance(answer, CallFailed):
        return KeyStatus(identity, AVAILABILITY_KEY, KeyState.FAILED, value, at, str(answer))
    state = AVAILABILITY_STATES.get(answer, KeyState.REJECTED)
    return KeyStatus(identity, AVAILABILITY_KEY, state, value, at, str(answer))


def awaits_reboot(statuses: Iterable[KeyStatus]) -> bool:
    """Whether an accepted change takes effect only after the charger restarts."""
    return any(s.state is KeyState.REBOOT_REQUIRED for s in statuses)
