"""The HTTP server of `chargectl serve`: JSON status API, command escape hatches, probes, metrics.

Why aiohttp: it is asyncio-native and runs in the same event loop as the websockets OCPP
endpoint (an `AppRunner` and a `TCPSite`, no thread and no second loop), so handlers read the
live connections and send commands through the very sessions the endpoint serves, without
locks or cross-thread hand-offs. It is mature and actively maintained (aio-libs), ships type
hints, and is already installed with kopf, which the Kubernetes operator builds on. A full
ASGI stack (Starlette + uvicorn) would work too, but adds two packages and a server object whose
lifecycle and signal handling we would have to tame; the API is a dozen small JSON routes.

Handlers stay thin: they parse the request, turn the identity header into a `Scope`
(`access.scope_for`, not enforced yet), and return what `StatusService` computes. Errors are
JSON `{"error": {"code", "message"}}` with the matching status. The only route that does
anything is `POST /api/chargers/{id}/commands`; no route changes the fleet.

    GET  /healthz                        the process is alive
    GET  /readyz                         fleet loaded, store reachable, endpoint listening
    GET  /metrics                        Prometheus text format
    GET  /api/chargers                   every declared charger and the pending ones (?location=)
    GET  /api/chargers/{id}              one charger: configuration, transactions, events
    GET  /api/chargers/{id}/log          OCPP message log (?after=ID&limit=N)
    POST /api/chargers/{id}/commands     {"command": "reset", "hard": true} and friends
    GET  /api/locations                  the locations, with their charger counts
    GET  /api/locations/{name}           its chargers, their status and power, its circuits
    GET  /api/plan                       what the reconciler would change (as `chargectl plan`)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from controller.ocpp.central import CentralSystem
from controller.ocpp.server import Endpoint
from controller.web.access import IDENTITY_HEADER, Scope, scope_for
from controller.web.commands import BadCommand, parse_command, send
from controller.web.metrics import CONTENT_TYPE, Metrics
from controller.web.status import ChargerRef, Document, StatusService

log = logging.getLogger("chargectl.web")

PlanProvider = Callable[[Scope], Awaitable[Document]]
"""Computes the plan document (desired vs reported, per charger) for a requester's scope."""

MAX_LOG_LIMIT = 1000


