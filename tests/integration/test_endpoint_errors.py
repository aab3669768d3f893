"""Bad input over a real socket: each case gets the CALLERROR its specification prescribes.

The expected codes come from the specifications' tables, not from any library:

- OCPP-J 1.6 §4.2.3 "CallError", valid error codes:
  FormationViolation  "Payload for Action is syntactically incorrect or not conform the PDU
                       structure for Action"
  OccurenceConstraintViolation  "Payload for Action is syntactically correct but at least one
                       of the fields violates occurence constraints"  (the spec's spelling)
  TypeConstraintViolation  "... at least one of the fields violates data type constraints
                       (e.g. "somestring": 12)"
  PropertyConstraintViolation  "Payload is syntactically correct but at least one field
                       contains an invalid value"
  NotImplemented      "Requested Action is not known by receiver"
  NotSupported        "Requested Action is recognized but not supported by the receiver"
- OCPP 2.0.1 Part 4 §4.3 "CallError" (JSON), valid error codes: the same, with
  FormatViolation for FormationViolation (OccurenceConstraintViolation keeps the 1.6 spelling
  until OCPP 2.1), plus
  RpcFrameworkError   "Content of the call is not a valid RPC Request, for example: MessageId
                       could not be read."
  MessageTypeNotSupported  "A message with an Message Type Number received that is not
                       supported by this implementation."
  and §4.2.3: a CALLERROR answering a message whose MessageId could not be read uses "-1".

After every bad frame the session must live on: the next Heartbeat is answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from controller.runtime.serve import Running, ServeOptions, running
from tests.integration.fleets import write_fleet
from tests.integration.rawclient import RawCharger

pytestmark = pytest.mark.both_loops

IDENTITY = {"1.6": "CP-16", "2.0.1": "CP-201"}
SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    fleet = write_fleet(tmp_path, protected=False)
    options = ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[fleet],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
    )
    async with running(options) as started:
        yield started


async def connect(server: Running, version: str) -> RawCharger:
    return await RawCharger.connect(
        server.url, IDENTITY[version], subprotocols=[SUBPROTOCOL[version]]
    )


async def assert_session_lives(cp: RawCharger) -> None:
    reply = await cp.call("Heartbeat", {})
    assert reply[0] == 3 and "currentTime" in reply[2]


# (case, frame, 1.6 code, 2.0.1 code, expected message id)
BAD_FRAMES = [
    ("malformed JSON", '[2, "m1", "Heartbeat", {', "FormationViolation", "RpcFrameworkError", "-1"),
    ("not an array", '{"action": "Heartbeat"}', "FormationViolation", "RpcFrameworkError", "-1"),
    (
        "message id not a string",
        '[2, 17, "Heartbeat", {}]',
        "FormationViolation",
        "RpcFrameworkError",
        "-1",
    ),
    (
        "unknown message type id",
        '[7, "m2", "Heartbeat", {}]',
        "FormationViolation",
        "MessageTypeNotSupported",
        "m2",
    ),
    ("unknown action", '[2, "m3", "MakeCoffee", {}]', "NotImplemented", "NotImplemented", "m3"),
    (
        "action of the other direction",
        '[2, "m4", "Reset", {"type": "Hard"}]',
        "NotSupported",
        "NotSupported",
        "m4",
    ),
    (
        "payload not an object",
        '[2, "m5", "Heartbeat", []]',
        "FormationViolation",
        "FormatViolation",
        "m5",
    ),
    (
        "unknown field",
        '[2, "m6", "Heartbeat", {"cpu": 3}]',
        "FormationViolation",
        "FormatViolation",
        "m6",
    ),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(
    ("case", "frame", "code16", "code201", "message_id"),
    BAD_FRAMES,
    ids=[case[0] for case in BAD_FRAMES],
)
async def test_a_bad_frame_gets_the_specified_callerror_and_the_session_lives(
    server: Running,
    version: str,
    case: str,
    frame: str,
    code16: str,
    code201: str,
    message_id: str,
) -> None:
    cp = await connect(server, version)
    reply = await cp.send_raw(frame)
    assert reply is not None, f"{case}: the connection was closed"
    assert reply[0] == 4
    assert reply[1] == message_id
    assert reply[2] == (code16 if version == "1.6" else code201)
    assert isinstance(reply[3], str) and len(reply[3]) <= 255
    assert isinstance(reply[4], dict)
    await assert_session_lives(cp)


SCHEMA_CASES_16 = [
    (
        "missing required field",
        "BootNotification",
        {"chargePointModel": "X"},
        "OccurenceConstraintViolation",
    ),
    (
        "wrong type",
        "StatusNotification",
        {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
        "TypeConstraintViolation",
    ),
    ("string too long", "Authorize", {"idTag": "X" * 21}, "TypeConstraintViolation"),
    (
        "value not in the enumeration",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"},
        "PropertyConstraintViolation",
    ),
]

SCHEMA_CASES_201 = [
    (
        "missing required field",
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "X"}},
        "OccurenceConstraintViolation",
    ),
    (
        "wrong type",
        "StatusNotification",
        {
            "timestamp": "2026-11-25T10:00:00Z",
            "connectorStatus": "Available",
            "evseId": "one",
            "connectorId": 1,
        },
        "TypeConstraintViolation",
    ),
    (
        "string too long",
        "Authorize",
        {"idToken": {"idToken": "X" * 37, "type": "ISO14443"}},
        "TypeConstraintViolation",
    ),
    (
        "value not in the enumeration",
        "StatusNotification",
        {
            "timestamp": "2026-11-25T10:00:00Z",
            "connectorStatus": "Dancing",
            "evseId": 1,
            "connectorId": 1,
        },
        "PropertyConstraintViolation",
    ),
]


@pytest.mark.parametrize(
    ("version", "case", "action", "payload", "code"),
    [("1.6", *c) for c in SCHEMA_CASES_16] + [("2.0.1", *c) for c in SCHEMA_CASES_201],
    ids=[f"1.6-{c[0]}" for c in SCHEMA_CASES_16] + [f"2.0.1-{c[0]}" for c in SCHEMA_CASES_201],
)
async def test_a_payload_breaking_the_schema_gets_the_specified_callerror(
    server: Running, version: str, case: str, action: str, payload: dict[str, object], code: str
) -> None:
    cp = await connect(server, version)
    reply = await cp.send_raw(json.dumps([2, "s1", action, payload]))
    assert reply is not None and reply[:3] == [4, "s1", code], case
    await assert_session_lives(cp)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_oversized_frame_closes_the_connection_with_1009(
    server: Running, version: str
) -> None:
    cp = await connect(server, version)
    over = "A" * (server.endpoint.options.max_frame_bytes + 1)
    huge = json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": over}])
    await cp.connection.send(huge)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(cp.connection.recv(), 5)
    assert cp.connection.close_code == 1009
    again = await connect(server, version)  # the server itself goes on
    await assert_session_lives(again)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_callresult_for_an_unknown_message_id_is_dropped(
    server: Running, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    cp = await connect(server, version)
    reply = await cp.send_raw('[3, "never-asked", {}]', timeout=0.5)
    assert reply is None  # no answer to an answer
    await assert_session_lives(cp)
    assert "unknown message id 'never-asked'" in caplog.text


async def test_a_binary_frame_is_read_as_text(server: Running) -> None:
    cp = await connect(server, "1.6")
    reply = await cp.send_raw(b'[2, "b1", "Heartbeat", {}]')
    assert reply is not None and reply[:2] == [3, "b1"]
