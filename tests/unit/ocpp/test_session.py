"""The RPC layer (`controller/ocpp/session.py`) on an in-memory transport, both versions.

A real `Session` runs on `tests.fakes.MemoryTransport`; the test plays the charger, frame by
frame. Timeouts run on the virtual clock of `tests.fakes.VirtualTimeLoop`: a 30 s call timeout
passes at once and in order, without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.values.commands import CallFailed, FailureKind
from controller.values.records import Direction, MessageType
from tests.fakes import MemoryTransport, MessageLog, run_in_virtual_time

NOW = "2026-11-25T10:00:00Z"


@dataclass(frozen=True)
class Dialect:
    """A command each version has, its answers, and how the version spells two errors."""

    version: RpcVersion
    answer: dict[str, Any]
    invalid_answer: dict[str, Any]
    not_rpc: str
    wrong_message_type: str
    bad_payload: str


V16 = Dialect(
    RpcVersion.V16,
    {"listVersion": 3},
    {"listVersion": "three"},
    "FormationViolation",
    "FormationViolation",
    "FormationViolation",
)
V201 = Dialect(
    RpcVersion.V201,
    {"versionNumber": 3},
    {},
    "RpcFrameworkError",
    "MessageTypeNotSupported",
    "FormatViolation",
)


@pytest.fixture(params=[V16, V201], ids=["1.6", "2.0.1"])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    value: Dialect = request.param
    return value


async def heartbeat(payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": NOW}


async def failing(payload: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the database is gone")


class Charger:
    """The charger's end of a session that serves in the background."""

    def __init__(self, dialect: Dialect, *, call_timeout: float = 30.0) -> None:
        self.transport = MemoryTransport()
        self.frames = MessageLog()
        self.session = Session("CP-1", dialect.version, self.transport, self.frames)
        self.session.call_timeout = call_timeout
        self.session.handlers = {"Heartbeat": heartbeat, "BootNotification": failing}
        self.serving = asyncio.create_task(self.session.serve())

    def call(self, *, timeout: float | None = None) -> asyncio.Task[dict[str, Any] | CallFailed]:
        """Our GetLocalListVersion, in the background."""
        return asyncio.create_task(self.session.call("GetLocalListVersion", {}, timeout=timeout))

    async def answer(self, frame: list[Any], payload: dict[str, Any]) -> None:
        assert frame[0] == 2
        self.transport.deliver([3, frame[1], payload])

    async def ask(self, frame: str | list[Any]) -> list[Any]:
        """Send a frame as the charger; the session's reply."""
        self.transport.deliver(frame)
        return await self.transport.next_frame()

    async def stop(self) -> None:
        self.transport.disconnect()
        await self.serving


@pytest.fixture
async def charger(dialect: Dialect) -> AsyncIterator[Charger]:
    charger = Charger(dialect)
    yield charger
    await charger.stop()


# --- our calls -----------------------------------------------------------------------------------


async def test_a_call_is_sent_and_its_result_returned(charger: Charger, dialect: Dialect) -> None:
    task = charger.call()
    frame = await charger.transport.next_frame()
    assert frame[0] == 2 and frame[2:] == ["GetLocalListVersion", {}]
    await charger.answer(frame, dialect.answer)
    assert await task == dialect.answer


async def test_one_of_our_calls_is_outstanding_at_a_time(
    charger: Charger, dialect: Dialect
) -> None:
    first, second = charger.call(), charger.call()
    frame = await charger.transport.next_frame()
    assert charger.transport.unread() == 0  # the second waits for the first's answer
    assert not second.done()
    await charger.answer(frame, dialect.answer)
    assert await first == dialect.answer
    next_frame = await charger.transport.next_frame()
    assert next_frame[1] != frame[1]
    await charger.answer(next_frame, dialect.answer)
    assert await second == dialect.answer


async def test_the_chargers_call_is_answered_while_ours_is_outstanding(charger: Charger) -> None:
    task = charger.call()
    ours = await charger.transport.next_frame()
    assert await charger.ask([2, "hb-1", "Heartbeat", {}]) == [3, "hb-1", {"currentTime": NOW}]
    assert not task.done()
    charger.transport.deliver([4, ours[1], "GenericError", "later", {}])
    assert isinstance(await task, CallFailed)


