"""A small client of the status API, for `chargectl command`, `logs` and `plan --server`.

The standard library's urllib is enough for a handful of JSON requests and keeps the command
line free of an HTTP client dependency (and quick to start). Every failure becomes an
`ApiError` with the server's error code and message, or says the server could not be reached
or did not answer with JSON.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8080"
"""`serve`'s read-only status API (`--http`)."""

DEFAULT_ADMIN_SERVER = "http://127.0.0.1:8081"
"""`serve`'s admin channel (`--admin`), where commands go, with a token."""

Document = dict[str, Any]


class ApiError(Exception):
    """A request the server refused (`status` set) or that never got an answer (`status` None).

    `message` is for the user as it stands; `reason` is the HTTP reason phrase of a refusal
    ("Internal Server Error"), or what failed on the way (the socket's error, the JSON parser's),
    for a caller that words the error its own way.
    """

    def __init__(self, status: int | None, code: str, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason

    def document(self) -> Document:
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


class ApiClient:
    def __init__(
        self, server: str = DEFAULT_SERVER, *, timeout: float = 60.0, token: str | None = None
    ) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self._token = token

    def charger_path(self, charger: str, *rest: str) -> str:
        return "/".join(["/api/chargers", urllib.parse.quote(charger, safe=""), *rest])

    def get(self, path: str, query: dict[str, Any] | None = None) -> Document:
        return _object(self.get_json(path, query))

    def get_json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        """Any JSON value, for callers that check its shape themselves."""
        given = {k: v for k, v in (query or {}).items() if v is not None}
        suffix = f"?{urllib.parse.urlencode(given)}" if given else ""
        return self._request(urllib.request.Request(self.server + path + suffix))

    def post(self, path: str, body: Document) -> Document:
        request = urllib.request.Request(
            self.server + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        return _object(self._request(request))

    def _request(self, request: urllib.request.Request) -> Any:
        request.add_header("Accept", "application/json")
        if self._token is not None:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _refused(exc) from None
        except urllib.error.URLError as exc:
            raise ApiError(
                None,
                "unreachable",
                f"cannot reach {self.server}: {exc.reason}",
                reason=str(exc.reason),
            ) from None
        except TimeoutError as exc:
            raise ApiError(
                None,
                "timeout",
                f"{self.server} did not answer within {self.timeout:g}s",
                reason=str(exc),
            ) from None
        except OSError as exc:  # the connection dropped while the answer was read
            raise ApiError(
                None, "unreachable", f"cannot reach {self.server}: {exc}", reason=str(exc)
            ) from None
        return _parsed(raw)


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(
            None, "bad-response", f"the server did not answer with JSON: {exc}", reason=str(exc)
        ) from None


def _object(parsed: Any) -> Document:
    if not isinstance(parsed, dict):
        raise ApiError(None, "bad-response", "the server did not answer with a JSON object")
    return parsed


def _refused(exc: urllib.error.HTTPError) -> ApiError:
    try:
        error = _object(json.loads(exc.read())).get("error", {})
        return ApiError(
            exc.code, str(error.get("code")), str(error.get("message")), reason=str(exc.reason)
        )
    except (ValueError, ApiError, AttributeError):
        return ApiError(
            exc.code, "http-error", f"HTTP {exc.code} {exc.reason}", reason=str(exc.reason)
        )
