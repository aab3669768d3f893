"""`chargectl serve` or `chargectl operator` as a process of its own, for the tests that need
what only a separate process shows: a SIGKILL, two replicas, the console script itself.

Each gets its OCPP endpoint, status API and admin channel on free loopback ports and its
output in a file, which a failing test prints the end of.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

CHARGECTL = Path(sys.executable).parent / "chargectl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LoggedProcess:
    """A process started at once, its output (stdout and stderr) in `log`, no standard input:
    what a failing test prints the end of."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        append: bool = False,
    ) -> None:
        self.name = name
        self.log = log
        with log.open("a" if append else "w") as output:
            self.process = subprocess.Popen(
                list(command),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )

    def running(self) -> bool:
        """True while it runs; a process that has ended on its own fails the test with the
        end of its output."""
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited {self.process.returncode}:\n{self.tail()}")
        return True

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not ended within 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def tail(self) -> str:
        """The last lines of its output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


class ChargectlProcess(LoggedProcess):
    """`chargectl COMMAND ARGS... --listen --http --admin --admin-tokens`, started at once."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        tokens: Path,
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.ocpp, self.http, self.admin = (free_port() for _ in range(3))
        command = [
            str(CHARGECTL),
            *args,
            *("--listen", f"127.0.0.1:{self.ocpp}", "--http", f"127.0.0.1:{self.http}"),
            *("--admin", f"127.0.0.1:{self.admin}", "--admin-tokens", str(tokens)),
        ]
        super().__init__(name, command, log=log, cwd=cwd, env=env)

    @property
    def url(self) -> str:
        """Where chargers connect (append `/<identity>`)."""
        return f"ws://127.0.0.1:{self.ocpp}/ocpp"

    async def get(self, http: aiohttp.ClientSession, path: str) -> Any:
        """A document of its status API, or None while it does not answer 200; a process
        that has ended fails the test with the end of its output."""
        self.running()
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{self.http}{path}") as response:
                if response.status == 200:
                    return await response.json(content_type=None)
        return None
