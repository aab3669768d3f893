"""What a session needs of a connection: send and receive text frames, close, and two facts.

The RPC layer (`session.Session`) is typed on `Transport`, not on websockets' connection, so
that protocol logic runs against an in-memory transport in tests (`tests/fakes.py`), as
mobilityhouse/ocpp's charge point runs on anything with `send()` and `recv()`. The websockets
connection the endpoint accepts is adapted by `WebsocketTransport`; the integration tests drive
that path over real sockets.
"""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed


class TransportClosed(Exception):
    """The connection is gone: `recv()` and `send()` raise it once either side closed."""


class Transport(Protocol):
    """One charger's connection, after the handshake."""

    @property
    def remote_address(self) -> str | None:
        """`host:port` of the charger, for logs and the store; None when unknown."""
        ...

    @property
    def subprotocol(self) -> str | None:
        """The OCPP subprotocol agreed at the handshake (`ocpp1.6`, `ocpp2.0.1`), or None."""
        ...

    @property
    def close_code(self) -> int | None:
        """The websocket close code once the connection is closed; None while it is open."""
        ...

    async def send(self, text: str) -> None: ...

    async def recv(self) -> str | bytes:
        """The next frame; a binary frame comes as bytes (it is then read as UTF-8 JSON)."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


def remote_of(connection: ServerConnection) -> str | None:
    address = connection.remote_address
    if not address:
        return None
    return f"{address[0]}:{address[1]}"


class WebsocketTransport:
    """`Transport` over an accepted websockets connection."""

    __slots__ = ("_connection",)

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection

    @property
    def remote_address(self) -> str | None:
        return remote_of(self._connection)

    @property
    def subprotocol(self) -> str | None:
        return self._connection.subprotocol

    @property
    def close_code(self) -> int | None:
        return self._connection.close_code

    async def send(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except ConnectionClosed as exc:
            raise TransportClosed(str(exc)) from exc

    async def recv(self) -> str | bytes:
        try:
            return await self._connection.recv()
        except ConnectionClosed as exc:
            raise TransportClosed(str(exc)) from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._connection.close(code, reason)
