"""A bare OCPP-J client over a real websocket: frames as the charger would send them.

Independent of the `ocpp` library on purpose, so tests see exactly what goes over the wire.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

_ids = itertools.count(1)


class RawCharger:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.server_calls: asyncio.Queue[list[Any]] = asyncio.Queue()

    @classmethod
    async def connect(
        cls,
        base_url: str,
        identity: str,
        *,
        subprotocols: list[str],
        password: str | None = None,
        user: str | None = None,
    ) -> RawCharger:
        headers = {}
        if password is not None:
            token = base64.b64encode(f"{user or identity}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        connection = await connect(
            f"{base_url}/{identity}",
            subprotocols=subprotocols,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=5,
        )
        return cls(connection)

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL and return the server's CALLRESULT or CALLERROR frame."""
        message_id = f"m{next(_ids)}"
        reply = await self.send_raw(json.dumps([2, message_id, action, payload]))
        assert reply is not None, f"connection closed instead of answering {action}"
        return reply

    async def send_raw(self, text: str | bytes, timeout: float = 5.0) -> list[Any] | None:
        """Send one frame; return the next frame that is not a CALL from the server."""
        await self.connection.send(text)
        return await self.next_reply(timeout)

    async def next_reply(self, timeout: float = 5.0) -> list[Any] | None:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    frame = json.loads(await self.connection.recv())
                    if frame[0] == 2:
                        await self.server_calls.put(frame)
                        continue
                    return frame
        except Exception:
            return None

    async def next_server_call(self, timeout: float = 5.0) -> list[Any]:
        """The next CALL the central system sends us (reading the socket meanwhile)."""
        async with asyncio.timeout(timeout):
            while self.server_calls.empty():
                frame = json.loads(await self.connection.recv())
                if frame[0] == 2:
                    return frame
            return await self.server_calls.get()

    async def answer(self, message_id: str, payload: dict[str, Any]) -> None:
        await self.connection.send(json.dumps([3, message_id, payload]))

    async def close(self) -> None:
        await self.connection.close()
