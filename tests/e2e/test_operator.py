"""`chargectl operator` end to end: custom resources in an emulated API server (kmock, real
HTTP, see `tests/kube.py`), simulated chargers over real sockets, convergence.

- In-process (`running` with the operator's source, as the CLI starts it): `examples/fleet`
  applied as custom resources and the demo's simulated chargers reach the same outcome per
  charger (the reconciler's `Synced`, in the store) as `serve examples/fleet` does: the two
  differ in nothing but the source.
- As a process (`chargectl operator --kube-url`), as a user runs it: chargers converge; an
  edit to a Charger converges; a bad resource is refused with validate's message while the
  others stay Synced; a deleted Charger's handshake is refused.
- `pytest --kube`: a smoke test against the cluster the current kubeconfig points at.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.exceptions import InvalidStatus

from controller.fleet.checking import check_paths
from controller.runtime.operator import operator_options
from controller.runtime.serve import Running, ServeOptions, SimulateOptions, running
from controller.simulator import SimClock, chargers_from_fleet
from controller.simulator.profile import DEFAULT_PROFILE
from controller.sources.kubernetes.api import ApiOrigin
from controller.sources.kubernetes.source import KubernetesOptions, KubernetesSource, open_source
from tests.e2e.rig import until
from tests.kube import REPO, Cluster

EXAMPLES = REPO / "examples" / "fleet"
API = "chargectl.io/v1alpha1"
DEADLINE = 120.0


# --- in-process: the example fleet, as serve and as operator ---------------------------------


def demo(paths: list[Path], store: Path) -> ServeOptions:
    """The demo's simulated chargers (no driver sessions: nothing but convergence), resyncing
    often so that a charger's outcome after a few passes is its outcome."""
    return ServeOptions(
        paths=paths,
        store_url=f"sqlite:///{store}",
        host="127.0.0.1",
        port=0,
        call_timeout=5.0,
        resync_interval=2.0,
        simulate=SimulateOptions(time_scale=60, sessions_per_hour=0, drift=0.3, seed=11),
    )


async def outcomes(server: Running) -> dict[str, tuple[str, str]] | None:
    """Each charger's Synced (status, reason) once every one has had three passes."""
    reconciler = server.reconciler
    assert reconciler is not None
    identities = {c.resource.identity for c in server.central.fleet.chargers.values()}
    if any(reconciler.passes(identity) < 3 for identity in identities):
        return None
    await server.central.store.flush()
    found = {
        c.identity: (c.status, c.reason)
        for c in await server.central.store.conditions()
        if c.type == "Synced"
    }
    return found if identities <= found.keys() else None


@pytest.mark.slow
async def test_the_example_fleet_converges_under_operator_as_under_serve(
    kube: Cluster, tmp_path: Path
) -> None:
    await kube.apply_path(EXAMPLES)
    kubernetes = KubernetesOptions(origin=ApiOrigin(url=kube.url), namespaces=("default",))
    as_operator = operator_options(demo([], tmp_path / "operator.db"), kubernetes)
    async with (
        running(demo([EXAMPLES], tmp_path / "serve.db")) as served,
        running(as_operator) as operated,
    ):
        assert isinstance(operated.source, KubernetesSource)
        assert operated.url.startswith("wss://")  # profile 2 chargers: the demo's certificate
        results: dict[str, dict[str, tuple[str, str]] | None] = {}

        async def both_settled() -> bool:
            results["serve"] = await outcomes(served)
            results["operator"] = await outcomes(operated)
            return results["serve"] is not None and results["operator"] is not None

        await until(both_settled, lambda: f"three passes over every charger: {results}", DEADLINE)
        serve, operator = results["serve"], results["operator"]
        assert operator == serve
        assert operator is not None and any(status == "True" for status, _ in operator.values())


# --- as a process: chargectl operator --kube-url ------------------------------------------


TEAM = {"apiVersion": API, "kind": "Team", "metadata": {"name": "ops"},
        "spec": {"displayName": "Ops", "handle": "ops"}}  # fmt: skip
DEPOT = {
    "apiVersion": API,
    "kind": "Location",
    "metadata": {"name": "depot"},
    "spec": {
        "team": "ops",
        "displayName": "Depot",
        "timezone": "Europe/Amsterdam",
        "chargerDefaults": {"settings": {"heartbeatInterval": 120, "meterValueSampleInterval": 30}},
    },
}


def charger(name: str, identity: str, version: str, **settings: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Charger",
        "metadata": {"name": name},
        "spec": {
            "ocppIdentity": identity,
            "location": "depot",
            "ocppVersion": version,
            "connectors": [{"id": 1, "type": "Type2", "maxCurrent": 32}],
            "settings": {"connectionTimeout": 90, **settings},
        },
    }


