"""What may be written for the store's location, and what the store makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.store.urls import database_url


def test_a_plain_path_is_a_sqlite_file(tmp_path: Path) -> None:
    url = database_url(str(tmp_path / "state.db"))
    assert (url.drivername, url.database) == ("sqlite+aiosqlite", str(tmp_path / "state.db"))
    relative = database_url("state.db")
    assert relative.database is not None and Path(relative.database).is_absolute()


def test_sqlite_urls_get_the_async_driver() -> None:
    url = database_url("sqlite:///var/lib/chargectl/state.db")
    assert (url.drivername, url.database) == ("sqlite+aiosqlite", "var/lib/chargectl/state.db")
    assert database_url("sqlite:////abs/state.db").database == "/abs/state.db"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2"])
def test_postgresql_urls_get_asyncpg(scheme: str) -> None:
    url = database_url(f"{scheme}://chargectl:s3cret@db.internal:5433/fleet")
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "chargectl",
        "s3cret",
        "db.internal",
        5433,
        "fleet",
    )


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = database_url("postgresql://u@h/db?sslmode=require")
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.parametrize("memory", [":memory:", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused(memory: str) -> None:
    with pytest.raises(ValueError, match="database file"):
        database_url(memory)


def test_other_databases_are_refused_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported store URL") as refused:
        database_url("mysql://root:hunter2@localhost/db")
    assert "hunter2" not in str(refused.value)
