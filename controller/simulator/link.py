"""One websocket connection of a simulated charger, as the `ocpp` library sees it.

The library's charge point wants something with `send()` and `recv()`; `Link` is that, plus
what the simulator needs on top: its own receive loop (so a raw frame's reply can be caught
before the library would discard it), work to run only once a reply has gone out (a Reset is
answered before the socket closes), and calls that fail at once when the connection drops
instead of waiting for the library's response timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from controller.simulator._ocpp import ChargePoint16, ChargePoint201, OCPPError
from controller.simulator.errors import CallErrorReply, CallFailed

log = logging.getLogger("controller.simulator")

AfterReply = Callable[[], Coroutine[Any, Any, None]]


class Link:
    """A connected websocket, the library charge point speaking over it, and its loop."""

    __slots__ = ("_after", "_raw", "closed", "cp", "spawn", "ws")

    def __init__(self, ws: ClientConnection, spawn: Callable[[AfterReply], None]) -> None:
        self.ws = ws
        self.cp: ChargePoint16 | ChargePoint201 | None = None
        self.spawn = spawn
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._after: list[AfterReply] = []
        self._raw: asyncio.Future[str | None] | None = None

    # the connection interface of the ocpp library

    async def send(self, message: str) -> None:
        await self.ws.send(message)
        if self._after and message.startswith("[3"):
            after, self._after = self._after, []
            for work in after:
                self.spawn(work)
        elif message.startswith("[4"):
            self._after.clear()

    async def recv(self) -> str:
        frame = await self.ws.recv()
        return frame if isinstance(frame, str) else frame.decode("utf-8", "replace")

    # what the simulator adds

    def after_reply(self, work: AfterReply) -> None:
        """Run `work` once the reply to the call being handled has been sent."""
        self._after.append(work)

    async def serve(self) -> None:
        """Receive until the connection closes, routing frames to the charge point."""
        assert self.cp is not None
        try:
            while True:
                frame = await self.recv()
                if self._raw is not None and not self._raw.done() and _is_reply(frame):
                    self._raw.set_result(frame)
                    continue
                try:
                    await self.cp.route_message(frame)
                except ConnectionClosed:
                    raise
                except Exception:
                    log.exception("%s: handling %.200s failed", self.cp.id, frame)
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(None)
            if self._raw is not None and not self._raw.done():
                self._raw.set_result(None)

    async def call(self, payload: Any, *, validate: bool) -> Any:
        """Send a call and return the library's result object; CallFailed otherwise."""
        assert self.cp is not None
        pending = asyncio.ensure_future(
            self.cp.call(payload, suppress=False, skip_schema_validation=not validate)
        )
        pending.add_done_callback(_consume)
        try:
            await asyncio.wait({pending, self.closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pending.cancel()
        if not pending.done() or pending.cancelled():
            raise CallFailed(f"{type(payload).__name__}: connection lost")
        try:
            return pending.result()
        except OCPPError as exc:
            action = type(payload).__name__
            raise CallErrorReply(f"{action}: CALLERROR {exc.code}", exc.code) from exc
        except TimeoutError as exc:
            raise CallFailed(f"{type(payload).__name__}: no answer") from exc
        except ConnectionClosed as exc:
            raise CallFailed(f"{type(payload).__name__}: connection lost") from exc

    async def send_raw(self, text: str, timeout: float) -> tuple[str | None, bool]:
        """Send `text` as is; return the next reply frame (None if none) and whether the
        connection closed meanwhile. The caller makes sure no call of ours is outstanding,
        so any CALLRESULT or CALLERROR that arrives now answers this frame."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._raw = future
        try:
            await self.ws.send(text)
            async with asyncio.timeout(timeout):
                reply = await asyncio.shield(future)
        except (TimeoutError, ConnectionClosed):
            reply = future.result() if future.done() else None
        finally:
            self._raw = None
        if not self.closed.done():
            # A close frame may still be on its way: give it a moment before reporting.
            await asyncio.sleep(0)
        return reply, self.closed.done() or self.ws.close_code is not None

    def abort(self) -> None:
        """Drop the connection without a closing handshake, like a lost network."""
        transport = getattr(self.ws, "transport", None)
        if transport is not None:
            transport.abort()


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a call's outcome, so an abandoned one is not reported as lost by asyncio."""
    if not task.cancelled():
        task.exception()


def _is_reply(frame: str) -> bool:
    try:
        decoded = json.loads(frame)
    except ValueError:
        return False
    return isinstance(decoded, list) and bool(decoded) and decoded[0] in (3, 4)
