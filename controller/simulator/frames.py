"""Frames a misbehaving charger sends, to test the central system's error handling.

These are built as raw text and go straight onto the websocket: the `ocpp` library would
refuse to produce any of them. What the central system answered (or that it closed the
connection, or said nothing) is recorded as a `RawExchange`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BadFrame(StrEnum):
    MALFORMED_JSON = "malformed-json"
    WRONG_MESSAGE_TYPE = "wrong-message-type"
    UNKNOWN_ACTION = "unknown-action"
    SCHEMA_VIOLATION = "schema-violation"
    OVERSIZED = "oversized"
    UNKNOWN_CALLRESULT = "unknown-callresult"


OVERSIZED_BYTES = 2 << 20
"""Twice the default frame limit of `websockets`, which most central systems keep."""


@dataclass(frozen=True, slots=True)
class RawExchange:
    """A frame sent raw and what came back: a reply frame, nothing, or a closed connection."""

    kind: BadFrame | None
    sent: str
    reply: str | None
    closed: bool
    at: datetime

    @property
    def reply_message(self) -> list[object] | None:
        """The reply decoded, when it is a JSON array."""
        if self.reply is None:
            return None
        try:
            decoded = json.loads(self.reply)
        except ValueError:
            return None
        return decoded if isinstance(decoded, list) else None


def bad_frame(
    kind: BadFrame,
    version: str,
    *,
    message_id: str | None = None,
    oversized_bytes: int = OVERSIZED_BYTES,
) -> str:
    """The raw text of one bad frame for an OCPP `version` ("1.6" or "2.0.1")."""
    mid = message_id or f"bad-{uuid.uuid4()}"
    if kind is BadFrame.MALFORMED_JSON:
        return f'[2,"{mid}","Heartbeat",{{'
    if kind is BadFrame.WRONG_MESSAGE_TYPE:
        return json.dumps([7, mid, "Heartbeat", {}])
    if kind is BadFrame.UNKNOWN_ACTION:
        return json.dumps([2, mid, "FlyToTheMoon", {"destination": "Moon"}])
    if kind is BadFrame.SCHEMA_VIOLATION:
        payload: dict[str, object]
        if version == "1.6":
            payload = {"connectorId": "one", "errorCode": "NoError", "status": "Sleeping"}
        else:
            payload = {"timestamp": 42, "connectorStatus": "Sleeping", "evseId": 1}
        return json.dumps([2, mid, "StatusNotification", payload])
    if kind is BadFrame.OVERSIZED:
        head = json.dumps([2, mid, "DataTransfer", {"vendorId": "chargectl", "data": ""}])
        return head[:-3] + "x" * max(0, oversized_bytes - len(head)) + head[-3:]
    return json.dumps([3, f"unknown-{uuid.uuid4()}", {}])
