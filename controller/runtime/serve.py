"""`chargectl serve`: the central system as one process — endpoint, store, fleet.

Kept apart from the CLI so tests and benchmarks start exactly what users start, in-process.
`running` serves the fleet of whichever source of desired state it is handed
(`ServeOptions.source`): the fleet directory at `paths` for `serve`, the Kubernetes custom
resources for `operator` (`controller.runtime.operator`). Nothing else differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets as secrets_module
import signal
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.converge.base import Step
from controller.fleet.checking import check_paths
from controller.fleet.credentials import DemoSecrets, SecretResolver
from controller.fleet.model import Fleet
from controller.fleet.problems import Problem
from controller.ocpp.central import DEFAULT_MAX_PENDING, CentralSystem
from controller.ocpp.server import MAX_FRAME_BYTES, Endpoint, EndpointOptions, tls_context
from controller.reconciler.scheduler import Reconciler, ReconcilerOptions
from controller.runtime.devcerts import DevPki, make_dev_pki
from controller.runtime.heap import collect_periodically, freeze_startup_heap
from controller.sources.base import (
    DesiredStateSource,
    FleetListener,
    OpenedSource,
    SourceFactory,
)
from controller.sources.directory import DirectorySource
from controller.store import open_store
from controller.store.base import Store
from controller.web.listener import LOOPBACK, is_loopback_host
from controller.web.metrics import Metrics

if TYPE_CHECKING:
    from controller.web.admin import AdminServer
    from controller.web.app import WebServer

log = logging.getLogger("chargectl")


class FleetInvalid(Exception):
    """The fleet on disk does not validate; `problems` are what `validate` would print."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problems in the fleet")
        self.problems = tuple(problems)


class SourceStopped(Exception):
    """The source of desired state stopped following changes (its watch failed): serving on
    would serve a fleet that no longer follows what is declared."""


