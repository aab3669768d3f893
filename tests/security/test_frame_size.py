"""Threat: a client sends huge frames, to make the server buffer and parse without limit.

A frame over `EndpointOptions.max_frame_bytes` closes the connection with 1009 (message too
big) and a log line naming the charger and the limit, so that an operator can tell a charger
whose real messages outgrew the limit from an attack. A frame of exactly the limit is served:
the limit (1 MiB by default) is sized to fit real chargers' largest messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from controller.ocpp.server import MAX_FRAME_BYTES
from controller.runtime.serve import Running, ServeOptions, running
from tests.integration.fleets import write_fleet
from tests.integration.rawclient import RawCharger

IDENTITY = {"1.6": "CP-16", "2.0.1": "CP-201"}
SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}

pytestmark = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


class LogLines(logging.Handler):
    """The chargectl.ocpp log as it is written, with a wait for a line containing a text."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._written = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self._written.set()

    async def line_with(self, text: str, timeout: float = 5.0) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                self._written.clear()
                await self._written.wait()


@pytest.fixture
def ocpp_log() -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger("chargectl.ocpp")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    options = ServeOptions(
        reconcile=False,
        paths=[write_fleet(tmp_path, protected=False)],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
    )
    async with running(options) as started:
        yield started


def data_transfer(size: int) -> str:
    """A DataTransfer CALL of exactly `size` bytes."""
    empty = json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": ""}])
    frame = json.dumps(
        [2, "big", "DataTransfer", {"vendorId": "x", "data": "A" * (size - len(empty))}]
    )
    assert len(frame.encode()) == size
    return frame


async def test_a_frame_of_exactly_the_limit_is_answered(server: Running, version: str) -> None:
    assert server.endpoint.options.max_frame_bytes == MAX_FRAME_BYTES == 1 << 20
    cp = await RawCharger.connect(
        server.url, IDENTITY[version], subprotocols=[SUBPROTOCOL[version]]
    )
    reply = await cp.send_raw(data_transfer(MAX_FRAME_BYTES))
    assert reply is not None and reply[:2] == [3, "big"]


async def test_a_frame_over_the_limit_closes_with_1009_and_the_log_names_the_charger(
    server: Running, version: str, ocpp_log: LogLines
) -> None:
    identity = IDENTITY[version]
    cp = await RawCharger.connect(server.url, identity, subprotocols=[SUBPROTOCOL[version]])
    await cp.connection.send(data_transfer(MAX_FRAME_BYTES + 1))
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(cp.connection.recv(), 5)
    assert cp.connection.close_code == 1009
    line = await ocpp_log.line_with("with 1009")
    assert line.startswith(f"closed {identity} from 127.0.0.1:")
    assert f"over the {MAX_FRAME_BYTES}-byte limit" in line
