"""`chargectl operator`'s source: the custom resources in an emulated API server (kmock, over
real HTTP, with kopf watching them) become the fleet the endpoint serves.

Each test starts the serving process in-process with the Kubernetes source (`running` with
`runtime.operator.operator_options`), changes objects as `kubectl` would, waits for the
source to settle (an event, no sleeps), and looks at what a user would: the fleet in force,
the OCPP handshake and boot answer, the per-resource problems the status writer shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from websockets.exceptions import InvalidStatus

from controller.fleet.checking import check_paths
from controller.fleet.model import Fleet
from controller.runtime.operator import operator_options
from controller.runtime.serve import Running, ServeOptions, running
from controller.sources.kubernetes.api import ApiOrigin
from controller.sources.kubernetes.objects import ObjectKey
from controller.sources.kubernetes.source import KubernetesOptions, KubernetesSource
from tests.integration.rawclient import RawCharger
from tests.kube import DEADLINE, REPO, Cluster

EXAMPLES = REPO / "examples" / "fleet"
BOOT = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}
API = "chargectl.io/v1alpha1"

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
        "chargerDefaults": {"settings": {"heartbeatInterval": 120}},
    },
}


def charger(name: str, identity: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Charger",
        "metadata": {"name": name},
        "spec": {
            "ocppIdentity": identity,
            "location": "depot",
            "ocppVersion": "1.6",
            "connectors": [{"id": 1, "type": "Type2", "maxCurrent": 32}],
            **spec,
        },
    }


@contextlib.asynccontextmanager
async def operating(
    kube: Cluster,
    tmp_path: Path,
    *,
    namespaces: tuple[str, ...] = ("default",),
    all_namespaces: bool = False,
) -> AsyncIterator[Running]:
    """The operator's serving process against the emulated API (no reconciler: these tests
    speak for the charger themselves; no status writer: that is another module's concern)."""
    serve = ServeOptions(
        paths=[],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        reconcile=False,
    )
    kubernetes = KubernetesOptions(
        origin=ApiOrigin(url=kube.url),
        namespaces=() if all_namespaces else namespaces,
        all_namespaces=all_namespaces,
        quiet=0.05,
        write_status=False,
    )
    async with running(operator_options(serve, kubernetes)) as server:
        yield server


def source_of(server: Running) -> KubernetesSource:
    return cast(KubernetesSource, server.source)


async def settled(server: Running, condition: Callable[[], object]) -> None:
    """Until the source's fleet (or per-resource state) satisfies `condition`."""
    await source_of(server).wait_until(condition)


async def boot_interval(server: Running, identity: str) -> int:
    cp = await RawCharger.connect(server.url, identity, subprotocols=["ocpp1.6"])
    reply = await cp.call("BootNotification", BOOT)
    await cp.connection.close()
    return int(reply[2]["interval"])


def comparable(fleet: Fleet) -> dict[tuple[str, str], dict[str, Any]]:
    """Every resource by kind and name, as declared, but for the namespace (files have none)."""
    return {
        (loaded.kind, loaded.name): loaded.resource.model_dump(
            mode="json", exclude={"metadata": {"namespace"}}
        )
        for loaded in fleet.all()
    }


async def test_the_example_fleet_as_custom_resources_is_the_directory_s_fleet(
    kube: Cluster, tmp_path: Path
) -> None:
    await kube.apply_path(EXAMPLES)
    directory = check_paths([EXAMPLES]).fleet
    async with operating(kube, tmp_path) as server:
        fleet = server.central.fleet
        assert comparable(fleet) == comparable(directory)
        for name, loaded in directory.chargers.items():
            ours = fleet.desired(fleet.chargers[name])
            theirs = directory.desired(loaded)
            assert ours.configuration.keys() == theirs.configuration.keys(), name
            assert {k: v.value for k, v in ours.configuration.items()} == {
                k: v.value for k, v in theirs.configuration.items()
            }
        assert all(state.ready for state in source_of(server).states.values())


async def test_an_edit_to_a_charger_takes_effect(kube: Cluster, tmp_path: Path) -> None:
    for document in (TEAM, DEPOT, charger("cp-16", "CP-16")):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        assert await boot_interval(server, "CP-16") == 120
        await kube.apply(charger("cp-16", "CP-16", settings={"heartbeatInterval": 900}))
        await settled(server, lambda: server.central.fleet.chargers["cp-16"].resource.spec
                      .settings.heartbeat_interval == 900)  # fmt: skip
        assert await boot_interval(server, "CP-16") == 900


