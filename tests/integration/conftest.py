"""Real databases for integration tests: a SQLite file, and a PostgreSQL server.

PostgreSQL comes from CHARGECTL_TEST_POSTGRES_URL (a role that may CREATE DATABASE) or, failing
that, from a throwaway cluster started here with the server's own initdb and pg_ctl, on a free
port, in a temporary directory, stopped and removed at the end of the session. When neither is
possible the PostgreSQL tests skip and say why; with CHARGECTL_REQUIRE_POSTGRES=1 (CI) they
fail instead, so a missing server cannot pass unnoticed.

Each test gets a database of its own, created empty and dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

POSTGRES_UNAVAILABLE = (
    "PostgreSQL not available: install postgresql (apt-get install postgresql) "
    "or set CHARGECTL_TEST_POSTGRES_URL"
)


class _Unavailable(Exception):
    """Why a throwaway PostgreSQL cluster could not be started here."""


class _Cluster:
    """A PostgreSQL cluster of our own: trust auth, 127.0.0.1 only, no fsync."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.as_postgres = _as_postgres_user()
        self.root = Path(tempfile.mkdtemp(prefix="chargectl-pg-"))
        self.data = self.root / "data"
        self.port = 0
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data), "-A", "trust", "-U", "postgres"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        )
        failure = ""
        for _attempt in range(3):  # another process may take the free port before we do
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            log = self.root / "server.log"
            try:
                self._run(
                    "pg_ctl",
                    *("-D", str(self.data), "-l", str(log), "-o", options),
                    *("-w", "-t", "60", "start"),
                )
                return
            except _Unavailable as error:
                failure = f"{error}; server log: {_tail(log)}"
        raise _Unavailable(failure)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        command = [*prefix, str(self.bin / program), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise _Unavailable(f"{program} failed: {' / '.join(output)}")


def _postgres_bin() -> Path:
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path))

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise _Unavailable("no initdb and pg_ctl under /usr/lib/postgresql/*/bin or on PATH")


def _as_postgres_user() -> bool:
    """PostgreSQL refuses to run as root; as root, run it as the postgres user."""
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise _Unavailable("running as root and there is no postgres user") from None
    if shutil.which("runuser") is None:
        raise _Unavailable("running as root and runuser is missing")
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path) -> str:
    try:
        return " / ".join(path.read_text(errors="replace").strip().splitlines()[-3:])
    except OSError:
        return "(none)"


def _unavailable(reason: str) -> None:
    message = f"{POSTGRES_UNAVAILABLE} ({reason})"
    if os.environ.get("CHARGECTL_REQUIRE_POSTGRES"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server where the tests may create databases."""
    url = os.environ.get("CHARGECTL_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    cluster: _Cluster | None = None
    try:
        cluster = _Cluster()
        cluster.start()
    except (_Unavailable, OSError, subprocess.SubprocessError) as error:
        if cluster is not None:
            shutil.rmtree(cluster.root, ignore_errors=True)
        _unavailable(str(error))
    assert cluster is not None
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The backend under test: None for SQLite, the server URL for PostgreSQL."""
    if request.param == "sqlite":
        return None
    server: str = request.getfixturevalue("postgres_server")
    return server


@pytest_asyncio.fixture
async def store_url(backend: str | None, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for one test, as a URL `open_store` accepts."""
    if backend is None:
        yield f"sqlite:///{tmp_path / 'chargectl.db'}"
        return
    server = make_url(backend).set(drivername="postgresql")
    name = f"chargectl_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(server.render_as_string(hide_password=False))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
