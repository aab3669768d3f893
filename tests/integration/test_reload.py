"""A change in the fleet directory while `serve` runs: valid edits take effect, invalid ones
are refused whole with validate's own messages, and the last good fleet stays in force."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from controller.runtime.serve import ServeOptions, running
from tests.integration.fleets import write_fleet
from tests.integration.rawclient import RawCharger

BOOT = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}


def options(fleet: Path, watch: bool = False) -> ServeOptions:
    return ServeOptions(
        reconcile=False,  # these tests speak for the charger themselves
        paths=[fleet],
        store_url=f"sqlite:///{fleet.parent / 'state.db'}",
        host="127.0.0.1",
        port=0,
        watch=watch,
    )


def edit(fleet: Path, old: str, new: str) -> None:
    path = fleet / "fleet.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


async def boot_interval(url: str) -> int:
    cp = await RawCharger.connect(url, "CP-16", subprotocols=["ocpp1.6"])
    reply = await cp.call("BootNotification", BOOT)
    await cp.close()
    return int(reply[2]["interval"])


async def test_a_valid_edit_takes_effect_without_restart(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    async with running(options(fleet)) as server:
        assert await boot_interval(server.url) == 120
        edit(fleet, "heartbeatInterval: 120", "heartbeatInterval: 900")
        assert await server.source.reload()
        assert await boot_interval(server.url) == 900


async def test_an_invalid_edit_is_refused_and_the_last_good_fleet_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    async with running(options(fleet)) as server:
        before = server.central.fleet
        edit(fleet, "heartbeatInterval: 120", "hearbeatInterval: 900")
        assert not await server.source.reload()
        assert server.central.fleet is before
        assert "error[unknown-field]: unknown field 'hearbeatInterval'" in caplog.text
        assert "fleet.yaml:" in caplog.text  # file:line:column, exactly as validate prints
        # no terminal colours in a log line (caplog.text strips them, the records keep them)
        assert not any("\x1b[" in record.getMessage() for record in caplog.records)
        assert await boot_interval(server.url) == 120


async def test_the_watcher_picks_up_a_saved_file(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    async with running(options(fleet, watch=True)) as server:
        await asyncio.sleep(0.5)  # let the watcher start
        edit(fleet, "heartbeatInterval: 120", "heartbeatInterval: 450")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while server.source.reloaded == 0 and loop.time() < deadline:
            await asyncio.sleep(0.1)
        assert server.source.reloaded == 1
        assert await boot_interval(server.url) == 450


async def test_a_charger_taken_out_of_the_fleet_is_disconnected_and_then_refused(
    tmp_path: Path,
) -> None:
    fleet = write_fleet(tmp_path, protected=False)
    async with running(options(fleet)) as server:
        cp = await RawCharger.connect(server.url, "CP-16", subprotocols=["ocpp1.6"])
        await cp.call("BootNotification", BOOT)
        path = fleet / "fleet.yaml"
        documents = path.read_text().split("---\n")
        path.write_text("---\n".join(d for d in documents if "name: cp-16}" not in d))
        assert await server.source.reload()
        await asyncio.wait_for(cp.connection.wait_closed(), 10)
        assert cp.connection.close_code == 1000
        assert cp.connection.close_reason == "no longer in the fleet"
        with pytest.raises(InvalidStatus) as refused:
            await RawCharger.connect(server.url, "CP-16", subprotocols=["ocpp1.6"])
        assert refused.value.response.status_code == 404
