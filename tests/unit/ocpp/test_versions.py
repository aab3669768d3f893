"""The version table (`controller/ocpp/versions.py`) and the path after the handshake
(`controller/ocpp/connection.py`), on the in-memory transport."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controller.ocpp import schemas, v16, v201
from controller.ocpp.central import CentralSystem
from controller.ocpp.connection import serve_connection
from controller.ocpp.session import Session
from controller.ocpp.versions import BY_OCPP_VERSION, VERSIONS
from controller.resources.settings import OcppVersion
from controller.values.commands import ChargerCommands
from controller.values.records import LogEntry
from tests.fakes import MemoryTransport, ScriptedSession


def test_the_table_holds_each_version_by_its_subprotocol_newest_first() -> None:
    assert list(VERSIONS) == ["ocpp2.0.1", "ocpp1.6"]
    assert VERSIONS["ocpp1.6"] is v16.BINDING and VERSIONS["ocpp2.0.1"] is v201.BINDING
    for protocol, binding in VERSIONS.items():
        assert protocol == f"ocpp{binding.ocpp.value}"
        assert binding.rpc.value == binding.ocpp.value
        assert BY_OCPP_VERSION[binding.ocpp] is binding
    assert set(BY_OCPP_VERSION) == set(OcppVersion)


@pytest.mark.parametrize("protocol", list(VERSIONS))
def test_each_binding_builds_a_charger_that_handles_only_its_versions_messages(
    protocol: str,
) -> None:
    binding = VERSIONS[protocol]
    session = ScriptedSession(binding.rpc)
    charger: ChargerCommands = binding.charger(cast(Session, session), cast(CentralSystem, None))
    assert charger.identity == session.identity
    assert session.handlers and set(session.handlers) <= schemas.known_actions(binding.rpc)


class Registry:
    """The central system as the connection path uses it: connect, disconnect, log."""

    def __init__(self) -> None:
        self.connections: dict[str, ChargerCommands] = {}
        self.calls: list[tuple[str, Any]] = []
        self.logged: list[LogEntry] = []

    async def connected(
        self, identity: str, commands: ChargerCommands, version: str, remote: str | None
    ) -> ChargerCommands | None:
        self.calls.append(("connected", (identity, type(commands).__name__, version, remote)))
        previous = self.connections.get(identity)
        self.connections[identity] = commands
        return previous

    async def disconnected(self, identity: str, commands: ChargerCommands, reason: str) -> None:
        self.calls.append(("disconnected", (identity, reason)))

    async def heartbeat(self, identity: str) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    async def log_message(self, entry: LogEntry) -> None:
        self.logged.append(entry)


@pytest.mark.parametrize(
    ("protocol", "charger", "version"),
    [("ocpp1.6", "V16Charger", "1.6"), ("ocpp2.0.1", "V201Charger", "2.0.1")],
)
async def test_the_subprotocol_picks_the_version_and_the_session_serves_until_closed(
    protocol: str, charger: str, version: str
) -> None:
    registry = Registry()
    transport = MemoryTransport(protocol)
    serving = asyncio.create_task(
        serve_connection(transport, "CP-1", cast(CentralSystem, registry))
    )
    transport.deliver([2, "hb", "Heartbeat", {}])
    assert await transport.next_frame() == [3, "hb", {"currentTime": "2026-01-01T00:00:00.000Z"}]
    transport.disconnect(1001)
    await serving
    assert registry.calls == [
        ("connected", ("CP-1", charger, version, "192.0.2.7:5000")),
        ("disconnected", ("CP-1", "closed (1001)")),
    ]


async def test_a_new_connection_closes_the_one_it_replaces() -> None:
    registry = Registry()
    first, second = MemoryTransport("ocpp1.6"), MemoryTransport("ocpp1.6")
    central = cast(CentralSystem, registry)
    serving_first = asyncio.create_task(serve_connection(first, "CP-1", central))
    first.deliver([2, "hb", "Heartbeat", {}])
    await first.next_frame()  # the first is registered and serving
    serving_second = asyncio.create_task(serve_connection(second, "CP-1", central))
    await serving_first
    assert (first.close_code, first.close_reason) == (1000, "replaced by a new connection")
    second.disconnect()
    await serving_second
    assert registry.calls[-1] == ("disconnected", ("CP-1", "closed (1006)"))


async def test_a_subprotocol_no_version_speaks_is_refused() -> None:
    with pytest.raises(ValueError, match="ocpp9"):
        await serve_connection(MemoryTransport("ocpp9"), "CP-1", cast(CentralSystem, Registry()))
