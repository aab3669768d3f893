"""The admin channel: the one listener that acts on chargers, and only with a token.

Commands (reset, unlock, remote start...) travel here, never on the status API's listener that
the read-only web view serves, so no header a proxy sets and no page of the view can reach
them. Every request must carry `Authorization: Bearer <token>` for a token of the token book
(`tokens`); one without gets 401 before its body is read, changes nothing, and is counted in
`chargectl_admin_requests_refused_total`. Each command sent is recorded as an event of the
charger naming the token that asked (`token:<name>`), and counted by command, outcome and
token in `chargectl_commands_total`. With several replicas, a command for a charger connected
to another one is forwarded to it through the database (`commands.forward`) and its outcome
returned here: 409 only when no replica holds the charger, 504 when the one holding it does
not answer within `AdminOptions.forward_timeout`. Tokens never reach a log: the access log,
when on, shows the path and status only.

    POST /api/chargers/{id}/commands     {"command": "reset", "hard": true} and friends
    GET  /api/whoami                     the name of the token presented (checks a token)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from controller.ocpp.central import CentralSystem
from controller.store.coordination import GONE, ForwardTimeout, NotHeld, coordination_of, liveness
from controller.values.records import ChargerRecord
from controller.web.access import Scope
from controller.web.commands import (
    BadCommand,
    Command,
    forward,
    outcome_label,
    parse_command,
    send,
)
from controller.web.listener import LOOPBACK, Listener
from controller.web.metrics import Metrics
from controller.web.responses import errors_as_json, json_response, refused
from controller.web.status import StatusService
from controller.web.tokens import TokenBook

log = logging.getLogger("chargectl.web")

DEFAULT_ADMIN_PORT = 8081

REQUESTER_KEY = web.RequestKey("requester", str)
"""The name of the token a request was authenticated with, for its handler."""

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="chargectl"'}

FORWARD_TIMEOUT = 40.0
"""Seconds a forwarded command may take: the charger's answer (30 s by default, `serve
--call-timeout`) and the trip through the database."""


@dataclass(frozen=True)
class AdminOptions:
    host: str = LOOPBACK
    port: int = DEFAULT_ADMIN_PORT
    access_log: bool = False
    shutdown_timeout: float = 5.0
    """Seconds a command in flight (waiting for its charger) gets when stopping."""
    forward_timeout: float = FORWARD_TIMEOUT
    """Seconds to wait for the replica holding a charger to answer a forwarded command."""


class _Admin:
    def __init__(
        self, central: CentralSystem, metrics: Metrics, forward_timeout: float = FORWARD_TIMEOUT
    ) -> None:
        self.central = central
        self.metrics = metrics
        self.service = StatusService(central)
        self.forward_timeout = forward_timeout

    async def whoami(self, request: web.Request) -> web.Response:
        return json_response({"token": request[REQUESTER_KEY]})

    async def command(self, request: web.Request) -> web.Response:
        key = request.match_info["id"]
        ref = await self.service.find(key, Scope(request[REQUESTER_KEY]))
        if ref is None:
            raise refused(HTTPStatus.NOT_FOUND, "not-found", f"no charger {key!r} in the fleet")
        try:
            body = await request.json(loads=orjson.loads)
        except ValueError as exc:
            raise refused(
                HTTPStatus.BAD_REQUEST, "bad-command", f"body is not JSON: {exc}"
            ) from None
        try:
            command = parse_command(body)
        except BadCommand as exc:
            raise refused(HTTPStatus.BAD_REQUEST, "bad-command", str(exc)) from None
        charger = self.service.connection(ref)
        requester = request[REQUESTER_KEY]
        if charger is None:
            if self.central.coordination.shared:
                return await self._forward(ref.identity, command, requester, ref.record)
            record = await self._seen(ref.record)
            elsewhere = record is not None and record.connected
            raise refused(
                HTTPStatus.CONFLICT,
                "not-connected",
                f"{ref.identity} is connected to another process on this store"
                if elsewhere
                else _not_connected(ref.identity, record),
            )
        outcome = await send(self.central, ref.identity, charger, command, f"token:{requester}")
        self.metrics.command(command.name.value, outcome.label, requester)
        return json_response(outcome.document())

    async def _seen(self, record: ChargerRecord | None) -> ChargerRecord | None:
        """The stored record as the replicas' locks say (`coordination.Liveness.record`)."""
        if record is None or not record.connected:
            return record
        return (await liveness(coordination_of(self.central))).record(record)

    async def _forward(
        self, identity: str, command: Command, requester: str, record: ChargerRecord | None
    ) -> web.Response:
        """The charger is not connected here: the replica holding it sends the command."""
        try:
            document = await forward(
                self.central, identity, command, f"token:{requester}", self.forward_timeout
            )
        except NotHeld:
            raise refused(
                HTTPStatus.CONFLICT,
                "not-connected",
                _not_connected(identity, await self._seen(record)),
            ) from None
        except ForwardTimeout:
            raise refused(
                HTTPStatus.GATEWAY_TIMEOUT,
                "no-answer",
                f"the replica holding {identity} did not answer within "
                f"{self.forward_timeout:g} s; the command may still reach the charger",
            ) from None
        self.metrics.command(command.name.value, outcome_label(document), requester)
        return json_response(document)


def _authenticate(tokens: TokenBook, metrics: Metrics) -> Middleware:
    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        name = tokens.who(header)
        if name is None:
            reason = "no-token" if not header else "wrong-token"
            metrics.refused_admin_request(reason)
            log.warning(
                "admin: refused %s %s from %s: %s",
                request.method,
                request.path,
                request.remote,
                "no bearer token" if reason == "no-token" else "the token is not known",
            )
            raise refused(
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                "a bearer token of the admin token file is needed (chargectl command reads it "
                "from --token, $CHARGECTL_TOKEN or the token file)",
                CHALLENGE,
            )
        request[REQUESTER_KEY] = name
        return await handler(request)

    return authenticate


def build_admin_app(
    central: CentralSystem,
    tokens: TokenBook,
    metrics: Metrics,
    forward_timeout: float = FORWARD_TIMEOUT,
) -> web.Application:
    admin = _Admin(central, metrics, forward_timeout)
    # errors_as_json is outermost, so a refusal by `authenticate` is a JSON document too.
    app = web.Application(middlewares=[errors_as_json, _authenticate(tokens, metrics)])
    app.add_routes(
        [
            web.get("/api/whoami", admin.whoami),
            web.post("/api/chargers/{id}/commands", admin.command),
        ]
    )
    return app


class AdminServer(Listener):
    """The admin listener next to the endpoint; `start()` listens, `close()` stops."""

    def __init__(
        self,
        central: CentralSystem,
        tokens: TokenBook,
        metrics: Metrics,
        options: AdminOptions | None = None,
    ) -> None:
        self.options = options or AdminOptions()
        super().__init__(
            build_admin_app(central, tokens, metrics, self.options.forward_timeout),
            self.options.host,
            self.options.port,
            what="admin channel (commands, with a bearer token)",
            exposed="anyone with a token of the token file can send commands to chargers",
            access_log=self.options.access_log,
            shutdown_timeout=self.options.shutdown_timeout,
        )


def _not_connected(identity: str, record: ChargerRecord | None) -> str:
    """The admin channel's "not connected" answer; it says when the charger's record still
    called it connected, but the replica that recorded it is gone."""
    if record is not None and record.disconnect_reason == GONE:
        return f"{identity} is not connected ({GONE})"
    return f"{identity} is not connected"
