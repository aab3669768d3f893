"""Statements compiled once for the hot paths: what they refuse to run."""

from __future__ import annotations

import pytest
from sqlalchemy import Dialect, bindparam, select
from sqlalchemy.ext.asyncio import create_async_engine

from controller.store import schema
from controller.store.bulk import ReadStatement

DIALECTS = [
    create_async_engine(url).dialect  # not connected: only the dialect is used
    for url in ("sqlite+aiosqlite:///unused.db", "postgresql+asyncpg://unused@localhost/unused")
]
"""The store's own drivers: `?` and `$1` parameters."""
keys = schema.key_status


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_a_read_statement_compiles_for_each_dialect(dialect: Dialect) -> None:
    query = select(keys).where(
        keys.c.identity == bindparam("identity"), keys.c.key == bindparam("key")
    )
    read = ReadStatement(query, dialect, [keys], ["key", "identity"])
    if dialect.name == "sqlite":
        assert read.sql.count("?") == 2
    else:
        assert "$1" in read.sql and "$2" in read.sql and "?" not in read.sql


def test_a_read_statement_needs_whole_tables_and_the_parameters_it_binds() -> None:
    dialect = DIALECTS[0]
    one = select(keys).where(keys.c.identity == bindparam("identity"))
    with pytest.raises(ValueError, match="binds"):
        ReadStatement(one, dialect, [keys], [])
    with pytest.raises(ValueError, match="all of key_status"):
        ReadStatement(select(keys.c.identity, keys.c.key), dialect, [keys], [])
    with pytest.raises(ValueError, match="no table"):
        ReadStatement(select(keys, schema.chargers.c.identity), dialect, [keys], [])
    with pytest.raises(ValueError, match="cannot convert data"):
        ReadStatement(select(schema.events), dialect, [schema.events], [])  # JSON
