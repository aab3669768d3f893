"""The validating admission webhook (`sources.kubernetes.admission`), called as the API server
calls it: an AdmissionReview POSTed over real HTTPS on loopback to kopf's admission server,
verified against the self-signed CA kopf's server made (dumped to a file, as `--webhook-cadump`
does). kmock cannot call webhooks itself (it has no admission chain), so the test plays the
API server's part; the operator around it is the real one, watching the emulator.

A Charger naming a missing Location is refused with exactly the message the source shows once
such an object is stored (validate's, `objects.describe`); a good object and any DELETE are
admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import aiohttp.abc
import pytest
import yaml

from controller.fleet.checking import check_paths
from controller.runtime.operator import operator_options
from controller.runtime.serve import Running, ServeOptions, running
from controller.sources.kubernetes.admission import AdmissionOptions
from controller.sources.kubernetes.api import ApiOrigin
from controller.sources.kubernetes.objects import ObjectKey
from controller.sources.kubernetes.source import KubernetesOptions, KubernetesSource
from tests.integration.test_operator import DEPOT, TEAM, charger
from tests.kube import DEADLINE, Cluster


@contextlib.asynccontextmanager
async def operating(
    kube: Cluster, tmp_path: Path, **webhook_options: Any
) -> AsyncIterator[Running]:
    serve = ServeOptions(
        paths=[],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
        reconcile=False,
    )
    webhook = AdmissionOptions(
        **{"address": "127.0.0.1", "port": 0, "cadump": tmp_path / "ca.pem", **webhook_options}
    )
    kubernetes = KubernetesOptions(
        origin=ApiOrigin(url=kube.url),
        namespaces=("default",),
        quiet=0.05,
        write_status=False,
        admission=webhook,
    )
    async with running(operator_options(serve, kubernetes)) as server:
        yield server


def source_of(server: Running) -> KubernetesSource:
    return cast(KubernetesSource, server.source)


def review(operation: str, new: Any, old: Any = None) -> dict[str, Any]:
    """An AdmissionReview as the API server sends it for a Charger."""
    target = new if new is not None else old
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "chargectl.io", "version": "v1alpha1", "kind": "Charger"},
            "resource": {"group": "chargectl.io", "version": "v1alpha1", "resource": "chargers"},
            "requestKind": {"group": "chargectl.io", "version": "v1alpha1", "kind": "Charger"},
            "name": target["metadata"]["name"],
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": new,
            "oldObject": old,
            "dryRun": False,
        },
    }


class ApiServer:
    """What the API server does with the webhook's client config: POST, verify the CA."""

    def __init__(self, server: Running, tmp_path: Path) -> None:
        webhook = source_of(server).webhook
        assert webhook is not None and webhook.client_config is not None
        self.url = str(webhook.client_config["url"]).rstrip("/")
        self.context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))

    async def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/validate-chargers", json=body, ssl=self.context) as response,
        ):
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = (await response.json())["response"]
        assert answer["uid"] == body["request"]["uid"]
        return answer


async def listening(server: Running, tmp_path: Path) -> ApiServer:
    webhook = source_of(server).webhook
    assert webhook is not None
    await asyncio.wait_for(webhook.listening.wait(), DEADLINE)
    return ApiServer(server, tmp_path)


