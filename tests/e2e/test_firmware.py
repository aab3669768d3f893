"""Firmware rollouts end to end: `serve` with the firmware step, and simulated chargers of both
OCPP versions that download, install and reboot into the image they are sent.

The simulator installs the version named by the image's file name, so the chargers end up
reporting the declared version only if they were really sent the declared URL. Each test waits
with a deadline, never a timed assertion, and the rollout's promise — never more than
maxUnavailable chargers down at once — is sampled all along, from both sides of the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path

from controller.converge.firmware import FirmwareStep
from controller.simulator.profile import DEFAULT_PROFILE, FirmwareFailure
from controller.values.records import KeyState
from tests.e2e.rig import OPS_TEAM, Rig, serving, write_fleet
from tests.e2e.rig import until as until_within

OLD = DEFAULT_PROFILE.firmware_version
NEW = "6.4.0-4205"
URL = f"https://firmware.example.com/images/{NEW}.img"

HEADER = (
    OPS_TEAM
    + """---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: depot}}
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
  firmwareRollout: {{maxUnavailable: {max_unavailable}, maxFailures: {max_failures}}}
"""
)

CHARGER = """---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: {name}}}
spec:
  ocppIdentity: {identity}
  location: depot
  ocppVersion: "{version}"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
  firmware: {{version: "{new}", url: "{url}"}}
"""

IDENTITIES = ("CP-1", "CP-2", "CP-3", "CP-4", "CP-5", "CP-6")
PROGRESS = frozenset({"Downloading", "Downloaded", "Installing", "Installed", "InstallRebooting"})
DEADLINE = 30.0


def write(root: Path, *, max_unavailable: int | str, max_failures: int) -> Path:
    """Six chargers at one location, 1.6 and 2.0.1 alternately, all declaring NEW."""
    text = HEADER.format(max_unavailable=max_unavailable, max_failures=max_failures)
    for n, identity in enumerate(IDENTITIES, start=1):
        version = "1.6" if n % 2 else "2.0.1"
        text += CHARGER.format(
            name=identity.lower(), identity=identity, version=version, new=NEW, url=URL
        )
    return write_fleet(root, text)


TEAM = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {{name: ops}}
spec:
  displayName: Ops
  handle: ops
  firmwareRollout: {{maxUnavailable: {max_unavailable}}}
"""

SITE = """---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: {name}}}
spec:
  team: ops
  displayName: {name}
  timezone: Europe/Amsterdam
  firmwareRollout: {{maxUnavailable: 3}}
"""

SITES = {"north": IDENTITIES[:3], "south": IDENTITIES[3:]}


def write_team(root: Path, *, max_unavailable: int | str) -> Path:
    """The six chargers at two locations of one team: each location lets three update at
    once, the team `max_unavailable` across both."""
    text = TEAM.format(max_unavailable=max_unavailable)
    for site, identities in SITES.items():
        text += SITE.format(name=site)
        for identity in identities:
            version = "1.6" if int(identity[-1]) % 2 else "2.0.1"
            text += CHARGER.format(
                name=identity.lower(), identity=identity, version=version, new=NEW, url=URL
            ).replace("location: depot", f"location: {site}")
    return write_fleet(root, text)


def rollout(fleet: Path) -> AbstractAsyncContextManager[Rig]:
    """`serve` resyncing every half second, and the chargers not yet connected: each test
    starts them, in the order it needs."""
    profile = replace(DEFAULT_PROFILE, firmware_step_seconds=0.3)
    return serving(fleet, profile, resync=0.5, start=False)


def down(r: Rig) -> list[str]:
    """Chargers that, by their own account, are installing firmware or rebooting into it."""
    return sorted(
        identity
        for identity, sim in r.chargers.items()
        if sim.firmware_status in PROGRESS
        and not (sim.identification.firmware_version == NEW and sim.booted.is_set())
    )


def updating(r: Rig, team: str | None = None) -> list[str]:
    """Chargers the central system counts as updating (from UpdateFirmware until back)."""
    step, fleet = r.step(FirmwareStep), r.server.central.fleet
    if team is not None:
        return list(step.team_census(fleet, team).updating)
    return list(step.census(fleet, "depot").updating)


@dataclass
class Sampler:
    """Samples how many chargers are down, on both sides of the wire, until stopped."""

    rig: Rig
    team: str | None = None
    """Count the team's rollout rather than the location depot's."""
    most_down: int = 0
    most_updating: int = 0
    worst: tuple[list[str], list[str]] = ([], [])

    async def run(self) -> None:
        while True:
            down_now, updating_now = down(self.rig), updating(self.rig, self.team)
            if len(down_now) > self.most_down or len(updating_now) > self.most_updating:
                self.worst = (down_now, updating_now)
            self.most_down = max(self.most_down, len(down_now))
            self.most_updating = max(self.most_updating, len(updating_now))
            await asyncio.sleep(0.01)


async def until(condition: Callable[[], object], what: str) -> None:
    """With a longer deadline: six chargers update, a couple at a time."""
    await until_within(condition, what, deadline=DEADLINE)


async def firmware_state(r: Rig, identity: str) -> KeyState | None:
    statuses = await r.server.central.store.key_statuses(identity)
    return next((s.state for s in statuses if s.key == "firmware"), None)


