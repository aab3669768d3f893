"""Statements a flush runs for thousands of rows: compiled once, executed with plain tuples.

SQLAlchemy Core processes every parameter of every row in Python (defaults, type processors,
key lookups); for the message log that costs three times what SQLite itself spends writing the
rows. A `BulkStatement` is compiled once for the dialect, and its rows go to the driver's
executemany as tuples built in C by `operator.itemgetter`. The only work left per value is
turning timestamps into text on SQLite; PostgreSQL's driver takes datetimes as they are.

What is bypassed must therefore hold already: values are validated when they enter the store,
and columns left out get their database-side defaults.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect
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