@dataclass
class ServeOptions:
    paths: Sequence[Path]
    """The fleet directory (or files) `serve` reads; unused when `source` is given."""
    store_url: str
    """Where the store lives; the command line's default is `cli.options.DEFAULT_STORE`."""
    source: SourceFactory | None = None
    """Where the desired state comes from; None: the fleet directory at `paths`."""
    host: str = LOOPBACK
    """The OCPP endpoint's address; loopback unless told otherwise (chargers on the network
    need `--listen 0.0.0.0:9000`, and the log then says so)."""
    port: int = 9000
    max_frame_bytes: int = MAX_FRAME_BYTES
    """The largest OCPP frame a charger may send (see `ocpp.server.MAX_FRAME_BYTES`)."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    allow_unknown: bool = False
    max_pending: int = DEFAULT_MAX_PENDING
    """Unknown chargers kept pending at most; for a new one beyond it, the oldest is forgotten."""
    call_timeout: float = 30.0
    message_log_limit: int = 1000
    secrets_dir: Path | None = None
    secrets: SecretResolver | None = None
    """Overrides how passwords are resolved (the demo's generated secrets)."""
    tend_heap: bool = False
    """This process is the server (the CLI): freeze the start-up heap and collect cyclic
    garbage in fewer, larger sweeps (see `controller.runtime.heap`). Off in-process (tests)."""
    simulate: SimulateOptions | None = None
    """Run a simulated charger for every declared charger in the same process (the demo)."""
    watch: bool = True
    """Follow the source's changes (the directory's files, the custom resources)."""
    reconcile: bool = True
    """Converge connected chargers to the fleet (off: only record what they report)."""
    resync_interval: float = 300.0
    max_concurrent_reconciles: int = 64
    http_host: str = LOOPBACK
    http_port: int | None = None
    """The status API, /metrics and the probes; None: no HTTP server."""
    trusted_proxies: Sequence[str] = ()
    """Addresses or networks of the authenticating proxies whose identity header the status
    API believes; none: it answers loopback only."""
    admin_host: str = LOOPBACK
    admin_port: int | None = None
    """The admin channel (commands, with a bearer token); None: no admin listener."""
    admin_tokens: Path | None = None
    """The admin token file or directory; None: `web.tokens.default_token_path()`, written
    with a new token on first start."""


@dataclass
class SimulateOptions:
    """The demo's simulated fleet: how fast time runs and how busy the chargers are."""

    time_scale: float = 60.0
    sessions_per_hour: float = 2.0
    session_minutes: float = 45.0
    drift: float = 0.3
    seed: int | None = None


def load_fleet(paths: Sequence[Path]) -> Fleet:
    report = check_paths(paths)
    if not report.valid:
        raise FleetInvalid(report.problems)
    return report.fleet


def directory_source(paths: Sequence[Path]) -> SourceFactory:
    """`serve`'s source: the fleet at `paths`, refused whole (`FleetInvalid`) when invalid."""

    @contextlib.asynccontextmanager
    async def opened(listener: FleetListener) -> AsyncIterator[OpenedSource]:
        yield OpenedSource(DirectorySource(list(paths), load_fleet(paths), listener))

    return opened


@dataclass
class Running:
    """A started central system, for tests and the CLI alike."""

    central: CentralSystem
    endpoint: Endpoint
    source: DesiredStateSource
    reconciler: Reconciler | None = None
    web: WebServer | None = None
    admin: AdminServer | None = None
    following: asyncio.Task[None] | None = None
    """The source following changes (None: `watch` is off); done only if it failed."""

    @property
    def url(self) -> str:
        scheme = "wss" if self.endpoint.options.tls else "ws"
        host = self.endpoint.options.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"{scheme}://{host}:{self.endpoint.port}/ocpp"


@contextlib.asynccontextmanager
async def running(options: ServeOptions) -> AsyncIterator[Running]:
    """Open the source and the store, start the endpoint; on exit stop accepting, disconnect,
    stop following the source, flush, close."""

    async def tell_central(_old: Fleet, new: Fleet) -> None:
        await central.replace_fleet(new)  # sources call it only once serving has begun

    factory = options.source or directory_source(options.paths)
    async with contextlib.AsyncExitStack() as following:
        opened = await following.enter_async_context(factory(tell_central))
        source = opened.source
        fleet = source.current
        base_dir = Path(options.paths[0]) if options.paths and options.source is None else None
        if base_dir is not None and base_dir.is_file():
            base_dir = base_dir.parent
        with contextlib.ExitStack() as cleanup:
            demo = (
                _demo_setup(options, fleet, base_dir, cleanup, opened) if options.simulate else None
            )
            store = open_store(options.store_url, log_limit_per_charger=options.message_log_limit)
            await store.open()
            try:
                if not options.store_url.startswith(("postgresql", "postgres")):
                    await _forget_old_connections(store)
                central = CentralSystem(
                    fleet,
                    store,
                    allow_unknown=options.allow_unknown,
                    max_pending=options.max_pending,
                )
                await central.load_pending()
                # replicas: run the commands other replicas forward for chargers connected here
                from controller.web.commands import serve_forwarded

                serve_forwarded(central)
                metrics = Metrics()
                reconciler = (
                    Reconciler(
                        central,
                        ReconcilerOptions(
                            resync_interval=options.resync_interval,
                            max_concurrent=options.max_concurrent_reconciles,
                        ),
                        reporter=metrics,
                        steps=_steps(central),
                    )
                    if options.reconcile
                    else None
                )
                if reconciler is not None:
                    for step in reconciler.steps:
                        step.bind(reconciler.wake)
                tls_cert = options.tls_cert or (
                    str(demo.pki.server_cert) if demo and demo.pki else None
                )
                tls_key = options.tls_key or (
                    str(demo.pki.server_key) if demo and demo.pki else None
                )
                tls = (
                    tls_context(tls_cert, tls_key, options.tls_client_ca)
                    if tls_cert and tls_key
                    else None
                )
                secrets = options.secrets or (demo.secrets if demo else None)
                endpoint = Endpoint(
                    central,
                    EndpointOptions(
                        host=options.host,
                        port=options.port,
                        tls=tls,
                        call_timeout=options.call_timeout,
                        max_frame_bytes=options.max_frame_bytes,
                        secrets=secrets
                        or SecretResolver(
                            base_dir=base_dir, secrets_dir=options.secrets_dir, store=opened.secrets
                        ),
                    ),
                )
                web = _web_server(options, central, endpoint, metrics)
                admin = _admin_server(options, central, metrics)
                if opened.attach is not None:
                    await opened.attach(central)
                # Before the first connection: what is frozen stays out of the collector's sight.
                thresholds = freeze_startup_heap() if options.tend_heap else None
                await endpoint.start()
                log.info(
                    "OCPP endpoint listening on %s://%s:%d/ocpp/<identity> for %d chargers%s",
                    "wss" if tls else "ws",
                    options.host,
                    endpoint.port,
                    len(fleet.chargers),
                    " (loopback only: chargers on the network need --listen 0.0.0.0:PORT)"
                    if is_loopback_host(options.host)
                    else "",
                )
                watcher = (
                    asyncio.create_task(source.run(), name="desired state")
                    if options.watch
                    else None
                )
                if watcher is not None:
                    watcher.add_done_callback(_report_stopped)
                started = Running(central, endpoint, source, reconciler, web, admin, watcher)
                collector = (
                    asyncio.create_task(collect_periodically(thresholds), name="gc")
                    if thresholds is not None
                    else None
                )
                simulation = (
                    asyncio.create_task(_simulate(started, demo, options.simulate))
                    if demo is not None and options.simulate is not None
                    else None
                )
                try:
                    if web is not None:
                        await web.start()
                    if admin is not None:
                        await admin.start()
                    yield started
                finally:
                    if web is not None:
                        await web.close()  # first: /readyz turns 503
                    if admin is not None:
                        await admin.close()  # commands in flight finish
                    for task in (simulation, watcher, collector):
                        if task is not None:
                            task.cancel()
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await task
                    if reconciler is not None:
                        await reconciler.close()
                    await endpoint.close()
                    await following.aclose()  # the source stops while the store is still open
            finally:
                await store.close()


def _report_stopped(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the source of desired state stopped following changes: %s", task.exception())


def _steps(central: CentralSystem) -> list[Step]:
    """What the reconciler converges, in this order: configuration first (it reads the charger
    and plans it for the steps after it), a changed password next, and a reboot that applies
    changes before the rest."""
    from controller.converge.configuration import ConfigurationStep
    from controller.converge.credentials import CredentialStep
    from controller.converge.firmware import FirmwareStep
    from controller.converge.locallist import LocalListStep
    from controller.converge.power import PowerStep
    from controller.converge.reboot import RebootStep
    from controller.converge.statuses import KeyStatusBook

    statuses = KeyStatusBook(central.store)
    return [
        ConfigurationStep(statuses),
        CredentialStep(central, statuses),
        RebootStep(statuses),
        PowerStep(),
        LocalListStep(),
        FirmwareStep(central),
    ]


def _web_server(
    options: ServeOptions, central: CentralSystem, endpoint: Endpoint, metrics: Metrics
) -> WebServer | None:
    """The status API next to the endpoint (imported here: aiohttp only when it is served)."""
    if options.http_port is None:
        return None
    from controller.web.app import WebOptions, WebServer, parse_networks

    web_options = WebOptions(
        options.http_host,
        options.http_port,
        trusted_proxies=parse_networks(options.trusted_proxies),
    )
    return WebServer(central, endpoint, web_options, metrics=metrics)


def _admin_server(
    options: ServeOptions, central: CentralSystem, metrics: Metrics
) -> AdminServer | None:
    """The admin channel, with the token book read (or, on first start, written)."""
    if options.admin_port is None:
        return None
    from controller.web.admin import AdminOptions, AdminServer
    from controller.web.tokens import default_token_path, ensure_token_file

    path = options.admin_tokens or default_token_path()
    tokens, created = ensure_token_file(path)
    if created:
        log.info("admin: wrote a new token to %s (readable by you only)", path)
    else:
        log.info("admin: %d token(s) from %s: %s", len(tokens.names), path, ", ".join(tokens.names))
    return AdminServer(
        central, tokens, metrics, AdminOptions(options.admin_host, options.admin_port)
    )


@dataclass
class _Demo:
    secrets: DemoSecrets
    pki: DevPki | None


def _demo_setup(
    options: ServeOptions,
    fleet: Fleet,
    base_dir: Path | None,
    cleanup: contextlib.ExitStack,
    opened: OpenedSource,
) -> _Demo:
    """Secrets and, when chargers need TLS and none is configured, a throwaway certificate."""
    secrets = DemoSecrets(
        base_dir=base_dir,
        secrets_dir=options.secrets_dir,
        store=opened.secrets,
        seed=secrets_module.token_bytes(16),
    )
    needs_tls = any(c.resource.spec.security.profile >= 2 for c in fleet.chargers.values())
    pki = None
    if needs_tls and not options.tls_cert:
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="chargectl-")))
        pki = make_dev_pki(directory, hosts=("localhost", "127.0.0.1", options.host))
        log.info("demo: chargers need TLS; serving a throwaway certificate from %s", directory)
    log.info("demo: secrets this machine cannot read are generated for the simulated chargers")
    return _Demo(secrets, pki)