async def synced_message(r: Rig, identity: str) -> tuple[str, str]:
    await r.server.central.store.flush()
    conditions = {c.type: c for c in await r.server.central.store.conditions(identity)}
    synced = conditions.get("Synced")
    return (synced.status, synced.message) if synced else ("", "")


async def update_calls(r: Rig, identity: str) -> int:
    await r.server.central.store.flush()
    log = await r.server.central.store.message_log(identity, limit=1000)
    return sum(1 for e in log if e.action == "UpdateFirmware" and e.message_type == 2)


async def test_a_rollout_updates_every_charger_never_more_than_max_unavailable_at_once(
    tmp_path: Path,
) -> None:
    async with rollout(write(tmp_path, max_unavailable=2, max_failures=1)) as r:
        sampler = Sampler(r)
        sampling = asyncio.create_task(sampler.run())
        r.start(IDENTITIES)

        async def all_installed() -> bool:
            states = [await firmware_state(r, i) for i in IDENTITIES]
            return all(s is KeyState.APPLIED for s in states)

        try:
            await until(all_installed, "every charger installed the new firmware")
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling

        assert sampler.most_updating == 2, sampler.worst  # two at once, and never more
        assert sampler.most_down <= 2, sampler.worst
        store = r.server.central.store
        for identity in IDENTITIES:
            assert r.chargers[identity].identification.firmware_version == NEW
            record = await store.charger(identity)
            assert record is not None and record.boot is not None
            assert record.boot.firmware_version == NEW
            assert await update_calls(r, identity) == 1
        await until(lambda: all_synced(r, IDENTITIES), "every charger Synced with the new firmware")
        events = [e for e in await store.events(limit=500) if e.kind == "FirmwareInstalled"]
        assert sorted(e.identity or "" for e in events) == list(IDENTITIES)


async def test_a_team_rollout_never_has_more_than_its_max_unavailable_down_across_locations(
    tmp_path: Path,
) -> None:
    async with rollout(write_team(tmp_path, max_unavailable=2)) as r:
        sampler = Sampler(r, team="ops")
        sampling = asyncio.create_task(sampler.run())
        r.start(IDENTITIES)

        async def all_installed() -> bool:
            states = [await firmware_state(r, i) for i in IDENTITIES]
            return all(s is KeyState.APPLIED for s in states)

        try:
            await until(all_installed, "every charger of the team installed the new firmware")
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling

        # each location would let three go at once; across both, the team lets two
        assert sampler.most_updating == 2, sampler.worst
        assert sampler.most_down <= 2, sampler.worst
        for identity in IDENTITIES:
            assert r.chargers[identity].identification.firmware_version == NEW
            assert await update_calls(r, identity) == 1
        await until(lambda: all_synced(r, IDENTITIES), "every charger Synced with the new firmware")


async def all_synced(r: Rig, identities: Collection[str]) -> bool:
    statuses = [(await synced_message(r, i))[0] for i in identities]
    return all(status == "True" for status in statuses)


async def test_a_rollout_stops_when_max_failures_chargers_failed(tmp_path: Path) -> None:
    failing = ("CP-1", "CP-2")  # a 1.6 and a 2.0.1 charger
    rest = [i for i in IDENTITIES if i not in failing]
    async with rollout(write(tmp_path, max_unavailable=2, max_failures=2)) as r:
        for identity in failing:
            sim = r.chargers[identity]
            sim.profile = replace(sim.profile, firmware_failure=FirmwareFailure.INSTALL)
        # The failing chargers connect first and take both places; the others come once the
        # rollout stopped (sooner, one could take the place the first failure frees).
        r.start(failing)

        async def both_failed() -> bool:
            states = [await firmware_state(r, i) for i in failing]
            return all(s is KeyState.FAILED for s in states)

        await until(both_failed, "both installations failed")
        r.start(rest)
        for identity in failing:
            await until(
                functools.partial(shows, r, identity, "InstallationFailed"),
                f"{identity} shows its failure",
            )
        for identity in rest:
            await until(
                functools.partial(shows, r, identity, "the rollout at depot stopped"),
                f"{identity} shows the stopped rollout",
            )
        await asyncio.sleep(1.5)  # several resyncs: nothing is retried, nothing else starts

        for identity in rest:
            assert await update_calls(r, identity) == 0
            assert r.chargers[identity].identification.firmware_version == OLD
        for identity in failing:
            assert await update_calls(r, identity) == 1
            assert r.chargers[identity].identification.firmware_version == OLD
            status, message = await synced_message(r, identity)
            assert status == "False" and "not retried" in message
        await r.server.central.store.flush()
        events = await r.server.central.store.events(limit=500)
        failed = sorted(e.identity or "" for e in events if e.kind == "FirmwareFailed")
        assert failed == list(failing)
        stopped = [e.message for e in events if e.kind == "FirmwareRolloutStopped"]
        assert stopped == [
            "firmware rollout at depot stopped: 2 charger(s) failed (CP-1, CP-2; maxFailures 2)"
        ]


async def shows(r: Rig, identity: str, text: str) -> bool:
    status, message = await synced_message(r, identity)
    return status == "False" and text in message
