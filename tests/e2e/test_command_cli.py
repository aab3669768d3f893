"""`chargectl command` and `chargectl logs` against a running server, as an operator uses them.

The central system, its status API and its admin channel run in a background thread with
their own event loop; a bare OCPP-J charger (tests/integration/rawclient.py) is connected in
that loop and answers the commands the CLI sends through the admin channel, with the token it
reads from the token file `serve` wrote on start (found through $CHARGECTL_ADMIN_TOKEN_FILE).
The CLI runs in this thread (CliRunner), or as a real process for `logs -f`, which runs until
interrupted.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result

from controller.cli.command import TRIGGER_MESSAGES, command, logs
from controller.runtime.serve import Running, ServeOptions, running
from controller.values.commands import TriggerKind
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
BOOT = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}
NOW = "2026-11-25T10:00:00Z"


class Server:
    """`running(...)` with its listeners, in a thread with its own event loop."""

    def __init__(self, fleet_dir: Path, token_file: Path) -> None:
        self.store_url = f"sqlite:///{fleet_dir.parent / 'state.db'}"
        self.options = ServeOptions(
            reconcile=False,  # the test charger answers only what the CLI sends
            paths=[fleet_dir],
            store_url=self.store_url,
            host="127.0.0.1",
            port=0,
            call_timeout=1.0,
            http_port=0,
            admin_port=0,
            admin_tokens=token_file,
        )
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chargectl-server", daemon=True)
        self.started: Running | None = None

    def __enter__(self) -> Server:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the server did not start within 30 s")
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    @property
    def url(self) -> str:
        """The read-only status API (`logs`)."""
        assert self.started is not None and self.started.web is not None
        return self.started.web.url

    @property
    def admin_url(self) -> str:
        """The admin channel (`command`)."""
        assert self.started is not None and self.started.admin is not None
        return self.started.admin.url

    @property
    def ocpp_url(self) -> str:
        assert self.started is not None
        return self.started.url

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run `coroutine` in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def later(self, coroutine: Coroutine[Any, Any, T]) -> Any:
        """Start `coroutine` in the server's loop; `.result()` waits for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as failure:  # reported to the test thread by __enter__
            self._failure = failure
            self._ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with running(self.options) as started:
            self.started = started
            self._ready.set()
            await self._stop.wait()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    token_file = tmp_path / "config" / "admin-token"
    monkeypatch.setenv("CHARGECTL_ADMIN_TOKEN_FILE", str(token_file))
    with Server(write_fleet(tmp_path), token_file) as started:
        yield started


@pytest.fixture
def charger(server: Server) -> RawCharger:
    """CP-16, connected and booted."""

    async def connect() -> RawCharger:
        cp = await RawCharger.connect(server.ocpp_url, "CP-16", subprotocols=["ocpp1.6"])
        await cp.call("BootNotification", BOOT)
        return cp

    return server.run(connect())


async def answer_next(cp: RawCharger, payload: dict[str, Any]) -> list[Any]:
    """Answer the next CALL the central system sends; returns that CALL."""
    call = await cp.next_server_call(timeout=10)
    await cp.answer(call[1], payload)
    return call


def chargectl_command(*args: str) -> Result:
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def chargectl_logs(*args: str) -> Result:
    return CliRunner().invoke(logs, list(args), catch_exceptions=False)


# --- chargectl command -------------------------------------------------------------------------


def test_a_hard_reset_is_sent_and_its_answer_printed(server: Server, charger: RawCharger) -> None:
    answered = server.later(answer_next(charger, {"status": "Accepted"}))
    result = chargectl_command("CP-16", "reset", "--hard", "--server", server.admin_url)
    assert answered.result(10)[2:] == ["Reset", {"type": "Hard"}]
    assert result.exit_code == 0, result.output
    assert result.output.startswith("CP-16: reset: Accepted (")


def test_a_soft_reset_by_charger_name(server: Server, charger: RawCharger) -> None:
    answered = server.later(answer_next(charger, {"status": "Accepted"}))
    result = chargectl_command("cp-16", "reset", "--soft", "--server", server.admin_url)
    assert answered.result(10)[2:] == ["Reset", {"type": "Soft"}]
    assert result.exit_code == 0, result.output


def test_a_refused_unlock_exits_1_and_json_output_is_the_outcome(
    server: Server, charger: RawCharger
) -> None:
    answered = server.later(answer_next(charger, {"status": "UnlockFailed"}))
    result = chargectl_command(
        "CP-16", "unlock", "--connector", "2", "--server", server.admin_url, "--output", "json"
    )
    assert answered.result(10)[2:] == ["UnlockConnector", {"connectorId": 2}]
    assert result.exit_code == 1
    outcome = json.loads(result.output)
    assert outcome["ok"] is False and outcome["status"] == "UnlockFailed"
    assert outcome["command"] == {"command": "unlock", "connector": 2}


def test_trigger_takes_the_message_in_any_case(server: Server, charger: RawCharger) -> None:
    answered = server.later(answer_next(charger, {"status": "Accepted"}))
    result = chargectl_command(
        "CP-16", "trigger", "statusnotification", "--connector", "1", "--server", server.admin_url
    )
    assert answered.result(10)[2:] == [
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "connectorId": 1},
    ]
    assert result.exit_code == 0, result.output


