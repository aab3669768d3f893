"""The shared-value policy the large fleet's pages rely on: a page never waits for a read the
previous one made a moment ago, never shows another fleet's value, and reads one at a time."""

from __future__ import annotations

import asyncio

import pytest

from controller.web.view import shared
from controller.web.view.shared import Shared, SharedByKey


class Reads:
    """A read that answers 1, 2, 3, ... and can be held until released."""

    def __init__(self) -> None:
        self.count = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> int:
        await self.gate.wait()
        self.count += 1
        return self.count


async def test_a_fresh_value_is_used_without_reading_again() -> None:
    reads = Reads()
    value = Shared(reads, "numbers")
    assert [await value.get(), await value.get(), await value.get()] == [1, 1, 1]
    assert reads.count == 1


async def test_an_older_value_is_shown_while_one_refresh_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads()
    value = Shared(reads, "numbers")
    assert await value.get() == 1
    monkeypatch.setattr(shared, "FRESH", 0.0)
    reads.gate.clear()
    # Both requests get the value at hand at once; one refresh is started, not two.
    assert [await value.get(), await value.get()] == [1, 1]
    reads.gate.set()
    while await value.get() == 1:
        await asyncio.sleep(0)  # let the refresh's task run
    assert reads.count == 2


async def test_a_new_version_waits_for_its_own_value() -> None:
    reads = Reads()
    value = Shared(reads, "numbers")
    old, new = object(), object()
    assert await value.get(old) == 1
    assert await value.get(new) == 2  # a reloaded fleet: never the old fleet's rows


async def test_a_value_nobody_looked_at_for_long_is_read_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads()
    value = Shared(reads, "numbers")
    assert await value.get() == 1
    monkeypatch.setattr(shared, "STALE", 0.0)
    assert await value.get() == 2


async def test_a_failed_refresh_keeps_the_value_and_the_next_one_tries_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failing = True

    async def read() -> str:
        if failing:
            raise RuntimeError("database is locked")
        return "fresh"

    value: Shared[str] = Shared(read, "words")
    with pytest.raises(RuntimeError):
        await value.get()
    assert "reading words failed" in caplog.text
    failing = False
    assert await value.get() == "fresh"


async def test_values_by_key_keep_the_most_recently_used() -> None:
    reads = Reads()
    values: SharedByKey[int] = SharedByKey("numbers", size=2)
    assert await values.get("a", reads) == 1
    assert await values.get("b", reads) == 2
    assert await values.get("a", reads) == 1  # a is now the most recent
    assert await values.get("c", reads) == 3  # b goes
    assert await values.get("a", reads) == 1
    assert await values.get("b", reads) == 4


async def test_a_new_version_asked_for_during_an_older_read_waits_for_its_own() -> None:
    """A fleet reloaded while the old fleet's rows are being read: a request for the new
    fleet never gets the old one's rows (a charger moved away would stay visible)."""
    reads = Reads()
    value = Shared(reads, "numbers")
    old, new = object(), object()
    reads.gate.clear()
    reading_old = asyncio.create_task(value.get(old))
    await asyncio.sleep(0)  # the old version's read has begun and waits at the gate
    asking_new = asyncio.create_task(value.get(new))
    await asyncio.sleep(0)
    reads.gate.set()
    assert await reading_old == 1
    assert await asking_new == 2  # read again, for its own version