@dataclass(frozen=True)
class WebOptions:
    host: str = "0.0.0.0"
    port: int = 8080
    identity_header: str = IDENTITY_HEADER
    """The trusted header naming the requester, set by the authenticating proxy in front."""
    ready_timeout: float = 2.0
    """Seconds the store may take to answer the readiness probe's query."""
    access_log: bool = False
    """Log every request (at INFO, logger chargectl.web.access); off by default, since probes
    and scrapes would drown the rest."""
    shutdown_timeout: float = 5.0
    """Seconds requests in flight (a command waiting for its charger) get when stopping."""


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
        return scope_for(request.headers.get(self.options.identity_header), self.central.fleet)

    # --- probes and metrics ------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {
            "fleet": self._fleet_check(),
            "store": await self._store_check(),
            "endpoint": self._endpoint_check(),
        }
        if self.stopping:
            checks["server"] = "stopping"
        ready = all(value == "ok" for value in checks.values())
        return _json({"ready": ready, "checks": checks}, status=200 if ready else 503)

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
        if location is not None and location not in self.central.fleet.locations:
            raise _error(
                HTTPStatus.NOT_FOUND, "not-found", f"no location {location!r} in the fleet"
            )
        return _json(await self.service.chargers(self.scope(request), location))

    async def charger(self, request: web.Request) -> web.Response:
        ref = await self._charger_ref(request)
        events = _int_param(request, "events", 50, 0, 1000)
        transactions = _int_param(request, "transactions", 50, 0, 10000)
        return _json(await self.service.charger(ref, events=events, transactions=transactions))

    async def message_log(self, request: web.Request) -> web.Response:
        ref = await self._charger_ref(request)
        limit = _int_param(request, "limit", 100, 1, MAX_LOG_LIMIT)
        after = _optional_int_param(request, "after")
        return _json(await self.service.message_log(ref, after=after, limit=limit))

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
        return _json({"locations": items})

    async def location(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        document = await self.service.location(name, self.scope(request))
        if document is None:
            raise _error(HTTPStatus.NOT_FOUND, "not-found", f"no location {name!r} in the fleet")
        return _json(document)

    async def plan(self, request: web.Request) -> web.Response:
        return _json(await self.plan_provider(self.scope(request)))

    # --- the escape hatches ------------------------------------------------------------------

    async def command(self, request: web.Request) -> web.Response:
        ref = await self._charger_ref(request)
        try:
            body = await request.json(loads=orjson.loads)
        except ValueError as exc:
            raise _error(
                HTTPStatus.BAD_REQUEST, "bad-command", f"body is not JSON: {exc}"
            ) from None
        try:
            command = parse_command(body)
        except BadCommand as exc:
            raise _error(HTTPStatus.BAD_REQUEST, "bad-command", str(exc)) from None
        charger = self.service.connection(ref)
        if charger is None:
            elsewhere = ref.record is not None and ref.record.connected
            raise _error(
                HTTPStatus.CONFLICT,
                "not-connected",
                f"{ref.identity} is connected to another replica; send the command there"
                if elsewhere
                else f"{ref.identity} is not connected",
            )
        requester = self.scope(request).requester
        outcome = await send(self.central, ref.identity, charger, command, requester)
        self.metrics.command(command.name.value, outcome.label)
        return _json(outcome.document())

    async def _charger_ref(self, request: web.Request) -> ChargerRef:
        key = request.match_info["id"]
        ref = await self.service.find(key, self.scope(request))
        if ref is None:
            raise _error(HTTPStatus.NOT_FOUND, "not-found", f"no charger {key!r} in the fleet")
        return ref


@web.middleware
async def _errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error is a JSON document, including aiohttp's own 404 and 405."""
    try:
        return await handler(request)
    except _Refused as refused:
        return _json({"error": {"code": refused.code, "message": refused.message}}, refused.status)
    except web.HTTPException as exc:  # aiohttp's own: no such route, method not allowed
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "-")
        return _json({"error": {"code": code, "message": exc.reason}}, exc.status, exc.headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _json(
            {"error": {"code": "internal", "message": "internal error; see the server log"}},
            500,
        )


def build_app(api: _Api) -> web.Application:
    app = web.Application(middlewares=[_errors_as_json])
    app.add_routes(
        [
            web.get("/healthz", api.healthz),
            web.get("/readyz", api.readyz),
            web.get("/metrics", api.metrics_text),
            web.get("/api/chargers", api.chargers),
            web.get("/api/chargers/{id}", api.charger),
            web.get("/api/chargers/{id}/log", api.message_log),
            web.post("/api/chargers/{id}/commands", api.command),
            web.get("/api/locations", api.locations),
            web.get("/api/locations/{name}", api.location),
            web.get("/api/plan", api.plan),
        ]
    )
    return app


class WebServer:
    """The HTTP server, in the running event loop; `start()` listens, `close()` stops.

    `metrics` is shared with the reconciler (which calls `metrics.reconcile(...)`); one is
    made if none is given. It is attached to `central` here, so create the server before
    chargers connect. `plan` computes `/api/plan`; by default the fleet's plan against the
    store (`plan.PlanService`).
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
        self.metrics.attach(central, endpoint)
        if plan is None:
            from controller.web.plan import PlanService

            plan = PlanService(central)
        self._api = _Api(central, endpoint, self.options, self.metrics, plan)
        self.app = build_app(self._api)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose, when started with port 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the web server is not started")
        address: Any = self._runner.addresses[0]
        return int(address[1])

    @property
    def url(self) -> str:
        host = self.options.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=logging.getLogger("chargectl.web.access")
            if self.options.access_log
            else None,
            shutdown_timeout=self.options.shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.options.host, self.options.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        log.info("web: status API and metrics on %s", self.url)

    async def close(self) -> None:
        """Stop: /readyz answers 503 at once, then requests in flight get a moment to finish."""
        self._api.stopping = True
        if self._runner is not None:
            runner, self._runner, self._site = self._runner, None, None
            await runner.cleanup()


def _json(
    document: Document, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    extra = {k: v for k, v in (headers or {}).items() if k.lower() == "allow"}
    return web.Response(
        body=orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=extra,
    )


class _Refused(Exception):
    """A request answered with an error document: HTTP status, a stable code, a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: HTTPStatus, code: str, message: str) -> _Refused:
    return _Refused(status.value, code, message)


def _int_param(request: web.Request, name: str, default: int, least: int, most: int) -> int:
    value = _optional_int_param(request, name)
    if value is None:
        return default
    if not least <= value <= most:
        raise _error(
            HTTPStatus.BAD_REQUEST, "bad-parameter", f"{name} must be from {least} to {most}"
        )
    return value


def _optional_int_param(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise _error(
            HTTPStatus.BAD_REQUEST, "bad-parameter", f"{name} must be a whole number, not {text!r}"
        ) from None
