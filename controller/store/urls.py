"""What a user may write for `--store`, turned into an async SQLAlchemy URL.

Operators write what they know: a file name, `sqlite:///state.db`, or the `postgresql://` URL
their database service hands out (Heroku-style `postgres://` and libpq's `sslmode` included).
The store needs the async drivers, aiosqlite and asyncpg, whatever was written.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url

_SQLITE = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_POSTGRESQL = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}


def database_url(url: str) -> URL:
    """The async URL for `url`; a value without a scheme is the path of a SQLite file."""
    if "://" not in url:
        _refuse_memory(url)
        return URL.create("sqlite+aiosqlite", database=str(Path(url).expanduser().absolute()))
    parsed = make_url(url)
    if parsed.drivername in _SQLITE:
        _refuse_memory(parsed.database or ":memory:")
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in _POSTGRESQL:
        parsed = parsed.set(drivername="postgresql+asyncpg")
        if "sslmode" in parsed.query:  # libpq's name; asyncpg calls it ssl, same values
            query = dict(parsed.query)
            query.setdefault("ssl", query.pop("sslmode"))
            parsed = parsed.set(query=query)
        return parsed
    raise ValueError(
        f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}: "
        "use a SQLite file path, sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def _refuse_memory(database: str) -> None:
    # One shared connection would serialise readers behind writers, and the state of the
    # central system would vanish with the process: a file it is, even a temporary one.
    if database == ":memory:" or database.startswith("file::memory:"):
        raise ValueError("the store needs a database file, not an in-memory SQLite database")
