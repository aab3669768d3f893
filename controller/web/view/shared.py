"""A value read from the store once and shared by every request for a moment: what makes the
pages that summarise a large fleet fast, whoever is looking and however often.

The policy (`Shared.get`): younger than `FRESH` the value is used as it is; older, it is still
used (up to `STALE`) while one refresh runs in the background, so no request waits for a read
the previous one made a moment ago; older than that (nobody looked for a while), or read for
another version of the fleet, a request waits for a fresh one. Only one read runs at a time.

Fleets below `SHARED_FROM` chargers are read on every request instead (the callers decide,
`is_large`): a page then always shows what the store says now, and a small fleet's reads are
cheap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("chargectl.web")

T = TypeVar("T")

SHARED_FROM = 1000
"""Fleets of this many chargers (declared and pending) or more share what pages read."""
FRESH = 1.0
"""Seconds a shared value is used as it is."""
STALE = 10.0
"""Seconds an older value is still shown while a newer one is read."""


def is_large(chargers: int) -> bool:
    return chargers >= SHARED_FROM


class Shared(Generic[T]):
    """One value, read by `read` and shared (module docstring)."""

    def __init__(self, read: Callable[[], Awaitable[T]], what: str) -> None:
        self._read = read
        self._what = what
        self._value: T | None = None
        self._has_value = False
        self._version: object = None
        self._at = 0.0
        self._refresh: asyncio.Task[T] | None = None
        self._reading_for: object = None

    async def get(self, version: object = None) -> T:
        """The shared value, read for `version` (a new version — the fleet reloaded, say —
        is waited for rather than shown stale)."""
        age = time.monotonic() - self._at
        if self._has_value and self._version is version and age < STALE:
            if age >= FRESH and self._refresh is None:
                self._start(version)
            return self._value  # type: ignore[return-value]  # set with _has_value
        while True:
            if self._refresh is None:
                self._start(version)
            refresh, reading_for = self._refresh, self._reading_for
            assert refresh is not None
            value = await asyncio.shield(refresh)
            if reading_for is version:
                return value
            # That read was for another version (the fleet was reloaded while it ran): its
            # value must not be shown for this one, so read again once it is done.
            if self._refresh is refresh:
                self._refresh = None

    def _start(self, version: object) -> None:
        self._reading_for = version
        self._refresh = asyncio.create_task(self._reading(version))
        self._refresh.add_done_callback(self._done)

    async def _reading(self, version: object) -> T:
        started = time.monotonic()
        value = await self._read()
        self._value, self._has_value, self._version, self._at = value, True, version, started
        return value

    def _done(self, task: asyncio.Task[T]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is not None:
            log.error("reading %s failed", self._what, exc_info=task.exception())


class SharedByKey(Generic[T]):
    """A `Shared` value per key (a viewer's scope, a time window), the `size` most recently
    used kept."""

    def __init__(self, what: str, size: int = 64) -> None:
        self._what = what
        self._size = size
        self._values: OrderedDict[Hashable, Shared[T]] = OrderedDict()

    async def get(
        self, key: Hashable, read: Callable[[], Awaitable[T]], version: object = None
    ) -> T:
        shared = self._values.get(key)
        if shared is None:
            shared = self._values[key] = Shared(read, self._what)
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        else:
            self._values.move_to_end(key)
        return await shared.get(version)
