"""What a charger's OCPP identity may be: OCPP's `identifierString`, at most 48 characters.

The identity is the last segment of the charger's websocket URL and the key of everything
recorded about it, so one rule holds for it everywhere: `validate` refuses a declared
`ocppIdentity` (or a name standing in for one) outside it, and the endpoint refuses a handshake
whose identity is outside it with 400 before anything is looked up or stored. The character
set is the one OCPP 2.0.1 (part 2, "Primitive datatypes") gives `identifierString`, which
OCPP-J 1.6 and 2.0.1 both use for the charge point identity: a-z, A-Z, 0-9 and `*-_=:+|@.`.
"""

from __future__ import annotations

import re

MAX_IDENTITY_LENGTH = 48
"""OCPP 2.0.1's limit on the identity (`identifierString[0..48]`)."""

IDENTITY_CHARACTERS = "a-z A-Z 0-9 * - _ = : + | @ ."
"""The allowed characters as the specification lists them, for messages."""

IDENTITY_PATTERN = r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$"
"""OCPP's characters and length as a regular expression (also the CRD's and the JSON Schema's
`pattern`). `identity_problem` refuses more: `.` and `..` (dots alone), which a URL takes for
directories, not names; a pattern without look-ahead (pydantic's and Kubernetes' have none)
cannot say that."""

_IDENTITY = re.compile(IDENTITY_PATTERN)


def identity_problem(identity: str) -> str | None:
    """Why `identity` is not a valid OCPP identity, in words for a log or an error; None when
    it is one."""
    if not identity:
        return "the identity is empty"
    if len(identity) > MAX_IDENTITY_LENGTH:
        return f"the identity is {len(identity)} characters long; at most {MAX_IDENTITY_LENGTH}"
    if set(identity) == {"."}:
        return f"{identity!r} names a directory in a URL, not a charger"
    if _IDENTITY.fullmatch(identity) is None:
        bad = sorted({c for c in identity if not _IDENTITY.fullmatch(c)})
        shown = ", ".join(repr(c) for c in bad[:5])
        return f"the identity contains {shown}; only {IDENTITY_CHARACTERS} are allowed"
    return None
