"""Reads of one charger each, asked at the same time, go to the database as one.

The reconciler reads one charger's row, key statuses and open transactions on its passes;
after a restart or a reconnect storm thousands of passes run at once, and each read is a round
trip to the database (on SQLite, a hop to aiosqlite's thread and back), which costs the event
loop far more than the database's own work. A `ReadBatcher` gathers the identities asked while
a read is being prepared or is in flight and fetches them all in the next one
(`WHERE identity IN (...)`), the pattern GraphQL's DataLoader made known. A lone read waits
for nothing: it goes out on the next turn of the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

Fetch = Callable[[Sequence[str]], Awaitable[Mapping[str, list[T]]]]
"""Rows for each of the identities (missing from the mapping: no rows)."""


class ReadBatcher(Generic[T]):
    """One kind of per-charger read, batched; `fetch` runs at most `max_batch` identities."""

    def __init__(self, fetch: Fetch[T], max_batch: int = 256) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._asked: dict[str, list[asyncio.Future[list[T]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def get(self, identity: str) -> list[T]:
        """The rows of one charger, fetched together with whatever else is asked now."""
        if self._closed:
            raise RuntimeError("the store is closed")
        future: asyncio.Future[list[T]] = asyncio.get_running_loop().create_future()
        self._asked.setdefault(identity, []).append(future)
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Stop fetching; reads still waiting, and any asked from now on, fail with
        RuntimeError (not as cancelled: their callers did not cancel anything)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        asked, self._asked = self._asked, {}
        _fail(asked, RuntimeError("the store is closed"))

    async def _drain(self) -> None:
        try:
            while self._asked:
                batch = self._take()
                try:
                    found = await self._fetch(list(batch))
                except asyncio.CancelledError:  # only `close` cancels this task
                    _fail(batch, RuntimeError("the store is closed"))
                    raise
                except Exception as error:  # every reader of the batch hears of it
                    _fail(batch, error)
                    continue
                for identity, futures in batch.items():
                    rows = found.get(identity, [])
                    for future in futures:
                        if not future.done():  # a reader cancelled meanwhile
                            future.set_result(list(rows))
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _take(self) -> dict[str, list[asyncio.Future[list[T]]]]:
        """Up to `max_batch` identities asked, oldest first; the rest wait for the next read."""
        if len(self._asked) <= self._max_batch:
            batch, self._asked = self._asked, {}
            return batch
        batch = {}
        for identity in list(self._asked)[: self._max_batch]:
            batch[identity] = self._asked.pop(identity)
        return batch


def _fail(asked: Mapping[str, list[asyncio.Future[T]]], error: Exception) -> None:
    for futures in asked.values():
        for future in futures:
            if not future.done():  # a reader cancelled meanwhile
                future.set_exception(error)