async def _simulate(started: Running, demo: _Demo, options: SimulateOptions) -> None:
    from controller.simulator import DriverOptions, SimClock, chargers_from_fleet, run_simulation
    from controller.simulator.profile import DEFAULT_PROFILE

    client_tls = None
    if started.endpoint.options.tls is not None:
        client_tls = ssl.create_default_context(cafile=str(demo.pki.ca_cert) if demo.pki else None)
    profile = dataclasses.replace(DEFAULT_PROFILE, drift=options.drift)
    chargers = chargers_from_fleet(
        started.central.fleet,
        started.url,
        profile=profile,
        resolver=demo.secrets,
        clock=SimClock(options.time_scale),
        ssl=client_tls,
    )
    log.info(
        "demo: %d simulated chargers connecting (time runs %gx)", len(chargers), options.time_scale
    )
    await run_simulation(
        chargers,
        driver=DriverOptions(options.sessions_per_hour, options.session_minutes, options.seed),
        stagger=min(5.0, 0.05 * len(chargers)),
    )


async def _forget_old_connections(store: Store) -> None:
    """A single-process store's chargers were connected to the process that just ended.

    (With PostgreSQL, other replicas hold live connections, so nothing is touched there.)
    """
    now = datetime.now(UTC)
    for record in await store.chargers():
        if record.connected:
            await store.record_disconnected(record.identity, now, "controller restarted")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (Linux, macOS): libuv does the socket work
    of thousands of charger connections in C, where asyncio's own loop spends a third of the
    server's time (bench/converge.py); asyncio's loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def serve_forever(options: ServeOptions) -> None:
    """Run until SIGINT or SIGTERM; `SourceStopped` if the source stops following changes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signals() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

    on_signals()
    async with running(dataclasses.replace(options, tend_heap=True)) as started:
        on_signals()  # again: a source may have taken them while it started (kopf does)
        stopping = asyncio.create_task(stop.wait())
        waited: set[asyncio.Task[Any]] = {stopping}
        if started.following is not None:
            waited.add(started.following)
        done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failed = started.following if started.following in done else None
        if failed is not None and not failed.cancelled() and failed.exception() is not None:
            raise SourceStopped(str(failed.exception())) from failed.exception()
        log.info("stopping: closing connections and flushing the store")
