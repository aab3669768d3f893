"""The serving process's collector policy: start-up heap frozen, thresholds raised, restored."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from controller.runtime.heap import THRESHOLDS, collect_periodically, freeze_startup_heap


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()  # this test process's objects must stay collectable
    gc.set_threshold(*thresholds)


async def test_serving_freezes_the_start_up_heap_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()

    previous = freeze_startup_heap()

    assert previous == before
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == THRESHOLDS

    collecting = asyncio.create_task(collect_periodically(previous, interval=3600))
    await asyncio.sleep(0)
    collecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await collecting
    assert gc.get_threshold() == before, "stopping serving restores the thresholds"


async def test_cyclic_garbage_is_still_collected_on_the_timer() -> None:
    class Node:
        other: Node | None = None

    collected = asyncio.Event()
    collecting = asyncio.create_task(collect_periodically(freeze_startup_heap(), interval=0.05))
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector can free it
    weakref.finalize(a, collected.set)
    del a, b

    await asyncio.wait_for(collected.wait(), 5)
    collecting.cancel()