def test_remote_start_and_stop(server: Server, charger: RawCharger) -> None:
    answered = server.later(answer_next(charger, {"status": "Accepted"}))
    result = chargectl_command(
        "CP-16",
        "remote-start",
        "--id-tag",
        "04AABBCC",
        "--connector",
        "2",
        "--server",
        server.admin_url,
    )
    assert answered.result(10)[2:] == [
        "RemoteStartTransaction",
        {"idTag": "04AABBCC", "connectorId": 2},
    ]
    assert result.exit_code == 0, result.output

    answered = server.later(answer_next(charger, {"status": "Rejected"}))
    result = chargectl_command(
        "CP-16", "remote-stop", "--transaction", "17", "--server", server.admin_url
    )
    assert answered.result(10)[2:] == ["RemoteStopTransaction", {"transactionId": 17}]
    assert result.exit_code == 1
    assert "remote-stop: Rejected" in result.output


def test_a_command_the_charger_never_answers_exits_1(server: Server, charger: RawCharger) -> None:
    result = chargectl_command("CP-16", "clear-cache", "--server", server.admin_url)
    assert result.exit_code == 1
    assert "CP-16: clear-cache: no answer: Timeout" in result.output


def test_the_server_refusing_exits_1_and_says_why(server: Server) -> None:
    result = chargectl_command("CP-201", "clear-cache", "--server", server.admin_url)
    assert result.exit_code == 1
    assert "error: CP-201 is not connected" in result.output
    result = chargectl_command("CP-NOPE", "clear-cache", "--server", server.admin_url, "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.output)["error"]["code"] == "not-found"


def test_an_unreachable_server_exits_1() -> None:
    result = chargectl_command("CP-16", "reset", "--server", "http://127.0.0.1:9", "--token", "any")
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.output


def test_without_a_token_the_command_is_not_sent_and_says_where_a_token_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHARGECTL_TOKEN", raising=False)
    monkeypatch.setenv("CHARGECTL_ADMIN_TOKEN_FILE", str(tmp_path / "absent"))
    result = chargectl_command("CP-16", "reset", "--server", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "no admin token" in result.output and "--token" in result.output


def test_a_wrong_token_is_refused_by_the_server(server: Server, charger: RawCharger) -> None:
    result = chargectl_command("CP-16", "reset", "--server", server.admin_url, "--token", "nope")
    assert result.exit_code == 1
    assert "a bearer token of the admin token file is needed" in result.output


def test_usage_errors_exit_2() -> None:
    assert chargectl_command("CP-16", "unlock").exit_code == 2  # --connector is required
    assert chargectl_command("CP-16", "trigger", "Coffee").exit_code == 2


def test_the_cli_offers_exactly_the_trigger_messages_the_commands_know() -> None:
    assert tuple(kind.value for kind in TriggerKind) == TRIGGER_MESSAGES


# --- chargectl logs ----------------------------------------------------------------------------


def test_logs_prints_the_newest_frames_with_direction_arrows(
    server: Server, charger: RawCharger
) -> None:
    server.run(charger.call("Heartbeat", {}))
    result = chargectl_logs("CP-16", "--limit", "2", "--server", server.url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "  ←  Heartbeat" in lines[0] and lines[0].endswith('"Heartbeat", {}]')
    assert "  →  Heartbeat" in lines[1] and "currentTime" in lines[1]

    as_json = chargectl_logs("CP-16", "--limit", "4", "--server", server.url, "-o", "json")
    entries = [json.loads(line) for line in as_json.output.splitlines()]
    assert [(e["direction"], e["action"]) for e in entries] == [
        ("received", "BootNotification"),
        ("sent", "BootNotification"),
        ("received", "Heartbeat"),
        ("sent", "Heartbeat"),
    ]


def test_logs_reads_the_store_directly(server: Server, charger: RawCharger) -> None:
    assert server.started is not None
    server.run(server.started.central.store.flush())
    result = chargectl_logs("CP-16", "--store", server.store_url)
    assert result.exit_code == 0, result.output
    assert [line.split()[2] for line in result.output.splitlines()] == [
        "BootNotification",
        "BootNotification",
    ]


def test_logs_of_an_unknown_charger_exits_1(server: Server) -> None:
    result = chargectl_logs("CP-NOPE", "--server", server.url)
    assert result.exit_code == 1 and "no charger 'CP-NOPE'" in result.output


def test_logs_refuses_server_and_store_together() -> None:
    result = chargectl_logs("CP-16", "--server", "http://x", "--store", "sqlite:///x.db")
    assert result.exit_code == 2


def test_logs_follow_prints_new_frames_as_they_come(server: Server, charger: RawCharger) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from controller.cli.command import logs; logs()",
            "CP-16",
            "-f",
            "--server",
            server.url,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    try:
        assert "BootNotification" in _next_line(lines)
        assert "BootNotification" in _next_line(lines)
        server.run(charger.call("Heartbeat", {}))
        assert "←  Heartbeat" in _next_line(lines)
        assert "→  Heartbeat" in _next_line(lines)
        assert process.poll() is None  # still following
    finally:
        process.terminate()
        process.wait(10)


def _next_line(lines: queue.Queue[str], timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    try:
        return lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise AssertionError("no new line from `chargectl logs -f` within 10 s") from None