async def test_the_chargers_calls_are_answered_one_at_a_time(charger: Charger) -> None:
    entered: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def slow_heartbeat(payload: dict[str, Any]) -> dict[str, Any]:
        entered.append("heartbeat")
        inside.set()
        await release.wait()
        return {"currentTime": NOW}

    charger.session.handlers = {"Heartbeat": slow_heartbeat}
    charger.transport.deliver([2, "a", "Heartbeat", {}])
    charger.transport.deliver([2, "b", "Heartbeat", {}])
    reply = asyncio.create_task(charger.transport.next_frame())
    await inside.wait()
    assert entered == ["heartbeat"] and not reply.done()
    release.set()
    assert (await reply)[1] == "a"
    assert (await charger.transport.next_frame())[1] == "b"
    assert entered == ["heartbeat", "heartbeat"]


def test_no_answer_is_a_timeout_and_the_late_answer_is_dropped(dialect: Dialect) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        charger = Charger(dialect, call_timeout=30)
        started = loop.time()
        task = charger.call()
        frame = await charger.transport.next_frame()
        failed = await task
        assert isinstance(failed, CallFailed) and failed.kind is FailureKind.TIMEOUT
        assert failed.action == "GetLocalListVersion"
        assert failed.description == "no answer within 30s"
        assert loop.time() - started == pytest.approx(30)
        await charger.answer(frame, dialect.answer)  # too late: nobody waits for it
        again = charger.call()
        await charger.answer(await charger.transport.next_frame(), dialect.answer)
        assert await again == dialect.answer
        await charger.stop()

    run_in_virtual_time(main)


def test_a_calls_own_timeout_wins_over_the_sessions(dialect: Dialect) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        charger = Charger(dialect, call_timeout=30)
        started = loop.time()
        failed = await charger.call(timeout=5)
        assert isinstance(failed, CallFailed) and failed.kind is FailureKind.TIMEOUT
        assert loop.time() - started == pytest.approx(5)
        await charger.stop()

    run_in_virtual_time(main)


async def test_a_call_error_is_a_failure_with_its_code(charger: Charger) -> None:
    task = charger.call()
    frame = await charger.transport.next_frame()
    charger.transport.deliver([4, frame[1], "NotSupported", "no local list here", {}])
    failed = await task
    assert failed == CallFailed(
        FailureKind.CALL_ERROR, "GetLocalListVersion", "no local list here", "NotSupported"
    )


async def test_an_answer_the_schema_refuses_is_an_invalid_response(
    charger: Charger, dialect: Dialect
) -> None:
    task = charger.call()
    await charger.answer(await charger.transport.next_frame(), dialect.invalid_answer)
    failed = await task
    assert isinstance(failed, CallFailed) and failed.kind is FailureKind.INVALID_RESPONSE
    assert failed.action == "GetLocalListVersion"


async def test_an_answer_to_an_unknown_id_is_dropped(charger: Charger, dialect: Dialect) -> None:
    task = charger.call()
    frame = await charger.transport.next_frame()
    charger.transport.deliver([3, "not-ours", dialect.answer])
    charger.transport.deliver([4, "not-ours", "GenericError", "x", {}])
    await charger.answer(frame, dialect.answer)
    assert await task == dialect.answer


# --- bad frames ----------------------------------------------------------------------------------

BadFrame = Callable[[Dialect], tuple[str | list[Any], str, str]]
"""A dialect → (the frame the charger sends, the message id and the code of our CALLERROR)."""

