"""Two central systems sharing one real PostgreSQL store: one fleet, several replicas.

Each test starts two replicas on a database of its own (`store_url`, PostgreSQL only here), in
this process (`running`) or, for the crash, as two `chargectl serve` processes, and spreads
chargers over them: bare OCPP-J chargers (`rawclient`) where a test speaks for the charger,
simulated ones (`controller.simulator`) where the chargers should converge on their own.

What a user of several replicas relies on: the replica a charger connects to serves it alone
(a second connection elsewhere takes over, even when the first one is half-open after a
network split); only that replica reconciles it and writes its status; a command sent to any
replica reaches it; a location whose chargers are on both replicas never draws more than its
circuit; and a replica that dies loses nothing: its chargers reconnect to the other one,
converge, and their transactions go on and end there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from websockets.frames import CloseCode

from controller.runtime.serve import Running, ServeOptions, load_fleet, running
from controller.simulator import SimClock, SimulatedCharger, chargers_from_fleet
from controller.simulator.profile import DEFAULT_PROFILE, FirmwareFailure
from controller.store import open_store
from controller.store.base import Store
from controller.store.coordination import Coordination, charger_key, coordination_of
from controller.store.replicas import PgCoordination
from tests.e2e.rig import until
from tests.e2e.rig import write_fleet as write_fleet_text
from tests.e2e.test_firmware import IDENTITIES as ROLLOUT
from tests.e2e.test_firmware import NEW, PROGRESS
from tests.e2e.test_firmware import write as write_rollout
from tests.e2e.test_power import (
    CIRCUIT_AMPERES,
    ID_TAG,
    PowerRig,
    Sampler,
    Watched,
    converged_to_share,
    idle_offers,
    share,
)
from tests.e2e.test_power import (
    FLEET as POWER_FLEET,
)
from tests.integration.fleets import PASSWORD_ENV, write_fleet
from tests.integration.rawclient import RawCharger
from tests.processes import ChargectlProcess

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

TOKEN = "replicas-test-token"
BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "Alfen", "model": "NG920"}}


@pytest.fixture
def fleet_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    return write_fleet(tmp_path, protected=False)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-token"
    path.write_text(f"ops:{TOKEN}\n")
    path.chmod(0o600)
    return path


def replica_options(fleet: Path, store_url: str, **extra: Any) -> ServeOptions:
    return ServeOptions(
        paths=[fleet],
        store_url=store_url,
        host="127.0.0.1",
        port=0,
        watch=False,
        call_timeout=5.0,
        **extra,
    )


@contextlib.asynccontextmanager
async def two_replicas(
    fleet: Path, store_url: str, **extra: Any
) -> AsyncIterator[tuple[Running, Running]]:
    async with (
        running(replica_options(fleet, store_url, **extra)) as a,
        running(replica_options(fleet, store_url, **extra)) as b,
    ):
        yield a, b


def coordination(replica: Running) -> PgCoordination:
    held: Coordination = replica.central.coordination
    assert isinstance(held, PgCoordination), "a PostgreSQL store coordinates its replicas"
    return held


async def holder(replica: Running, identity: str) -> int | None:
    """The backend (pid) of the replica holding the charger's lock, as `pg_locks` says."""
    return await coordination(replica).owner(identity)


async def booted_16(url: str, identity: str = "CP-16") -> RawCharger:
    cp = await RawCharger.connect(url, identity, subprotocols=["ocpp1.6"])
    reply = await cp.call("BootNotification", BOOT_16)
    assert reply[2]["status"] == "Accepted", reply
    return cp


# --- who serves a charger --------------------------------------------------------------------


async def test_a_charger_connecting_to_another_replica_is_taken_over_there(
    fleet_dir: Path, store_url: str
) -> None:
    async with two_replicas(fleet_dir, store_url, reconcile=False) as (a, b):
        first = await booted_16(a.url)
        assert await holder(b, "CP-16") == coordination(a).pid

        second = await booted_16(b.url)  # the newest connection wins, as within one process

        await asyncio.wait_for(first.connection.wait_closed(), 10)
        assert first.connection.close_code == CloseCode.NORMAL_CLOSURE
        assert first.connection.close_reason == "replaced by a connection to another replica"
        assert await holder(a, "CP-16") == coordination(b).pid
        assert coordination(b).holds_here("CP-16") and not coordination(a).holds_here("CP-16")
        assert charger_key("CP-16") in (await coordination(a).held() or ())
        assert "CP-16" not in a.central.connections and "CP-16" in b.central.connections
        heartbeat = await second.call("Heartbeat", {})
        assert heartbeat[0] == 3

        # The replica that let go wrote nothing after it: the store says connected, here.
        await a.central.store.flush()
        record = await b.central.store.charger("CP-16")
        assert record is not None and record.connected
        kinds = [e.kind for e in await b.central.store.events("CP-16")]
        assert kinds == ["Connected", "Booted", "Disconnected", "Connected", "Booted"]