async def test_a_bad_resource_is_refused_alone_and_its_last_good_version_stays(
    kube: Cluster, tmp_path: Path
) -> None:
    for document in (TEAM, DEPOT, charger("cp-a", "CP-A"), charger("cp-b", "CP-B")):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        source = source_of(server)
        # At once: cp-a names a location that does not exist, a new cp-c too, cp-b is fine.
        await kube.apply(charger("cp-a", "CP-A", location="nowhere",
                                 settings={"heartbeatInterval": 600}))  # fmt: skip
        await kube.apply(charger("cp-c", "CP-C", location="nowhere"))
        await kube.apply(charger("cp-b", "CP-B", settings={"heartbeatInterval": 300}))
        refused = ObjectKey("Charger", "default", "cp-a")
        await settled(server, lambda: source.problems_of(*refused) and "cp-b" in
                      server.central.fleet.chargers and server.central.fleet.chargers["cp-b"]
                      .resource.spec.settings.heartbeat_interval == 300)  # fmt: skip
        assert source.problems_of(*refused) == [
            "error[unresolved-reference]: Location 'nowhere' is not declared in this fleet "
            "(at spec.location)"
        ]
        assert source.problems_of("Charger", "default", "cp-c")
        assert source.states[refused].generation == 2 and not source.states[refused].in_force
        assert await boot_interval(server, "CP-A") == 120  # the last good cp-a
        assert await boot_interval(server, "CP-B") == 300  # the rest goes on
        with pytest.raises(InvalidStatus) as absent:  # a new bad one is simply not there
            await boot_interval(server, "CP-C")
        assert absent.value.response.status_code == 404


async def test_the_refusal_is_validates_own_message(kube: Cluster, tmp_path: Path) -> None:
    """The message `chargectl validate` prints for the same document in a file."""
    bad = charger("cp-x", "CP-X", location="depto")
    for document in (TEAM, DEPOT, bad):
        await kube.apply(document)
    fleet_dir = tmp_path / "fleet"
    fleet_dir.mkdir()
    import yaml

    (fleet_dir / "fleet.yaml").write_text(yaml.safe_dump_all([TEAM, DEPOT, bad]))
    validated = [p for p in check_paths([fleet_dir]).problems if p.resource == "Charger/cp-x"]
    async with operating(kube, tmp_path) as server:
        state = source_of(server).states[ObjectKey("Charger", "default", "cp-x")]
        assert [(p.code, p.message, p.path) for p in state.errors] == [
            (p.code, p.message, p.path) for p in validated
        ]
        assert "did you mean 'depot'?" in state.errors[0].message


async def test_a_deleted_charger_leaves_the_fleet_and_its_handshake_is_refused(
    kube: Cluster, tmp_path: Path
) -> None:
    for document in (TEAM, DEPOT, charger("cp-16", "CP-16"), charger("cp-17", "CP-17")):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        assert await boot_interval(server, "CP-16") == 120
        await kube.delete("Charger", "cp-16")
        await settled(server, lambda: "cp-16" not in server.central.fleet.chargers)
        with pytest.raises(InvalidStatus) as refused:
            await boot_interval(server, "CP-16")
        assert refused.value.response.status_code == 404
        assert await boot_interval(server, "CP-17") == 120
        assert kube.get("Location", "depot") is not None  # nothing else was touched


async def test_the_operator_writes_nothing_to_the_objects_it_watches(
    kube: Cluster, tmp_path: Path
) -> None:
    """No kopf progress annotations, no finalizers, no Events of kopf's: watch-only."""
    await kube.apply_path(EXAMPLES)
    async with operating(kube, tmp_path) as server:
        await kube.apply(charger("cp-new", "CP-NEW", location="acme-hq"))
        await settled(server, lambda: "cp-new" in server.central.fleet.chargers)
        await kube.delete("Charger", "cp-new")
        await settled(server, lambda: "cp-new" not in server.central.fleet.chargers)
    ours = [r for r in kube.requests() if not r.headers.get("User-Agent", "").startswith("kmock")]
    assert ours and {r.method.upper() for r in ours} == {"GET"}
    assert all(not (o.get("metadata") or {}).get("finalizers") for o in _all_objects(kube))


