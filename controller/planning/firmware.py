"""Firmware rollouts as values: where each charger stands, and whether a rollout lets one more
charger start updating. Pure: the step (`controller.converge.firmware`, whose docstring tells
the rules) keeps the statuses, sends UpdateFirmware and records what the charger says.

A rollout is counted over a location, or over all the locations of a team (`Census`): how
many chargers there declare firmware (what a percentage of maxUnavailable is of), which are
updating and which failed the image they declare. `rollout_gate` says whether maxFailures
stopped the rollout or maxUnavailable holds the next charger back; `phase` puts one charger's
stored status in the census; `in_flight_failure` says when an update under way has failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from controller.fleet.model import Fleet, Loaded
from controller.planning.keys import FIRMWARE_KEY
from controller.resources import Charger
from controller.resources.charger import Firmware
from controller.resources.common import FirmwareRollout, WeeklyTimeRange
from controller.values.commands import CallFailed, Status
from controller.values.records import KeyState, KeyStatus

SENT: Final = "Sent"
"""The progress of an update the charger accepted and has said nothing about yet."""
INSTALLED: Final = "Installed"

PROGRESS: Final = frozenset(
    {
        "DownloadScheduled",
        "Downloading",
        "DownloadPaused",
        "Downloaded",
        "SignatureVerified",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
        INSTALLED,
    }
)
"""FirmwareStatusNotification statuses of an update under way (1.6, its security extension, and
2.0.1). Installed too: a 1.6 charger says it before rebooting into the new firmware."""

FAILURES: Final = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed"}
)
"""FirmwareStatusNotification statuses that end an update without the new firmware."""

REBOOTING: Final = frozenset({INSTALLED, "InstallRebooting"})
"""Statuses after which the next boot runs the new firmware, or the installation failed."""

TERMINAL: Final = frozenset({KeyState.FAILED, KeyState.REJECTED})
"""States of an update that ended without the new firmware."""

LISTED: Final = 5
"""How many identities a message names before it says how many more there are."""


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether a rollout lets one more charger start updating, and why (not)."""

    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Census:
    """Where the rollout over a location, or over all the locations of a team, stands."""

    name: str
    """The location's name, or the team's."""
    chargers: int
    """Chargers there that declare firmware: what a percentage is of."""
    updating: tuple[str, ...]
    """Identities with an update under way (whatever image it is of)."""
    failed: tuple[str, ...]
    """Identities that failed the image they declare now."""
    team: bool = False
    """Whether this is a team's rollout, across its locations."""

    @property
    def where(self) -> str:
        """The chargers counted, as messages name them: "at depot", "across team ops"."""
        return f"across team {self.name}" if self.team else f"at {self.name}"

    @property
    def scope(self) -> tuple[str, str]:
        return ("Team" if self.team else "Location", self.name)


def rollout_gate(rollout: FirmwareRollout, census: Census) -> Gate:
    """The rollout's verdict on starting one more update among the census' chargers."""
    failed, where = len(census.failed), census.where
    if failed >= rollout.max_failures:
        return Gate(
            False,
            f"the rollout {where} stopped: {failed} charger(s) failed "
            f"({listed(census.failed)}; maxFailures {rollout.max_failures})",
        )
    limit = rollout.max_unavailable_of(census.chargers)
    updating = len(census.updating)
    declared = rollout.max_unavailable
    of = f"{declared} of {census.chargers} = {limit}" if isinstance(declared, str) else limit
    if updating >= limit:
        return Gate(
            False,
            f"{updating} charger(s) {where} updating ({listed(census.updating)}; "
            f"maxUnavailable {of})",
        )
    return Gate(True, f"{updating} charger(s) {where} updating (maxUnavailable {of})")


def listed(identities: Sequence[str]) -> str:
    """Identities for a message: a team's rollout may count hundreds."""
    named = ", ".join(identities[:LISTED])
    more = len(identities) - LISTED
    return f"{named} and {more} more" if more > 0 else named


def phase(
    status: KeyStatus | None, firmware: Firmware | None, now: datetime, deadline: timedelta
) -> str | None:
    """Where one charger's status puts it in the rollout: "updating", "failed" (the image
    `firmware` declares), or None (nothing under way, done, or about another image).

    An update with no news for `deadline` has failed: it no longer holds a place in the
    rollout, and counts against maxFailures when it was of the declared image.
    """
    if status is None:
        return None
    current = firmware is not None and status.value == firmware.url
    if status.state is KeyState.PENDING:
        if now - status.at < deadline:
            return "updating"
        return "failed" if current else None
    if status.state in TERMINAL and current:
        return "failed"
    return None


