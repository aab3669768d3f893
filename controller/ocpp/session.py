"""One charger's connection: the OCPP-J RPC layer, version-neutral.

A session reads frames from a `transport.Transport` (a websocket in production, an in-memory
pair in tests), answers the charger's CALLs through a handler table, and sends the
central system's own CALLs one at a time: OCPP-J allows one outstanding CALL per direction, so
outgoing calls queue on a lock and each waits for its CALLRESULT or CALLERROR, or times out.
A timeout, a CALLERROR or a dropped connection come back as a `CallFailed` value, never as a
hung task. Bad frames are answered with the CALLERROR each specification prescribes and the
session goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from controller.ocpp import schemas
from controller.ocpp.redaction import Redact, no_secrets
from controller.ocpp.rpc import (
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
from controller.ocpp.transport import Transport, TransportClosed
from controller.values.commands import CallFailed, FailureKind
from controller.values.records import Direction, LogEntry, MessageType

log = logging.getLogger("chargectl.ocpp")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Answers one CALL: its payload in, the CALLRESULT payload out."""


class FrameLog(Protocol):
    """Where every frame goes, both directions (the store's bounded OCPP message log)."""

    async def log_message(self, entry: LogEntry) -> None: ...


@dataclass(frozen=True, slots=True)
class _Pending:
    action: str
    future: asyncio.Future[CallResult | CallError]


_ids = itertools.count(1)


