"""The OCPP endpoint: one websocket server for every charger, both OCPP versions.

The handshake decides who may connect. The charger's identity is the last path segment of the
URL; an identity not in the fleet is refused with 404 unless the fleet allows unknown chargers
(they are then recorded as pending). Security profiles 1 and 2 need HTTP Basic auth with the
charger's identity as user name and the password its credential reference points at; a wrong
password is refused with 401, counted, and repeated failures of one identity are answered ever
more slowly. Profile 2 needs TLS, profile 3 a client certificate naming the charger.

The subprotocols offered, and the version each selects, come from `versions.VERSIONS`; after
the handshake `connection.serve_connection` takes over on a `transport.Transport`.

The subprotocol follows the fleet: a charger declared as OCPP 1.6 must offer `ocpp1.6`. If it
does not, the handshake completes without a subprotocol and the connection is closed at once,
as OCPP-J prescribes, with a log line saying what was declared and what was offered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import ssl
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from controller.fleet.credentials import SecretResolver, SecretUnavailable
from controller.ocpp.central import CentralSystem
from controller.ocpp.connection import serve_connection
from controller.ocpp.transport import WebsocketTransport, remote_of
from controller.ocpp.versions import BY_OCPP_VERSION, VERSIONS
from controller.resources.settings import OcppVersion

log = logging.getLogger("chargectl.ocpp")

MAX_FRAME_BYTES = 64 * 1024
"""Frames above this are refused with close code 1009; no standard message comes close."""


@dataclass
class EndpointOptions:
    host: str = "0.0.0.0"
    port: int = 9000
    tls: ssl.SSLContext | None = None
    call_timeout: float = 30.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    ping_interval: float | None = 60.0
    secrets: SecretResolver = field(default_factory=SecretResolver)


@dataclass
class _Failures:
    """Wrong passwords of one identity: each further attempt waits twice as long, up to 30 s."""

    count: int = 0
    last: float = 0.0

    def delay(self) -> float:
        return 0.0 if self.count < 3 else min(30.0, 0.25 * 2 ** (self.count - 3))


@dataclass(frozen=True)
class _Admitted:
    identity: str
    declared: OcppVersion | None


def identity_from_path(path: str) -> str | None:
    """`/ocpp/CP-0001` → `CP-0001`; the last non-empty segment, percent-decoded."""
    segment = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    identity = unquote(segment)
    return identity or None


def basic_auth(headers: Headers) -> tuple[str, str] | None:
    header = headers.get("Authorization")
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Endpoint:
    """The websocket server; `start()` listens, `close()` stops and disconnects everyone."""

    def __init__(self, central: CentralSystem, options: EndpointOptions | None = None) -> None:
        self.central = central
        self.options = options or EndpointOptions()
        self.failures: dict[str, _Failures] = {}
        self.auth_failures_total = 0
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admitted] = (
            weakref.WeakKeyDictionary()
        )
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the endpoint is not started"
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.options.host,
            self.options.port,
            ssl=self.options.tls,
            subprotocols=[Subprotocol(protocol) for protocol in VERSIONS],
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            compression=None,  # OCPP chargers do not use it, and zlib costs ~100 KB a connection
            max_size=self.options.max_frame_bytes,
            max_queue=4,
            write_limit=16 * 1024,
            ping_interval=self.options.ping_interval,
            ping_timeout=self.options.ping_interval,
            server_header="chargectl",
            logger=logging.getLogger("chargectl.websockets"),
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- the handshake -------------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        identity = identity_from_path(request.path)
        if identity is None:
            return _refuse(connection, HTTPStatus.NOT_FOUND, "no charger identity in the URL")
        fleet = self.central.fleet
        charger = fleet.charger_by_identity(identity)
        if charger is None:
            if not self.central.allows_unknown():
                log.warning("refused unknown charger %r from %s", identity, remote_of(connection))
                return _refuse(connection, HTTPStatus.NOT_FOUND, f"unknown charger {identity}")
            self._admitted[connection] = _Admitted(identity, None)
            return None
        security = charger.resource.spec.security
        if security.profile >= 2 and self.options.tls is None:
            log.error(
                "refused %s: security profile %d needs TLS; start with --tls-cert/--tls-key",
                identity,
                security.profile,
            )
            return _refuse(connection, HTTPStatus.FORBIDDEN, "this charger must connect over TLS")
        if security.profile == 3 and not _client_certificate_names(connection, identity):
            log.warning("refused %s: no client certificate naming it", identity)
            return _refuse(connection, HTTPStatus.FORBIDDEN, "client certificate required")
        if security.profile in (1, 2) and security.basic_auth_password is not None:
            refused = await self._check_password(connection, request, identity, security)
            if refused is not None:
                return refused
        self._admitted[connection] = _Admitted(identity, charger.resource.spec.ocpp_version)
        return None

    async def _check_password(
        self, connection: ServerConnection, request: Request, identity: str, security: object
    ) -> Response | None:
        from controller.resources.charger import Security

        assert isinstance(security, Security) and security.basic_auth_password is not None
        failures = self.failures.setdefault(identity, _Failures())
        delay = failures.delay()
        if delay:
            await asyncio.sleep(delay)  # slows down guessing; other chargers are unaffected
        credentials = basic_auth(request.headers)
        try:
            expected = self.options.secrets.resolve(security.basic_auth_password)
        except SecretUnavailable as exc:
            log.error("refused %s: its password cannot be read: %s", identity, exc)
            return _refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "credentials unavailable")
        if (
            credentials is None
            or credentials[0] != identity
            or not hmac.compare_digest(credentials[1].encode(), expected.encode())
        ):
            failures.count += 1
            failures.last = time.monotonic()
            self.auth_failures_total += 1
            log.warning(
                "refused %s from %s: %s (failure %d)",
                identity,
                remote_of(connection),
                "no Basic auth" if credentials is None else "wrong user name or password",
                failures.count,
            )
            response = _refuse(connection, HTTPStatus.UNAUTHORIZED, "authentication failed")
            response.headers["WWW-Authenticate"] = 'Basic realm="chargectl", charset="UTF-8"'
            return response
        self.failures.pop(identity, None)
        return None

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        admitted = self._admitted.get(connection)
        if admitted is None:
            return None
        if admitted.declared is not None:
            wanted = Subprotocol(BY_OCPP_VERSION[admitted.declared].subprotocol)
            return wanted if wanted in offered else None
        for protocol in VERSIONS:
            if protocol in offered:
                return Subprotocol(protocol)
        return None

    # --- the connection ------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        admitted = self._admitted.get(connection)
        if admitted is None:  # pragma: no cover - process_request admitted it
            return
        identity = admitted.identity
        protocol = connection.subprotocol
        if protocol is None:
            offered = (
                connection.request.headers.get("Sec-WebSocket-Protocol", "")
                if (connection.request)
                else ""
            )
            declared = (
                f"declared as OCPP {admitted.declared}" if admitted.declared else "not declared"
            )
            log.error(
                "closed %s: %s, but it offered %s",
                identity,
                declared,
                offered or "no OCPP subprotocol",
            )
            await connection.close(1002, "no agreed OCPP subprotocol")
            return
        await serve_connection(
            WebsocketTransport(connection),
            identity,
            self.central,
            call_timeout=self.options.call_timeout,
        )


def _refuse(connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
    return connection.respond(status, text + "\n")


def _client_certificate_names(connection: ServerConnection, identity: str) -> bool:
    """Profile 3: the TLS client certificate's common name must be the charger's identity."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return False
    certificate = ssl_object.getpeercert()
    if not certificate:
        return False
    for rdn in certificate.get("subject", ()):
        for name, value in rdn:
            if name == "commonName" and value == identity:
                return True
    return False


def tls_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """Server TLS for profiles 2 and 3 (with `client_ca`, client certificates are required)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
