"""The read-only HTTP listener of `chargectl serve`: the web view, JSON status API, probes, metrics.

Why aiohttp: it is asyncio-native and runs in the same event loop as the websockets OCPP
endpoint (an `AppRunner` and a `TCPSite`, no thread and no second loop), so handlers read the
live connections without locks or cross-thread hand-offs. It is mature and actively maintained
(aio-libs), ships type hints, and is already installed with kopf, which the Kubernetes operator
builds on. A full ASGI stack (Starlette + uvicorn) would work too, but adds two packages and a
server object whose lifecycle and signal handling we would have to tame.

The web view's pages (`view`) are served by the same app, from the same documents, behind the
same gate and the same scope. Nothing here changes anything: every route is a GET (or HEAD).
Commands travel on the admin channel (`admin`), a listener of their own that asks for a token.

Who may read: probes and `/metrics` answer everyone (the kubelet and Prometheus come from the
network). The pages and the status API (`/api/...`) answer a peer on loopback (a local, single
user), or a request that comes from one of the configured trusted proxies (`--trusted-proxy`)
and carries the identity header it sets; anyone else gets 403 saying so. The identity header
is believed only from a trusted proxy. Who sees what is `access.scope_for`'s.

    GET  /healthz                        the process is alive
    GET  /readyz                         fleet loaded, store reachable, endpoint listening
    GET  /metrics                        Prometheus text format
    GET  /api/chargers                   every declared charger and the pending ones (?location=)
    GET  /api/chargers/{id}              one charger: configuration, transactions, events
    GET  /api/chargers/{id}/log          OCPP message log (?after=ID&limit=N)
    GET  /api/locations                  the locations, with their charger counts
    GET  /api/locations/{name}           its chargers, their status and power, its circuits
    GET  /api/plan                       what the reconciler would change (as `chargectl plan`)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Middleware

from controller.ocpp.central import CentralSystem
from controller.ocpp.server import Endpoint
from controller.web.access import IDENTITY_HEADER, Scope, scope_for
from controller.web.listener import LOOPBACK, Listener, is_loopback_host
from controller.web.metrics import CONTENT_TYPE, Metrics
from controller.web.responses import (
    Document,
    errors_as_json,
    int_param,
    json_response,
    optional_int_param,
    refused,
)
from controller.web.status import ChargerRef, StatusService
from controller.web.view.pages import PAGES
from controller.web.view.site import (
    SCOPE_KEY,
    View,
    add_view,
    pages_errors,
    scoped,
    server_timing,
)

log = logging.getLogger("chargectl.web")

PlanProvider = Callable[[Scope], Awaitable[Document]]
"""Computes the plan document (desired vs reported, per charger) for a requester's scope."""

MAX_LOG_LIMIT = 1000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Answered whoever asks: probes and scrapes come from the network, and say nothing of a
charger (no metric is labelled by charger)."""


def parse_networks(addresses: Sequence[str]) -> tuple[Network, ...]:
    """`10.0.0.7`, `10.0.0.0/24`, `::1` → networks; a bad one raises ValueError naming it."""
    networks = []
    for address in addresses:
        try:
            networks.append(ipaddress.ip_network(address.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"not an IP address or network: {address!r} (e.g. 10.0.0.7 or 10.0.0.0/24)"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class WebOptions:
    host: str = LOOPBACK
    port: int = 8080
    identity_header: str = IDENTITY_HEADER
    """The trusted header naming the requester, set by the authenticating proxy in front."""
    trusted_proxies: tuple[Network, ...] = ()
    """Peers whose identity header is believed; none: the status API answers loopback only."""
    ready_timeout: float = 2.0
    """Seconds the store may take to answer the readiness probe's query."""
    access_log: bool = False
    """Log every request (at INFO, logger chargectl.web.access); off by default, since probes
    and scrapes would drown the rest."""
    shutdown_timeout: float = 5.0
    """Seconds requests in flight get when stopping."""


