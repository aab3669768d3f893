"""Two `chargectl operator` processes, one emulated Kubernetes API, one real PostgreSQL.

The fleet of the power test (`tests/e2e/test_power.py`: four 32 A chargers behind one 40 A
PowerLimit at one location) is applied as custom resources to kmock (`tests/kube.py`), in this
process over real HTTP. Two operators run as processes (`chargectl operator --kube-url`), each
with its own OCPP, HTTP and admin ports and its own admin token file, sharing one PostgreSQL
database created for this module. The simulated chargers of `test_replicas.py` connect two to
each replica: CP-A and CP-C to replica A, CP-B and CP-D to replica B, so the location is split.

Telling the replicas apart in kmock: both send `User-Agent: chargectl`, so each replica is
given its own entry point instead: a second and third `kmock.Server` on the same emulator (the
same objects and the same request log), each on a port of its own. A request's URL (from its
Host header) names the port it came in on, so the replica that sent it.

Setup is module-scoped (two processes, a database, four chargers): the tests run in order on
it, each checking one behaviour; the last one kills replica B.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import cast

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import kmock
import pytest
import pytest_asyncio
import yaml
import yarl
from sqlalchemy.engine import make_url

from controller.fleet.checking import check_paths
from controller.runtime.serve import Running
from controller.simulator import SimClock, SimulatedCharger, chargers_from_fleet
from controller.simulator.profile import DEFAULT_PROFILE
from controller.store import open_store
from controller.store.base import Store
from controller.store.coordination import coordination_of
from tests.e2e.rig import until, write_fleet
from tests.e2e.test_power import (
    CIRCUIT_AMPERES,
    FLEET,
    ID_TAG,
    PowerRig,
    Sampler,
    Watched,
    converged_to_share,
    idle_offers,
)
from tests.integration.conftest import postgres_server  # noqa: F401  (the fixture)
from tests.kube import REPO, Cluster, cluster
from tests.processes import ChargectlProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TOKEN = "operator-replicas-token"
DEADLINE = 60.0
PLACEMENT = {"CP-A": "a", "CP-B": "b", "CP-C": "a", "CP-D": "b"}


class Operator(ChargectlProcess):
    """`chargectl operator` as a process (`tests.processes`), on its own kmock entry point."""

    def __init__(self, name: str, kube_url: str, store_url: str, root: Path) -> None:
        self.kube_url = kube_url
        tokens = root / f"admin-tokens-{name}"
        tokens.write_text(f"ops:{TOKEN}\n")
        tokens.chmod(0o600)
        super().__init__(
            name,
            [
                *("operator", "--kube-url", kube_url, "--namespace", "default"),
                *("--store", store_url, "--call-timeout", "5", "--resync", "2"),
                *("--log-level", "info"),
            ],
            tokens=tokens,
            log=root / f"operator-{name}.log",
            cwd=root,
            env={"PYTHONPATH": str(REPO), "NO_COLOR": "1"},
        )

    @property
    def kube_port(self) -> int:
        port = yarl.URL(self.kube_url).port
        assert port is not None
        return port


@dataclasses.dataclass
class Setup:
    kube: Cluster
    replicas: dict[str, Operator]
    sims: dict[str, SimulatedCharger]
    sampler: Sampler
    store: Store
    store_url: str
    fleet: Path

    def holder(self, identity: str) -> Operator:
        return self.replicas[PLACEMENT[identity]]

    def rig(self) -> PowerRig:
        """What test_power's waits need (they read the chargers only, never the server)."""
        return PowerRig(cast(Running, None), self.sims, self.sampler)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def database(postgres_server: str) -> AsyncIterator[str]:  # noqa: F811
    """An empty PostgreSQL database for this module, dropped afterwards."""
    server = make_url(postgres_server).set(drivername="postgresql")
    admin_url = server.render_as_string(hide_password=False)
    name = f"chargectl_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    root = tmp_path_factory.mktemp("operator-replicas")
    fleet = write_fleet(root, FLEET)
    async with (
        cluster() as kube,
        kmock.Server(kube.emulator, host="127.0.0.1") as entry_a,
        kmock.Server(kube.emulator, host="127.0.0.1") as entry_b,
    ):
        for document in yaml.safe_load_all(FLEET):
            await kube.apply(document)
        replicas = {
            "a": Operator("a", str(entry_a.url).rstrip("/"), database, root),
            "b": Operator("b", str(entry_b.url).rstrip("/"), database, root),
        }
        sims = {
            sim.identity: sim
            for sim in chargers_from_fleet(
                check_paths([fleet]).fleet,
                replicas["a"].url,
                profile=dataclasses.replace(
                    DEFAULT_PROFILE,
                    reboot_seconds=0.5,
                    validate_messages=True,
                    reconnect_min_seconds=0.2,
                    reconnect_max_seconds=1.0,
                ),
                clock=SimClock(1.0),
            )
        }
        assert sims.keys() == PLACEMENT.keys()
        sampler = Sampler(sims)
        for identity, sim in sims.items():
            sim.url = replicas[PLACEMENT[identity]].url
            sim.profiles = Watched(sampler.sample)
            sim.table.force(sim.KEYS.sample_interval, "1")  # a meter reading every second
        store = open_store(database)
        tasks: list[asyncio.Task[None]] = []
        try:
            async with aiohttp.ClientSession() as http:
                for replica in replicas.values():
                    await until(
                        lambda replica=replica: replica.get(http, "/readyz"),
                        lambda replica=replica: f"operator {replica.name} ready: {replica.tail()}",
                        DEADLINE,
                    )
            await store.open()
            tasks = [asyncio.create_task(sim.run()) for sim in sims.values()]
            tasks.append(asyncio.create_task(sampler.run()))  # type: ignore[arg-type]
            yield Setup(kube, replicas, sims, sampler, store, database, fleet)
        finally:
            for sim in sims.values():
                await sim.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await store.close()
            for replica in replicas.values():
                replica.stop()


