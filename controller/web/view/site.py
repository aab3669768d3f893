"""The web view wired into the status API's aiohttp app: rendering, branding, errors, assets.

Every page is a GET rendered by Jinja2 from the same documents the JSON API serves
(`StatusService`), cut to the viewer's `Scope`. `View.render` gives each template what every
page needs: who is looking (`scope`: local single-user mode, a teammate, or unknown), the
viewing team's branding, the viewer's language, timezone and theme, and gettext bound to that
language. Pages register their routes through `PAGES`; each module has `routes(view)`.

Unknown people (the proxy names someone who is in no team) get one page saying so, and the
JSON API a 403: nothing else of the fleet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import jinja2
from aiohttp import web

from controller.fleet.model import Fleet
from controller.ocpp.central import CentralSystem
from controller.planning.transactions import ExportRow, to_csv
from controller.web.access import Scope, scope_for
from controller.web.responses import Document, Refused, json_response
from controller.web.status import StatusService
from controller.web.view import i18n
from controller.web.view.prefs import prefs_of

log = logging.getLogger("chargectl.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PlanProvider = Callable[[Scope], Awaitable[Document]]

STATIC_PREFIX = "/static"
DEFAULT_PRODUCT = "chargectl"

SCOPE_KEY = web.RequestKey("scope", Scope)
"""The viewer's scope, computed once per request by `scoped`."""


@dataclass(frozen=True, slots=True)
class Brand:
    """What the header and the colours show: the viewing team's branding, or ours."""

    product_name: str = DEFAULT_PRODUCT
    logo_url: str | None = None
    primary_color: str | None = None
    accent_color: str | None = None
    team: str | None = None
    """The display name of the team whose branding this is."""


def brand_of(fleet: Fleet, team: str | None) -> Brand:
    loaded = fleet.teams.get(team) if team is not None else None
    if loaded is None:
        return Brand()
    spec = loaded.resource.spec
    branding = spec.branding
    if branding is None:
        return Brand(team=spec.display_name)
    return Brand(
        product_name=branding.product_name or DEFAULT_PRODUCT,
        logo_url=str(branding.logo_url) if branding.logo_url is not None else None,
        primary_color=branding.primary_color,
        accent_color=branding.accent_color,
        team=spec.display_name,
    )


class RequesterOf(Protocol):
    def __call__(self, request: web.Request) -> str | None: ...


