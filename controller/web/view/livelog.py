"""`/chargers/{id}/log/stream`: a charger's OCPP frames as server-sent events, as they are
logged (what `static/live-log.js` appends to the charger page's log table).

Each frame is one event, `id: <log id>`, `event: frame`, `data:` the JSON of
`status.log_entry` (what `GET /api/chargers/{id}/log` gives). A reconnecting browser sends
`Last-Event-ID` and gets what it missed, without a gap (`Store.message_log(after_id=...)`);
a new stream starts after the newest frame (the page has rendered those). The store is read
about once a second, at most `BATCH` frames at a time; a comment every `KEEP_ALIVE` seconds
keeps proxies from closing a quiet stream. It ends when the browser goes away or the server
stops. The scope is checked before anything is sent: out of scope is a 404, like missing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from controller.web.status import ChargerRef, log_entry
from controller.web.view.site import View

Finder = Callable[[View, web.Request], Awaitable[ChargerRef]]
"""The charger page's lookup: the charger of the URL in the viewer's scope, or a 404."""

BATCH = 200
POLL = 1.0
"""Seconds between reads of the store."""
KEEP_ALIVE = 15.0
"""Seconds without a frame after which a comment is sent."""


def routes(view: View, find: Finder) -> list[web.RouteDef]:
    """Registered by `controller.web.view.charger`, whose lookup it shares."""

    async def stream(request: web.Request) -> web.StreamResponse:
        ref = await find(view, request)
        store = view.central.store
        last = _last_event_id(request)
        if last is None:
            newest = await store.message_log(ref.identity, limit=1)
            last = newest[-1].id if newest and newest[-1].id is not None else 0
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        quiet_since = time.monotonic()
        try:
            await response.write(b"retry: 3000\n\n")
            while not _closing(request):
                entries = await store.message_log(ref.identity, after_id=last, limit=BATCH)
                if entries:
                    parts = []
                    for entry in entries:
                        data = json.dumps(log_entry(entry), ensure_ascii=False)
                        parts.append(f"id: {entry.id}\nevent: frame\ndata: {data}\n\n")
                        if entry.id is not None:
                            last = entry.id
                    await response.write("".join(parts).encode())
                    quiet_since = time.monotonic()
                    if len(entries) == BATCH:
                        continue  # more waiting: page on without a pause
                elif time.monotonic() - quiet_since >= KEEP_ALIVE:
                    await response.write(b": keep-alive\n\n")
                    quiet_since = time.monotonic()
                await asyncio.sleep(POLL)
        except (ConnectionResetError, ConnectionError):
            pass  # the browser went away
        return response

    return [web.get("/chargers/{id}/log/stream", stream, name="charger-log-stream")]


def _last_event_id(request: web.Request) -> int | None:
    value = request.headers.get("Last-Event-ID") or request.query.get("after")
    try:
        return max(0, int(value)) if value else None
    except ValueError:
        return None


def _closing(request: web.Request) -> bool:
    """The browser went away, or the server is stopping. aiohttp marks each connection as
    closing when it begins to shut down (`RequestHandler.close`, from `Server.pre_shutdown`)
    and would cancel a handler still running only after its shutdown timeout; it has no
    public flag for it, hence the attribute, read defensively."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return True
    protocol = request.protocol
    return bool(getattr(protocol, "_close", False) or getattr(protocol, "_force_close", False))
