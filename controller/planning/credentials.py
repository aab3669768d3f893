"""Password rotation, planned: whether a charger's declared password is to be set on it.

A charger's HTTP Basic auth password is declared as a reference (`security.basicAuthPassword`)
and read when needed, so it can change while the charger runs with the old one. Setting the
new one is a write-only key of the charger's version (the 1.6 security whitepaper's
AuthorizationKey, 2.0.1's SecurityCtrlr.BasicAuthPassword), which the charger uses from its
next connection on. This module decides, from facts the step gathers (which password the
connection used, what the charger answered before), what to do, and words the key status and
the event; `converge.credentials` does the I/O. No value of a password is ever an input here:
only whether it is the one in use, and what is wrong with it.

What can be set, and what not:

- Security profiles 1 and 2 use the password; a reference on a charger of profile 0 or 3
  (none, or client certificates) is not set on it, and the status says why.
- A password the version's key does not take (2.0.1: 16 to 40 characters) is not sent.
- A charger that Rejected the password, does not know the key, or accepted it and connected
  again with the old one is not sent it again while it stays declared (never a loop); the
  status says so, and the old password stays accepted for it (no lockout).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from controller.resources.catalogue import parse_value
from controller.resources.settings import OcppVersion
from controller.resources.versions import CATALOGUES
from controller.values.commands import CallFailed, ConfigStatus
from controller.values.records import KeyState, KeyStatus

PASSWORD_KEY = "password"
"""The key the rotation's status goes by (no configuration key has this name); its `value`
is always empty: a password is never recorded."""

PASSWORD_PROFILES = frozenset({1, 2})
"""The security profiles that authenticate with the password (HTTP Basic auth)."""


class RotationKind(StrEnum):
    NONE = "None"
    """Nothing to do: the connection used the declared password, or none is declared."""
    SET = "Set"
    """Send the declared password to the charger."""
    AWAIT = "Await"
    """The charger accepted it; it connects with it next time."""
    CANNOT = "Cannot"
    """It is not set on this charger; `reason` says why, and it is not tried again."""


@dataclass(frozen=True, slots=True)
class Rotation:
    kind: RotationKind
    reason: str = ""


def password_problem(version: OcppVersion, key: str, password: str) -> str | None:
    """Why the version's password key does not take this password, or None. The catalogue's
    words never repeat a write-only value."""
    spec = CATALOGUES[version].spec(key)
    if spec is None:
        return None
    try:
        parse_value(spec, password)
    except ValueError as exc:
        return f"{key} does not take it: {exc}"
    return None


def plan_rotation(
    *,
    profile: int,
    declared: bool,
    in_use: bool,
    accepted: bool,
    refused: bool,
    reverted: bool,
    problem: str | None,
) -> Rotation:
    """What to do about the charger's declared password, from where it stands (the book's
    `Standing`: the declared password is the one its connection used, or it accepted it, or
    it refused it or went back to the old one) and `problem` (`password_problem`)."""
    if not declared:
        return Rotation(RotationKind.NONE)
    if profile not in PASSWORD_PROFILES:
        return Rotation(
            RotationKind.CANNOT,
            f"security profile {profile} does not authenticate with a password; "
            "it is not set on the charger",
        )
    if in_use:
        return Rotation(RotationKind.NONE)
    if accepted:
        return Rotation(
            RotationKind.AWAIT, "accepted; the charger uses it from its next connection"
        )
    if reverted:
        return Rotation(
            RotationKind.CANNOT,
            "the charger accepted the new password but connected again with its previous one, "
            "which stays accepted for it; not sent again until the declared password changes",
        )
    if refused:
        return Rotation(
            RotationKind.CANNOT,
            "the charger did not take the new password; its previous one stays accepted for "
            "it; not sent again until the declared password changes",
        )
    if problem is not None:
        return Rotation(RotationKind.CANNOT, problem)
    return Rotation(RotationKind.SET, "the declared password changed")


def rotation_status(identity: str, rotation: Rotation, at: datetime) -> KeyStatus:
    """The key status of a rotation that is under way or cannot be done (never the value)."""
    state = {
        RotationKind.SET: KeyState.PENDING,
        RotationKind.AWAIT: KeyState.PENDING,
        RotationKind.CANNOT: KeyState.REJECTED,
        RotationKind.NONE: KeyState.APPLIED,
    }[rotation.kind]
    return KeyStatus(identity, PASSWORD_KEY, state, "", at, rotation.reason)


def answered(
    identity: str, key: str, answer: ConfigStatus | CallFailed, at: datetime
) -> tuple[KeyStatus, bool]:
    """The status after the charger answered the password's change, and whether it took it
    (Accepted, or RebootRequired: either way it connects with it next)."""
    if isinstance(answer, CallFailed):
        code = answer.code or answer.kind.value
        state, detail, took = KeyState.NOT_SUPPORTED, f"{key}: {code}: {answer.description}", False
        if answer.code not in ("NotSupported", "NotImplemented"):
            state = KeyState.FAILED
    elif answer in (ConfigStatus.ACCEPTED, ConfigStatus.REBOOT_REQUIRED):
        state, took = KeyState.PENDING, True
        detail = f"{key}: {answer.value}; the charger uses it from its next connection"
    else:
        state, took = (
            (KeyState.NOT_SUPPORTED if answer is ConfigStatus.NOT_SUPPORTED else KeyState.REJECTED),
            False,
        )
        detail = (
            f"{key}: {answer.value} by the charger; its previous password stays accepted for it"
        )
    return KeyStatus(identity, PASSWORD_KEY, state, "", at, detail), took


def rotation_event(status: KeyStatus, *, done: bool = False) -> tuple[str, str, dict[str, Any]]:
    """The event (kind, message, data) recording a rotation's step; never the value."""
    if done:
        return (
            "PasswordRotated",
            "connected with the new password; the previous one is no longer accepted",
            {"key": PASSWORD_KEY},
        )
    if status.state is KeyState.PENDING:
        kind = "PasswordSet"
    elif status.state is KeyState.APPLIED:
        kind = "PasswordRotated"
    else:
        kind = "PasswordNotSet"
    return kind, f"password: {status.detail}", {"key": PASSWORD_KEY, "state": status.state.value}