def name_of(identity: str) -> str:
    return identity.lower()


def synced(kube: Cluster, identities: Iterable[str]) -> bool:
    for identity in identities:
        condition = kube.condition("Charger", name_of(identity), "Synced")
        if condition is None or condition.get("status") != "True":
            return False
    return True


def conditions_of(request: kmock.Request) -> dict[str, str]:
    status = (request.data or {}).get("status") or {}
    return {c.get("type"): c.get("status") for c in status.get("conditions") or []}


def writers(kube: Cluster, identity: str, setup: Setup) -> list[tuple[str, dict[str, str]]]:
    """Each status patch of the charger: which replica sent it, and the conditions it set."""
    ports = {replica.kube_port: name for name, replica in setup.replicas.items()}
    return [
        (ports.get(r.url.port or 0, f"port {r.url.port}"), conditions_of(r))
        for r in kube.status_patches("Charger", name_of(identity))
    ]


async def _metered(store: Store, transaction_id: int, *, beyond: int) -> bool:
    found = await store.transaction(transaction_id)
    return found is not None and (found.meter_last_wh or 0) > beyond


# --- the tests, in order, on one setup ----------------------------------------------------------


async def test_every_charger_converges_with_synced_true_on_its_charger_object(
    setup: Setup,
) -> None:
    kube = setup.kube
    await kube.wait_for(
        lambda: synced(kube, PLACEMENT),
        lambda: (
            "Synced=True on every Charger: "
            + str({i: kube.condition("Charger", name_of(i), "Synced") for i in PLACEMENT})
            + f"\nA: {setup.replicas['a'].tail()}\nB: {setup.replicas['b'].tail()}"
        ),
        DEADLINE,
    )
    for identity in PLACEMENT:
        assert kube.condition("Charger", name_of(identity), "Connected")["status"] == "True"  # type: ignore[index]


async def test_a_chargers_status_is_written_only_by_the_replica_holding_it(setup: Setup) -> None:
    """From the first patch that says the charger is connected, every status patch of it came
    in on its holder's entry point; and each replica wrote the status of its own chargers.
    (Before it connects, a charger connected nowhere may be written by either replica, as
    `controller/sources/kubernetes/status.py` says: those patches are not counted.)"""
    kube = setup.kube
    await kube.wait_for(lambda: synced(kube, PLACEMENT), "every charger Synced", DEADLINE)
    for identity in PLACEMENT:
        patches = writers(kube, identity, setup)
        connected = [n for n, (_, c) in enumerate(patches) if c.get("Connected") == "True"]
        assert connected, f"{identity}: no patch said Connected=True: {patches}"
        since = patches[connected[0] :]
        holder = PLACEMENT[identity]
        assert {who for who, _ in since} == {holder}, f"{identity} held by {holder}: {since}"
        assert any(c.get("Synced") == "True" for _, c in since), since


async def test_a_command_sent_to_replica_a_reaches_a_charger_held_by_replica_b(
    setup: Setup,
) -> None:
    a, cp_b = setup.replicas["a"], setup.sims["CP-B"]
    assert PLACEMENT["CP-B"] == "b"
    cp_b.auth_cache["sentinel"] = "Accepted"  # what the command clears, on the charger itself
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.post(
            f"http://127.0.0.1:{a.admin}/api/chargers/cp-b/commands",
            json={"command": "clear-cache"},
        ) as response:
            assert response.status == 200, await response.text()
            outcome = await response.json()
        assert outcome["ok"] and outcome["status"] == "Accepted", outcome
        assert outcome["charger"] == "CP-B"
        assert cp_b.auth_cache == {}, "the charger on replica B ran it"
        async with http.get(f"http://127.0.0.1:{a.http}/metrics") as response:
            metrics = await response.text()
        held_by_b = await setup.replicas["b"].get(http, "/api/chargers/CP-B")
    assert (
        'chargectl_commands_total{command="clear-cache",outcome="Accepted",requester="ops"} 1.0'
        in metrics
    )
    assert held_by_b and held_by_b["connectedHere"], "CP-B was on B throughout"


