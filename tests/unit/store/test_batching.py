"""Per-charger reads asked together are fetched together, and failures reach every reader."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from controller.store.batching import ReadBatcher


class Table:
    """A fake table of rows by identity that records each fetch (the database is not the
    subject here: tests/integration/test_store.py runs the batched reads on SQLite and
    PostgreSQL)."""

    def __init__(self, rows: Mapping[str, list[int]]) -> None:
        self.rows = rows
        self.fetches: list[list[str]] = []
        self.fail_next: Exception | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.fetching = asyncio.Event()
        """Set when a fetch has started (and, with the gate closed, is held in flight)."""

    async def fetch(self, identities: Sequence[str]) -> dict[str, list[int]]:
        self.fetches.append(list(identities))
        self.fetching.set()
        await self.gate.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return {i: self.rows[i] for i in identities if i in self.rows}


async def test_reads_asked_at_the_same_time_are_one_fetch() -> None:
    table = Table({"a": [1], "b": [2, 3]})
    batcher = ReadBatcher(table.fetch)

    found = await asyncio.gather(batcher.get("a"), batcher.get("b"), batcher.get("c"))

    assert found == [[1], [2, 3], []]
    assert table.fetches == [["a", "b", "c"]]


async def test_reads_asked_while_one_is_in_flight_go_in_the_next_fetch() -> None:
    table = Table({"a": [1], "b": [2], "c": [3]})
    batcher = ReadBatcher(table.fetch)
    table.gate.clear()
    first = asyncio.create_task(batcher.get("a"))
    await table.fetching.wait()  # the fetch of "a" is under way
    later = [asyncio.create_task(batcher.get(i)) for i in ("b", "c", "b")]
    table.gate.set()

    assert await first == [1]
    assert [await task for task in later] == [[2], [3], [2]]
    assert table.fetches == [["a"], ["b", "c"]]


async def test_a_batch_holds_at_most_max_batch_identities() -> None:
    table = Table({str(i): [i] for i in range(10)})
    batcher = ReadBatcher(table.fetch, max_batch=4)

    found = await asyncio.gather(*(batcher.get(str(i)) for i in range(10)))

    assert found == [[i] for i in range(10)]
    assert [len(f) for f in table.fetches] == [4, 4, 2]


async def test_a_failed_fetch_reaches_every_reader_and_the_next_read_works() -> None:
    table = Table({"a": [1], "b": [2]})
    batcher = ReadBatcher(table.fetch)
    table.fail_next = RuntimeError("database gone")

    results = await asyncio.gather(batcher.get("a"), batcher.get("b"), return_exceptions=True)

    assert [str(r) for r in results] == ["database gone", "database gone"]
    assert await batcher.get("a") == [1]


async def test_a_cancelled_reader_leaves_the_others_their_rows() -> None:
    table = Table({"a": [1], "b": [2]})
    batcher = ReadBatcher(table.fetch)
    table.gate.clear()
    gone = asyncio.create_task(batcher.get("a"))
    staying = asyncio.create_task(batcher.get("b"))
    await table.fetching.wait()
    gone.cancel()
    table.gate.set()

    assert await staying == [2]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_closing_fails_the_reads_still_waiting_and_refuses_new_ones() -> None:
    table = Table({"a": [1], "b": [2]})
    batcher = ReadBatcher(table.fetch)
    table.gate.clear()
    in_flight = asyncio.create_task(batcher.get("a"))
    await table.fetching.wait()
    queued = asyncio.create_task(batcher.get("b"))
    await asyncio.sleep(0)  # one turn of the loop: the queued task asks its read

    await batcher.close()

    for waiting in (in_flight, queued):
        with pytest.raises(RuntimeError, match="store is closed"):
            await waiting
        assert not waiting.cancelled(), "their callers cancelled nothing"
    with pytest.raises(RuntimeError, match="store is closed"):
        await batcher.get("a")
