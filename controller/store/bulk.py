"""Statements on hot paths: compiled once, executed on the driver with plain tuples.

SQLAlchemy Core processes every parameter of every row in Python (defaults, type processors,
key lookups); for the message log that costs three times what SQLite itself spends writing the
rows. A `BulkStatement` is compiled once for the dialect, and its rows go to the driver's
executemany as tuples built in C by `operator.itemgetter`. The only work left per value is
turning timestamps into text on SQLite; PostgreSQL's driver takes datetimes as they are.

What is bypassed must therefore hold already: values are validated when they enter the store,
and columns left out get their database-side defaults.

A `ReadStatement` is the same for a SELECT the reconciler runs for every charger on every pass
(one charger's row, key statuses, open transactions). Through SQLAlchemy's async layer such a
read is a dozen round trips to aiosqlite's thread (BEGIN; cursor, execute, fetch and close;
ROLLBACK), a millisecond of the event loop's time for 10 µs of SQLite's; here it is one, on the
driver's own connection (aiosqlite or asyncpg) taken from the engine's pool. One statement needs
no BEGIN: it sees one snapshot by itself.
"""

from __future__ import annotations

import asyncio
import operator
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Integer,
    Select,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from controller.store.schema import UtcDateTime, sqlite_timestamp


class BulkStatement:
    """An INSERT (or upsert) of `columns`, executed for many rows in one round trip."""

    def __init__(self, statement: Insert, dialect: Dialect, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        order = compiled.positiontup
        if order is None or len(order) < 2 or set(order) != set(columns):
            raise ValueError(f"cannot run {statement} with positional rows of {columns}")
        self.sql = compiled.string
        self._row: Callable[[Mapping[str, Any]], tuple[Any, ...]] = operator.itemgetter(*order)
        table = statement.table
        self._stamps = (
            [i for i, name in enumerate(order) if isinstance(table.c[name].type, UtcDateTime)]
            if dialect.name == "sqlite"
            else []
        )

    def rows(self, values: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Each mapping (column name to value) as a tuple in the statement's order."""
        rows = list(map(self._row, values))
        if not self._stamps:
            return rows
        converted = []
        for row in rows:
            fields = list(row)
            for i in self._stamps:
                if fields[i] is not None:
                    fields[i] = sqlite_timestamp(fields[i])
            converted.append(tuple(fields))
        return converted

    async def execute(self, conn: AsyncConnection, values: Iterable[Mapping[str, Any]]) -> None:
        rows = self.rows(values)
        if rows:
            await conn.exec_driver_sql(self.sql, rows)


_PLAIN_TYPES = (String, Text, Integer, BigInteger, SmallInteger)
"""Column types both drivers return as Python wants them: nothing to convert."""


class ReadStatement:
    """A SELECT of whole tables' columns, run in one round trip on the driver's connection.

    Each row comes back as one named tuple per table (`None` for a table an outer join found
    nothing in), columns by name, as `rows` reads them. Parameters are bound positionally, in
    the order of `params`, and must be plain strings or numbers: timestamps are not converted.
    """

    def __init__(
        self,
        statement: Select[Any],
        dialect: Dialect,
        tables: Sequence[Table],
        params: Sequence[str],
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        order = compiled.positiontup or []
        if sorted(order) != sorted(params):
            raise ValueError(f"{statement} binds {order}, not {params}")
        self.sql = compiled.string
        self._args: Callable[[Mapping[str, Any]], tuple[Any, ...]] = lambda values: tuple(
            values[name] for name in order
        )
        self._sqlite = dialect.name == "sqlite"
        columns = list(statement.selected_columns)
        self._parts: list[tuple[int, int, Any]] = []
        self._convert: list[tuple[int, Callable[[Any], Any]]] = []
        start = 0
        for table in tables:
            names = [column.name for column in table.c]
            if [(c.table, c.name) for c in columns[start : start + len(names)]] != [
                (table, name) for name in names
            ]:
                raise ValueError(f"{statement} does not select all of {table.name} in order")
            self._parts.append((start, start + len(names), namedtuple(table.name, names)))
            start += len(names)
        if start != len(columns):
            raise ValueError(f"{statement} selects columns of no table in {tables}")
        for i, column in enumerate(columns):
            kind = column.type
            if isinstance(kind, UtcDateTime):
                self._convert.append((i, _timestamp(kind, dialect)))
            elif isinstance(kind, Boolean):
                self._convert.append((i, bool))
            elif not isinstance(kind, _PLAIN_TYPES):
                raise ValueError(f"cannot convert {column.name} ({kind}) without SQLAlchemy")

    async def fetch(self, conn: AsyncConnection, **params: Any) -> list[tuple[Any, ...]]:
        """The rows, each a tuple of one named tuple (or None) per table."""
        args = self._args(params)
        pooled = await conn.get_raw_connection()
        driver = pooled.driver_connection
        assert driver is not None
        try:
            if self._sqlite:
                found: Iterable[Sequence[Any]] = await driver.execute_fetchall(self.sql, args)
            else:
                found = await driver.fetch(self.sql, *args)
        except BaseException as error:
            # SQLAlchemy did not see the error, so it cannot tell whether the connection still
            # works: do not give it back to the pool. Except a cancelled read on SQLite (a
            # reconciler pass of a charger that went away): the SELECT still runs to its end
            # in aiosqlite's thread, in autocommit, and leaves the connection as it was.
            if not (self._sqlite and isinstance(error, asyncio.CancelledError)):
                await conn.invalidate()
            raise
        return [self._row(values) for values in found]

    def _row(self, found: Sequence[Any]) -> tuple[Any, ...]:
        values = list(found)
        for i, convert in self._convert:
            if values[i] is not None:
                values[i] = convert(values[i])
        parts = []
        for start, end, row in self._parts:
            part = values[start:end]
            parts.append(None if all(v is None for v in part) else row(*part))
        return tuple(parts)


def _timestamp(kind: UtcDateTime, dialect: Dialect) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return kind.process_result_value(value, dialect)

    return convert
