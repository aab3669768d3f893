"""Convergence end to end: `serve` with its reconciler and simulated chargers over real sockets.

Each test starts the central system in-process with a small fleet, runs simulated chargers
(the `ocpp` library's charge-point side) against it, and waits — with a deadline, never a timed
assertion — until the chargers report what the fleet declares.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.simulator.profile import DEFAULT_PROFILE
from controller.values.records import KeyState
from tests.e2e.rig import OPS_TEAM, Rig, serving, until, write_fleet
from tests.integration.rawclient import RawCharger

pytestmark = pytest.mark.both_loops

FLEET = (
    OPS_TEAM
    + """---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: depot}}
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
  maintenanceWindow:
    - {{start: "{window_start}", end: "{window_end}"}}
  chargerDefaults:
    settings:
      heartbeatInterval: {heartbeat}
      meterValueSampleInterval: 30
      meterValuesSampledData: [Energy.Active.Import.Register, Current.Import]
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-16}}
spec:
  ocppIdentity: CP-16
  location: depot
  ocppVersion: "1.6"
  rebootPolicy: {policy}
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
  settings:
    connectionTimeout: 90
  configuration:
{extra16}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-201}}
spec:
  ocppIdentity: CP-201
  location: depot
  ocppVersion: "2.0.1"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
  settings:
    connectionTimeout: 75