@dataclass
class _Api:
    central: CentralSystem
    endpoint: Endpoint | None
    options: WebOptions
    metrics: Metrics
    plan_provider: PlanProvider
    service: StatusService = field(init=False)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.service = StatusService(self.central)

    def scope(self, request: web.Request) -> Scope:
        scope = request.get(SCOPE_KEY)
        return scope if scope is not None else scope_for(requester_of(request), self.central.fleet)

    # --- probes and metrics ------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {
            "fleet": self._fleet_check(),
            "store": await self._store_check(),
            "endpoint": self._endpoint_check(),
        }
        if self.stopping:
            checks["server"] = "stopping"
        ready = all(value == "ok" for value in checks.values())
        return json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    def _fleet_check(self) -> str:
        return "ok" if self.central.fleet is not None else "no fleet loaded"

    async def _store_check(self) -> str:
        try:
            async with asyncio.timeout(self.options.ready_timeout):
                await self.central.store.charger("")  # one indexed lookup: the database answers
        except TimeoutError:
            return f"store did not answer within {self.options.ready_timeout:g}s"
        except Exception as exc:  # any failure of the store means not ready, and says why
            return f"store unavailable: {exc}"
        return "ok"

    def _endpoint_check(self) -> str:
        if self.endpoint is None:
            return "ok"
        try:
            listening = self.endpoint.port > 0
        except (AssertionError, AttributeError, IndexError):  # not started, or closed
            listening = False
        return "ok" if listening else "OCPP endpoint not listening"

    async def metrics_text(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    # --- the status API ----------------------------------------------------------------------

    async def chargers(self, request: web.Request) -> web.Response:
        location = request.query.get("location") or None
        scope = self.scope(request)
        if location is not None and (
            location not in self.central.fleet.locations or not scope.sees_location(location)
        ):
            raise refused(
                HTTPStatus.NOT_FOUND, "not-found", f"no location {location!r} in the fleet"
            )
        return json_response(await self.service.chargers(scope, location))

    async def charger(self, request: web.Request) -> web.Response:
        ref = await self._charger_ref(request)
        events = int_param(request, "events", 50, 0, 1000)
        transactions = int_param(request, "transactions", 50, 0, 10000)
        return json_response(
            await self.service.charger(ref, events=events, transactions=transactions)
        )

    async def message_log(self, request: web.Request) -> web.Response:
        ref = await self._charger_ref(request)
        limit = int_param(request, "limit", 100, 1, MAX_LOG_LIMIT)
        after = optional_int_param(request, "after")
        return json_response(await self.service.message_log(ref, after=after, limit=limit))

    async def locations(self, request: web.Request) -> web.Response:
        scope = self.scope(request)
        fleet = self.central.fleet
        items = [
            {
                "name": name,
                "displayName": loaded.resource.spec.display_name,
                "team": loaded.resource.spec.team,
                "chargers": len(fleet.chargers_at(name)),
            }
            for name, loaded in sorted(fleet.locations.items())
            if scope.sees_location(name)
        ]
        return json_response({"locations": items})

    async def location(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        document = await self.service.location(name, self.scope(request))
        if document is None:
            raise refused(HTTPStatus.NOT_FOUND, "not-found", f"no location {name!r} in the fleet")
        return json_response(document)

    async def plan(self, request: web.Request) -> web.Response:
        return json_response(await self.plan_provider(self.scope(request)))

    async def _charger_ref(self, request: web.Request) -> ChargerRef:
        key = request.match_info["id"]
        ref = await self.service.find(key, self.scope(request))
        if ref is None:
            raise refused(HTTPStatus.NOT_FOUND, "not-found", f"no charger {key!r} in the fleet")
        return ref


REQUESTER_KEY = web.RequestKey("requester", str)
"""Who is asking, as the trusted proxy named them; absent for the local user on loopback."""


def requester_of(request: web.Request) -> str | None:
    return request.get(REQUESTER_KEY)


def _who_may_read(
    options: WebOptions,
) -> Middleware:
    """The status API's gate: loopback, or a trusted proxy that names the requester."""

    @web.middleware
    async def who_may_read(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        peer = _peer_address(request)
        from_proxy = peer is not None and any(peer in net for net in options.trusted_proxies)
        if from_proxy:
            requester = request.headers.get(options.identity_header, "").strip()
            if not requester:
                raise refused(
                    HTTPStatus.FORBIDDEN,
                    "no-identity",
                    f"the proxy at {peer} did not say who is asking ({options.identity_header})",
                )
            request[REQUESTER_KEY] = requester
        elif peer is None or not peer.is_loopback:
            raise refused(
                HTTPStatus.FORBIDDEN,
                "loopback-only",
                "the status API answers only on this machine, or through a trusted proxy that "
                "names who is asking (serve --trusted-proxy)",
            )
        return await handler(request)

    return who_may_read


def _peer_address(request: web.Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The TCP peer (never a forwarded-for header, which anyone can write)."""
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def build_app(api: _Api) -> web.Application:
    view = View(
        api.central,
        api.service,
        api.plan_provider,
        requester_of,
        proxied=bool(api.options.trusted_proxies),
    )
    app = web.Application(
        middlewares=[
            server_timing,
            errors_as_json,
            pages_errors(view),
            _who_may_read(api.options),
            scoped(view),
        ]
    )
    app.add_routes(
        [
            web.get("/healthz", api.healthz),
            web.get("/readyz", api.readyz),
            web.get("/metrics", api.metrics_text),
            web.get("/api/chargers", api.chargers),
            web.get("/api/chargers/{id}", api.charger),
            web.get("/api/chargers/{id}/log", api.message_log),
            web.get("/api/locations", api.locations),
            web.get("/api/locations/{name}", api.location),
            web.get("/api/plan", api.plan),
        ]
    )
    add_view(app, view, PAGES)
    return app


class WebServer(Listener):
    """The HTTP server, in the running event loop; `start()` listens, `close()` stops.

    `metrics` is shared with the reconciler (which calls `metrics.reconcile(...)`) and the
    admin channel; one is made if none is given. It is attached to `central` here unless it
    already is, so create the server before chargers connect. `plan` computes `/api/plan`; by
    default the fleet's plan against the store (`plan.PlanService`).
    """

    def __init__(
        self,
        central: CentralSystem,
        endpoint: Endpoint | None = None,
        options: WebOptions | None = None,
        *,
        metrics: Metrics | None = None,
        plan: PlanProvider | None = None,
    ) -> None:
        self.options = options or WebOptions()
        self.metrics = metrics or Metrics()
        if not self.metrics.attached:
            self.metrics.attach(central, endpoint)
        if plan is None:
            from controller.web.plan import PlanService

            plan = PlanService(central)
        self._api = _Api(central, endpoint, self.options, self.metrics, plan)
        super().__init__(
            build_app(self._api),
            self.options.host,
            self.options.port,
            what="web view, status API and metrics",
            exposed="probes and /metrics answer anyone; the status API answers "
            + ("only the trusted proxies" if self.options.trusted_proxies else "loopback only")
            + " (--trusted-proxy)",
            access_log=self.options.access_log,
            shutdown_timeout=self.options.shutdown_timeout,
        )

    def announce(self) -> None:
        """Log the web view's address and who it answers: in local mode (no trusted proxy) the
        single user on this machine; in proxy mode the people the trusted proxies name."""
        proxies = self.options.trusted_proxies
        if proxies:
            mode = (
                f"proxy mode: {self.options.identity_header} names the viewer on requests from "
                + ", ".join(str(network) for network in proxies)
                + "; other peers on this machine get local mode"
            )
        else:
            mode = "local mode: no proxy configured"
        rest = "status API at /api, metrics at /metrics"
        if is_loopback_host(self.host):
            log.info("web: web view on %s/ (%s, loopback only); %s", self.url, mode, rest)
            return
        host = self.host or "0.0.0.0"
        host = f"[{host}]" if ":" in host else host
        who = "the trusted proxies and this machine" if proxies else "this machine only"
        log.warning(
            "web: web view on http://%s:%d/, reachable from the network (%s); the view and the "
            "status API at /api answer %s, probes and /metrics answer anyone (--trusted-proxy)",
            host,
            self.port,
            mode,
            who,
        )

    async def close(self) -> None:
        """Stop: /readyz answers 503 at once, then requests in flight get a moment to finish."""
        self._api.stopping = True
        await super().close()