async def test_a_replica_that_loses_its_lock_connection_takes_its_chargers_locks_again(
    fleet_dir: Path, store_url: str
) -> None:
    """The database ends replica A's lock connection (a restart, a network blip): PostgreSQL
    frees A's locks with it; A reconnects and locks its connected chargers again, which go on
    being served there."""
    async with two_replicas(fleet_dir, store_url, reconcile=False) as (a, b):
        cp = await booted_16(a.url)
        lost = coordination(a).pid
        async with coordination(b).engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})

        async def locked_again() -> bool:
            held = await holder(b, "CP-16")
            return held is not None and held != lost

        await until(locked_again, "A holds CP-16 again, on a new lock connection")
        assert await holder(b, "CP-16") == coordination(a).pid
        assert "CP-16" in a.central.connections
        assert (await cp.call("Heartbeat", {}))[0] == 3


class Cable:
    """A TCP path from a charger to a replica that can be cut as a network split cuts it:
    nothing more passes either way, and neither end is told (the sockets stay open)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut_off = asyncio.Event()
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Cable:
        self.server = await asyncio.start_server(self._join, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:
            writer.transport.abort()

    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp"

    def cut(self) -> None:
        self.cut_off.set()

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not self.cut_off.is_set():
            data = await reader.read(65536)
            if not data or self.cut_off.is_set():
                await self.cut_off.wait()  # swallowed: the other end never hears
                return
            writer.write(data)
            await writer.drain()


async def test_a_charger_whose_old_connection_is_half_open_is_served_by_the_other_replica_at_once(
    fleet_dir: Path, store_url: str
) -> None:
    """A network split: the charger's socket to replica A goes silent without closing (A would
    notice only at its next ping, a minute or two later), and the charger reconnects to B."""
    async with two_replicas(fleet_dir, store_url, reconcile=False) as (a, b):
        host, port = a.endpoint.options.host, a.endpoint.port
        async with Cable(host, port) as cable:
            await booted_16(cable.url())
            cable.cut()

            # RawCharger gives each answer 5 s: far less than A's ping timeout, and less than
            # the 10 s a closing handshake on the dead socket waits before giving up.
            second = await booted_16(b.url)

            assert await holder(a, "CP-16") == coordination(b).pid
            assert "CP-16" not in a.central.connections
            assert (await second.call("Heartbeat", {}))[0] == 3


async def test_only_the_replica_holding_a_charger_reconciles_it_and_writes_its_status(
    fleet_dir: Path, store_url: str
) -> None:
    async with two_replicas(fleet_dir, store_url) as (a, b):
        sims = simulated(a, {"CP-16": a, "CP-201": b})
        async with connected(sims):
            await until(lambda: synced(a, ["CP-16", "CP-201"]), "both chargers Synced in the store")
            for replica, mine, theirs in ((a, "CP-16", "CP-201"), (b, "CP-201", "CP-16")):
                assert replica.reconciler is not None
                assert replica.reconciler.passes(mine) > 0
                assert replica.reconciler.passes(theirs) == 0, "it left the other's alone"
                assert replica.reconciler.stats.outcomes.get("Skipped", 0) == 0


# --- commands ---------------------------------------------------------------------------------


async def test_a_command_sent_to_one_replica_reaches_a_charger_on_the_other(
    fleet_dir: Path, store_url: str, token_file: Path
) -> None:
    listeners = {"admin_port": 0, "http_port": 0, "admin_tokens": token_file}
    async with (
        two_replicas(fleet_dir, store_url, reconcile=False, **listeners) as (a, b),
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        cp = await RawCharger.connect(b.url, "CP-201", subprotocols=["ocpp2.0.1"])
        await cp.call("BootNotification", BOOT_201)

        async def charger_side() -> None:
            call = await cp.next_server_call(timeout=10)
            assert call[2] == "Reset" and call[3] == {"type": "Immediate"}
            await cp.answer(call[1], {"status": "Accepted"})

        answering = asyncio.create_task(charger_side())
        assert a.admin is not None and a.web is not None
        async with http.post(
            a.admin.url + "/api/chargers/cp-201/commands", json={"command": "reset", "hard": True}
        ) as response:
            assert response.status == 200, await response.text()
            outcome = await response.json()
        await answering
        assert outcome["ok"] and outcome["status"] == "Accepted"
        assert outcome["charger"] == "CP-201" and outcome["command"]["command"] == "reset"

        [event] = [e for e in await b.central.store.events("CP-201") if e.kind == "Command"]
        assert event.data["requester"] == "token:ops", "the event names who asked, on A"
        async with http.get(a.web.url + "/metrics") as response:
            metrics = await response.text()
        assert (
            'chargectl_commands_total{command="reset",outcome="Accepted",requester="ops"} 1.0'
            in metrics
        )

        # Connected nowhere: refused as before, with nothing sent.
        async with http.post(
            a.admin.url + "/api/chargers/cp-16/commands", json={"command": "clear-cache"}
        ) as response:
            assert response.status == 409
            assert (await response.json())["error"]["code"] == "not-connected"


# --- power shared across replicas ------------------------------------------------------------


async def test_a_location_split_across_replicas_never_draws_more_than_its_circuit(
    tmp_path: Path, store_url: str
) -> None:
    """Four 32 A chargers behind one 40 A circuit, two on each replica: sessions start one by
    one, alternating replicas, and stop again. Each time, every charging connector offers its
    equal share of the whole location, and the sampler (every ~50 ms, and at each profile a
    charger installs) never sees the connectors with a transaction offer more than 40 A."""
    fleet = write_fleet_text(tmp_path, POWER_FLEET)
    async with two_replicas(fleet, store_url) as (a, b):
        placement = {"CP-A": a, "CP-B": b, "CP-C": a, "CP-D": b}
        sims = simulated(a, placement)
        sampler = Sampler(sims)
        for sim in sims.values():
            sim.profiles = Watched(sampler.sample)
        rig = PowerRig(a, sims, sampler)
        sampling = asyncio.create_task(sampler.run())
        try:
            async with connected(sims):
                for sim in sims.values():
                    await asyncio.wait_for(sim.booted.wait(), 20)
                await idle_offers(rig)

                active: list[str] = []
                for identity in placement:
                    await sims[identity].plug_in(1, ID_TAG)
                    active.append(identity)
                    await converged_to_share(rig, active)
                while len(active) > 1:
                    await sims[active.pop(0)].unplug(1)
                    await converged_to_share(rig, active)
                await sims[active.pop()].unplug(1)
                await idle_offers(rig)
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        assert not sampler.over, f"the circuit was overloaded: {sampler.over[:5]}"
        assert sampler.highest == CIRCUIT_AMPERES, "two sessions at 20 A were seen"
        assert share(4) == 10.0


# --- firmware rollouts across replicas --------------------------------------------------------


async def test_a_rollout_counts_max_unavailable_over_the_location_across_replicas(
    tmp_path: Path, store_url: str
) -> None:
    """Six chargers at one location declaring new firmware, maxUnavailable 2, three on each
    replica: never more than two are down at once, by their own account, and all update."""
    fleet = write_rollout(tmp_path, max_unavailable=2, max_failures=1)
    async with two_replicas(fleet, store_url, resync_interval=0.5) as (a, b):
        placement = {identity: (a, b)[n % 2] for n, identity in enumerate(ROLLOUT)}
        sims = simulated(a, placement, firmware_step_seconds=0.3)
        most_down: list[str] = []

        async def sample() -> None:
            while True:
                down = sorted(
                    identity
                    for identity, sim in sims.items()
                    if sim.firmware_status in PROGRESS
                    and not (sim.identification.firmware_version == NEW and sim.booted.is_set())
                )
                if len(down) > len(most_down):
                    most_down[:] = down
                await asyncio.sleep(0.01)

        async def all_updated() -> bool:
            await a.central.store.flush()
            statuses = await a.central.store.key_statuses()
            applied = {s.identity for s in statuses if s.key == "firmware" and s.state == "Applied"}
            return applied == set(ROLLOUT)

        async with connected(sims):
            sampling = asyncio.create_task(sample())
            try:
                await until(all_updated, "every charger installed the new firmware", 60)
            finally:  # before the chargers go: stopped, they would count as down
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
        assert len(most_down) <= 2, f"more than maxUnavailable down at once: {most_down}"
        assert all(sim.identification.firmware_version == NEW for sim in sims.values())


async def test_a_failure_on_one_replica_stops_the_rollout_on_the_other(
    tmp_path: Path, store_url: str
) -> None:
    """maxFailures 1: CP-1, on replica A, fails its update while CP-2, on replica B, waits for
    its place; B then stops the rollout instead of waiting for CP-1 for ever."""
    fleet = write_rollout(tmp_path, max_unavailable=1, max_failures=1)
    async with two_replicas(fleet, store_url, resync_interval=0.5) as (a, b):
        sims = simulated(a, {"CP-1": a, "CP-2": b}, firmware_step_seconds=0.3)
        cp1, cp2 = sims["CP-1"], sims["CP-2"]
        cp1.profile = dataclasses.replace(
            cp1.profile, firmware_failure=FirmwareFailure.INSTALL, firmware_step_seconds=1.0
        )
        async with connected({"CP-1": cp1}):
            await until(lambda: cp1.firmware_status == "Downloading", "CP-1 updating")
            async with connected({"CP-2": cp2}):
                await until(
                    lambda: synced_says(b, "CP-2", "waiting, 1 charger(s) at depot updating"),
                    "CP-2 waits for CP-1's place",
                )
                await until(
                    lambda: synced_says(b, "CP-2", "the rollout at depot stopped"),
                    lambda: f"B stops the rollout once CP-1 failed (CP-1: {cp1.firmware_status})",
                )
                assert cp1.firmware_status == "InstallationFailed"
                assert cp2.firmware_status == "Idle", "CP-2 was sent no update"


async def synced_says(replica: Running, identity: str, text: str) -> bool:
    await replica.central.store.flush()
    conditions = await replica.central.store.conditions(identity)
    return any(c.type == "Synced" and text in c.message for c in conditions)


# --- a replica dies ---------------------------------------------------------------------------


def serve_process(name: str, fleet: Path, store_url: str, tokens: Path) -> ChargectlProcess:
    """`chargectl serve` as its own process (`tests.processes`)."""
    return ChargectlProcess(
        name,
        ["serve", str(fleet), "--store", store_url, "--call-timeout", "5", "--log-level", "info"],
        tokens=tokens,
        log=fleet.parent / f"replica-{name}.log",
    )


async def test_a_replica_killed_loses_nothing_its_chargers_reconnect_converge_and_go_on(
    fleet_dir: Path, store_url: str, token_file: Path
) -> None:
    a = serve_process("a", fleet_dir, store_url, token_file)
    b = serve_process("b", fleet_dir, store_url, token_file)
    replicas = (a, b)
    fleet = load_fleet([fleet_dir])
    sims = {
        sim.identity: sim
        for sim in chargers_from_fleet(
            fleet,
            a.url,
            profile=dataclasses.replace(
                DEFAULT_PROFILE,
                reboot_seconds=0.5,
                reconnect_min_seconds=0.2,
                reconnect_max_seconds=1.0,
            ),
            clock=SimClock(1.0),
        )
        if sim.identity in ("CP-16", "CP-201")
    }
    cp201 = sims["CP-201"]
    cp201.url = b.url
    cp201.table.force(cp201.KEYS.sample_interval, "1")  # a meter reading every second
    store = open_store(store_url)
    try:
        async with aiohttp.ClientSession() as http:
            for replica in replicas:
                await until(
                    lambda replica=replica: replica.get(http, "/readyz"),
                    lambda replica=replica: f"replica {replica.name} ready: {replica.tail()}",
                )
            await store.open()
            async with connected(sims):
                await until(
                    lambda: _synced(store, ["CP-16", "CP-201"]),
                    lambda: f"both Synced; b says: {b.tail()}",
                )
                assert (await b.get(http, "/api/chargers/CP-201"))["connectedHere"]

                await cp201.plug_in(1, "04AABBCC")
                [started] = await store.open_transactions("CP-201")
                await until(
                    lambda: _metered(store, started.id, beyond=started.meter_start_wh or 0),
                    "a meter reading of the open transaction on replica b",
                )

                # Replica b dies at once: no goodbye to its chargers or the database. Its
                # charger reconnects, through the Service, to the one left, with a setting
                # changed behind our back while it was away.
                b.process.send_signal(signal.SIGKILL)
                b.process.wait(10)

                async def let_go() -> bool:
                    return await coordination_of(store).owner("CP-201") is None

                await until(let_go, "CP-201's lock freed by PostgreSQL when b died")
                # Before it reconnects: b recorded it as connected and never said otherwise,
                # but no replica holds its lock, so the survivor says it is not connected.
                listing = await a.get(http, "/api/chargers")
                [away] = [c for c in listing["chargers"] if c["identity"].lower() == "cp-201"]
                assert not away["connected"], away
                assert away["disconnectReason"] == "its replica is gone", away
                # The plan and the admin channel read the same locks: not connected either.
                plan = await a.get(http, "/api/plan")
                [planned] = [c for c in plan["chargers"] if c["identity"].lower() == "cp-201"]
                assert planned["connected"] is False, planned
                assert [c for c in plan["chargers"] if c["identity"] == "CP-16"][0]["connected"]
                answer = await _admin(http, a, "CP-201", {"command": "reset", "hard": False})
                assert answer == (409, "CP-201 is not connected (its replica is gone)"), answer
                cp201.url = a.url
                heartbeat = cp201.KEYS.heartbeat
                cp201.table.force(heartbeat, "999")

                async def on_a() -> bool:
                    document = await a.get(http, "/api/chargers/CP-201")
                    return bool(document and document["connectedHere"])

                await until(on_a, lambda: f"CP-201 served by replica a: {a.tail()}")
                await until(
                    lambda: cp201.configuration.get(heartbeat) == "120",
                    lambda: (
                        f"CP-201 converged on replica a ({heartbeat}: "
                        f"{cp201.configuration.get(heartbeat)})"
                    ),
                )
                [still_open] = await store.open_transactions("CP-201")
                assert still_open.id == started.id, "the transaction goes on"
                reading = (still_open.meter_last_wh or 0) + 1
                await until(
                    lambda: _metered(store, started.id, beyond=reading),
                    "a meter reading of the transaction on replica a",
                )
                await cp201.unplug(1)

                async def stopped() -> bool:
                    found = await store.transaction(started.id)
                    return found is not None and found.stopped_at is not None

                await until(stopped, "the transaction stopped on replica a")
                assert (await a.get(http, "/api/chargers/CP-16"))["connectedHere"]

        exported = subprocess.run(
            [
                str(Path(sys.executable).parent / "chargectl"),
                *("export", "transactions", "--fleet", str(fleet_dir)),
                *("--store", store_url, "--format", "json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert exported.returncode == 0, exported.stderr
        [row] = json.loads(exported.stdout)["transactions"]
        assert row["transaction_id"] == started.id and row["charger"] == "cp-201"
        final = await store.transaction(started.id)
        assert final is not None and final.energy_wh is not None and final.energy_wh > 0
        assert row["energy_kwh"] is not None and float(row["energy_kwh"]) * 1000 == final.energy_wh
    finally:
        await store.close()
        for replica in replicas:
            replica.stop()


async def _admin(
    http: aiohttp.ClientSession, replica: ChargectlProcess, identity: str, body: dict[str, Any]
) -> tuple[int, str]:
    """A command through the replica's admin channel: the status and the error's message."""
    async with http.post(
        f"http://127.0.0.1:{replica.admin}/api/chargers/{identity}/commands",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        document = await response.json(content_type=None)
    return response.status, str((document.get("error") or {}).get("message", document))


async def _synced(store: Store, identities: Iterable[str]) -> bool:
    status = {(c.identity, c.type): c.status for c in await store.conditions()}
    return all(status.get((identity, "Synced")) == "True" for identity in identities)


async def _metered(store: Store, transaction_id: int, *, beyond: int) -> bool:
    found = await store.transaction(transaction_id)
    return found is not None and (found.meter_last_wh or 0) > beyond


# --- helpers ----------------------------------------------------------------------------------


def simulated(
    any_replica: Running, placement: dict[str, Running], **profile: Any
) -> dict[str, SimulatedCharger]:
    """Simulated chargers for `placement`'s identities, each connecting to its replica."""
    sims = chargers_from_fleet(
        any_replica.central.fleet,
        any_replica.url,
        profile=dataclasses.replace(
            DEFAULT_PROFILE,
            reboot_seconds=0.5,
            validate_messages=True,
            reconnect_min_seconds=0.2,
            reconnect_max_seconds=1.0,
            **profile,
        ),
        clock=SimClock(1.0),
    )
    chosen = {sim.identity: sim for sim in sims if sim.identity in placement}
    for identity, sim in chosen.items():
        sim.url = placement[identity].url
    return chosen


