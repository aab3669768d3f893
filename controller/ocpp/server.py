"""The OCPP endpoint: one websocket server for every charger, both OCPP versions.

The handshake decides who may connect, in this order, and each refusal is a log line saying why:

1. The URL is `/ocpp/<identity>` or `/ocpp/<location>/<identity>`; anything else is refused
   with 404 (400 when the identity is missing). Each segment is percent-decoded, then checked:
   the identity must be an OCPP identifierString (`resources.identity`) and the location a
   resource name, else 400, before anything is looked up or stored.
2. A charger in the fleet may use the plain URL or its own location's; another location's URL
   is refused with 404 saying where it is declared. An identity not in the fleet is refused
   with 404 unless `CentralSystem.unknown_admission` admits it through that URL (the
   server-wide `--allow-unknown`, or the location's `allowUnknownChargers` through the
   location's URL); it is then recorded as pending.
3. Security profiles 1 and 2 need HTTP Basic auth with the charger's identity as user name and
   the password its credential reference points at. A right password is admitted at once,
   whatever failed before. A wrong one is refused with 401, counted (`auth_failures_total`,
   and by source address in `throttle`), and the refusal is held back a little longer the more
   that address failed recently, at most `throttle.MAX_DELAY`: guessing is slowed, the charger
   is never locked out. Profile 2 needs TLS, profile 3 a client certificate naming the charger.
   While a changed password is being set on a charger, the one it was last admitted with is
   accepted too, until it connects with the new one (`passwords.PasswordBook`).

The subprotocols offered, and the version each selects, come from `versions.VERSIONS`; after
the handshake `connection.serve_connection` takes over on a `transport.Transport`.

The subprotocol follows the fleet: a charger declared as OCPP 1.6 must offer `ocpp1.6`. If it
does not, the handshake completes without a subprotocol and the connection is closed at once,
as OCPP-J prescribes, with a log line saying what was declared and what was offered.

A frame over `EndpointOptions.max_frame_bytes` closes the connection with 1009 (websockets does
that itself) and a log line naming the charger and the limit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from controller.fleet.credentials import SecretResolver, SecretUnavailable
from controller.ocpp.central import CentralSystem
from controller.ocpp.connection import serve_connection
from controller.ocpp.passwords import Admission
from controller.ocpp.throttle import FailureThrottle
from controller.ocpp.transport import WebsocketTransport, remote_of
from controller.ocpp.versions import BY_OCPP_VERSION, VERSIONS
from controller.resources.charger import Security
from controller.resources.common import NAME_PATTERN
from controller.resources.identity import identity_problem
from controller.resources.settings import OcppVersion

log = logging.getLogger("chargectl.ocpp")

MAX_FRAME_BYTES = 1 << 20
"""1 MiB. Frames above this close the connection with 1009.

Sized for the largest messages real chargers send, with room to spare: a 1.6 GetConfiguration
answer with every key (each key up to 50 characters of name and 500 of value: 500 keys at the
maximum make about 300 KB); a 2.0.1 NotifyReport part of a big device model (the station
decides how many variables go in one part, each with up to four attributes of up to 2,500
characters); a CertificateSigned chain of up to 10,000 characters. The old limit, 64 KiB, is
below what the first two can reach. The price is memory: websockets buffers up to `max_queue`
(4) frames a connection, so one connection can hold up to 4 MiB while it is read."""

URL_SHAPES = "/ocpp/<identity> or /ocpp/<location>/<identity>"
"""The URLs a charger may connect to, for refusals."""

_LOCATION = re.compile(NAME_PATTERN)


@dataclass
class EndpointOptions:
    host: str = "127.0.0.1"
    """Loopback unless told otherwise, as every listener of chargectl."""
    port: int = 9000
    tls: ssl.SSLContext | None = None
    call_timeout: float = 30.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    """Bytes; a frame over it closes the connection with 1009 (see MAX_FRAME_BYTES)."""
    ping_interval: float | None = 60.0
    secrets: SecretResolver = field(default_factory=SecretResolver)


@dataclass(frozen=True)
class Target:
    """Whom a handshake's URL names: the identity, and the location whose URL it came by."""

    identity: str
    location: str | None = None


@dataclass(frozen=True)
class BadTarget:
    """A URL no charger may connect to: the status to refuse it with, and why."""

    status: HTTPStatus
    reason: str


@dataclass(frozen=True)
class _Admitted:
    identity: str
    declared: OcppVersion | None


