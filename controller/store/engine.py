"""Connecting to SQLite or PostgreSQL the way the store needs, and telling passing errors apart.

SQLite: WAL (readers never block the writer, the writer never blocks readers) with
synchronous=NORMAL (a commit is one write to the WAL, no fsync; an application crash loses
nothing, a power cut may lose the last commits). SQLAlchemy, not the sqlite3 module, decides
when transactions begin, so every read sees one snapshot and every write takes the write lock
at BEGIN IMMEDIATE instead of failing halfway when another process wrote first.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

WRITE = "chargectl_write"
"""Execution option marking an engine whose transactions write (BEGIN IMMEDIATE on SQLite)."""

_SQLITE_BUSY_TIMEOUT_S = 30.0
_SQLITE_POOL_SIZE = 4
_TRANSIENT_SQLSTATE_CLASSES = {"08", "40", "53", "57", "58"}  # connection, rollback, resources


def _json(value: Any) -> str:
    # Event data comes from many places; a stray datetime must not fail a write.
    return json.dumps(value, default=str, separators=(",", ":"))


def create_engine(url: URL) -> AsyncEngine:
    """An async engine for `url` (already `postgresql+asyncpg` or `sqlite+aiosqlite`)."""
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            json_serializer=_json,
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S},
            # Every transaction here ends in COMMIT or ROLLBACK before the connection goes back;
            # the pool's own extra ROLLBACK would be one more trip to aiosqlite's thread.
            pool_reset_on_return=None,
            # A few connections, and no more: dozens of reconciler passes read at once, and
            # past the default pool_size of 5 each overflowing read opened a connection and
            # closed it after (a thread, a file, two PRAGMAs: a thousand times in a 20 s bench).
            # More connections are no faster either: each is a thread wanting the GIL, and a
            # read holds one for a single round trip, so waiting for one is short.
            pool_size=_SQLITE_POOL_SIZE,
            max_overflow=0,
        )
        _take_over_sqlite_transactions(engine)
        return engine
    return create_async_engine(url, json_serializer=_json, pool_size=10, max_overflow=10)


def _take_over_sqlite_transactions(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the sqlite3 module no longer emits BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def is_transient(error: BaseException) -> bool:
    """Whether writing the same rows again later may succeed (the database was away or busy).

    Anything else (a constraint, a bad value) would fail again and block every later batch.
    """
    if isinstance(error, asyncio.CancelledError | OSError | TimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return isinstance(error, OperationalError | InterfaceError)
