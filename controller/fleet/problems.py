"""Problems found in a fleet: values a user can act on, with where they came from.

Every check in chargectl — YAML syntax, schema, fleet-wide rules, CSV import — reports the same
`Problem` value, so one set of formatters (human, JSON, GitHub annotations) serves them all.
A problem is first raised with its document path (and what of the node there it is about, its
`Aim`); the line and column are filled in later by a `Locator` (see `loading.py`) only when the
problem is reported, because source positions cost a slow round-trip parse that a valid fleet
never needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

PathItem = str | int
DocPath = tuple[PathItem, ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Aim(StrEnum):
    """What of the node at a problem's path its line and column point at."""

    NODE = "node"
    """A scalar's value, a mapping's or a list's key: the node as a whole, as the schema's
    problems are about it (`spec: connector ids must be unique`)."""
    KEY = "key"
    """The key: the problem is the key itself (unknown, read-only, of another version)."""
    VALUE = "value"
    """The value, also of a mapping or a list (where its content begins): the problem is what
    the key holds, as the fleet-wide rules' problems are."""


@dataclass(frozen=True, slots=True, order=True)
class Source:
    """A YAML document: the file, and its index among the file's documents (from 0)."""

    file: str
    document: int = 0


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the fleet.

    `code` is a stable slug (`unknown-field`, `unresolved-reference`, ...) that tests, CI
    annotations and documentation refer to; `message` says what to do about it.
    """

    code: str
    message: str
    source: Source | None = None
    path: DocPath = ()
    severity: Severity = Severity.ERROR
    line: int | None = None
    column: int | None = None
    resource: str | None = field(default=None, compare=False)
    aim: Aim = field(default=Aim.NODE, compare=False)
    offset: int = field(default=0, compare=False)
    """Characters into the text at `path` where the problem is: one member of a
    comma-separated list. The `Locator` moves the column there when the file's line holds
    that text as written."""

    @property
    def file(self) -> str | None:
        return self.source.file if self.source else None

    def at(self, line: int, column: int) -> Problem:
        return replace(self, line=line, column=column)

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (
            self.file or "",
            self.source.document if self.source else 0,
            self.line or 0,
            self.column or 0,
            self.code,
        )


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: DocPath) -> str:
    """`spec.connectors[0].maxCurrent`: the path as a user finds it in the YAML."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        elif not _PLAIN_KEY.match(item):
            out += f'["{item}"]'
        elif out:
            out += f".{item}"
        else:
            out = item
    return out


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity is Severity.ERROR for p in problems)