def target_from_path(path: str) -> Target | BadTarget:
    """`/ocpp/CP-0001` → `Target("CP-0001")`, `/ocpp/depot/CP-0001` → `Target("CP-0001",
    "depot")`. Segments are split first and percent-decoded after, so `%2F` and `%00` are part
    of the identity and refused with it; the query string is ignored."""
    segments = path.split("?", 1)[0].split("/")
    if len(segments) < 2 or segments[0] != "" or segments[1] != "ocpp" or len(segments) > 4:
        return BadTarget(HTTPStatus.NOT_FOUND, f"not a charger URL; connect to {URL_SHAPES}")
    decoded = [unquote(segment) for segment in segments[2:]]
    if not decoded or decoded == [""]:
        return BadTarget(HTTPStatus.BAD_REQUEST, f"no charger identity in the URL: {URL_SHAPES}")
    *location, identity = decoded
    problem = identity_problem(identity)
    if problem is not None:
        return BadTarget(HTTPStatus.BAD_REQUEST, f"not a valid charger identity: {problem}")
    if location and _LOCATION.fullmatch(location[0]) is None:
        return BadTarget(
            HTTPStatus.BAD_REQUEST,
            f"not a location name: {shown(location[0])} (lower-case letters, digits, - and .)",
        )
    return Target(identity, location[0] if location else None)


def shown(text: str, limit: int = 60) -> str:
    """`text` safe for a log line or a response: quoted and escaped, and cut at `limit`."""
    return repr(text[:limit]) + (f"... ({len(text)} characters)" if len(text) > limit else "")


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

    def __init__(
        self,
        central: CentralSystem,
        options: EndpointOptions | None = None,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self.central = central
        self.options = options or EndpointOptions()
        self.throttle = throttle or FailureThrottle()
        """Recent wrong passwords by source address and identity (for delays and metrics)."""
        self.auth_failures_total = 0
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admitted] = (
            weakref.WeakKeyDictionary()
        )
        self._server: Server | None = None
        central.passwords.resolver = self.options.secrets

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
        target = target_from_path(request.path)
        if isinstance(target, BadTarget):
            log.warning(
                "refused a handshake from %s for %s: %s",
                remote_of(connection),
                shown(request.path),
                target.reason,
            )
            return _refuse(connection, target.status, target.reason)
        identity, location = target.identity, target.location
        charger = self.central.fleet.charger_by_identity(identity)
        if charger is None:
            if not self.central.unknown_admission(identity, location):
                log.warning(
                    "refused unknown charger %s from %s%s",
                    identity,
                    remote_of(connection),
                    "" if location is None else f" through location {location}'s URL",
                )
                return _refuse(connection, HTTPStatus.NOT_FOUND, f"unknown charger {identity}")
            self._admitted[connection] = _Admitted(identity, None)
            return None
        declared_at = charger.resource.spec.location
        if location is not None and location != declared_at:
            log.warning(
                "refused %s from %s: it came through location %s's URL, but is declared at %s",
                identity,
                remote_of(connection),
                location,
                declared_at,
            )
            return _refuse(
                connection,
                HTTPStatus.NOT_FOUND,
                f"charger {identity} is declared at location {declared_at}, not {location}; "
                f"connect to /ocpp/{identity} or /ocpp/{declared_at}/{identity}",
            )
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
        self, connection: ServerConnection, request: Request, identity: str, security: Security
    ) -> Response | None:
        """None if the request carries the charger's password. Nothing waits before the check:
        a right password is admitted at once, however many wrong ones came before it."""
        assert security.basic_auth_password is not None
        credentials = basic_auth(request.headers)
        try:
            expected = self.central.passwords.resolver.resolve(security.basic_auth_password)
        except SecretUnavailable as exc:
            log.error("refused %s: its password cannot be read: %s", identity, exc)
            return _refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "credentials unavailable")
        admission = (
            self.central.passwords.admit(identity, credentials[1], expected)
            if credentials is not None and credentials[0] == identity
            else None
        )
        if admission is not None:
            if admission is not Admission.DECLARED:
                log.info(
                    "%s: admitted with %s password: the declared one has changed and is set "
                    "on it at this connection",
                    identity,
                    "its previous" if admission is Admission.PREVIOUS else "the last set",
                    extra={"charger": identity},
                )
            return None
        self.auth_failures_total += 1
        address = connection.remote_address
        source = str(address[0]) if address else "unknown"
        hold = self.throttle.failed(source, identity)
        log.warning(
            "refused %s from %s: %s (%.1f recent failures from there; refusal held %.2f s)",
            identity,
            remote_of(connection) or source,
            "no Basic auth" if credentials is None else "wrong user name or password",
            self.throttle.recent(source, identity),
            hold,
        )
        if hold > 0:
            await asyncio.sleep(hold)  # slows guessing down; never the right password
        response = _refuse(connection, HTTPStatus.UNAUTHORIZED, "authentication failed")
        response.headers["WWW-Authenticate"] = 'Basic realm="chargectl", charset="UTF-8"'
        return response

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
        try:
            await serve_connection(
                WebsocketTransport(connection),
                identity,
                self.central,
                call_timeout=self.options.call_timeout,
            )
        finally:
            sent = connection.protocol.close_sent
            if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
                log.warning(
                    "closed %s from %s with 1009: it sent a frame over the %d-byte limit "
                    "(max_frame_bytes)",
                    identity,
                    remote_of(connection),
                    self.options.max_frame_bytes,
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