FLEET = [TEAM, DEPOT, charger("cp-16", "CP-16", "1.6"), charger("cp-201", "CP-201", "2.0.1")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class Process:
    """`chargectl operator` as a process, and where it serves."""

    process: subprocess.Popen[str]
    ocpp: int
    http: int
    log: Path
    store: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp}/ocpp"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as reply:
            return json.loads(reply.read())

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def operator_process(kube: Cluster, tmp_path: Path) -> Iterator[Process]:
    ocpp, http = free_port(), free_port()
    log = tmp_path / "operator.log"
    command = [
        *(str(Path(sys.executable).parent / "chargectl"), "operator"),
        *("--kube-url", kube.url, "--namespace", "default"),
        *("--listen", f"127.0.0.1:{ocpp}", "--http", f"127.0.0.1:{http}", "--admin", "off"),
        *("--store", f"sqlite:///{tmp_path / 'state.db'}", "--resync", "2"),
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
        )
    try:
        yield Process(process, ocpp, http, log, tmp_path / "state.db")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reachable(server: Process) -> bool:
    if server.process.poll() is not None:
        pytest.fail(f"chargectl operator exited {server.process.returncode}:\n{server.output()}")
    try:
        return bool(server.api("/readyz") or True)
    except OSError:
        return False


def synced(server: Process, *identities: str) -> bool:
    """Every one of `identities` is Synced: the reconciler's outcome, in the process's store."""
    try:
        with sqlite3.connect(server.store) as db:
            rows = db.execute(
                "SELECT identity, status FROM charger_conditions WHERE type = 'Synced'"
            ).fetchall()
    except sqlite3.Error:  # not created yet
        return False
    status = dict(rows)
    return all(status.get(identity) == "True" for identity in identities)


@contextlib.asynccontextmanager
async def simulated(url: str, documents: list[dict[str, Any]], root: Path) -> AsyncIterator[Any]:
    """A simulated charger for every Charger in `documents`, connected to `url`."""
    folder = root / "as-files"
    folder.mkdir(exist_ok=True)
    (folder / "fleet.yaml").write_text(yaml.safe_dump_all(documents))
    fleet = check_paths([folder]).fleet
    sims = chargers_from_fleet(
        fleet,
        url,
        profile=dataclasses.replace(DEFAULT_PROFILE, reboot_seconds=0.5),
        clock=SimClock(1.0),
    )
    tasks = [asyncio.create_task(sim.run()) for sim in sims]
    try:
        yield {sim.identity: sim for sim in sims}
    finally:
        for sim in sims:
            await sim.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@pytest.mark.slow
async def test_the_operator_process_converges_chargers_from_custom_resources(
    kube: Cluster, tmp_path: Path
) -> None:
    for document in FLEET:
        await kube.apply(document)
    with operator_process(kube, tmp_path) as server:
        await until(lambda: reachable(server), "the operator's HTTP API", DEADLINE)
        async with simulated(server.url, FLEET, tmp_path) as sims:
            await until(lambda: synced(server, "CP-16", "CP-201"), "both Synced", DEADLINE)

            # An edit to a Charger converges.
            await kube.apply(charger("cp-16", "CP-16", "1.6", connectionTimeout=45))
            await until(
                lambda: sims["CP-16"].configuration.get("ConnectionTimeOut") == "45",
                "the edit applied on the charger",
                DEADLINE,
            )
            await until(
                lambda: synced(server, "CP-16", "CP-201"), "Synced after the edit", DEADLINE
            )

            # A bad resource is refused with validate's message; the others stay Synced.
            await kube.apply({**charger("cp-201", "CP-201", "2.0.1"),
                              "spec": {**charger("cp-201", "CP-201", "2.0.1")["spec"],
                                       "location": "nowhere"}})  # fmt: skip
            message = "Location 'nowhere' is not declared in this fleet"
            await until(lambda: message in server.output(), "the refusal logged", DEADLINE)
            assert "default/chargers/cp-201 refused" in server.output()
            await until(lambda: synced(server, "CP-16", "CP-201"), "still Synced", DEADLINE)

            # A deleted Charger leaves the fleet: its next handshake is refused.
            await kube.delete("Charger", "cp-16")
            await until(
                lambda: "CP-16" not in {c["identity"] for c in server.api("/api/chargers")
                                        ["chargers"] if c.get("declared", True)},
                "cp-16 gone from the fleet",
                DEADLINE,
            )  # fmt: skip
        with pytest.raises(InvalidStatus) as refused:
            from tests.integration.rawclient import RawCharger

            await RawCharger.connect(server.url, "CP-16", subprotocols=["ocpp1.6"])
        assert refused.value.response.status_code == 404


# --- pytest --kube: a real cluster ---------------------------------------------------------


@pytest.mark.kube_cluster
async def test_the_operator_reads_the_fleet_of_the_current_kubeconfig() -> None:
    """Against the cluster the current kubeconfig points at (our CRDs installed there): the
    source connects, lists the six kinds in the context's namespace and settles a fleet."""

    async def nothing(*_: object) -> None:
        return None

    async with open_source(KubernetesOptions(write_status=False), nothing) as source:
        assert source.settlements >= 1
        assert all(key.namespace == source.watched[0] for key in source.states)  # type: ignore[index]
