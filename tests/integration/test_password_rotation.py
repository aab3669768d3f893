"""Password rotation end to end: a declared password changes while a simulated charger is
connected with the old one; the central system sets the new one on it (1.6 AuthorizationKey,
2.0.1 SecurityCtrlr.BasicAuthPassword), the charger reconnects with it and is admitted, and
the old one is refused from then on. The secret never shows in the message log or the events.

Real sockets throughout: the operator against the emulated API (a Secret changed as `kubectl`
would), and `serve` on a directory whose password is a file. Waits are the rig's deadline poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from controller.fleet.credentials import SecretResolver
from controller.planning.credentials import PASSWORD_KEY
from controller.runtime.operator import operator_options
from controller.runtime.serve import Running, ServeOptions, running
from controller.simulator import SimClock, SimulatedCharger, chargers_from_fleet
from controller.simulator.profile import DEFAULT_PROFILE
from controller.sources.kubernetes.api import ApiOrigin
from controller.sources.kubernetes.source import KubernetesOptions
from controller.values.records import KeyState
from tests.e2e.rig import OPS_TEAM, until, write_fleet
from tests.integration.rawclient import RawCharger
from tests.integration.test_operator import DEPOT, TEAM, charger, source_of
from tests.kube import Cluster

OLD = "first-password-0123456789"
NEW = "second-password-9876543210"
PROFILE = replace(
    DEFAULT_PROFILE, validate_messages=True, reconnect_min_seconds=0.05, reconnect_max_seconds=0.1
)


@contextlib.asynccontextmanager
async def simulated(server: Running, resolver: SecretResolver) -> AsyncIterator[SimulatedCharger]:
    (sim,) = chargers_from_fleet(
        server.central.fleet, server.url, profile=PROFILE, resolver=resolver, clock=SimClock(1.0)
    )
    task = asyncio.create_task(sim.run())
    try:
        yield sim
    finally:
        await sim.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def rotates(server: Running, sim: SimulatedCharger, change: Any, subprotocol: str) -> None:
    """The rotation as a user sees it, once `sim` runs connected with OLD: `change()` declares
    NEW; the charger is sent it, reconnects with it, and OLD is refused after."""
    identity = sim.identity
    store = server.central.store
    await until(lambda: identity in server.central.connections, "the charger connected")
    await until(sim.booted.is_set, "the charger booted")
    first = server.central.connections[identity]

    await change()
    await until(lambda: sim.password == NEW, "the charger was sent the new password")
    statuses = {s.key: s for s in await store.key_statuses(identity)}
    assert statuses[PASSWORD_KEY].state is KeyState.PENDING  # until it reconnects
    assert server.central.connections[identity] is first  # nothing forced it off

    await sim.drop()  # the charger reconnects, as it does to use a new password
    await until(
        lambda: (
            identity in server.central.connections
            and server.central.connections[identity] is not first
        ),
        "the charger reconnected",
    )

    async def rotated() -> bool:
        found = {s.key: s for s in await store.key_statuses(identity)}
        return found[PASSWORD_KEY].state is KeyState.APPLIED

    await until(rotated, "the reconnection with the new password was recorded")
    events = await store.events(identity)
    kinds = [e.kind for e in events]
    assert "PasswordSet" in kinds and "PasswordRotated" in kinds

    with pytest.raises(InvalidStatus) as refused:
        await RawCharger.connect(server.url, identity, subprotocols=[subprotocol], password=OLD)
    assert refused.value.response.status_code == 401

    await store.flush()
    frames = await store.message_log(identity, limit=1000)
    setting = [f for f in frames if f.action in ("ChangeConfiguration", "SetVariables")]
    assert setting, "the password change is in the message log"
    for entry in frames:
        assert NEW not in entry.frame and OLD not in entry.frame
    assert any("********" in f.frame for f in setting)
    for event in events:
        assert NEW not in event.message and NEW not in repr(event.data)
        assert OLD not in event.message and OLD not in repr(event.data)


async def test_a_changed_secret_is_set_on_the_charger_and_the_old_password_retires(
    kube: Cluster, tmp_path: Path
) -> None:
    await kube.create_secret("cp-auth", {"password": OLD})
    protected = charger(
        "cp-rot",
        "CP-ROT",
        security={"profile": 1, "basicAuthPassword": {
            "secretKeyRef": {"name": "cp-auth", "key": "password"}}},
    )  # fmt: skip
    for document in (TEAM, DEPOT, protected):
        await kube.apply(document)
    serve = ServeOptions(
        paths=[],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        call_timeout=5.0,
    )
    kubernetes = KubernetesOptions(
        origin=ApiOrigin(url=kube.url), namespaces=("default",), quiet=0.05, write_status=False
    )
    async with running(operator_options(serve, kubernetes)) as server:
        secrets = source_of(server).secrets
        assert secrets is not None
        async with simulated(server, SecretResolver(store=secrets)) as sim:

            async def change() -> None:
                await kube.create_secret("cp-auth", {"password": NEW})

            await rotates(server, sim, change, "ocpp1.6")


FLEET_201 = (
    OPS_TEAM
    + """---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata:
  name: depot
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata:
  name: cp-201
spec:
  ocppIdentity: CP-201
  location: depot
  ocppVersion: "2.0.1"
  connectors: [{id: 1, type: Type2, maxCurrent: 32}]
  security:
    profile: 1
    basicAuthPassword: {file: password.txt}
"""
)


async def test_a_changed_password_file_is_set_on_a_2_0_1_station(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "password.txt").write_text(OLD + "\n")
    write_fleet(tmp_path, FLEET_201)
    options = ServeOptions(
        paths=[fleet],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        watch=False,
        call_timeout=5.0,
    )
    async with running(options) as server:
        reconciler = server.reconciler
        assert reconciler is not None
        async with simulated(server, SecretResolver(base_dir=fleet)) as sim:

            async def change() -> None:
                (fleet / "password.txt").write_text(NEW + "\n")
                reconciler.wake(sim.identity)  # a file is found at the next resync: now

            await rotates(server, sim, change, "ocpp2.0.1")