def in_flight_failure(
    status: KeyStatus,
    reported: str | None,
    booted_at: datetime | None,
    now: datetime,
    deadline: timedelta,
) -> str | None:
    """Why an update under way has failed, if it has; None while it may still succeed.

    Called only when the charger does not report the declared version.
    """
    if now - status.at >= deadline:
        minutes = int(deadline.total_seconds() // 60)
        return f"no progress reported for {minutes} min (last: {status.detail})"
    if status.detail in REBOOTING and booted_at is not None and booted_at > status.at:
        return f"{status.detail}, but the charger still reports {reported or 'no version'}"
    return None


def take_census(
    fleet: Fleet,
    name: str,
    *,
    team: bool,
    statuses: Iterable[KeyStatus],
    declaring: int,
    now: datetime,
    deadline: timedelta,
) -> Census:
    """The rollout at location `name` (or across team `name`) from the `statuses` that may
    count (those under way or failed: `counts`); `declaring` chargers there declare firmware."""
    updating, failed = [], []
    for status in statuses:
        charger = fleet.charger_by_identity(status.identity)
        if charger is None:
            continue
        location = charger.resource.spec.location
        if (fleet.team_of(location) if team else location) != name:
            continue
        state = phase(status, charger.resource.spec.firmware, now, deadline)
        if state == "updating":
            updating.append(status.identity)
        elif state == "failed":
            failed.append(status.identity)
    return Census(name, declaring, tuple(sorted(updating)), tuple(sorted(failed)), team)


def counts(status: KeyStatus) -> bool:
    """Whether a status may count in a census: an update under way, or one that failed."""
    return status.state is KeyState.PENDING or status.state in TERMINAL


def declaring(chargers: Iterable[Loaded[Charger]]) -> int:
    """How many of these chargers declare firmware."""
    return sum(1 for c in chargers if c.resource.spec.firmware is not None)


def free_places(rollout: FirmwareRollout, census: Census) -> int:
    """How many more chargers the rollout's maxUnavailable lets start updating now."""
    return max(0, rollout.max_unavailable_of(census.chargers) - len(census.updating))


def stopped(rollout: FirmwareRollout, census: Census) -> bool:
    """Whether maxFailures chargers failed: then no other update starts."""
    return len(census.failed) >= rollout.max_failures


def sent_status(
    identity: str, firmware: Firmware, now: datetime, previous: KeyStatus | None
) -> KeyStatus:
    """The status of an update about to be sent: pending, counting the attempts at this image."""
    attempts = previous.attempts + 1 if previous and previous.value == firmware.url else 1
    return KeyStatus(identity, FIRMWARE_KEY, KeyState.PENDING, firmware.url, now, SENT, attempts)


def request_id(now: datetime) -> int:
    """The requestId of an UpdateFirmware sent at `now` (int32, milliseconds)."""
    return int(now.timestamp() * 1000) % 2**31


def refusal(answer: Status | CallFailed) -> tuple[KeyState, str] | None:
    """What an answer to UpdateFirmware makes of the update: None when it goes ahead, else the
    state and the detail of its failure."""
    if answer in (Status.ACCEPTED, Status.SCHEDULED):
        return None
    if isinstance(answer, CallFailed):
        detail = f"UpdateFirmware failed: {answer.code or answer.kind.value}: {answer.description}"
        return KeyState.FAILED, detail
    return KeyState.REJECTED, f"UpdateFirmware {answer}"


def team_rollout(fleet: Fleet, team: str | None) -> FirmwareRollout | None:
    """The rollout a team declares across its locations, if any."""
    loaded = fleet.teams.get(team) if team is not None else None
    return loaded.resource.spec.firmware_rollout if loaded is not None else None


def location_settings(
    fleet: Fleet, location: str
) -> tuple[FirmwareRollout, list[WeeklyTimeRange], str]:
    """The rollout settings, maintenance windows and timezone of a location."""
    loaded = fleet.locations.get(location)
    if loaded is None:
        return FirmwareRollout(), [], "UTC"
    spec = loaded.resource.spec
    return spec.firmware_rollout, list(spec.maintenance_window), spec.timezone
