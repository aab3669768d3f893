"""The viewer's own choices: language, timezone, theme. Kept in cookies, never on the server.

Nothing here is stored server-side, so the view stays read-only: the account page sets these
cookies in its answer to a GET and every page reads them back. Without cookies the language
follows the browser's Accept-Language, times are shown in UTC and the theme follows the
system's light/dark preference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from enum import StrEnum

from aiohttp import web

from controller.web.view.i18n import LANGUAGES, Formats, is_zone, negotiate, timezone

LANGUAGE_COOKIE = "chargectl-lang"
TIMEZONE_COOKIE = "chargectl-tz"
THEME_COOKIE = "chargectl-theme"
COOKIE_MAX_AGE = 365 * 24 * 3600


class Theme(StrEnum):
    AUTO = "auto"
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True, slots=True)
class Prefs:
    language: str
    timezone_name: str
    theme: Theme
    language_chosen: bool
    """False when the language came from Accept-Language rather than the account page."""

    @property
    def zone(self) -> tzinfo:
        return timezone(self.timezone_name)

    def formats(self) -> Formats:
        return Formats(self.language, self.zone)


def prefs_of(request: web.Request) -> Prefs:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    language = chosen if chosen in LANGUAGES else negotiate(request.headers.get("Accept-Language"))
    zone_name = request.cookies.get(TIMEZONE_COOKIE, "")
    if not is_zone(zone_name):
        zone_name = "UTC"
    try:
        theme = Theme(request.cookies.get(THEME_COOKIE, Theme.AUTO.value))
    except ValueError:
        theme = Theme.AUTO
    return Prefs(language, zone_name, theme, chosen in LANGUAGES)


def remember(response: web.StreamResponse, *, language: str, zone: str, theme: Theme) -> None:
    """Set the three cookies (Lax, not readable from scripts, a year long)."""
    for name, value in (
        (LANGUAGE_COOKIE, language),
        (TIMEZONE_COOKIE, zone),
        (THEME_COOKIE, theme.value),
    ):
        response.set_cookie(
            name, value, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax", path="/"
        )
