"""One aiohttp application listening on one address, in the running event loop.

Both HTTP listeners of `serve` (the read-only status API and the admin channel) start and stop
the same way: an `AppRunner` and a `TCPSite`, no thread and no second loop, so handlers read
the live connections directly. When bound to anything but loopback the log says what is
exposed, since that is a choice someone made and should see.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger("chargectl.web")

LOOPBACK = "127.0.0.1"
"""Where every listener binds unless told otherwise."""


def is_loopback_host(host: str) -> bool:
    """`127.0.0.1`, `::1`, `localhost`: reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Listener:
    """`start()` listens on (host, port) (port 0: the system chooses), `close()` stops."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        what: str,
        exposed: str,
        access_log: bool = False,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.what = what
        """What listens, for the log: "status API and metrics"."""
        self.exposed = exposed
        """What someone on the network can then do, said when bound beyond loopback."""
        self._access_log = access_log
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose, when started with port 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError(f"the {self.what} listener is not started")
        address: Any = self._runner.addresses[0]
        return int(address[1])

    @property
    def url(self) -> str:
        host = self.host
        host = LOOPBACK if host in ("0.0.0.0", "", "::") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=logging.getLogger("chargectl.web.access") if self._access_log else None,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.announce()

    def announce(self) -> None:
        """Log what now listens where: at INFO on loopback, a warning beyond it."""
        if is_loopback_host(self.host):
            log.info("web: %s on %s (loopback only)", self.what, self.url)
        else:
            log.warning(
                "web: %s on %s:%d, reachable from the network: %s",
                self.what,
                self.host or "0.0.0.0",
                self.port,
                self.exposed,
            )

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