class View:
    """Renders pages; shared by every page module."""

    def __init__(
        self,
        central: CentralSystem,
        service: StatusService,
        plan: PlanProvider,
        requester_of: RequesterOf,
        *,
        proxied: bool = False,
    ) -> None:
        self.central = central
        self.service = service
        self.plan = plan
        self.requester_of = requester_of
        self.proxied = proxied
        """Whether a sign-in proxy is configured: then the local user (a request from this
        machine that no proxy names) is told so, rather than that no proxy is configured."""
        self.templates = _environment()

    @property
    def fleet(self) -> Fleet:
        return self.central.fleet  # replaced on reload: read it on every request

    def scope(self, request: web.Request) -> Scope:
        scope = request.get(SCOPE_KEY)
        if scope is None:
            scope = scope_for(self.requester_of(request), self.fleet)
            request[SCOPE_KEY] = scope
        return scope

    def context(self, request: web.Request) -> dict[str, Any]:
        """What every template may use, besides the page's own values."""
        prefs = prefs_of(request)
        scope = self.scope(request)
        return {
            "scope": scope,
            "proxied": self.proxied,
            "brand": brand_of(self.fleet, scope.team),
            "prefs": prefs,
            "fmt": prefs.formats(),
            "languages": i18n.LANGUAGES,
            "path": request.path,
            "query": request.rel_url.query,
            "full_path": str(request.rel_url),
            "static": STATIC_PREFIX,
        }

    def render_text(self, request: web.Request, template: str, **values: Any) -> str:
        context = self.context(request)
        context.update(values)
        token = i18n.CURRENT.set(i18n.translations(context["prefs"].language))
        try:
            return self.templates.get_template(template).render(context)
        finally:
            i18n.CURRENT.reset(token)

    def render(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> web.Response:
        text = self.render_text(request, template, **values)
        response = web.Response(
            text=text, status=status, content_type="text/html", headers=dict(headers or {})
        )
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def gettext(self, request: web.Request) -> i18n.Translate:
        """gettext in the viewer's language, for text made in Python (CSV headers, titles)."""
        return i18n.translations(prefs_of(request).language).gettext


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("controller.web.view", "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        i18n.gettext_now, i18n.ngettext_now, newstyle=True
    )
    return env


def csv_download(rows: Sequence[ExportRow], name: str) -> web.Response:
    """Transactions as `chargectl export` writes them, a download named
    `<name>-transactions.csv` (never cached: the rows change as sessions run)."""
    return web.Response(
        text=to_csv(rows),
        content_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-transactions.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- middlewares ---------------------------------------------------------------------------------


def page_number(request: web.Request) -> int:
    """The `?page=` of a paged list, 1 when absent or not a number (a stale link still opens
    the list)."""
    try:
        return max(1, int(request.query.get("page", "1")))
    except ValueError:
        return 1


def is_page(path: str) -> bool:
    """A page of the view (answered in HTML), as opposed to the JSON API, probes and assets."""
    return not (
        path.startswith("/api/")
        or path in ("/healthz", "/readyz", "/metrics")
        or path.startswith(STATIC_PREFIX + "/")
    )


CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the team's colours, the charts' SVG styles
        "img-src 'self' data: https:",  # a team's logoUrl may live anywhere on https
        "connect-src 'self'",  # search.json, the power fragment, the live log's stream
        # No form-action: the forms are GETs of this view, and behind an expired sign-in the
        # proxy redirects them to its identity provider, which form-action would refuse.
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
"""What a browser may load or run on the view's pages: only the view's own scripts, so text
a charger or a fleet file put on a page (a vendor string, a display name) can never run, even
if an escape were missed; and no other site may frame the view (clickjacking)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer of the listener, streams included (`on_response_prepare` runs before
    any header is sent): SECURITY_HEADERS, unless a handler set its own."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def server_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`Server-Timing: app;dur=<ms>` on every answer: what `bench/web.py` reads as server time."""
    started = time.perf_counter()
    response = await handler(request)
    if not response.prepared:  # a stream (the live log) has sent its headers already
        elapsed = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed:.2f}"
    return response


def pages_errors(view: View) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Errors on a page are a page (the API's errors stay JSON, from `errors_as_json`)."""

    @web.middleware
    async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_page(request.path):
            return await handler(request)
        try:
            return await handler(request)
        except Refused as refusal:
            return _error_page(view, request, refusal.status, refusal.message, refusal.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            allow = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            message = exc.reason
            if message == _english_phrase(exc.status):  # aiohttp's own, e.g. an unknown path
                message = _phrase(view.gettext(request), exc.status)
            return _error_page(view, request, exc.status, message, allow)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            _ = view.gettext(request)
            return _error_page(view, request, 500, _("Internal error; see the server log."), {})

    return html_errors


def _english_phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def _phrase(_: i18n.Translate, status: int) -> str:
    """The status's reason phrase in the viewer's language: those a page answers with
    translated, any other in English, and "Error" for a status HTTP does not name."""
    translated = {
        400: _("Bad Request"),
        403: _("Forbidden"),
        404: _("Not Found"),
        405: _("Method Not Allowed"),
        500: _("Internal Server Error"),
        503: _("Service Unavailable"),
    }
    return translated.get(status) or _english_phrase(status) or _("Error")


def _error_page(
    view: View, request: web.Request, status: int, message: str, headers: Mapping[str, str]
) -> web.Response:
    phrase = _phrase(view.gettext(request), status)
    return view.render(
        request,
        "error.html",
        status=status,
        headers=headers,
        error_status=status,
        error_phrase=phrase,
        error_message=message,
    )


def scoped(view: View) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Unknown people see one page (or a 403 from the API) and nothing of the fleet."""

    @web.middleware
    async def known_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/healthz", "/readyz", "/metrics") or request.path.startswith(
            STATIC_PREFIX + "/"
        ):
            return await handler(request)
        scope = view.scope(request)
        if scope.known:
            return await handler(request)
        if request.path.startswith("/api/"):
            return json_response(
                {
                    "error": {
                        "code": "no-access",
                        "message": f"{scope.requester} is in no team of this fleet",
                    }
                },
                HTTPStatus.FORBIDDEN,
            )
        return view.render(request, "no_access.html", status=HTTPStatus.FORBIDDEN)

    return known_only


# --- assets ------------------------------------------------------------------------------------


def static_directory() -> Path:
    """The view's assets, served at /static (CSS, a little JavaScript, vendored libraries)."""
    return Path(str(resources.files("controller.web.view").joinpath("static")))


def add_view(app: web.Application, view: View, pages: Iterable[Any]) -> None:
    """Register the assets, every page module's routes and the security headers on `app`."""
    app.router.add_static(STATIC_PREFIX, static_directory(), append_version=False)
    app.on_response_prepare.append(security_headers)
    for page in pages:
        app.add_routes(page.routes(view))