BAD_FRAMES: dict[str, BadFrame] = {
    "not JSON": lambda d: ("[2, 'single quotes'", "-1", d.not_rpc),
    "not an array": lambda d: ('{"2": "Heartbeat"}', "-1", d.not_rpc),
    "no message id": lambda d: ('[2, 17, "Heartbeat", {}]', "-1", d.not_rpc),
    "CALL too short": lambda d: ('[2, "m1", "Heartbeat"]', "m1", d.not_rpc),
    "unknown message type": lambda d: ([7, "m2", {}], "m2", d.wrong_message_type),
    "payload not an object": lambda d: ([2, "m3", "Heartbeat", []], "m3", d.bad_payload),
    "unknown action": lambda d: ([2, "m4", "Teleport", {}], "m4", "NotImplemented"),
    "known action, not handled": lambda d: ([2, "m5", "Authorize", {}], "m5", "NotSupported"),
    "required field missing": lambda d: (
        [2, "m6", "BootNotification", {}],
        "m6",
        "OccurenceConstraintViolation",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
async def test_a_bad_frame_is_answered_as_the_spec_prescribes_and_the_session_lives_on(
    charger: Charger, dialect: Dialect, case: str
) -> None:
    frame, message_id, code = BAD_FRAMES[case](dialect)
    reply = await charger.ask(frame)
    assert reply[:3] == [4, message_id, code]
    assert isinstance(reply[3], str) and reply[3] and reply[4] == {}
    assert await charger.ask([2, "after", "Heartbeat", {}]) == [3, "after", {"currentTime": NOW}]
    assert not charger.serving.done()


async def test_a_failing_handler_is_an_internal_error(charger: Charger) -> None:
    boot = {
        RpcVersion.V16: {"chargePointVendor": "ACME", "chargePointModel": "One"},
        RpcVersion.V201: {
            "reason": "PowerUp",
            "chargingStation": {"vendorName": "ACME", "model": "One"},
        },
    }[charger.session.version]
    reply = await charger.ask([2, "b1", "BootNotification", boot])
    assert reply[:3] == [4, "b1", "InternalError"]
    assert "the database is gone" in reply[3]
    assert await charger.ask([2, "after", "Heartbeat", {}]) == [3, "after", {"currentTime": NOW}]


async def test_a_binary_frame_is_read_as_text(charger: Charger) -> None:
    assert await charger.ask(b'[2, "bin", "Heartbeat", {}]') == [
        3,
        "bin",
        {"currentTime": NOW},
    ]


# --- the connection ------------------------------------------------------------------------------


async def test_a_disconnect_fails_the_pending_call_and_every_later_one(dialect: Dialect) -> None:
    charger = Charger(dialect)
    task = charger.call()
    await charger.transport.next_frame()
    charger.transport.disconnect(1006)
    failed = await task
    assert failed == CallFailed(
        FailureKind.DISCONNECTED, "GetLocalListVersion", "connection closed"
    )
    await charger.serving  # serve() returns when the transport closes
    assert charger.session.closed.is_set()
    later = await charger.session.call("GetLocalListVersion", {})
    assert later == CallFailed(
        FailureKind.DISCONNECTED, "GetLocalListVersion", "charger not connected"
    )


async def test_close_closes_the_transport_with_its_code(charger: Charger) -> None:
    await charger.session.close(1000, "replaced by a new connection")
    await charger.serving
    assert charger.transport.close_code == 1000
    assert charger.transport.close_reason == "replaced by a new connection"


async def test_every_frame_is_logged_both_ways(charger: Charger, dialect: Dialect) -> None:
    await charger.ask([2, "hb", "Heartbeat", {}])
    task = charger.call()
    frame = await charger.transport.next_frame()
    await charger.answer(frame, dialect.answer)
    await task
    await charger.ask("nonsense")
    logged = [(e.direction, e.message_type, e.unique_id, e.action) for e in charger.frames.entries]
    assert logged == [
        (Direction.RECEIVED, MessageType.CALL, "hb", "Heartbeat"),
        (Direction.SENT, MessageType.CALL_RESULT, "hb", "Heartbeat"),
        (Direction.SENT, MessageType.CALL, frame[1], "GetLocalListVersion"),
        (Direction.RECEIVED, MessageType.CALL_RESULT, frame[1], "GetLocalListVersion"),
        (Direction.RECEIVED, 0, "-1", None),
        (Direction.SENT, MessageType.CALL_ERROR, "-1", None),
    ]
    assert all(e.identity == "CP-1" for e in charger.frames.entries)
