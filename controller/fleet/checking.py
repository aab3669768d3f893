"""`validate` end to end: files → resources → fleet → every problem, located.

Both `chargectl validate` and the directory source of `chargectl serve` go through here, so a
fleet refused by `serve` is refused with exactly the problems `validate` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.fleet.loading import Locator, load_paths
from controller.fleet.model import Fleet
from controller.fleet.problems import Problem, Severity
from controller.fleet.validation import check_fleet


@dataclass(frozen=True)
class Report:
    """The outcome of checking a fleet: the fleet (usable only when valid) and its problems."""

    fleet: Fleet
    problems: tuple[Problem, ...]
    files: tuple[str, ...]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity is Severity.WARNING)

    @property
    def valid(self) -> bool:
        return self.errors == 0


def check_paths(paths: Sequence[str | Path], *, freeze: bool = True) -> Report:
    """Load and check a fleet; problems come back sorted by file and line, with positions.
    `freeze`: see `load_paths`."""
    loaded = load_paths(paths, freeze=freeze)
    fleet, duplicates = Fleet.build(loaded.resources)
    problems = [*loaded.problems, *duplicates, *check_fleet(fleet)]
    located = Locator().locate_all(problems) if problems else []
    return Report(fleet, tuple(located), loaded.files)