async def test_a_charger_s_password_comes_from_its_secret_and_follows_a_change(
    kube: Cluster, tmp_path: Path
) -> None:
    await kube.create_secret("cp-auth", {"password": "first-password-123"})
    protected = charger(
        "cp-auth",
        "CP-AUTH",
        security={"profile": 1, "basicAuthPassword": {
            "secretKeyRef": {"name": "cp-auth", "key": "password"}}},
    )  # fmt: skip
    for document in (TEAM, DEPOT, protected):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        cp = await RawCharger.connect(
            server.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="first-password-123"
        )
        await cp.connection.close()
        secrets = source_of(server).secrets
        assert secrets is not None
        secrets.changed.clear()
        await kube.create_secret("cp-auth", {"password": "second-password-456"})
        await asyncio.wait_for(secrets.changed.wait(), DEADLINE)  # the watch brought it
        assert secrets.values["cp-auth"]["password"] == "second-password-456"
        # It has not connected with the new one yet: the old one still lets it in (no lockout)
        cp = await RawCharger.connect(
            server.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="first-password-123"
        )
        await cp.connection.close()
        cp = await RawCharger.connect(
            server.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="second-password-456"
        )
        await cp.connection.close()
        with pytest.raises(InvalidStatus) as refused:  # once it has, the old one is refused
            await RawCharger.connect(
                server.url, "CP-AUTH", subprotocols=["ocpp1.6"], password="first-password-123"
            )
        assert refused.value.response.status_code == 401


async def test_namespaces_are_one_fleet_and_a_name_taken_in_another_is_refused(
    kube: Cluster, tmp_path: Path
) -> None:
    await kube.apply(TEAM, "site-a")
    await kube.apply(DEPOT, "site-a")
    await kube.apply(charger("cp-1", "CP-1"), "site-b")  # names site-a's depot: one fleet
    await kube.apply(charger("cp-9", "CP-9"), "elsewhere")  # not watched
    async with operating(kube, tmp_path, namespaces=("site-a", "site-b")) as server:
        source = source_of(server)
        assert set(server.central.fleet.chargers) == {"cp-1"}
        twin = charger("cp-1", "CP-1-TWIN")
        await kube.apply(twin, "site-a")
        key = ObjectKey("Charger", "site-a", "cp-1")
        await settled(server, lambda: key in source.states)
        assert [p.code for p in source.states[key].errors] == ["duplicate-name"]
        kept = server.central.fleet.chargers["cp-1"]
        assert kept.resource.metadata.namespace == "site-b"
        assert kept.resource.identity == "CP-1"


def _all_objects(kube: Cluster) -> list[dict[str, Any]]:
    return [stored.raw for _, stored in kube.emulator.objects.items() if not stored.deleted]


async def test_the_status_sink_patches_status_with_our_field_manager_and_posts_events(
    kube: Cluster, tmp_path: Path
) -> None:
    """What the status writer writes through: a merge patch of /status, a core/v1 Event."""
    for document in (TEAM, DEPOT, charger("cp-16", "CP-16")):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        sink = source_of(server).sink
        ready = {"type": "Ready", "status": "False", "reason": "Invalid", "message": "no"}
        await sink.patch_status("Charger", "default", "cp-16", {"conditions": [ready]})
        await sink.event("Charger", "default", "cp-16", "Warning", "Invalid", "no")
        await sink.patch_status("Charger", "default", "gone", {"conditions": []})  # no error
    (patch,) = kube.status_patches("Charger", "cp-16")
    assert patch.params == {"fieldManager": "chargectl"}
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert kube.condition("Charger", "cp-16", "Ready") == ready
    assert kube.get("Charger", "cp-16")["spec"]["location"] == "depot"  # type: ignore[index]
    (event,) = kube.events("Charger", "cp-16")
    assert event["type"] == "Warning" and event["reason"] == "Invalid"
    assert event["involvedObject"]["uid"] == kube.get("Charger", "cp-16")["metadata"]["uid"]  # type: ignore[index]


async def test_listing_again_forgets_an_object_whose_deletion_no_watch_told(
    kube: Cluster, tmp_path: Path
) -> None:
    """A deletion kopf never heard of (say, while its watch reconnected): the periodic
    listing (`KubernetesOptions.relist`, here `reload`) takes the charger out all the same."""
    for document in (TEAM, DEPOT, charger("cp-16", "CP-16")):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        kube.emulator.objects["chargectl.io/v1alpha1/chargers", "default", "cp-16"].delete()
        assert "cp-16" in server.central.fleet.chargers  # no event: nobody knows yet
        assert await server.source.reload()
        assert "cp-16" not in server.central.fleet.chargers


async def test_all_namespaces_are_watched_with_all_namespaces(
    kube: Cluster, tmp_path: Path
) -> None:
    await kube.apply(TEAM, "site-a")
    await kube.apply(DEPOT, "site-b")
    await kube.apply(charger("cp-1", "CP-1"), "site-c")
    async with operating(kube, tmp_path, all_namespaces=True) as server:
        assert set(server.central.fleet.chargers) == {"cp-1"}
        await kube.apply(charger("cp-2", "CP-2"), "site-d")  # a namespace nobody named
        await settled(server, lambda: "cp-2" in server.central.fleet.chargers)
        assert server.central.fleet.chargers["cp-2"].resource.metadata.namespace == "site-d"
