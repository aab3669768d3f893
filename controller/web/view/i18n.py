"""Languages of the web view: gettext catalogues (Babel), negotiation, locale-aware formatting.

The catalogues are `locale/<language>/LC_MESSAGES/messages.po`, extracted from the templates and
the view's Python with `pybabel extract` (see `babel.cfg` beside them). They are compiled in
memory when first used, so the repository holds only the text files a translator edits and no
build step is needed for an editable install.

English is the source language: its catalogue is empty and gettext falls back to the message
ids. Which language a page uses: the `lang` cookie (the account page sets it), else the best
match of the browser's Accept-Language, else English.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: dict[str, str] = {"en": "English", "nl": "Nederlands"}
"""Language code → its own name, as the account page offers them."""

DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of `language` (NullTranslations for English or an unknown one)."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return gettext.NullTranslations()
    po = resources.files("controller.web.view").joinpath(
        "locale", language, "LC_MESSAGES", f"{DOMAIN}.po"
    )
    with po.open("rb") as text:
        catalog = read_po(text, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header (`nl-NL,nl;q=0.9,en;q=0.8`)."""
    preferred: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if quality > 0:
            preferred.append((-quality, position, tag.strip().replace("-", "_")))
    ordered = [tag for _, _, tag in sorted(preferred)]
    # "nl_NL" should match "nl": offer each tag's language too, right after the tag itself.
    expanded: list[str] = []
    for tag in ordered:
        expanded.extend((tag, tag.split("_")[0]))
    return negotiate_locale(expanded, list(LANGUAGES), sep="_") or DEFAULT_LANGUAGE


def timezone(name: str | None) -> tzinfo:
    """A zone by IANA name; UTC for none or an unknown name (a stale cookie must not break)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def is_zone(name: str | None) -> bool:
    """Whether `name` is an IANA timezone this machine knows (`Europe/Amsterdam`, `UTC`)."""
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class Formats:
    """Numbers, times and durations in the viewer's language and timezone."""

    def __init__(self, language: str, zone: tzinfo) -> None:
        self.locale = Locale.parse(language)
        self.zone = zone

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def kwh(self, wh: float | int | None) -> str:
        """Energy, stored in Wh, shown in kWh with one decimal."""
        return "–" if wh is None else f"{self.number(wh / 1000, 1)} kWh"

    def when(self, at: datetime | str | None, style: str = "medium") -> str:
        """A moment in the viewer's timezone (RFC 3339 strings, as the documents carry them)."""
        moment = _moment(at)
        if moment is None:
            return "–"
        return format_datetime(moment, style, tzinfo=self.zone, locale=self.locale)

    def ago(self, at: datetime | str | None, now: datetime | None = None) -> str:
        """How long ago, in words ("3 minutes ago", "3 minuten geleden")."""
        moment = _moment(at)
        if moment is None:
            return "–"
        delta = moment - (now or datetime.now(UTC))
        return format_timedelta(
            delta, add_direction=True, threshold=1.5, locale=self.locale, format="long"
        )

    def local(self, at: datetime | str | None) -> datetime | None:
        moment = _moment(at)
        return None if moment is None else moment.astimezone(self.zone)


def _moment(at: datetime | str | None) -> datetime | None:
    if at is None or at == "":
        return None
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


CURRENT: ContextVar[gettext.NullTranslations | None] = ContextVar(
    "chargectl_view_translations", default=None
)
"""The catalogue of the page being rendered (set per request by `site.View.render`)."""

_SOURCE_LANGUAGE = gettext.NullTranslations()


def gettext_now(message: str) -> str:
    return (CURRENT.get() or _SOURCE_LANGUAGE).gettext(message)


def ngettext_now(singular: str, plural: str, n: int) -> str:
    return (CURRENT.get() or _SOURCE_LANGUAGE).ngettext(singular, plural, n)


Translate = Callable[[str], str]
