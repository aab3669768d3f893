"""What every listener of `serve` answers alike: JSON documents, errors as JSON, query numbers.

Both the read-only status API (`app`) and the admin channel (`admin`) answer in the same shape:
a JSON document, or `{"error": {"code", "message"}}` with the matching HTTP status, including
aiohttp's own 404 and 405, and a 500 that says to look in the server's log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger("chargectl.web")

Document = dict[str, Any]


class Refused(Exception):
    """A request answered with an error document: HTTP status, a stable code, a message."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def refused(
    status: HTTPStatus, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Refused:
    return Refused(status.value, code, message, headers)


def json_response(
    document: Document, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=dict(headers or {}),
    )


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error is a JSON document, including aiohttp's own 404 and 405."""
    try:
        return await handler(request)
    except Refused as refusal:
        return json_response(
            {"error": {"code": refusal.code, "message": refusal.message}},
            refusal.status,
            refusal.headers,
        )
    except web.HTTPException as exc:  # aiohttp's own: no such route, method not allowed
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "-")
        allow = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return json_response({"error": {"code": code, "message": exc.reason}}, exc.status, allow)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_response(
            {"error": {"code": "internal", "message": "internal error; see the server log"}},
            500,
        )


def int_param(request: web.Request, name: str, default: int, least: int, most: int) -> int:
    value = optional_int_param(request, name)
    if value is None:
        return default
    if not least <= value <= most:
        raise refused(
            HTTPStatus.BAD_REQUEST, "bad-parameter", f"{name} must be from {least} to {most}"
        )
    return value


def optional_int_param(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise refused(
            HTTPStatus.BAD_REQUEST, "bad-parameter", f"{name} must be a whole number, not {text!r}"
        ) from None
