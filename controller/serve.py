"""`chargectl serve`: the central system as one process — endpoint, store, fleet.

Kept apart from the CLI so tests and benchmarks start exactly what users start, in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controller.checking import check_paths
from controller.credentials import SecretResolver
from controller.fleet import Fleet
from controller.ocpp.central import CentralSystem
from controller.ocpp.server import Endpoint, EndpointOptions, tls_context
from controller.problems import Problem
from controller.store import open_store
from controller.store.base import Store

log = logging.getLogger("chargectl")


class FleetInvalid(Exception):
    """The fleet on disk does not validate; `problems` are what `validate` would print."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problems in the fleet")
        self.problems = tuple(problems)


@dataclass
class ServeOptions:
    paths: Sequence[Path]
    store_url: str = "sqlite:///chargectl.db"
    host: str = "0.0.0.0"
    port: int = 9000
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    allow_unknown: bool = False
    call_timeout: float = 30.0
    message_log_limit: int = 1000
    secrets_dir: Path | None = None
    secrets: SecretResolver | None = None
    """Overrides how passwords are resolved (the demo's generated secrets)."""


def load_fleet(paths: Sequence[Path]) -> Fleet:
    report = check_paths(paths)
    if not report.valid:
        raise FleetInvalid(report.problems)
    return report.fleet


@dataclass
class Running:
    """A started central system, for tests and the CLI alike."""

    central: CentralSystem
    endpoint: Endpoint

    @property
    def url(self) -> str:
        scheme = "wss" if self.endpoint.options.tls else "ws"
        host = self.endpoint.options.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"{scheme}://{host}:{self.endpoint.port}/ocpp"


@contextlib.asynccontextmanager
async def running(options: ServeOptions) -> AsyncIterator[Running]:
    """Start the store and the endpoint; on exit stop accepting, disconnect, flush, close."""
    fleet = load_fleet(options.paths)
    store = open_store(options.store_url, log_limit_per_charger=options.message_log_limit)
    await store.open()
    try:
        if not options.store_url.startswith(("postgresql", "postgres")):
            await _forget_old_connections(store)
        central = CentralSystem(fleet, store, allow_unknown=options.allow_unknown)
        tls = (
            tls_context(options.tls_cert, options.tls_key, options.tls_client_ca)
            if options.tls_cert and options.tls_key
            else None
        )
        base_dir = Path(options.paths[0]) if options.paths else None
        if base_dir is not None and base_dir.is_file():
            base_dir = base_dir.parent
        endpoint = Endpoint(
            central,
            EndpointOptions(
                host=options.host,
                port=options.port,
                tls=tls,
                call_timeout=options.call_timeout,
                secrets=options.secrets
                or SecretResolver(base_dir=base_dir, secrets_dir=options.secrets_dir),
            ),
        )
        await endpoint.start()
        log.info(
            "OCPP endpoint listening on %s://%s:%d/ocpp/<identity> for %d chargers",
            "wss" if tls else "ws",
            options.host,
            endpoint.port,
            len(fleet.chargers),
        )
        try:
            yield Running(central, endpoint)
        finally:
            await endpoint.close()
    finally:
        await store.close()


async def _forget_old_connections(store: Store) -> None:
    """A single-process store's chargers were connected to the process that just ended.

    (With PostgreSQL, other replicas hold live connections, so nothing is touched there.)
    """
    now = datetime.now(UTC)
    for record in await store.chargers():
        if record.connected:
            await store.record_disconnected(record.identity, now, "controller restarted")


async def serve_forever(options: ServeOptions) -> None:
    """Run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with running(options):
        await stop.wait()
        log.info("stopping: closing connections and flushing the store")
