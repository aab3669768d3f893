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
whose objects must stay collectable, so `serve_forever` alone calls this.
"""

from __future__ import annotations

import asyncio
import gc

THRESHOLDS = (50_000, 20, 20)
"""The collector's thresholds while serving (Python's are 700, 10, 10)."""
FULL_COLLECTION_SECONDS = 600.0


async def tend_garbage_collector(interval: float = FULL_COLLECTION_SECONDS) -> None:
    """Freeze the start-up heap, raise the thresholds, collect fully every `interval` seconds;
    until cancelled, when the previous thresholds come back."""
    gc.collect()
    gc.freeze()
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        while True:
            await asyncio.sleep(interval)
            gc.collect()
    finally:
        gc.set_threshold(*previous)
