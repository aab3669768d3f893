"""The fleet directory as the source of desired state, re-read when its files change.

An edit takes effect without a restart. An invalid edit is refused as a whole: its problems
are logged exactly as `chargectl validate` prints them, and the last good fleet stays in force,
so a typo pushed to the fleet repository never takes chargers down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import click
from watchfiles import awatch

from controller.fleet.checking import check_paths
from controller.fleet.loading import YAML_SUFFIXES
from controller.fleet.model import Fleet
from controller.fleet.reporting import format_human, plural
from controller.sources.base import FleetListener

log = logging.getLogger("chargectl.fleet")


class DirectorySource:
    """Watches fleet paths; `current` is always the last fleet that validated.

    A `DesiredStateSource` (see `controller.sources.base`).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        fleet: Fleet,
        listener: FleetListener,
        *,
        debounce_ms: int = 300,
    ) -> None:
        self.paths = list(paths)
        self.current = fleet
        self.listener = listener
        self.debounce_ms = debounce_ms
        self.refused = 0
        self.reloaded = 0

    async def reload(self) -> bool:
        """Read the files again; True when a new valid fleet took effect."""
        report = await asyncio.to_thread(check_paths, self.paths, freeze=False)
        if not report.valid:
            self.refused += 1
            summary = (
                f"{plural(report.errors, 'error')}: the edit is refused; the fleet in force "
                "stays as it was."
            )
            # a log line goes to files and pipes: validate's text without its terminal colours
            text = click.unstyle(format_human(report.problems, summary))
            log.error("fleet edit refused:\n%s", text)
            return False
        old, self.current = self.current, report.fleet
        self.reloaded += 1
        log.info(
            "fleet reloaded: %s in %s",
            plural(len(report.fleet), "resource"),
            plural(len(report.files), "file"),
        )
        await self.listener(old, report.fleet)
        return True

    async def run(self) -> None:
        """Reload on every change to a YAML file under the paths, until cancelled."""
        async for changes in awatch(
            *self.paths, debounce=self.debounce_ms, watch_filter=_yaml_only, recursive=True
        ):
            log.debug("fleet files changed: %s", sorted(path for _, path in changes))
            await self.reload()


def _yaml_only(_: object, path: str) -> bool:
    name = Path(path).name
    return path.endswith(YAML_SUFFIXES) and not name.startswith(".")