"""
)


def write(root: Path, **values: str) -> Path:
    defaults = {
        "heartbeat": "120",
        "policy": "WhenIdle",
        "window_start": "00:00",
        "window_end": "24:00",
        "extra16": "    LightIntensity: 50",
    }
    return write_fleet(root, FLEET.format(**{**defaults, **values}))


async def synced(rig: Rig, identities: Sequence[str] = ("CP-16", "CP-201")) -> bool:
    await rig.server.central.store.flush()
    conditions = await rig.server.central.store.conditions()
    status = {(c.identity, c.type): c.status for c in conditions}
    return all(status.get((i, "Synced")) == "True" for i in identities)


def config(rig: Rig, identity: str, key: str) -> str | None:
    return rig.chargers[identity].configuration.get(key)


async def resyncs(rig: Rig, identity: str, passes: int = 3) -> None:
    """Wait until the reconciler has run `passes` more passes over the charger."""
    reconciler = rig.server.reconciler
    assert reconciler is not None
    goal = reconciler.passes(identity) + passes
    await until(
        lambda: reconciler.passes(identity) >= goal, f"{passes} more passes over {identity}"
    )


async def test_chargers_that_connect_drifted_converge_to_the_fleet(tmp_path: Path) -> None:
    async with serving(write(tmp_path), replace(DEFAULT_PROFILE, drift=1.0)) as r:
        await until(lambda: synced(r), "both chargers Synced")
        assert config(r, "CP-16", "HeartbeatInterval") == "120"
        assert config(r, "CP-16", "ConnectionTimeOut") == "90"
        assert config(r, "CP-16", "LightIntensity") == "50"
        assert config(r, "CP-201", "OCPPCommCtrlr.HeartbeatInterval") == "120"
        assert config(r, "CP-201", "TxCtrlr.EVConnectionTimeOut") == "75"
        statuses = await r.server.central.store.key_statuses("CP-16")
        assert statuses and all(s.state is KeyState.APPLIED for s in statuses)


async def test_a_yaml_edit_converges_again(tmp_path: Path) -> None:
    fleet = write(tmp_path)
    async with serving(fleet) as r:
        await until(lambda: synced(r), "initially Synced")
        write(tmp_path, heartbeat="240")
        assert await r.server.source.reload()
        await until(
            lambda: (
                config(r, "CP-16", "HeartbeatInterval") == "240"
                and config(r, "CP-201", "OCPPCommCtrlr.HeartbeatInterval") == "240"
            ),
            "the new heartbeat interval on both chargers",
        )
        await until(lambda: synced(r), "Synced after the edit")


async def test_a_change_made_behind_our_back_is_undone_at_the_next_resync(
    tmp_path: Path,
) -> None:
    async with serving(write(tmp_path), resync=1.0) as r:
        await until(lambda: synced(r), "initially Synced")
        r.chargers["CP-16"].configuration["HeartbeatInterval"] = "999"  # another platform
        await until(lambda: config(r, "CP-16", "HeartbeatInterval") == "120", "drift undone")
        events = await r.server.central.store.events("CP-16", limit=200)
        assert any("'999' -> '120'" in e.message for e in events)


async def test_a_key_the_charger_reports_read_only_is_shown_and_never_sent(
    tmp_path: Path,
) -> None:
    profile = replace(DEFAULT_PROFILE, read_only=frozenset({"LightIntensity"}))
    async with serving(write(tmp_path), profile, resync=0.5) as r:

        async def shown() -> bool:
            conditions = {c.type: c for c in await r.server.central.store.conditions("CP-16")}
            synced = conditions.get("Synced")
            return synced is not None and "LightIntensity: read-only" in synced.message

        await until(shown, "read-only shown in the Synced condition")
        await resyncs(r, "CP-16")
        assert await _changes_sent(r, "CP-16", "LightIntensity") == 0


async def test_a_key_the_charger_rejects_is_shown_and_not_retried(tmp_path: Path) -> None:
    profile = replace(
        DEFAULT_PROFILE, refused=frozenset({"LightIntensity"}), overrides={"LightIntensity": "80"}
    )
    async with serving(write(tmp_path), profile, resync=0.5) as r:
        await until(
            lambda: _state(r, "CP-16", "LightIntensity", KeyState.REJECTED), "Rejected recorded"
        )
        await resyncs(r, "CP-16")
        sent = await _changes_sent(r, "CP-16", "LightIntensity")
        assert sent == 1, "a Rejected value must not be sent again"
        conditions = {c.type: c for c in await r.server.central.store.conditions("CP-16")}
        assert conditions["Synced"].status == "False"
        assert "LightIntensity" in conditions["Synced"].message


async def test_a_key_the_charger_does_not_support_is_shown_and_not_retried(
    tmp_path: Path,
) -> None:
    fleet = write(tmp_path, extra16="    MinimumStatusDuration: 5")
    profile = replace(DEFAULT_PROFILE, unsupported=frozenset({"MinimumStatusDuration"}))
    async with serving(fleet, profile, resync=0.5) as r:
        await until(
            lambda: _state(r, "CP-16", "MinimumStatusDuration", KeyState.NOT_SUPPORTED),
            "NotSupported recorded",
        )
        await resyncs(r, "CP-16")
        assert await _changes_sent(r, "CP-16", "MinimumStatusDuration") == 1


def window_away_from_now() -> tuple[str, str]:
    """A one-minute window two hours from now, Amsterdam time: surely not open now."""
    later = datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(hours=2)
    start = later.strftime("%H:%M")
    end = (later + timedelta(minutes=1)).strftime("%H:%M")
    return start, end


@pytest.mark.parametrize(
    ("policy", "window", "reboots", "reason"),
    [
        ("WhenIdle", ("00:00", "24:00"), True, ""),
        ("MaintenanceWindow", ("00:00", "24:00"), True, ""),
        ("MaintenanceWindow", None, False, "outside the maintenance window"),
        ("Never", ("00:00", "24:00"), False, "rebootPolicy is Never"),
    ],
    ids=["WhenIdle", "MaintenanceWindow-inside", "MaintenanceWindow-outside", "Never"],
)
async def test_a_key_that_needs_a_reboot_follows_the_reboot_policy(
    tmp_path: Path,
    policy: str,
    window: tuple[str, str] | None,
    reboots: bool,
    reason: str,
) -> None:
    window = window or window_away_from_now()
    fleet = write(
        tmp_path,
        policy=policy,
        window_start=window[0],
        window_end=window[1],
        extra16="    WebSocketPingInterval: 45",
    )
    profile = replace(DEFAULT_PROFILE, overrides={"WebSocketPingInterval": "60"})
    # Held back, the charger is looked at again at every resync: none of them may reset it.
    async with serving(fleet, profile, resync=300.0 if reboots else 0.5) as r:
        sim = r.chargers["CP-16"]

        async def answered() -> bool:
            statuses = await r.server.central.store.key_statuses("CP-16")
            return any(s.key == "WebSocketPingInterval" for s in statuses)

        await until(answered, "the change answered")
        if reboots:
            await until(lambda: sim.boot_count >= 2, "a soft reset and a new boot")
            await until(
                lambda: _state(r, "CP-16", "WebSocketPingInterval", KeyState.APPLIED),
                "verified after the reboot",
            )
            assert config(r, "CP-16", "WebSocketPingInterval") == "45"
        else:
            await until(lambda: _shown(r, "CP-16", reason), f"{reason!r} shown")
            await resyncs(r, "CP-16")
            assert sim.boot_count == 1
            conditions = {c.type: c for c in await r.server.central.store.conditions("CP-16")}
            assert reason in conditions["Synced"].message
            assert config(r, "CP-16", "WebSocketPingInterval") != "45"


async def test_a_charger_offline_during_an_edit_converges_on_reconnect(tmp_path: Path) -> None:
    fleet = write(tmp_path)
    async with serving(fleet) as r:
        await until(lambda: synced(r), "initially Synced")
        sim = r.chargers["CP-16"]
        await sim.drop()
        write(tmp_path, heartbeat="360")
        assert await r.server.source.reload()
        await until(lambda: config(r, "CP-16", "HeartbeatInterval") == "360", "converged")


async def test_a_charger_that_cannot_report_its_configuration_shows_the_chargers_error(
    tmp_path: Path,
) -> None:
    """A CALLERROR to GetConfiguration is the charger's answer: shown with its code, not
    asked again at every resync, and never a pass retried with backoff."""
    async with serving(write(tmp_path), resync=0.5, start=False) as r:
        cp = await RawCharger.connect(r.server.url, "CP-16", subprotocols=["ocpp1.6"])
        asked: list[str] = []

        async def refuse_everything() -> None:
            while True:
                frame = await cp.next_server_call(timeout=60)
                asked.append(frame[2])
                error = [4, frame[1], "NotImplemented", "not on this charger", {}]
                await cp.connection.send(json.dumps(error))

        boot = {"chargePointVendor": "Raw", "chargePointModel": "Bare"}
        assert (await cp.call("BootNotification", boot))[2]["status"] == "Accepted"
        refusing = asyncio.create_task(refuse_everything())
        try:
            message = "GetConfiguration failed: NotImplemented: not on this charger"
            await until(lambda: _shown(r, "CP-16", message), "the CALLERROR shown")
            await resyncs(r, "CP-16")
            assert asked.count("GetConfiguration") == 1
            reconciler = r.server.reconciler
            assert reconciler is not None
            assert "Retry" not in reconciler.stats.outcomes
        finally:
            refusing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refusing
            await cp.connection.close()


async def _shown(r: Rig, identity: str, text: str) -> bool:
    conditions = {c.type: c for c in await r.server.central.store.conditions(identity)}
    synced = conditions.get("Synced")
    return synced is not None and synced.status == "False" and text in synced.message


async def _state_async(r: Rig, identity: str, key: str, state: KeyState) -> bool:
    statuses = await r.server.central.store.key_statuses(identity)
    return any(s.key == key and s.state is state for s in statuses)


def _state(r: Rig, identity: str, key: str, state: KeyState) -> object:
    return _state_async(r, identity, key, state)


async def _changes_sent(r: Rig, identity: str, key: str) -> int:
    await r.server.central.store.flush()
    log = await r.server.central.store.message_log(identity, limit=1000)
    return sum(
        1
        for e in log
        if e.action == "ChangeConfiguration" and e.message_type == 2 and f'"{key}"' in e.frame
    )