def stored(document: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server puts it into the review (namespace and uid set)."""
    meta = {**document["metadata"], "namespace": "default", "uid": str(uuid.uuid4())}
    return {**document, "metadata": meta}


async def test_a_dangling_reference_is_refused_with_validates_message(
    kube: Cluster, tmp_path: Path
) -> None:
    for document in (TEAM, DEPOT, charger("cp-1", "CP-1")):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        api = await listening(server, tmp_path)
        bad = charger("cp-2", "CP-2", location="depto")
        answer = await api.ask(review("CREATE", stored(bad)))
        assert answer["allowed"] is False
        assert answer["status"]["code"] == 422
        message = answer["status"]["message"]

        # validate's words for the same document in a file,
        fleet_dir = tmp_path / "fleet"
        fleet_dir.mkdir()
        (fleet_dir / "fleet.yaml").write_text(yaml.safe_dump_all([TEAM, DEPOT, bad]))
        [problem] = [p for p in check_paths([fleet_dir]).problems if p.resource == "Charger/cp-2"]
        assert message == (
            f"error[{problem.code}]: {problem.message} (at spec.location)"
        )  # fmt: skip
        assert "Location 'depto' is not declared in this fleet (did you mean 'depot'?)" in message

        # and exactly what the source shows when such an object is stored anyway (no webhook).
        await kube.apply(bad)
        source = source_of(server)
        key = ObjectKey("Charger", "default", "cp-2")
        await source.wait_until(lambda: source.problems_of(*key))
        assert source.problems_of(*key) == [message]

        # An update that breaks the object is refused too; one that keeps it good is not.
        good = stored(charger("cp-1", "CP-1", settings={"heartbeatInterval": 600}))
        worse = stored(charger("cp-1", "CP-1", location="nowhere"))
        old = stored(charger("cp-1", "CP-1"))
        assert (await api.ask(review("UPDATE", good, old)))["allowed"] is True
        refused = await api.ask(review("UPDATE", worse, old))
        assert refused["allowed"] is False
        assert "Location 'nowhere' is not declared" in refused["status"]["message"]


async def test_a_good_object_and_any_delete_are_admitted(kube: Cluster, tmp_path: Path) -> None:
    for document in (TEAM, DEPOT):
        await kube.apply(document)
    async with operating(kube, tmp_path) as server:
        api = await listening(server, tmp_path)
        good = await api.ask(review("CREATE", stored(charger("cp-3", "CP-3"))))
        assert good["allowed"] is True and "status" not in good
        # A DELETE is never refused, even of what others still need or what is broken.
        for doomed in (charger("cp-3", "CP-3"), charger("cp-4", "CP-4", location="nowhere")):
            answer = await api.ask(review("DELETE", None, stored(doomed)))
            assert answer["allowed"] is True


async def test_the_webhook_certificate_is_verified(kube: Cluster, tmp_path: Path) -> None:
    """The API server verifies kopf's certificate: without its CA the call fails."""
    async with operating(kube, tmp_path) as server:
        api = await listening(server, tmp_path)
        body = review("CREATE", stored(charger("cp-5", "CP-5")))
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.post(f"{api.url}/validate-chargers", json=body)


async def test_behind_a_service_the_configuration_names_it(kube: Cluster, tmp_path: Path) -> None:
    """In a cluster the API server reaches the webhook through its Service: the client config
    kopf keeps names the Service, and the self-signed certificate is for its DNS name."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = ("chargectl", "chargectl-webhook", 443)
    async with operating(kube, tmp_path, port=port, service=service) as server:
        webhook = source_of(server).webhook
        assert webhook is not None
        await asyncio.wait_for(webhook.listening.wait(), DEADLINE)
        config = webhook.client_config
        assert config is not None and "url" not in config
        assert config["service"] == {"namespace": "chargectl", "name": "chargectl-webhook",
                                     "port": 443}  # fmt: skip
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        connector = aiohttp.TCPConnector(
            resolver=Pinned({"chargectl-webhook.chargectl.svc": "127.0.0.1"})
        )
        body = review("CREATE", stored(charger("cp-6", "CP-6", location="nowhere")))
        async with aiohttp.ClientSession(connector=connector) as session, session.post(
            f"https://chargectl-webhook.chargectl.svc:{port}/validate-chargers",
            json=body, ssl=context,
        ) as response:  # fmt: skip
            answer = (await response.json())["response"]
        assert answer["allowed"] is False


class Pinned(aiohttp.abc.AbstractResolver):
    """Resolves the Service's DNS name to loopback, as cluster DNS would to the pod."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
        address = self.names.get(host, host)
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]  # fmt: skip

    async def close(self) -> None:
        return None


WEBHOOK_VALUES: dict[str, Any] = {
    "admissionWebhook": {"enabled": True, "certificateSecret": "chargectl-webhook-tls"},
    "replicaCount": 2,
    "store": {"type": "postgresql", "postgresql": {"existingSecret": "chargectl-store"}},
}


def test_the_chart_serves_the_webhook_when_asked() -> None:
    """`admissionWebhook.enabled`: the operator's flags (only ones it has), the container
    port, the Service the configuration names, the certificate Secret mounted, the permission
    on validatingwebhookconfigurations; off by default; self-signed only for one replica."""
    chart = pytest.importorskip("tests.integration.test_chart")
    import click

    from controller.cli.app import main

    command = main.get_command(click.Context(main), "operator")
    assert command is not None
    known = {flag for param in command.params for flag in param.opts + param.secondary_opts}
    fullname = chart.FULLNAME
    assert not [d for d in chart.manifests({}) if d["metadata"]["name"].endswith("-webhook")]
    assert "--admission-webhook" not in chart.container(chart.manifests({}))["args"]

    docs = chart.manifests(WEBHOOK_VALUES)
    for doc in docs:
        chart.kubernetes_validate.validate(doc, chart.KUBERNETES, strict=True)
    serving = chart.container(docs)
    args = serving["args"]
    assert {arg.partition("=")[0] for arg in args[1:]} <= known
    assert f"--webhook-service=chargectl/{fullname}-webhook:443" in args
    assert f"--webhook-configuration={fullname}.chargectl.io" in args
    assert "--webhook-cert=/etc/chargectl/webhook/tls.crt" in args
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in serving["ports"]
    service = chart.only(docs, "Service", f"{fullname}-webhook")
    assert service["spec"]["ports"][0]["port"] == 443
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"
    role = chart.only(docs, "ClusterRole", f"{fullname}-webhook")
    assert role["rules"] == [{"apiGroups": ["admissionregistration.k8s.io"],
                              "resources": ["validatingwebhookconfigurations"],
                              "verbs": ["get", "create", "patch"]}]  # fmt: skip
    self_signed = {**WEBHOOK_VALUES, "admissionWebhook": {"enabled": True}}
    with pytest.raises(chart.helm.HelmError) as refused:
        chart.install(self_signed)
    assert "needs admissionWebhook.certificateSecret" in str(refused.value)
    assert chart.install({"admissionWebhook": {"enabled": True}})  # one replica: self-signed
