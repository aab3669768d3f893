"""The status API client: every failure an `ApiError` a command can print, never a traceback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from controller.cli.client import ApiClient, ApiError
from controller.cli.command import logs


@contextlib.contextmanager
def answering(body: bytes, status: int = 200) -> Iterator[str]:
    """A stub server answering `body` to every GET; yields its URL."""

    class Canned(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_answer_that_is_not_json_is_an_api_error() -> None:
    with answering(b"<html>") as url, pytest.raises(ApiError) as raised:
        ApiClient(url).get("/api/chargers")
    assert raised.value.code == "bad-response" and raised.value.status is None
    assert raised.value.message.startswith("the server did not answer with JSON: ")
    assert raised.value.reason == "Expecting value: line 1 column 1 (char 0)"


def test_get_wants_an_object_and_get_json_takes_any_value() -> None:
    with answering(b"[1, 2]") as url:
        assert ApiClient(url).get_json("/x") == [1, 2]
        with pytest.raises(ApiError, match="did not answer with a JSON object"):
            ApiClient(url).get("/x")


def test_a_refusal_keeps_the_server_s_code_and_the_reason_phrase() -> None:
    body = b'{"error": {"code": "not-found", "message": "no charger \'X\'"}}'
    with answering(body, 404) as url, pytest.raises(ApiError) as raised:
        ApiClient(url).get("/api/chargers/X")
    error = raised.value
    assert (error.status, error.code, error.message, error.reason) == (
        404,
        "not-found",
        "no charger 'X'",
        "Not Found",
    )


def test_logs_prints_a_bad_answer_as_an_error() -> None:
    with answering(b"<html>") as url:
        result = CliRunner().invoke(logs, ["CP-1", "--server", url])
    assert result.exit_code == 1
    assert "error: the server did not answer with JSON" in result.output
