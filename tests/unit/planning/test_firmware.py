"""Firmware rollouts as values: maxUnavailable (a count or a percentage), maxFailures, the
gate they make, and where a charger's stored status puts it in the rollout. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from controller.planning.firmware import Census, in_flight_failure, phase, rollout_gate
from controller.planning.keys import FIRMWARE_KEY
from controller.resources.charger import Firmware
from controller.resources.location import FirmwareRollout
from controller.values.records import KeyState, KeyStatus

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday, noon
OLD, NEW = "1.0.0", "6.4.0-4205"
URL = f"https://firmware.example.com/{NEW}.img"
HOUR = timedelta(hours=1)


# --- the rollout arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "chargers", "resolved"),
    [
        (1, 6, 1),
        (2, 6, 2),
        (10, 6, 10),
        ("50%", 6, 3),
        ("25%", 6, 1),  # 1.5 rounds down
        ("34%", 6, 2),  # 2.04
        ("10%", 6, 1),  # 0.6 rounds down to 0, and at least one
        ("100%", 6, 6),
        ("1%", 0, 1),
    ],
)
def test_max_unavailable_is_a_count_or_a_percentage_rounded_down_but_at_least_one(
    declared: int | str, chargers: int, resolved: int
) -> None:
    assert FirmwareRollout(max_unavailable=declared).max_unavailable_of(chargers) == resolved


@pytest.mark.parametrize("wrong", [0, -1, True, "2", "0%", "101%", "25 %", "x%", 2.5, None])
def test_max_unavailable_refuses_what_is_neither(wrong: object) -> None:
    with pytest.raises(pydantic.ValidationError, match="maxUnavailable|max_unavailable"):
        FirmwareRollout.model_validate({"maxUnavailable": wrong})


def test_rollout_defaults_to_one_at_a_time_and_stops_at_the_first_failure() -> None:
    rollout = FirmwareRollout()
    assert (rollout.max_unavailable, rollout.max_failures) == (1, 1)


def census(chargers: int, updating: int = 0, failed: int = 0) -> Census:
    return Census(
        "depot",
        chargers,
        tuple(f"U{i}" for i in range(updating)),
        tuple(f"F{i}" for i in range(failed)),
    )


@pytest.mark.parametrize(
    ("declared", "chargers", "updating", "allowed"),
    [
        (2, 6, 0, True),
        (2, 6, 1, True),
        (2, 6, 2, False),
        ("50%", 6, 2, True),
        ("50%", 6, 3, False),
        ("25%", 6, 0, True),
        ("25%", 6, 1, False),
        ("10%", 6, 0, True),
        ("10%", 6, 1, False),
    ],
)
def test_the_gate_lets_at_most_max_unavailable_update_at_once(
    declared: int | str, chargers: int, updating: int, allowed: bool
) -> None:
    gate = rollout_gate(FirmwareRollout(max_unavailable=declared), census(chargers, updating))
    assert gate.allowed is allowed
    if not allowed:
        assert "maxUnavailable" in gate.reason and "U0" in gate.reason


def test_the_gate_shows_how_a_percentage_resolved() -> None:
    gate = rollout_gate(FirmwareRollout(max_unavailable="25%"), census(6, 1))
    assert "maxUnavailable 25% of 6 = 1" in gate.reason


@pytest.mark.parametrize(("failed", "allowed"), [(0, True), (1, True), (2, False), (3, False)])
def test_the_rollout_stops_when_max_failures_chargers_failed(failed: int, allowed: bool) -> None:
    gate = rollout_gate(
        FirmwareRollout(max_unavailable=6, max_failures=2), census(6, failed=failed)
    )
    assert gate.allowed is allowed
    if not allowed:
        assert "stopped" in gate.reason and "maxFailures 2" in gate.reason


def status(state: KeyState, detail: str, at: datetime = T0, url: str = URL) -> KeyStatus:
    return KeyStatus("CP-1", FIRMWARE_KEY, state, url, at, detail, 1)


def test_phase_of_a_status() -> None:
    firmware = Firmware(version=NEW, url=URL)
    other = Firmware(version="7.0.0", url="https://firmware.example.com/7.0.0.img")
    pending = status(KeyState.PENDING, "Downloading")
    assert phase(pending, firmware, T0 + timedelta(minutes=5), HOUR) == "updating"
    assert phase(pending, other, T0, HOUR) == "updating"  # any image takes the charger down
    assert phase(pending, firmware, T0 + HOUR, HOUR) == "failed"  # no news for too long
    assert phase(pending, other, T0 + HOUR, HOUR) is None
    assert phase(status(KeyState.FAILED, "InstallationFailed"), firmware, T0, HOUR) == "failed"
    assert phase(status(KeyState.REJECTED, "UpdateFirmware Rejected"), firmware, T0, HOUR) == (
        "failed"
    )
    assert phase(status(KeyState.FAILED, "DownloadFailed"), other, T0, HOUR) is None
    assert phase(status(KeyState.APPLIED, "reports x"), firmware, T0, HOUR) is None
    assert phase(None, firmware, T0, HOUR) is None


def test_an_installed_update_fails_when_the_rebooted_charger_reports_the_old_version() -> None:
    installed = status(KeyState.PENDING, "Installed")
    later = T0 + timedelta(minutes=1)
    assert in_flight_failure(installed, OLD, T0 - timedelta(seconds=1), later, HOUR) is None
    failure = in_flight_failure(installed, OLD, later, later, HOUR)
    assert failure == f"Installed, but the charger still reports {OLD}"
    # a reboot while downloading is no verdict yet
    downloading = status(KeyState.PENDING, "Downloading")
    assert in_flight_failure(downloading, OLD, later, later, HOUR) is None
    assert "no progress reported for 60 min" in str(
        in_flight_failure(downloading, OLD, None, T0 + HOUR, HOUR)
    )
