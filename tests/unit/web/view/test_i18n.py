"""The viewer's language, numbers, times and cookies: which language a browser gets, how a
number or a moment reads in it, and that a cookie the view does not know is ignored rather
than breaking every page (the pages themselves: tests/integration/test_view_account.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from controller.web.view.i18n import Formats, is_zone, negotiate, timezone, translations
from controller.web.view.prefs import (
    LANGUAGE_COOKIE,
    THEME_COOKIE,
    TIMEZONE_COOKIE,
    Prefs,
    Theme,
    prefs_of,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# CLDR puts a narrow no-break space (U+202F) between an English time and its AM/PM.
NOON_UTC = "2026-11-25T10:00:00Z"


def prefs(accept_language: str | None = None, **cookies: str) -> Prefs:
    """The preferences of a request with this Accept-Language and these cookies."""
    headers = CIMultiDict[str]()
    if accept_language is not None:
        headers["Accept-Language"] = accept_language
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return prefs_of(make_mocked_request("GET", "/", headers=headers))


def shows_utc(seen: Prefs) -> bool:
    """Times are shown at UTC's offset (in summer too, when Europe's zones are not)."""
    return datetime(2026, 7, 1, tzinfo=seen.zone).utcoffset() == timedelta(0)


# --- Accept-Language -----------------------------------------------------------------------------


def test_a_dutch_browser_gets_dutch() -> None:
    assert negotiate("nl-NL,nl;q=0.9") == "nl"


def test_a_regional_variant_of_a_language_gets_that_language() -> None:
    assert negotiate("nl-BE") == "nl"
    assert negotiate("en-GB") == "en"


def test_a_browser_asking_only_for_languages_we_lack_gets_english() -> None:
    assert negotiate("fr-FR,de;q=0.8") == "en"


def test_no_header_gets_english() -> None:
    assert negotiate(None) == "en"
    assert negotiate("") == "en"


def test_a_supported_language_further_down_the_list_wins_over_unsupported_ones() -> None:
    assert negotiate("fr,de;q=0.9,nl;q=0.7") == "nl"


def test_the_higher_q_value_wins_whatever_the_order() -> None:
    assert negotiate("en;q=0.5,nl;q=0.9") == "nl"
    assert negotiate("nl;q=0.4,en;q=0.8") == "en"


def test_on_equal_q_values_the_first_listed_wins() -> None:
    assert negotiate("nl,en") == "nl"
    assert negotiate("en,nl") == "en"


def test_q_zero_means_not_wanted() -> None:
    assert negotiate("nl;q=0,en;q=0.1") == "en"


@pytest.mark.parametrize(
    "header",
    [";;,,=, ; q=", "*", "nl;q=abc,en;q=0.5", "q=0.5;nl", "\x00\xff", "nl;q=" + "9" * 400],
)
def test_a_malformed_header_does_not_fail(header: str) -> None:
    assert negotiate(header) in ("en", "nl")


def test_a_bad_q_value_counts_as_not_wanted() -> None:
    assert negotiate("nl;q=abc,en;q=0.5") == "en"


# --- catalogues ----------------------------------------------------------------------------------


def test_dutch_pages_are_translated_and_english_ones_are_the_message_ids() -> None:
    assert translations("nl").gettext("Search") == "Zoeken"
    assert translations("en").gettext("Search") == "Search"


def test_an_unknown_language_falls_back_to_the_english_text() -> None:
    assert translations("fr").gettext("Search") == "Search"


# --- numbers, energy, moments --------------------------------------------------------------------


def test_dutch_numbers_have_a_decimal_comma_and_point_grouping() -> None:
    assert Formats("nl", UTC).number(1234567.5, 1) == "1.234.567,5"


def test_english_numbers_have_a_decimal_point_and_comma_grouping() -> None:
    assert Formats("en", UTC).number(1234567.5, 1) == "1,234,567.5"


def test_numbers_round_to_the_digits_asked_for() -> None:
    assert Formats("en", UTC).number(2.46, 1) == "2.5"
    assert Formats("en", UTC).number(1234.4) == "1,234"


def test_energy_stored_in_wh_shows_in_kwh_with_one_decimal_per_language() -> None:
    assert Formats("nl", UTC).kwh(12345) == "12,3 kWh"
    assert Formats("en", UTC).kwh(12345) == "12.3 kWh"


def test_nothing_shows_as_a_dash_not_as_zero_or_none() -> None:
    formats = Formats("nl", UTC)
    assert formats.number(None) == formats.kwh(None) == formats.when(None) == "–"
    assert formats.when("") == formats.ago(None) == "–"


def test_a_moment_shows_in_the_viewers_zone_and_language() -> None:
    assert Formats("nl", AMSTERDAM).when(NOON_UTC) == "25 nov 2026, 11:00:00"
    assert Formats("en", UTC).when(NOON_UTC) == "Nov 25, 2026, 10:00:00\u202fAM"


def test_summer_time_shifts_the_shown_hour() -> None:
    assert Formats("nl", AMSTERDAM).when("2026-07-01T10:00:00Z") == "1 jul 2026, 12:00:00"


def test_a_moment_without_a_zone_is_taken_as_utc() -> None:
    naive = datetime(2026, 11, 25, 10)
    assert Formats("nl", AMSTERDAM).when(naive) == "25 nov 2026, 11:00:00"
    assert Formats("en", AMSTERDAM).local(naive) == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_how_long_ago_reads_in_the_viewers_language() -> None:
    then = datetime(2026, 11, 25, 10, tzinfo=UTC)
    now = then + timedelta(minutes=3)
    assert Formats("nl", UTC).ago(then, now=now) == "3 minuten geleden"
    assert Formats("en", UTC).ago(then, now=now) == "3 minutes ago"


# --- timezones -----------------------------------------------------------------------------------


def test_known_zones_are_recognised() -> None:
    assert is_zone("Europe/Amsterdam") and is_zone("UTC")


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus_Mons", "../../etc/passwd", "Europe/"])
def test_unknown_or_odd_zone_names_are_not_zones(name: str | None) -> None:
    assert not is_zone(name)


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus_Mons", "../../etc/passwd"])
def test_an_unknown_zone_falls_back_to_utc(name: str | None) -> None:
    assert timezone(name) is UTC


def test_a_known_zone_is_used() -> None:
    assert timezone("Europe/Amsterdam") == AMSTERDAM


# --- cookies -------------------------------------------------------------------------------------


def test_without_cookies_the_browser_language_utc_and_the_system_theme_apply() -> None:
    seen = prefs("nl-NL,nl;q=0.9")
    assert (seen.language, seen.timezone_name, seen.theme) == ("nl", "UTC", Theme.AUTO)
    assert not seen.language_chosen
    assert shows_utc(seen)


def test_chosen_preferences_override_the_browser() -> None:
    seen = prefs(
        "nl",
        **{LANGUAGE_COOKIE: "en", TIMEZONE_COOKIE: "Europe/Amsterdam", THEME_COOKIE: "dark"},
    )
    assert (seen.language, seen.timezone_name, seen.theme) == ("en", "Europe/Amsterdam", Theme.DARK)
    assert seen.language_chosen
    assert seen.formats().when(NOON_UTC) == "Nov 25, 2026, 11:00:00\u202fAM"


def test_an_unknown_language_cookie_is_ignored_for_the_browser_language() -> None:
    seen = prefs("nl", **{LANGUAGE_COOKIE: "fr"})
    assert seen.language == "nl" and not seen.language_chosen


def test_an_unknown_timezone_cookie_falls_back_to_utc() -> None:
    seen = prefs(**{TIMEZONE_COOKIE: "Mars/Olympus_Mons"})
    assert seen.timezone_name == "UTC" and shows_utc(seen)


def test_a_bad_theme_cookie_falls_back_to_the_system_theme() -> None:
    assert prefs(**{THEME_COOKIE: "purple"}).theme is Theme.AUTO


def test_all_three_bad_cookies_together_still_give_usable_preferences() -> None:
    seen = prefs(
        "en-GB",
        **{LANGUAGE_COOKIE: "xx", TIMEZONE_COOKIE: "../../etc/passwd", THEME_COOKIE: ""},
    )
    assert (seen.language, seen.timezone_name, seen.theme) == ("en", "UTC", Theme.AUTO)
    assert seen.formats().kwh(1500) == "1.5 kWh"