async def test_the_split_location_never_draws_more_than_its_circuit(setup: Setup) -> None:
    """Sessions start one by one, alternating replicas; each time every charging connector
    offers its equal share of the whole location. Three stop again, leaving CP-B (on replica
    B) charging for the next test. The sampler (every 50 ms and at each profile installed)
    never sees the charging connectors offer more than 40 A together."""
    rig = setup.rig()
    for sim in setup.sims.values():
        await asyncio.wait_for(sim.booted.wait(), DEADLINE)
    await idle_offers(rig)
    active: list[str] = []
    for identity in ("CP-A", "CP-B", "CP-C", "CP-D"):
        await setup.sims[identity].plug_in(1, ID_TAG)
        active.append(identity)
        await converged_to_share(rig, active)
    for identity in ("CP-A", "CP-C", "CP-D"):
        await setup.sims[identity].unplug(1)
        active.remove(identity)
        await converged_to_share(rig, active)
    assert not setup.sampler.over, f"the circuit was overloaded: {setup.sampler.over[:5]}"
    assert setup.sampler.highest == CIRCUIT_AMPERES, "two sessions at 20 A were seen"


async def test_a_replica_killed_its_chargers_move_to_the_survivor_and_lose_nothing(
    setup: Setup,
) -> None:
    kube, store = setup.kube, setup.store
    a, b = setup.replicas["a"], setup.replicas["b"]
    cp_b = setup.sims["CP-B"]
    moved = [identity for identity, where in PLACEMENT.items() if where == "b"]
    await kube.wait_for(lambda: synced(kube, PLACEMENT), "every charger Synced", DEADLINE)
    if cp_b.connectors[1].transaction is None:  # run on its own
        await cp_b.plug_in(1, ID_TAG)

    async def opened() -> bool:
        return bool(await store.open_transactions("CP-B"))

    await until(opened, "CP-B's transaction recorded", DEADLINE)
    [started] = await store.open_transactions("CP-B")
    await until(
        lambda: _metered(store, started.id, beyond=started.meter_start_wh or 0),
        "a meter reading of the open transaction on replica B",
        DEADLINE,
    )
    before = {i: len(kube.status_patches("Charger", name_of(i))) for i in moved}
    connected_at = {
        i: kube.status("Charger", name_of(i)).get("reported", {}).get("connectedAt") for i in moved
    }

    # Replica B dies at once: no goodbye to its chargers, the database or the API.
    b.process.send_signal(signal.SIGKILL)
    b.process.wait(10)

    for identity in moved:

        async def let_go(identity: str = identity) -> bool:
            return await coordination_of(store).owner(identity) is None

        await until(let_go, f"{identity}'s lock freed by PostgreSQL when B died", DEADLINE)
        setup.sims[identity].url = a.url  # through the Service, to the replica left

    async with aiohttp.ClientSession() as http:
        for identity in moved:

            async def on_a(identity: str = identity) -> bool:
                document = await a.get(http, f"/api/chargers/{identity}")
                return bool(document and document["connectedHere"])

            await until(on_a, f"{identity} served by A", DEADLINE)

    def converged_on_a() -> bool:
        for identity in moved:
            status = kube.status("Charger", name_of(identity))
            if status.get("reported", {}).get("connectedAt") == connected_at[identity]:
                return False
            if not synced(kube, [identity]):
                return False
        return True

    await kube.wait_for(
        converged_on_a,
        lambda: (
            "B's chargers reconnected and Synced=True again: "
            + str({i: kube.status("Charger", name_of(i)) for i in moved})
        ),
        DEADLINE,
    )
    for identity in moved:
        after = writers(kube, identity, setup)[before[identity] :]
        assert after and {who for who, _ in after} == {"a"}, f"{identity}: {after}"
        assert after[-1][1].get("Synced") == "True", after

    # The transaction goes on on A, and stops there with its energy.
    [still_open] = await store.open_transactions("CP-B")
    assert still_open.id == started.id, "the transaction goes on"
    reading = (still_open.meter_last_wh or 0) + 1
    await until(
        lambda: _metered(store, started.id, beyond=reading),
        "a meter reading of the transaction on replica A",
        DEADLINE,
    )
    await cp_b.unplug(1)

    async def stopped() -> bool:
        found = await store.transaction(started.id)
        return found is not None and found.stopped_at is not None

    await until(stopped, "the transaction stopped on replica A", DEADLINE)
    final = await store.transaction(started.id)
    assert final is not None and final.energy_wh is not None and final.energy_wh > 0
    assert not setup.sampler.over, f"the circuit was overloaded: {setup.sampler.over[:5]}"
