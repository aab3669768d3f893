"""How a serving process keeps Python's cyclic garbage collector from stalling it.

With Python's default thresholds (700, 10, 10) a full collection runs each time the objects
that survived earlier collections grow by a quarter, and scans all of them. A server taking
thousands of charger connections grows exactly so: `bench/converge.py` measured a quarter of
the server's CPU in collections at 3,000 chargers, each full one scanning every connection's
objects and, before they were frozen, every module's and the fleet's.

So, once started:
- everything alive (modules, the fleet and its indexes, compiled statements) is frozen out of
  the collector's sight (`gc.freeze`): it lives as long as the process;
- young collections run every 50,000 net container allocations instead of 700, and older
  generations correspondingly rarely: cycles are still found, just in fewer, larger sweeps;
- a full collection runs every ten minutes regardless, so the cycles of chargers that
  disconnected (sessions, tasks) do not pile up in the oldest generation.

Only for a process that is the server: `serve.running()` is also used in-process by tests,
whose objects must stay collectable, so only `serve_forever` asks for this
(`ServeOptions.tend_heap`).
"""

from __future__ import annotations

import asyncio
import gc

THRESHOLDS = (50_000, 20, 20)
"""The collector's thresholds while serving (Python's are 700, 10, 10)."""
FULL_COLLECTION_SECONDS = 600.0


def freeze_startup_heap() -> tuple[int, int, int]:
    """Freeze what is alive now and raise the thresholds; returns the previous thresholds.
    Called before the endpoint accepts its first connection, so that no session's objects
    are frozen with the start-up heap (their cycles could never be collected)."""
    gc.collect()
    gc.freeze()
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    return previous


async def collect_periodically(
    previous: tuple[int, int, int], interval: float = FULL_COLLECTION_SECONDS
) -> None:
    """A full collection every `interval` seconds; until cancelled, when the thresholds
    `freeze_startup_heap` replaced come back."""
    try:
        while True:
            await asyncio.sleep(interval)
            gc.collect()
    finally:
        gc.set_threshold(*previous)
