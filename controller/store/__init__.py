"""The central system's durable state: one interface, SQLite by default, PostgreSQL to scale out.

    async with open_store("chargectl.db") as store:          # or sqlite:///..., postgresql://...
        await store.record_heartbeat("CP-1", datetime.now(UTC))

`Store` (in `base`) is the interface; the values that cross it are `controller.values.records`.
"""

from __future__ import annotations

from controller.store.base import Store

__all__ = ["Store", "open_store"]


def open_store(url: str, *, log_limit_per_charger: int = 1000) -> Store:
    """The store for `url`: a SQLite file path, `sqlite:///PATH` or `postgresql://...`.

    Not connected yet: `await store.open()`, or use it as `async with`. The message log keeps
    the newest `log_limit_per_charger` frames of each charger.
    """
    from controller.store.sql import SqlStore  # SQLAlchemy loads only when a store is used

    return SqlStore(url, log_limit_per_charger=log_limit_per_charger)
