"""The account page: who is looking, through which mode, and their language, timezone, theme.

`/account` shows the requester (the e-mail the proxy names, or the local user), their teams
with the role and how they got it (listed as a teammate, or enrolled by their e-mail's domain),
and the view's mode. Its form GETs `/account/preferences`, which keeps the choices in cookies
(`prefs.remember`) and sends the browser back with a 303: to `/account`, or to the local path
given as `next`. Nothing is stored on the server, so the view stays read-only; a value that is
not one of the offered ones is ignored (the current choice stays), and `next` is followed only
when it is a path on this site — never another host.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from aiohttp import web

from controller.fleet.model import Fleet
from controller.resources.team import TeamRole
from controller.web.access import Scope
from controller.web.view.i18n import LANGUAGES, is_zone
from controller.web.view.prefs import Theme, prefs_of, remember
from controller.web.view.site import View

COMMON_ZONES = (
    "UTC",
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Copenhagen",
    "Europe/Oslo",
    "Europe/Stockholm",
    "Europe/Helsinki",
    "Europe/Warsaw",
    "Europe/Athens",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
)
"""Offered first; every other zone this machine knows follows."""

HOME = "/account"


@dataclass(frozen=True, slots=True)
class Membership:
    """One of the requester's teams, as the account page lists it."""

    team: str
    display_name: str
    role: TeamRole
    listed: bool
    """Listed by e-mail as a teammate (else enrolled by the e-mail's domain)."""
    branded: bool
    """The team whose branding the view shows."""


def memberships(fleet: Fleet, scope: Scope) -> list[Membership]:
    """The requester's teams, strongest role first, with how they belong to each."""
    email = (scope.requester or "").strip().lower()
    _, _, domain = email.rpartition("@")
    found = []
    for name in scope.teams:
        loaded = fleet.teams.get(name)
        if loaded is None:
            continue
        spec = loaded.resource.spec
        listed = [t.role for t in spec.teammates if t.email.lower() == email]
        enrolled = [e.role for e in spec.auto_enroll if domain and e.domain.lower() == domain]
        roles = listed + enrolled
        if not roles:
            continue
        role = min(roles, key=list(TeamRole).index)
        found.append(
            Membership(
                team=name,
                display_name=spec.display_name,
                role=role,
                listed=role in listed,
                branded=name == scope.team,
            )
        )
    return found


def zones() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the common zones this machine knows, every other zone it knows), each sorted."""
    known = available_timezones() | {"UTC"}
    common = tuple(zone for zone in COMMON_ZONES if zone in known)
    rest = tuple(sorted(known - set(common)))
    return common, rest


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site (`/chargers?q=x`), else the account page.

    Refused: anything with a scheme or host (`https://evil.example`, `//evil.example`,
    `/\\evil.example`, which browsers read as a host), control characters, and the
    preferences address itself (a loop)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("/account/preferences"):
        return HOME
    return target


class AccountPages:
    def __init__(self, view: View) -> None:
        self.view = view
        self.common, self.rest = zones()

    async def page(self, request: web.Request) -> web.StreamResponse:
        scope = self.view.scope(request)
        saved = request.rel_url.query.get("saved") == "1"
        return self.view.render(
            request,
            "account.html",
            memberships=memberships(self.view.fleet, scope),
            common_zones=self.common,
            other_zones=self.rest,
            themes=list(Theme),
            saved=saved,
            next_path=safe_next(request.rel_url.query.get("next")),
        )

    async def preferences(self, request: web.Request) -> web.StreamResponse:
        current = prefs_of(request)
        query = request.rel_url.query
        language = query.get("language", "")
        zone = query.get("timezone", "")
        try:
            theme = Theme(query.get("theme", ""))
        except ValueError:
            theme = current.theme
        target = safe_next(query.get("next"))
        if target == HOME:
            target = HOME + "?saved=1"
        response = web.Response(status=HTTPStatus.SEE_OTHER, headers={"Location": target})
        response.headers["Cache-Control"] = "no-store"
        remember(
            response,
            language=language if language in LANGUAGES else current.language,
            zone=zone if is_zone(zone) else current.timezone_name,
            theme=theme,
        )
        return response


def routes(view: View) -> list[web.RouteDef]:
    pages = AccountPages(view)
    return [
        web.get("/account", pages.page),
        web.get("/account/preferences", pages.preferences),
    ]