class Session:
    """The RPC layer of one connected charger."""

    def __init__(
        self,
        identity: str,
        version: RpcVersion,
        transport: Transport,
        frame_log: FrameLog,
        *,
        call_timeout: float = 30.0,
        redact: Redact = no_secrets,
    ) -> None:
        self.identity = identity
        self.redact = redact
        """Masks secrets (a password being set) in the frames logged, never in those sent."""
        self.version = version
        self.transport = transport
        self.handlers: Mapping[str, Handler] = {}
        self.call_timeout = call_timeout
        self._frame_log = frame_log
        self._call_lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._pending_id: str | None = None
        self.closed = asyncio.Event()

    # --- incoming ------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read frames until the connection closes."""
        try:
            while True:
                await self._receive(await self.transport.recv())
        except TransportClosed:
            pass
        finally:
            self.closed.set()
            if self._pending is not None and not self._pending.future.done():
                self._pending.future.cancel()

    async def _receive(self, message: str | bytes) -> None:
        now = datetime.now(UTC)
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        try:
            frame = parse_frame(message)
        except RpcError as exc:
            await self._log(Direction.RECEIVED, 0, exc.message_id, text, None, now)
            await self._refuse(exc, None)
            return
        if isinstance(frame, Call):
            masked = self.redact(frame.action, frame.payload, False)
            if masked is not None:
                text = call_frame(frame.message_id, frame.action, masked)
            await self._log(
                Direction.RECEIVED, MessageType.CALL, frame.message_id, text, frame.action, now
            )
            try:
                reply = await self._answer(frame)
            except RpcError as exc:
                await self._refuse(exc, frame.action)
                return
            await self._send(reply, MessageType.CALL_RESULT, frame.message_id, frame.action)
            return
        kind = MessageType.CALL_RESULT if isinstance(frame, CallResult) else MessageType.CALL_ERROR
        action = self._pending.action if self._pending is not None else None
        if isinstance(frame, CallResult) and action is not None:
            masked = self.redact(action, frame.payload, True)
            if masked is not None:
                text = result_frame(frame.message_id, masked)
        await self._log(Direction.RECEIVED, kind, frame.message_id, text, action, now)
        self._settle(frame)

    async def _refuse(self, exc: RpcError, action: str | None) -> None:
        code = error_code(self.version, exc.kind)
        log.info("%s: answered a bad frame with %s: %s", self.identity, code, exc.description)
        reply = error_frame(self.version, exc.message_id, exc.kind, exc.description)
        await self._send(reply, MessageType.CALL_ERROR, exc.message_id, action)

    async def _log(
        self,
        direction: Direction,
        message_type: int,
        message_id: str,
        text: str,
        action: str | None,
        at: datetime,
    ) -> None:
        if log.isEnabledFor(logging.DEBUG):  # one line per OCPP message, off the hot path
            arrow = "<-" if direction is Direction.RECEIVED else "->"
            log.debug(
                "%s %s %s",
                self.identity,
                arrow,
                text,
                extra={"charger": self.identity, "action": action, "direction": direction.value},
            )
        await self._frame_log.log_message(
            LogEntry(self.identity, at, direction, message_type, message_id, text, action)
        )

    async def _answer(self, call: Call) -> str:
        handler = self.handlers.get(call.action)
        if handler is None:
            kind = (
                ErrorKind.NOT_SUPPORTED
                if call.action in schemas.known_actions(self.version)
                else ErrorKind.NOT_IMPLEMENTED
            )
            raise RpcError(kind, f"action {call.action!r} is not handled here", call.message_id)
        schemas.validate(self.version, call.action, call.payload, call.message_id, response=False)
        try:
            payload = await handler(call.payload)
        except RpcError:
            raise
        except Exception as exc:
            log.exception("%s: %s handler failed", self.identity, call.action)
            raise RpcError(
                ErrorKind.INTERNAL, f"{call.action} could not be processed: {exc}", call.message_id
            ) from exc
        return result_frame(call.message_id, payload)

    def _settle(self, frame: CallResult | CallError) -> None:
        pending = self._pending
        if pending is None or frame.message_id != self._pending_id:
            log.warning(
                "%s: dropped a %s for unknown message id %r",
                self.identity,
                "CALLRESULT" if isinstance(frame, CallResult) else "CALLERROR",
                frame.message_id,
            )
            return
        if not pending.future.done():
            pending.future.set_result(frame)

    # --- outgoing ------------------------------------------------------------------------------

    async def call(
        self, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any] | CallFailed:
        """Send a CALL and wait for its answer; at most one is outstanding per connection."""
        async with self._call_lock:
            if self.closed.is_set():
                return CallFailed(FailureKind.DISCONNECTED, action, "charger not connected")
            message_id = f"{next(_ids)}"
            future: asyncio.Future[CallResult | CallError] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending, self._pending_id = _Pending(action, future), message_id
            try:
                masked = self.redact(action, payload, False)
                await self._send(
                    call_frame(message_id, action, payload),
                    MessageType.CALL,
                    message_id,
                    action,
                    logged=None if masked is None else call_frame(message_id, action, masked),
                )
                async with asyncio.timeout(timeout or self.call_timeout):  # lighter than wait_for
                    answer = await future
            except TimeoutError:
                return CallFailed(
                    FailureKind.TIMEOUT, action, f"no answer within {timeout or self.call_timeout}s"
                )
            except (asyncio.CancelledError, TransportClosed):
                if self.closed.is_set():
                    return CallFailed(FailureKind.DISCONNECTED, action, "connection closed")
                raise
            finally:
                self._pending = self._pending_id = None
        if isinstance(answer, CallError):
            return CallFailed(FailureKind.CALL_ERROR, action, answer.description, answer.code)
        try:
            schemas.validate(self.version, action, answer.payload, message_id, response=True)
        except RpcError as exc:
            return CallFailed(FailureKind.INVALID_RESPONSE, action, exc.description)
        return answer.payload

    async def _send(
        self,
        text: str,
        message_type: int,
        message_id: str,
        action: str | None,
        *,
        logged: str | None = None,
    ) -> None:
        """Send `text`; the logs get `logged` instead when given (the frame with its secrets
        masked)."""
        at = datetime.now(UTC)
        await self._log(Direction.SENT, message_type, message_id, logged or text, action, at)
        try:
            await self.transport.send(text)
        except TransportClosed:
            self.closed.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.transport.close(code, reason)
