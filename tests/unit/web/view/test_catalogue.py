"""The Dutch catalogue covers every message of the view as the sources are now.

Messages are extracted with Babel's own API, configured by `controller/web/view/babel.cfg` (the
file `pybabel extract` uses), from the templates and Python as they are; a page added without
its translations fails here, naming the messages to translate (locale/README.md says how).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

VIEW = Path(__file__).parents[4] / "controller" / "web" / "view"
CATALOGUE = VIEW / "locale" / "nl" / "LC_MESSAGES" / "messages.po"


def extracted() -> set[str]:
    with (VIEW / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(VIEW), method_map, options_map
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_the_sources_have_messages() -> None:
    messages = extracted()
    assert "Skip to content" in messages and "Search" in messages, sorted(messages)[:20]


def test_every_message_is_translated_into_dutch() -> None:
    with CATALOGUE.open("rb") as text:
        catalogue = read_po(text, locale="nl")
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalogue
        if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else (m.string,))
    }
    missing = sorted(extracted() - translated)
    assert missing == [], (
        f"{len(missing)} message(s) not translated (or fuzzy) in {CATALOGUE}; "
        "see controller/web/view/locale/README.md: " + "; ".join(missing)
    )