@contextlib.asynccontextmanager
async def connected(sims: dict[str, SimulatedCharger]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(sim.run()) for sim in sims.values()]
    try:
        yield
    finally:
        for sim in sims.values():
            await sim.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def synced(replica: Running, identities: Iterable[str]) -> bool:
    conditions = await replica.central.store.conditions()
    status = {(c.identity, c.type): c.status for c in conditions}
    return all(status.get((identity, "Synced")) == "True" for identity in identities)


# --- a replica that died ----------------------------------------------------------------------


async def test_a_charger_recorded_connected_by_a_replica_gone_is_not_connected(
    fleet_dir: Path, store_url: str
) -> None:
    """What a replica killed leaves behind: its charger recorded as connected, and no lock
    (PostgreSQL freed it). The survivors' API and Kubernetes status say it is not connected,
    until it connects again (to a replica that holds its lock)."""
    from controller.sources.kubernetes.status import ObjectRef, StatusWriter
    from controller.store.coordination import GONE
    from controller.web.access import Scope
    from controller.web.plan import PlanService
    from controller.web.status import StatusService
    from tests.fakes import StatusApi

    async with two_replicas(fleet_dir, store_url, reconcile=False) as (a, b):
        gone = open_store(store_url)  # the dead replica's last write
        await gone.open()
        try:
            await gone.record_connected("CP-16", datetime.now(UTC), "10.0.0.9", "1.6")
            await gone.flush()
        finally:
            await gone.close()
        assert await holder(a, "CP-16") is None
        record = await a.central.store.charger("CP-16")
        assert record is not None and record.connected, "the store still says connected"

        everyone = Scope(requester=None)
        service = StatusService(a.central)
        [item] = [c for c in (await service.chargers(everyone))["chargers"] if c["name"] == "cp-16"]
        assert not item["connected"] and not item["connectedHere"]
        assert item["disconnectReason"] == GONE
        depot = await service.location("depot", everyone)
        assert depot is not None and depot["summary"]["connected"] == 0
        plan = await PlanService(a.central)(everyone)
        [planned] = [c for c in plan["chargers"] if c["name"] == "cp-16"]
        assert planned["connected"] is False, planned

        fleet = a.central.fleet
        api = StatusApi.of_fleet(fleet)
        writer = StatusWriter(a.central, api, api)
        await writer.flush()
        charger = ObjectRef("Charger", "default", "cp-16")
        [connected] = [c for c in api.statuses[charger]["conditions"] if c["type"] == "Connected"]
        assert connected["status"] == "False" and connected["message"] == GONE, connected
        location = api.statuses[ObjectRef("Location", "default", "depot")]
        assert location["chargers"]["connected"] == 0

        # It connects again, to replica b: a's API says connected (b holds its lock), and a
        # leaves its status to b.
        cp = await booted_16(b.url)
        try:
            assert await holder(a, "CP-16") == coordination(b).pid
            [item] = [
                c for c in (await service.chargers(everyone))["chargers"] if c["name"] == "cp-16"
            ]
            assert item["connected"] and not item["connectedHere"]
            plan = await PlanService(a.central)(everyone)
            assert [c for c in plan["chargers"] if c["name"] == "cp-16"][0]["connected"] is True
            written = len([p for p in api.patches if p[0] == charger])
            writer.notify_all()
            await writer.flush()
            assert len([p for p in api.patches if p[0] == charger]) == written, "b writes it"
            location = api.statuses[ObjectRef("Location", "default", "depot")]
            assert location["chargers"]["connected"] == 1
        finally:
            await cp.close()
