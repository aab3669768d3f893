"""OCPP-J RPC framing: parse a websocket text frame, and answer bad ones as the spec says.

The `ocpp` library does framing and validation too, but its error codes depart from the
specifications: it answers a missing required field with ProtocolError (both specifications say
Occurrence/OccurenceConstraintViolation), uses the 2.0.1 spelling FormatViolation on OCPP 1.6
(whose code is FormationViolation), and answers an unreadable frame without a usable message id.
chargectl is the central system chargers of many vendors talk to, so it answers by the text of
each specification, per version, here. See tests/integration/test_endpoint_errors.py, which
quotes the specification for each case.

The hot path (every Heartbeat of ten thousand chargers) runs through `parse_frame`, so it uses
orjson and no per-message objects beyond a small NamedTuple.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, NamedTuple

import orjson

UNKNOWN_MESSAGE_ID = "-1"
"""OCPP 2.0.1 Part 4 §4.2.3: the message id of a CALLERROR answering a frame whose id could
not be read. OCPP 1.6 says nothing; the same value is used there."""


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class RpcVersion(StrEnum):
    """The two OCPP-J dialects: their error code vocabularies differ."""

    V16 = "1.6"
    V201 = "2.0.1"


class ErrorKind(StrEnum):
    """What went wrong, independent of how each version spells it."""

    NOT_JSON = "not-json"
    NOT_RPC = "not-rpc"
    MESSAGE_TYPE = "message-type"
    NOT_IMPLEMENTED = "not-implemented"
    NOT_SUPPORTED = "not-supported"
    FORMAT = "format"
    OCCURRENCE = "occurrence"
    TYPE = "type"
    PROPERTY = "property"
    PROTOCOL = "protocol"
    SECURITY = "security"
    INTERNAL = "internal"
    GENERIC = "generic"


_SHARED_CODES: dict[ErrorKind, str] = {
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.NOT_SUPPORTED: "NotSupported",
    # "Occurence" is the specifications' own spelling, in 1.6 and 2.0.1 alike; the corrected
    # spelling arrives only with OCPP 2.1 (the OCA's note in mobilityhouse/ocpp#490; ocpp-go#331
    # reached the same reading).
    ErrorKind.OCCURRENCE: "OccurenceConstraintViolation",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.PROTOCOL: "ProtocolError",
    ErrorKind.SECURITY: "SecurityError",
    ErrorKind.INTERNAL: "InternalError",
    ErrorKind.GENERIC: "GenericError",
}
"""The codes both versions' tables "Valid Error Codes" give alike."""

_CODES: dict[RpcVersion, dict[ErrorKind, str]] = {
    # OCPP-J 1.6 §4.2.3, table "Valid Error Codes": every framing error is a FormationViolation.
    RpcVersion.V16: {
        ErrorKind.NOT_JSON: "FormationViolation",
        ErrorKind.NOT_RPC: "FormationViolation",
        ErrorKind.MESSAGE_TYPE: "FormationViolation",
        ErrorKind.FORMAT: "FormationViolation",
        **_SHARED_CODES,
    },
    # OCPP 2.0.1 Part 4 §4.3, table "Valid Error Codes": framing errors have codes of their own,
    # and FormationViolation became FormatViolation.
    RpcVersion.V201: {
        ErrorKind.NOT_JSON: "RpcFrameworkError",
        ErrorKind.NOT_RPC: "RpcFrameworkError",
        ErrorKind.MESSAGE_TYPE: "MessageTypeNotSupported",
        ErrorKind.FORMAT: "FormatViolation",
        **_SHARED_CODES,
    },
}


def error_code(version: RpcVersion, kind: ErrorKind) -> str:
    return _CODES[version][kind]


class RpcError(Exception):
    """A CALL that must be answered with a CALLERROR."""

    def __init__(self, kind: ErrorKind, description: str, message_id: str = UNKNOWN_MESSAGE_ID):
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.message_id = message_id


class Call(NamedTuple):
    message_id: str
    action: str
    payload: dict[str, Any]


class CallResult(NamedTuple):
    message_id: str
    payload: dict[str, Any]


class CallError(NamedTuple):
    message_id: str
    code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallError

MAX_MESSAGE_ID_LENGTH = 36
"""OCPP 2.0.1 Part 4 §4.1.4: the message id is at most 36 characters."""


def parse_frame(text: str | bytes) -> Frame:
    """One websocket message → a CALL, CALLRESULT or CALLERROR; RpcError when it is none."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RpcError(ErrorKind.NOT_JSON, f"message is not valid JSON: {exc}") from None
    if not isinstance(message, list) or len(message) < 3:
        raise RpcError(ErrorKind.NOT_RPC, "message is not a JSON array [type, id, ...]")
    type_id, message_id = message[0], message[1]
    if not isinstance(message_id, str) or not message_id:
        raise RpcError(ErrorKind.NOT_RPC, "message id is not a non-empty string")
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise RpcError(ErrorKind.NOT_RPC, "message id is longer than 36 characters")
    if type_id == MessageType.CALL:
        if len(message) != 4 or not isinstance(message[2], str):
            raise RpcError(
                ErrorKind.NOT_RPC, "a CALL is [2, messageId, action, payload]", message_id
            )
        if not isinstance(message[3], dict):
            raise RpcError(ErrorKind.FORMAT, "the payload of a CALL is a JSON object", message_id)
        return Call(message_id, message[2], message[3])
    if type_id == MessageType.CALLRESULT:
        payload = message[2]
        if len(message) != 3 or not isinstance(payload, dict):
            raise RpcError(ErrorKind.NOT_RPC, "a CALLRESULT is [3, messageId, payload]", message_id)
        return CallResult(message_id, payload)
    if type_id == MessageType.CALLERROR:
        if len(message) != 5:
            raise RpcError(
                ErrorKind.NOT_RPC,
                "a CALLERROR is [4, messageId, errorCode, errorDescription, errorDetails]",
                message_id,
            )
        details = message[4] if isinstance(message[4], dict) else {}
        return CallError(message_id, str(message[2]), str(message[3]), details)
    raise RpcError(ErrorKind.MESSAGE_TYPE, f"message type {type_id!r} is not supported", message_id)


def call_frame(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([MessageType.CALL, message_id, action, payload]).decode()


def result_frame(message_id: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([MessageType.CALLRESULT, message_id, payload]).decode()


def error_frame(
    version: RpcVersion,
    message_id: str,
    kind: ErrorKind,
    description: str,
    details: dict[str, Any] | None = None,
) -> str:
    """A CALLERROR; the description is cut to the 255 characters OCPP allows."""
    return orjson.dumps(
        [
            MessageType.CALLERROR,
            message_id,
            error_code(version, kind),
            description[:255],
            details or {},
        ]
    ).decode()
