"""Errors that cross layers as values: an outgoing OCPP call that got no usable answer.

A timeout, a CALLERROR or a dropped connection is an outcome the reconciler and the steps act
on (retry with backoff, show the charger's error code), not an exception that unwinds a pass,
so it travels as a value from the session up to the status a user sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    TIMEOUT = "Timeout"
    CALL_ERROR = "CallError"
    DISCONNECTED = "Disconnected"
    INVALID_RESPONSE = "InvalidResponse"


@dataclass(frozen=True, slots=True)
class CallFailed:
    """An outgoing CALL that got no usable answer; `code` is the CALLERROR's, if any."""

    kind: FailureKind
    action: str
    description: str
    code: str | None = None

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"{self.action}: {self.kind.value}{code}: {self.description}"
