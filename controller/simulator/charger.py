"""`SimulatedCharger`: one simulated charging station, whatever OCPP version it speaks.

This module holds what every charger does the same way: connecting (subprotocol, HTTP Basic
auth, reconnecting with back-off), booting until accepted, heartbeats, meter values that
follow the charging profiles, sessions, reboots, firmware updates, and misbehaving on demand.
The version modules (`v16`, `v201`) say it on the wire: they build the messages and answer the
central system's calls through the `ocpp` library.

Each charger costs two asyncio tasks while connected (its receive loop and its timer loop)
plus short-lived ones while it answers a command, and no thread, so one process can run ten
thousand of them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import math
import random
import re
import ssl
import zlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from ssl import SSLContext
from typing import Any, ClassVar
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake
from websockets.typing import Subprotocol

from controller.simulator._ocpp import ChargePoint16, ChargePoint201
from controller.simulator.clock import SimClock
from controller.simulator.config_table import ConfigTable, Facts, build_table
from controller.simulator.errors import (
    CallErrorReply,
    CallFailed,
    NotConnected,
    SessionRefused,
    SimulatorError,
)
from controller.simulator.frames import BadFrame, RawExchange, bad_frame
from controller.simulator.link import Link
from controller.simulator.metering import Reading
from controller.simulator.profile import DEFAULT_PROFILE, FirmwareFailure, SimProfile
from controller.simulator.smart import ChargingProfiles, Limits, Session
from controller.simulator.state import (
    Connector,
    ConnectorSpec,
    Identification,
    LocalList,
    State,
    Transaction,
)
from controller.values.commands import BootReply

log = logging.getLogger("controller.simulator")

Work = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class VersionKeys:
    """Where each version keeps the settings the simulator itself obeys."""

    heartbeat: str
    ping: str
    sample_interval: str
    sampled: str
    ended: str
    local_pre_authorize: str
    local_authorize_offline: str
    local_list_enabled: str
    cache_enabled: str
    offline_unknown: str
    stop_on_invalid: str
    authorize_remote: str
    password: str
    auth_enabled: str | None = None


class BootReason:
    """Why the charger (re)booted; 2.0.1 says so in BootNotification."""

    POWER_UP = "PowerUp"
    REMOTE_RESET = "RemoteReset"
    FIRMWARE_UPDATE = "FirmwareUpdate"


_FIRMWARE_SUFFIX = re.compile(r"\.(img|bin|fw|zip|tar\.gz|tgz|tar|hex|swu)$", re.IGNORECASE)
_AUTH_CACHE_MAX = 1000


@functools.cache
def _default_tls() -> SSLContext:
    """One TLS context for every charger: loading the CA bundle per connection would cost
    ten thousand chargers hundreds of megabytes."""
    return ssl.create_default_context()


def firmware_version_from_url(url: str) -> str:
    """The version a firmware image installs, read from its file name (`.../6.4.0-4205.img`
    installs `6.4.0-4205`), which is how the example fleet names its images."""
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return _FIRMWARE_SUFFIX.sub("", name) or name


class SimulatedCharger(ABC):
    """One simulated charging station. Create one with `make_charger` or a version class."""

    ocpp_version: ClassVar[str]
    subprotocol: ClassVar[str]
    KEYS: ClassVar[VersionKeys]

    def __init__(
        self,
        identity: str,
        url: str,
        *,
        connectors: Sequence[ConnectorSpec] = (ConnectorSpec(),),
        profile: SimProfile = DEFAULT_PROFILE,
        clock: SimClock | None = None,
        password: str | None = None,
        security_profile: int = 0,
        identification: Identification | None = None,
        id_tags: Sequence[str] = (),
        declared: Mapping[str, str] | None = None,
        vendor_configuration: Mapping[str, str] | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        if not connectors:
            raise ValueError("a charger needs at least one connector")
        self.identity = identity
        self.url = url
        self.profile = profile
        self.clock = clock or SimClock()
        self.identification = identification or Identification(
            vendor=profile.vendor,
            model=profile.model,
            serial_number=identity,
            firmware_version=profile.firmware_version,
        )
        if self.identification.firmware_version is None:
            self.identification = replace(
                self.identification, firmware_version=profile.firmware_version
            )
        self.id_tags = tuple(id_tags)
        self.ssl = ssl
        register = float((zlib.crc32(identity.encode()) % 5000) * 1000)
        self.connectors: dict[int, Connector] = {
            spec.id: Connector(spec.id, spec.max_current, spec.phases, energy_wh=register)
            for spec in sorted(connectors, key=lambda s: s.id)
        }
        facts = Facts(
            identity=identity,
            connectors=len(self.connectors),
            phases=max(spec.phases for spec in connectors),
            vendor=self.identification.vendor,
            model=self.identification.model,
            security_profile=security_profile,
            password=password,
        )
        self.table: ConfigTable = build_table(
            self.ocpp_version, profile, facts, declared, vendor_configuration
        )
        self.profiles = ChargingProfiles()
        self.local_list = LocalList()
        self.auth_cache: dict[str, str] = {}
        self.firmware_status = "Idle"
        self.upload_status = "Idle"
        self.boot_count = 0
        self.boot_status: str | None = None
        self.exchanges: deque[RawExchange] = deque(maxlen=64)

        self.connected = asyncio.Event()
        """Set while the websocket is open."""
        self.booted = asyncio.Event()
        """Set while connected and accepted by the central system."""

        self._link: Link | None = None
        self._out_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()
        self._accepted = False
        self._boot_reason = BootReason.POWER_UP
        self._reboot_requested = False
        self._rebooting = False
        self._reset_when_idle = False
        self._pending_firmware: str | None = None
        self._firmware_request: int | None = None
        self._firmware_installed_pending = False
        self._outbox: list[Any] = []
        self._last_heartbeat = 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.identity} {self.ocpp_version}>"

    # --- public API --------------------------------------------------------------------------

    @property
    def configuration(self) -> dict[str, str]:
        """The configuration table as it stands (the live mapping, not a copy)."""
        return self.table.values

    @property
    def endpoint(self) -> str:
        """Where this charger connects: the central system's URL and its identity."""
        return f"{self.url.rstrip('/')}/{quote(self.identity, safe='')}"

    @property
    def password(self) -> str | None:
        """The HTTP Basic auth password: the one configured, or a newer one the central system
        set (AuthorizationKey / SecurityCtrlr.BasicAuthPassword)."""
        return self.table.get(self.KEYS.password) or None

    def offered_current(self, connector: int) -> int:
        """Amperes per phase the connector offers now: its maximum, capped by the station-wide
        limit and the transaction (or default) profile in force; 0 when unavailable."""
        c = self._connector(connector)
        if not c.operative:
            return 0
        tx = c.transaction
        session = Session(tx.id, tx.started_at) if tx is not None else None
        limit = self.profiles.limit(c.id, self.clock.now(), session, c.phases, self.profile.voltage)
        if limit is None:
            return c.max_current
        return max(0, min(c.max_current, math.floor(limit + 1e-9)))

    async def run(self) -> None:
        """Connect, boot and serve until `stop()`; reconnect with back-off when dropped."""
        self._stopped.clear()
        attempt = 0
        while not self._stopped.is_set():
            try:
                ws = await self._connect()
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                attempt += 1
                log.info("%s: cannot connect to %s: %s", self.identity, self.endpoint, exc)
                await self._pause(self._backoff(attempt))
                continue
            attempt = 0
            if self._stopped.is_set():
                await ws.close()
                break
            await self._serve(ws)
            if self._stopped.is_set():
                break
            if self._reboot_requested:
                await self._pause(self.profile.reboot_seconds)
                self._power_up()
                continue
            attempt += 1
            await self._pause(self._backoff(attempt))

    async def stop(self) -> None:
        """Disconnect for good; `run()` returns."""
        self._stopped.set()
        self._wake.set()
        link = self._link
        if link is not None:
            await link.ws.close()
        for task in list(self._tasks):
            task.cancel()

    async def drop(self) -> None:
        """Lose the connection without a closing handshake; `run()` reconnects with back-off."""
        link = self._link
        if link is not None:
            link.abort()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(link.closed)
            self.connected.clear()
            self.booted.clear()

    async def plug_in(self, connector: int, id_tag: str) -> str:
        """A driver plugs in and presents `id_tag`: authorise, start a transaction, charge.
        Returns the transaction id; SessionRefused when the card or connector says no."""
        c = self._connector(connector)
        if c.transaction is not None or c.plugged:
            raise SessionRefused(f"{self.identity} connector {connector} is occupied")
        if not c.operative:
            raise SessionRefused(f"{self.identity} connector {connector} is unavailable")
        await self._online()
        c.plugged, c.finished = True, False
        try:
            await self._update_state(c)
            status = await self._authorize(id_tag)
            if status != "Accepted":
                raise SessionRefused(f"{self.identity}: id tag {id_tag} is {status}")
            return (await self._begin(c, id_tag)).id
        except BaseException as exc:
            if c.transaction is None:
                c.plugged = False
                if isinstance(exc, Exception):
                    await self._quietly(self._update_state(c))
            raise

    async def stop_transaction(self, connector: int, reason: str = "Local") -> None:
        """The driver ends the session (e.g. presents the card again); the car stays plugged."""
        c = self._connector(connector)
        if c.transaction is not None:
            await self._end_transaction(c, reason)

    async def unplug(self, connector: int, reason: str = "EVDisconnected") -> None:
        """The car is unplugged: the transaction, if any, ends with `reason`."""
        c = self._connector(connector)
        try:
            if c.transaction is not None:
                await self._end_transaction(c, reason)
        finally:
            c.plugged, c.finished = False, False
        await self._quietly(self._update_state(c))

    async def send_raw(self, text: str, timeout: float = 2.0) -> str | None:
        """Send `text` as one websocket frame, bypassing the OCPP library, and return the raw
        reply frame: None when the central system did not answer within `timeout` seconds or
        closed the connection. Every exchange is recorded in `exchanges`."""
        return (await self._exchange(None, text, timeout)).reply

    async def misbehave(self, kind: BadFrame, timeout: float = 2.0) -> RawExchange:
        """Send one kind of bad frame and return what happened."""
        return await self._exchange(kind, bad_frame(kind, self.ocpp_version), timeout)

    # --- what version modules implement ------------------------------------------------------

    @abstractmethod
    def _make_charge_point(self, link: Link) -> ChargePoint16 | ChargePoint201: ...

    @abstractmethod
    async def _send_boot(self, reason: str) -> BootReply: ...

    @abstractmethod
    async def _send_heartbeat(self) -> None: ...

    @abstractmethod
    async def _send_state(self, c: Connector, old: State) -> None:
        """Tell the central system that `c` changed state (from `old` to `c.state`)."""

    @abstractmethod
    async def _announce(self) -> None:
        """Report every connector's status after (re)connecting."""

    @abstractmethod
    async def _send_authorize(self, id_tag: str) -> str: ...

    @abstractmethod
    async def _send_start(
        self, c: Connector, id_tag: str, remote_start_id: int | None
    ) -> tuple[Transaction, str]:
        """Start a transaction on the wire; returns it and the id tag's status."""

    @abstractmethod
    async def _send_meter_values(self, c: Connector, context: str) -> None: ...

    @abstractmethod
    async def _send_stop(self, c: Connector, tx: Transaction, reason: str) -> None: ...

    @abstractmethod
    async def _send_firmware_status(self, status: str, request_id: int | None) -> None: ...

    @abstractmethod
    async def _send_upload_status(self, status: str, request_id: int | None) -> None: ...

    @abstractmethod
    def limits(self) -> Limits:
        """What the charger accepts in charging profiles, from its configuration."""

    async def _after_boot(self) -> None:
        """Anything a version reports once accepted again (2.0.1: a finished firmware update)."""
        return

    # --- connection --------------------------------------------------------------------------

    async def _connect(self) -> ClientConnection:
        headers: dict[str, str] = {}
        password = self.password
        if password:
            token = base64.b64encode(f"{self.identity}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        ping = self.table.integer(self.KEYS.ping, 0)
        secure = self.endpoint.startswith("wss://")
        tls: dict[str, Any] = {"ssl": self.ssl or _default_tls()} if secure else {}
        ws = await connect(
            self.endpoint,
            subprotocols=[Subprotocol(self.subprotocol)],
            additional_headers=headers,
            user_agent_header=f"chargectl-simulator ({self.identification.vendor})",
            compression=None,
            proxy=None,
            open_timeout=self.profile.open_timeout,
            ping_interval=self.clock.real(ping) if self.profile.websocket_ping and ping else None,
            ping_timeout=None,
            close_timeout=2,
            max_size=self.profile.max_frame_bytes,
            max_queue=4,
            write_limit=8192,
            **tls,
        )
        if ws.subprotocol != self.subprotocol:
            await ws.close()
            raise InvalidHandshake(
                f"the central system did not accept subprotocol {self.subprotocol}"
            )
        return ws

    async def _serve(self, ws: ClientConnection) -> None:
        link = Link(ws, self._spawn)
        link.cp = self._make_charge_point(link)
        self._link = link
        self.connected.set()
        session = asyncio.ensure_future(self._session(link))
        try:
            await link.serve()
        finally:
            session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await session
            self._link = None
            self.connected.clear()
            self.booted.clear()

    def _backoff(self, attempt: int) -> float:
        low, high = self.profile.reconnect_min_seconds, self.profile.reconnect_max_seconds
        return min(high, low * 2.0 ** min(attempt - 1, 16)) * random.uniform(0.5, 1.0)

    async def _pause(self, simulated: float) -> None:
        """Sleep, but wake up at once when the charger is stopped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.clock.real(simulated)):
                await self._stopped.wait()

    async def _session(self, link: Link) -> None:
        must_boot = not self._accepted or self.profile.boot_on_reconnect
        if must_boot and not await self._boot_until_accepted(link):
            return
        self.booted.set()
        self._last_heartbeat = self.clock.seconds()
        try:
            await self._announce()
            await self._flush_outbox()
            await self._after_boot()
        except CallFailed as exc:
            log.info("%s: %s", self.identity, exc)
        await self._timers()

    async def _boot_until_accepted(self, link: Link) -> bool:
        while not link.closed.done():
            try:
                reply = await self._send_boot(self._boot_reason)
            except CallFailed as exc:
                log.info("%s: boot failed: %s", self.identity, exc)
                await self.clock.sleep(self.profile.boot_retry_seconds)
                continue
            self._boot_replied(reply)
            if self._accepted:
                return True
            # Retry after the interval, unless a triggered boot gets accepted meanwhile.
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                retry = reply.interval or self.profile.boot_retry_seconds
                async with asyncio.timeout(self.clock.real(retry)):
                    await self._wake.wait()
            if self._accepted:
                return True
        return False

    def _boot_replied(self, reply: BootReply) -> None:
        self.boot_count += 1
        self.boot_status = reply.status
        if reply.status == "Accepted":
            self._accepted = True
            self._boot_reason = BootReason.POWER_UP
            if reply.interval > 0:
                self.table.force(self.KEYS.heartbeat, str(reply.interval))
        self._wake.set()

    async def _trigger_boot(self, reason: str) -> None:
        """A BootNotification the central system asked for with TriggerMessage."""
        self._boot_replied(await self._send_boot(reason))

    async def _timers(self) -> None:
        """Heartbeats, meter values and a reset waiting for idle, until the link closes."""
        while True:
            now = self.clock.seconds()
            heartbeat = self.table.integer(self.KEYS.heartbeat, 0)
            if heartbeat > 0 and now >= self._last_heartbeat + heartbeat:
                self._last_heartbeat = now
                await self._quietly(self._send_heartbeat())
            interval = self.table.integer(self.KEYS.sample_interval, 0)
            for c in self.connectors.values():
                if c.transaction is not None and interval > 0 and now >= c.next_sample:
                    c.next_sample = now + interval
                    await self._quietly(self._send_meter_values(c, "Sample.Periodic"))
                    await self._quietly(self._update_state(c))
            if self._reset_when_idle and self._idle():
                self._reset_when_idle = False
                self._spawn(lambda: self._reboot(BootReason.REMOTE_RESET, "ImmediateReset"))
            due = [self._last_heartbeat + heartbeat] if heartbeat > 0 else []
            if interval > 0:
                due += [c.next_sample for c in self.connectors.values() if c.transaction]
            wait = (min(due) - self.clock.seconds()) if due else 3600.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.clock.real(max(wait, 0.0))):
                    await self._wake.wait()

    # --- calls -------------------------------------------------------------------------------

    async def _call(self, payload: Any, *, before_boot: bool = False) -> Any:
        """Send one call (one at a time per connection, as OCPP requires)."""
        async with self._out_lock:
            link = self._link
            if link is None or (not before_boot and not self.booted.is_set()):
                raise NotConnected(f"{self.identity} is not connected")
            return await link.call(payload, validate=self.profile.validate_messages)

    async def _call_or_queue(self, payload: Any) -> Any | None:
        """Transaction messages are kept while offline and sent after reconnecting."""
        try:
            return await self._call(payload)
        except CallErrorReply:
            raise
        except CallFailed:
            self._outbox.append(payload)
            return None

    async def _flush_outbox(self) -> None:
        while self._outbox:
            await self._call(self._outbox[0])
            self._outbox.pop(0)

    async def _online(self) -> None:
        """Wait until accepted by the central system (bounded by the response timeout)."""
        if self.booted.is_set():
            return
        try:
            async with asyncio.timeout(self.profile.response_timeout):
                await self.booted.wait()
        except TimeoutError:
            raise NotConnected(f"{self.identity} is not connected") from None

    async def _quietly(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except CallFailed as exc:
            log.debug("%s: %s", self.identity, exc)

    def _spawn(self, work: Work) -> None:
        """Run `work` as its own short-lived task, owned (and cancelled) by this charger."""
        task = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Work) -> None:
        try:
            await work()
        except SimulatorError as exc:
            log.info("%s: %s", self.identity, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: background work failed", self.identity)

    def after_reply(self, work: Work) -> None:
        """Run `work` once the answer to the central system's current call has been sent."""
        link = self._link
        if link is not None:
            link.after_reply(work)

    async def _exchange(self, kind: BadFrame | None, text: str, timeout: float) -> RawExchange:
        async with self._out_lock:
            link = self._link
            if link is None:
                raise NotConnected(f"{self.identity} is not connected")
            reply, closed = await link.send_raw(text, timeout)
        exchange = RawExchange(kind, text, reply, closed, self.clock.now())
        self.exchanges.append(exchange)
        return exchange

    # --- connectors, sessions, energy --------------------------------------------------------

    def _connector(self, connector: int) -> Connector:
        try:
            return self.connectors[connector]
        except KeyError:
            raise ValueError(f"{self.identity} has no connector {connector}") from None

    def _idle(self) -> bool:
        return all(c.transaction is None for c in self.connectors.values())

    def _soc(self, c: Connector) -> float:
        tx = c.transaction
        if tx is None:
            return 0.0
        charged = c.energy_wh - tx.meter_start
        return min(100.0, tx.soc_start + 100.0 * charged / max(1, self.profile.car_battery_wh))

    def _advance(self, c: Connector) -> None:
        """Integrate the energy drawn since the last update, then follow the limit in force."""
        now = self.clock.seconds()
        if c.drawn > 0:
            c.energy_wh += c.drawn * self.profile.voltage * c.phases * (now - c.updated_at) / 3600
        c.updated_at = now
        c.offered = self.offered_current(c.id)
        drawn = 0.0
        if c.transaction is not None and c.plugged and self._soc(c) < 100.0:
            car = self.profile.car_max_current
            drawn = float(c.offered if car is None else min(c.offered, car))
        c.drawn = drawn

    def reading(self, c: Connector) -> Reading:
        """The meter now (energy integrated up to this moment)."""
        self._advance(c)
        return Reading(
            energy_wh=int(c.energy_wh),
            current=c.drawn,
            offered=c.offered,
            phases=c.phases,
            voltage=self.profile.voltage,
            soc=int(self._soc(c)),
        )

    def _derive_state(self, c: Connector) -> State:
        if c.transaction is not None:
            if c.offered <= 0:
                return State.SUSPENDED_EVSE
            return State.CHARGING if c.drawn > 0 else State.SUSPENDED_EV
        if not c.operative:
            return State.UNAVAILABLE
        if c.plugged:
            return State.FINISHING if c.finished else State.PREPARING
        return State.AVAILABLE

    async def _update_state(self, c: Connector) -> None:
        """Bring the connector's state up to date and report a change."""
        self._advance(c)
        new = self._derive_state(c)
        if new is not c.state:
            old, c.state = c.state, new
            await self._send_state(c, old)

    async def _refresh_all(self) -> None:
        """After a limit or availability change: every connector follows at once."""
        for c in self.connectors.values():
            await self._quietly(self._update_state(c))
        self._wake.set()

    async def _authorize(self, id_tag: str) -> str:
        """Authorise as a charger does: local list and cache first when configured, then the
        central system; offline, the local list, the cache or the unknown-id policy decide."""
        keys, table = self.KEYS, self.table
        if keys.auth_enabled is not None and not table.boolean(keys.auth_enabled, True):
            return "Accepted"
        local = self._local_status(id_tag)
        if local == "Accepted" and table.boolean(keys.local_pre_authorize, False):
            return local
        try:
            status = await self._send_authorize(id_tag)
        except CallFailed:
            if local is not None and table.boolean(keys.local_authorize_offline, False):
                return local
            if table.boolean(keys.offline_unknown, False) and local is None:
                return "Accepted"
            raise
        if table.boolean(keys.cache_enabled, False):
            if len(self.auth_cache) >= _AUTH_CACHE_MAX:
                self.auth_cache.pop(next(iter(self.auth_cache)))
            self.auth_cache[id_tag.casefold()] = status
        return status

    def _local_status(self, id_tag: str) -> str | None:
        if self.table.boolean(self.KEYS.local_list_enabled, False):
            status = self.local_list.status(id_tag)
            if status is not None:
                return status
        if self.table.boolean(self.KEYS.cache_enabled, False):
            return self.auth_cache.get(id_tag.casefold())
        return None

    async def _begin(
        self, c: Connector, id_tag: str, remote_start_id: int | None = None
    ) -> Transaction:
        self._advance(c)
        tx, status = await self._send_start(c, id_tag, remote_start_id)
        c.transaction, c.finished = tx, False
        c.next_sample = self.clock.seconds() + self.table.integer(self.KEYS.sample_interval, 0)
        await self._update_state(c)
        self._wake.set()
        if status != "Accepted" and self.table.boolean(self.KEYS.stop_on_invalid, True):
            await self._end_transaction(c, "DeAuthorized")
            raise SessionRefused(f"{self.identity}: id tag {id_tag} is {status}")
        return tx

    async def _end_transaction(self, c: Connector, reason: str) -> None:
        tx = c.transaction
        if tx is None:
            return
        self._advance(c)
        try:
            await self._send_stop(c, tx, reason)
        finally:
            c.transaction, c.finished, c.drawn = None, c.plugged, 0.0
            self.profiles.end_transaction(c.id)
            if c.scheduled_operative is not None:
                c.operative, c.scheduled_operative = c.scheduled_operative, None
            await self._quietly(self._update_state(c))
            self._wake.set()

    async def remote_start(
        self,
        c: Connector,
        id_tag: str,
        remote_start_id: int | None,
        install: Callable[[Transaction], None] | None,
    ) -> None:
        """A start requested by the central system: the car is there, the driver used an app."""
        c.plugged, c.finished = True, False
        try:
            await self._update_state(c)
            if self.table.boolean(self.KEYS.authorize_remote, False):
                status = await self._authorize(id_tag)
                if status != "Accepted":
                    raise SessionRefused(f"{self.identity}: id tag {id_tag} is {status}")
            tx = await self._begin(c, id_tag, remote_start_id)
        except (CallFailed, SessionRefused):
            if c.transaction is None:
                c.plugged = False
                await self._quietly(self._update_state(c))
            raise
        if install is not None:
            install(tx)
            await self._update_state(c)

    def free_connector(self) -> Connector | None:
        """The first connector a remote start without a connector id would use."""
        for c in self.connectors.values():
            if c.transaction is None and not c.plugged and c.operative:
                return c
        return None

    def transaction_by_id(self, transaction_id: str) -> Connector | None:
        for c in self.connectors.values():
            if c.transaction is not None and c.transaction.id == transaction_id:
                return c
        return None

    # --- availability, reboots, firmware, uploads --------------------------------------------

    def change_availability(self, connector_ids: Sequence[int], operative: bool) -> str:
        """Apply ChangeAvailability; Scheduled when a transaction must end first."""
        scheduled = False
        for cid in connector_ids:
            c = self.connectors[cid]
            if c.transaction is not None and c.operative != operative:
                c.scheduled_operative = operative
                scheduled = True
            else:
                c.operative, c.scheduled_operative = operative, None
        self.after_reply(self._refresh_all)
        return "Scheduled" if scheduled else "Accepted"

    def request_reset(self, *, immediate: bool, stop_reason: str) -> str:
        """Reset now (stopping transactions), or once idle when not `immediate`."""
        if not immediate and not self._idle():
            self._reset_when_idle = True
            self._wake.set()
            return "Scheduled"
        self.after_reply(lambda: self._reboot(BootReason.REMOTE_RESET, stop_reason))
        return "Accepted"

    async def _reboot(self, boot_reason: str, stop_reason: str) -> None:
        """Stop transactions, close the websocket; `run()` waits, powers up and reconnects."""
        if self._rebooting:
            return
        self._rebooting = True
        for c in self.connectors.values():
            if c.transaction is not None:
                with contextlib.suppress(CallFailed):
                    await self._end_transaction(c, stop_reason)
        self._boot_reason = boot_reason
        self._reboot_requested = True
        link = self._link
        if link is not None:
            await link.ws.close()
        else:
            self._power_up()  # rebooted while offline: boot when the connection is back

    def _power_up(self) -> None:
        """What a reboot changes: pending configuration applied, new firmware running, no
        transactions, cars gone; installed charging profiles and the local list survive."""
        self._reboot_requested = False
        self._rebooting = False
        self._accepted = False
        self._reset_when_idle = False
        applied = self.table.reboot()
        if applied:
            log.info("%s: applied after reboot: %s", self.identity, ", ".join(applied))
        if self._pending_firmware is not None:
            self.identification = replace(
                self.identification, firmware_version=self._pending_firmware
            )
            self._pending_firmware = None
        for c in self.connectors.values():
            c.transaction, c.plugged, c.finished, c.drawn = None, False, False, 0.0
            c.scheduled_operative = None
            self.profiles.end_transaction(c.id)
            c.state = State.AVAILABLE if c.operative else State.UNAVAILABLE

    def update_firmware(self, location: str, retrieve_at: float, request_id: int | None) -> None:
        """Start the download/install sequence once the current call is answered."""
        self.after_reply(lambda: self._firmware(location, retrieve_at, request_id))

    async def _firmware(self, location: str, retrieve_at: float, request_id: int | None) -> None:
        await self.clock.sleep(retrieve_at - self.clock.seconds())
        step = self.profile.firmware_step_seconds
        failure = self.profile.firmware_failure
        await self._quietly(self._firmware_step("Downloading", request_id))
        await self.clock.sleep(step)
        if failure is FirmwareFailure.DOWNLOAD:
            await self._quietly(self._firmware_step("DownloadFailed", request_id))
            return
        await self._quietly(self._firmware_step("Downloaded", request_id))
        await self._quietly(self._firmware_step("Installing", request_id))
        await self.clock.sleep(step)
        if failure is FirmwareFailure.INSTALL:
            await self._quietly(self._firmware_step("InstallationFailed", request_id))
            return
        self._pending_firmware = firmware_version_from_url(location)
        self._firmware_request = request_id
        self._firmware_installed_pending = True
        await self._quietly(self._firmware_installed(request_id))
        await self._reboot(BootReason.FIRMWARE_UPDATE, "Reboot")

    async def _firmware_step(self, status: str, request_id: int | None) -> None:
        self.firmware_status = status
        await self._send_firmware_status(status, request_id)

    async def _firmware_installed(self, request_id: int | None) -> None:
        """1.6 reports Installed before rebooting; 2.0.1 overrides this (InstallRebooting)."""
        await self._firmware_step("Installed", request_id)

    def upload(self, request_id: int | None) -> None:
        """GetDiagnostics / GetLog: report Uploading, then Uploaded (or a failure)."""
        self.after_reply(lambda: self._upload(request_id))

    async def _upload(self, request_id: int | None) -> None:
        self.upload_status = "Uploading"
        await self._quietly(self._send_upload_status("Uploading", request_id))
        await self.clock.sleep(self.profile.upload_seconds)
        self.upload_status = "UploadFailed" if self.profile.diagnostics_failure else "Uploaded"
        await self._quietly(self._send_upload_status(self.upload_status, request_id))
