"""OCPP-J framing (`controller/ocpp/rpc.py`): parsing, serialising, and each version's codes.

The error codes are the text of each specification's table (OCPP-J 1.6 §4.2.3, OCPP 2.0.1
Part 4 §4.3), spelling mistakes included; tests/integration/test_endpoint_errors.py checks the
same over a socket.
"""

from __future__ import annotations

import json

import pytest

from controller.ocpp.rpc import (
    MAX_MESSAGE_ID_LENGTH,
    UNKNOWN_MESSAGE_ID,
    Call,
    CallError,
    CallResult,
    ErrorKind,
    RpcError,
    RpcVersion,
    call_frame,
    error_code,
    error_frame,
    parse_frame,
    result_frame,
)

V16_CODES = {
    "FormationViolation",
    "NotImplemented",
    "NotSupported",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "PropertyConstraintViolation",
    "ProtocolError",
    "SecurityError",
    "InternalError",
    "GenericError",
}
V201_CODES = {
    "RpcFrameworkError",
    "MessageTypeNotSupported",
    "NotImplemented",
    "NotSupported",
    "FormatViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "PropertyConstraintViolation",
    "ProtocolError",
    "SecurityError",
    "InternalError",
    "GenericError",
}


# --- parsing -------------------------------------------------------------------------------------


def test_a_call_is_parsed() -> None:
    assert parse_frame('[2, "19223201", "Heartbeat", {}]') == Call("19223201", "Heartbeat", {})


def test_bytes_are_parsed_as_text() -> None:
    assert parse_frame(b'[2, "1", "Heartbeat", {}]') == Call("1", "Heartbeat", {})


def test_a_call_result_is_parsed() -> None:
    frame = parse_frame('[3, "1", {"currentTime": "2026-01-01T00:00:00Z"}]')
    assert frame == CallResult("1", {"currentTime": "2026-01-01T00:00:00Z"})


def test_a_call_error_is_parsed() -> None:
    frame = parse_frame('[4, "1", "NotSupported", "no", {"a": 1}]')
    assert frame == CallError("1", "NotSupported", "no", {"a": 1})


def test_call_error_details_that_are_not_an_object_are_dropped() -> None:
    assert parse_frame('[4, "1", "GenericError", "x", null]') == CallError(
        "1", "GenericError", "x", {}
    )


@pytest.mark.parametrize(
    ("text", "kind", "message_id"),
    [
        ("not json", ErrorKind.NOT_JSON, UNKNOWN_MESSAGE_ID),
        ('{"a": 1}', ErrorKind.NOT_RPC, UNKNOWN_MESSAGE_ID),
        ("[2, 1]", ErrorKind.NOT_RPC, UNKNOWN_MESSAGE_ID),
        ('[2, 7, "Heartbeat", {}]', ErrorKind.NOT_RPC, UNKNOWN_MESSAGE_ID),
        ('[2, "", "Heartbeat", {}]', ErrorKind.NOT_RPC, UNKNOWN_MESSAGE_ID),
        (json.dumps([2, "x" * 37, "Heartbeat", {}]), ErrorKind.NOT_RPC, UNKNOWN_MESSAGE_ID),
        ('[2, "m", "Heartbeat"]', ErrorKind.NOT_RPC, "m"),
        ('[2, "m", 5, {}]', ErrorKind.NOT_RPC, "m"),
        ('[2, "m", "Heartbeat", []]', ErrorKind.FORMAT, "m"),
        ('[3, "m", []]', ErrorKind.NOT_RPC, "m"),
        ('[3, "m", {}, 1]', ErrorKind.NOT_RPC, "m"),
        ('[4, "m", "GenericError", "x"]', ErrorKind.NOT_RPC, "m"),
        ('[5, "m", {}]', ErrorKind.MESSAGE_TYPE, "m"),
        ('["2", "m", "Heartbeat", {}]', ErrorKind.MESSAGE_TYPE, "m"),
    ],
)
def test_a_bad_frame_is_an_rpc_error_of_its_kind(
    text: str, kind: ErrorKind, message_id: str
) -> None:
    with pytest.raises(RpcError) as raised:
        parse_frame(text)
    assert raised.value.kind is kind
    assert raised.value.message_id == message_id
    assert raised.value.description


def test_a_message_id_of_36_characters_is_accepted() -> None:
    message_id = "x" * MAX_MESSAGE_ID_LENGTH
    assert parse_frame(json.dumps([2, message_id, "Heartbeat", {}])).message_id == message_id


# --- serialising ---------------------------------------------------------------------------------


def test_frames_serialise_as_json_arrays_that_parse_back() -> None:
    call = call_frame("7", "Reset", {"type": "Soft"})
    assert json.loads(call) == [2, "7", "Reset", {"type": "Soft"}]
    assert parse_frame(call) == Call("7", "Reset", {"type": "Soft"})
    result = result_frame("7", {"status": "Accepted"})
    assert json.loads(result) == [3, "7", {"status": "Accepted"}]
    assert parse_frame(result) == CallResult("7", {"status": "Accepted"})


def test_an_error_frame_has_the_versions_code_and_empty_details() -> None:
    frame = json.loads(error_frame(RpcVersion.V16, "9", ErrorKind.FORMAT, "bad"))
    assert frame == [4, "9", "FormationViolation", "bad", {}]
    frame = json.loads(error_frame(RpcVersion.V201, "9", ErrorKind.FORMAT, "bad", {"at": 1}))
    assert frame == [4, "9", "FormatViolation", "bad", {"at": 1}]


def test_an_error_description_is_cut_to_255_characters() -> None:
    frame = json.loads(error_frame(RpcVersion.V201, "9", ErrorKind.GENERIC, "x" * 300))
    assert frame[3] == "x" * 255


# --- error codes per version ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "codes"), [(RpcVersion.V16, V16_CODES), (RpcVersion.V201, V201_CODES)]
)
def test_every_kind_has_a_code_from_the_versions_table(
    version: RpcVersion, codes: set[str]
) -> None:
    used = {error_code(version, kind) for kind in ErrorKind}
    assert used == codes


@pytest.mark.parametrize(
    ("kind", "v16", "v201"),
    [
        (ErrorKind.NOT_JSON, "FormationViolation", "RpcFrameworkError"),
        (ErrorKind.NOT_RPC, "FormationViolation", "RpcFrameworkError"),
        (ErrorKind.MESSAGE_TYPE, "FormationViolation", "MessageTypeNotSupported"),
        (ErrorKind.FORMAT, "FormationViolation", "FormatViolation"),
        (ErrorKind.OCCURRENCE, "OccurenceConstraintViolation", "OccurenceConstraintViolation"),
        (ErrorKind.TYPE, "TypeConstraintViolation", "TypeConstraintViolation"),
        (ErrorKind.PROPERTY, "PropertyConstraintViolation", "PropertyConstraintViolation"),
        (ErrorKind.NOT_IMPLEMENTED, "NotImplemented", "NotImplemented"),
        (ErrorKind.NOT_SUPPORTED, "NotSupported", "NotSupported"),
        (ErrorKind.INTERNAL, "InternalError", "InternalError"),
    ],
)
def test_each_kind_is_spelled_as_each_specification_does(
    kind: ErrorKind, v16: str, v201: str
) -> None:
    assert error_code(RpcVersion.V16, kind) == v16
    assert error_code(RpcVersion.V201, kind) == v201
