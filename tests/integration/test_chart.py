"""The Helm chart, as Helm and Kubernetes see it, with no cluster.

Helm itself (the Helm v4 engine, in-process through helm-python-sdk) lints the chart and
installs it with `--dry-run=client`, the path `helm install` takes: values merged with the
defaults, checked by values.schema.json, templates rendered. Every manifest it renders is
checked by kubernetes-validate against the strict schemas (unknown fields refused) of the newest
Kubernetes release that package ships. Custom resources are not in those schemas, so the CRDs
Helm would install are checked themselves, as apiextensions.k8s.io/v1 objects and by the
structural-schema rules, and every document of examples/fleet/ is checked against its CRD the
way the API server checks a custom resource (tests/unit/resources/test_schemas.py checks the
same documents against the schemas rendered from the models; here it is the chart's files,
with the API server's strict field validation and its ObjectMeta rules).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from tests.structural import structural_problems

helm = pytest.importorskip(
    "helm_python", reason="helm-python-sdk is not installed (pip install -e '.[dev]')"
)
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install -e '.[dev]')"
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "chargectl"
EXAMPLES = REPO_ROOT / "examples" / "fleet"
RELEASE = "fleet"
NAMESPACE = "chargectl"
FULLNAME = f"{RELEASE}-chargectl"
KUBERNETES = kubernetes_validate.latest_version()
"""The newest Kubernetes release whose schemas kubernetes-validate ships."""

POSTGRESQL_REPLICAS: dict[str, Any] = {
    "replicaCount": 3,
    "store": {"type": "postgresql", "postgresql": {"existingSecret": "chargectl-store"}},
    "watch": {"namespaces": ["fleet-north", "fleet-south"]},
    "ocpp": {"tls": {"secretName": "ocpp-tls", "clientCA": True}},
    "service": {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Local",
        "loadBalancerSourceRanges": ["192.0.2.0/24"],
    },
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "hosts": ["ocpp.example.com"],
        "tls": [{"secretName": "ocpp-example-com", "hosts": ["ocpp.example.com"]}],
        "http": True,
    },
    "http": {"trustedProxies": ["192.0.2.10", "2001:db8::/64"]},
    "admin": {"existingSecret": "chargectl-admin"},
    "chargerSecrets": {"namespace": "fleet-north", "mounted": ["chargectl-charger-passwords"]},
    "env": [
        {
            "name": "CHARGER_PASSWORD_ACE0412201",
            "valueFrom": {"secretKeyRef": {"name": "charger-passwords", "key": "ACE0412201"}},
        }
    ],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "chargectl"}},
        }
    ],
}
"""Several replicas sharing PostgreSQL, with most of what the chart can do switched on."""

ALL_NAMESPACES: dict[str, Any] = {
    "watch": {"allNamespaces": True},
    "admin": {"enabled": False},
    "rbac": {"readSecrets": False},
    "persistence": {"enabled": False},
    "podDisruptionBudget": {"enabled": False},
    "logFormat": "text",
}
"""One replica watching the whole cluster, on an emptyDir, without the admin channel."""

CONFIGURATIONS = {
    "defaults": {},
    "postgresql-replicas": POSTGRESQL_REPLICAS,
    "all-namespaces": ALL_NAMESPACES,
}

REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "three replicas on SQLite": ({"replicaCount": 3}, "at '/store/type': value must be"),
    "PostgreSQL without its Secret": (
        {"replicaCount": 3, "store": {"type": "postgresql"}},
        "/store/postgresql/existingSecret",
    ),
    "a misspelt top-level key": ({"replicaCont": 3}, "'replicaCont' not allowed"),
    "a misspelt nested key": ({"store": {"typ": "sqlite"}}, "'typ' not allowed"),
    "an unknown store": ({"store": {"type": "postgres"}}, "/store/type"),
    "an admin Service beyond the cluster": (
        {"adminService": {"type": "LoadBalancer"}},
        "'type' not allowed",
    ),
    "a replica count as text": ({"replicaCount": "3"}, "/replicaCount"),
    "all namespaces and a list": (
        {"watch": {"allNamespaces": True, "namespaces": ["a"]}},
        "/watch/namespaces",
    ),
    "a client CA without a TLS Secret": (
        {"ocpp": {"tls": {"clientCA": True}}},
        "/ocpp/tls/secretName",
    ),
    "an unknown log format": ({"logFormat": "yaml"}, "/logFormat"),
}


# --- Helm -----------------------------------------------------------------------------------


def install(values: dict[str, Any]) -> str:
    """The manifests `helm install --dry-run=client` renders, as one YAML stream."""
    with helm.Config(storage_driver="memory", namespace=NAMESPACE) as config:
        release = config.install(
            str(CHART), RELEASE, copy.deepcopy(values), namespace=NAMESPACE, dry_run="client"
        )
    manifest: str = release["manifest"]
    return manifest


def manifests(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(install(values)) if doc]


def notes(values: dict[str, Any]) -> str:
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(
            copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True
        )
    return rendered["chargectl/templates/NOTES.txt"]


def only(docs: list[dict[str, Any]], kind: str, name: str = FULLNAME) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["chargectl"]
    found: dict[str, Any] = pod["containers"][0]
    return found


def crds() -> list[dict[str, Any]]:
    """The CustomResourceDefinitions as Helm loads them from crds/ (and would install)."""
    with helm.Chart.load(CHART) as chart:
        return [yaml.safe_load(entry["data"]) for entry in chart.crds]


def lint_problems(values: dict[str, Any]) -> list[str]:
    report = helm.lint(
        str(CHART), copy.deepcopy(values), strict=True, kube_version=f"v{KUBERNETES}"
    )
    warnings = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    return [*report["errors"], *(f"{m['path']}: {m['error']}" for m in warnings)]


@pytest.mark.parametrize("values", list(CONFIGURATIONS.values()), ids=list(CONFIGURATIONS))
def test_helm_lints_the_chart(values: dict[str, Any]) -> None:
    assert lint_problems(values) == []


@pytest.mark.parametrize("values", list(CONFIGURATIONS.values()), ids=list(CONFIGURATIONS))
def test_every_rendered_manifest_is_valid_for_kubernetes(values: dict[str, Any]) -> None:
    docs = manifests(values)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "ServiceAccount", "ClusterRole"}
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{where} is not valid for Kubernetes {KUBERNETES}: {path}: {error}")


@pytest.mark.parametrize(("values", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_values_schema_refuses(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        install(values)
    assert "values don't meet the specifications of the schema" in str(refused.value)
    assert message in str(refused.value)


def test_the_defaults_file_is_what_the_schema_accepts() -> None:
    """values.yaml and values.schema.json agree: every default is a key the schema knows."""
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(chart.values)
        schema = chart.schema
    assert schema is not None
    assert set(chart_defaults()) <= set(schema["properties"])


def chart_defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


# --- what the chart runs --------------------------------------------------------------------


def test_defaults_run_one_operator_on_sqlite_with_every_listener_on_the_pod_address() -> None:
    docs = manifests({})
    main = container(docs)
    assert main["args"] == [
        "operator",
        f"--namespace={NAMESPACE}",
        "--listen=0.0.0.0:9000",
        "--http=0.0.0.0:8080",
        "--admin=0.0.0.0:8081",
        "--admin-tokens=/etc/chargectl/admin-tokens",
        "--store=sqlite:////var/lib/chargectl/chargectl.db",
        "--max-pending=1000",
        "--max-frame-size=1048576",
        "--log-level=info",
        "--log-format=json",
    ]
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["data"] == "/var/lib/chargectl"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert only(docs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    token = only(docs, "Secret", f"{FULLNAME}-admin")
    assert list(token["data"]) == ["admin"]
    assert volumes["admin-tokens"]["secret"]["secretName"] == f"{FULLNAME}-admin"


def test_the_pod_is_locked_down() -> None:
    docs = manifests({})
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    main = container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = main["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    writable = {m["mountPath"] for m in main["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", "/var/lib/chargectl"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["resources"]["limits"]["memory"]


def test_replicas_share_postgresql_from_a_secret() -> None:
    docs = manifests(POSTGRESQL_REPLICAS)
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    main = container(docs)
    assert "--store=$(CHARGECTL_STORE)" in main["args"]
    env = {e["name"]: e for e in main["env"]}
    assert env["CHARGECTL_STORE"]["valueFrom"] == {
        "secretKeyRef": {"name": "chargectl-store", "key": "dsn"}
    }
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert "/var/lib/chargectl" not in {m["mountPath"] for m in main["volumeMounts"]}
    assert {
        "--namespace=fleet-north",
        "--namespace=fleet-south",
        "--tls-cert=/etc/chargectl/tls/tls.crt",
        "--tls-key=/etc/chargectl/tls/tls.key",
        "--tls-client-ca=/etc/chargectl/tls/ca.crt",
        "--secrets-namespace=fleet-north",
        "--secrets-dir=/etc/chargectl/secrets",
        "--trusted-proxy=192.0.2.10",
        "--trusted-proxy=2001:db8::/64",
    } <= set(main["args"])
    assert not [d for d in docs if d["kind"] == "Secret"]  # the admin Secret is the user's
    assert only(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_services_keep_the_chargers_endpoint_apart_and_the_admin_channel_inside() -> None:
    docs = manifests(POSTGRESQL_REPLICAS)
    ocpp = only(docs, "Service")
    assert ocpp["spec"]["type"] == "LoadBalancer"
    assert [p["targetPort"] for p in ocpp["spec"]["ports"]] == ["ocpp"]
    assert ocpp["spec"]["externalTrafficPolicy"] == "Local"
    http = only(docs, "Service", f"{FULLNAME}-http")
    assert http["spec"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in http["spec"]["ports"]] == ["http"]
    admin = only(docs, "Service", f"{FULLNAME}-admin")
    assert admin["spec"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in admin["spec"]["ports"]] == ["admin"]
    ports = {p["name"]: p["containerPort"] for p in container(docs)["ports"]}
    assert ports == {"ocpp": 9000, "http": 8080, "admin": 8081}


def test_ingress_carries_websockets_to_the_ocpp_service() -> None:
    ingress = only(manifests(POSTGRESQL_REPLICAS), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    [rule] = ingress["spec"]["rules"]
    backends = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    assert backends == {
        "/ocpp": {"name": FULLNAME, "port": {"name": "ocpp"}},
        "/": {"name": f"{FULLNAME}-http", "port": {"name": "http"}},
    }
    assert not [d for d in manifests({}) if d["kind"] == "Ingress"]


def rules(docs: list[dict[str, Any]], kind: str, name: str) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) for every permission of a role."""
    return {
        (group, resource, verb)
        for rule in only(docs, kind, name)["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


KINDS = ("teams", "locations", "chargers", "cards", "tariffs", "powerlimits")
LEAST_PRIVILEGE = {
    *(("chargectl.io", kind, verb) for kind in KINDS for verb in ("get", "list", "watch")),
    *(("chargectl.io", f"{kind}/status", "patch") for kind in KINDS),
    ("", "events", "create"),
}
SECRETS = {("", "secrets", verb) for verb in ("get", "list", "watch")}


def bound(docs: list[dict[str, Any]], kind: str, role: str) -> list[dict[str, Any]]:
    """The bindings of the role `role`, checked to bind our ServiceAccount and no one else."""
    found = [d for d in docs if d["kind"] == kind and d["roleRef"]["name"] == role]
    for binding in found:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]
    return found


def test_rbac_asks_for_the_fleet_its_status_events_and_secrets_only() -> None:
    docs = manifests({})
    assert rules(docs, "ClusterRole", FULLNAME) == LEAST_PRIVILEGE
    [fleet] = bound(docs, "RoleBinding", FULLNAME)
    assert fleet["metadata"]["namespace"] == NAMESPACE
    assert fleet["roleRef"]["kind"] == "ClusterRole"
    secrets = only(docs, "Role", f"{FULLNAME}-secrets")
    assert secrets["metadata"]["namespace"] == NAMESPACE
    assert rules(docs, "Role", f"{FULLNAME}-secrets") == SECRETS
    [binding] = bound(docs, "RoleBinding", f"{FULLNAME}-secrets")
    assert binding["metadata"]["namespace"] == NAMESPACE
    roles = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"].endswith("Role")}
    assert roles == {("ClusterRole", FULLNAME), ("Role", f"{FULLNAME}-secrets")}
    assert not [d for d in docs if d["kind"] == "ClusterRoleBinding"]


def test_rbac_is_bound_where_the_operator_watches_and_reads_secrets() -> None:
    several = manifests(POSTGRESQL_REPLICAS)
    fleet = bound(several, "RoleBinding", FULLNAME)
    assert sorted(b["metadata"]["namespace"] for b in fleet) == ["fleet-north", "fleet-south"]
    assert only(several, "Role", f"{FULLNAME}-secrets")["metadata"]["namespace"] == "fleet-north"

    everywhere = manifests(ALL_NAMESPACES)
    assert rules(everywhere, "ClusterRole", FULLNAME) == LEAST_PRIVILEGE
    assert bound(everywhere, "ClusterRoleBinding", FULLNAME)
    assert not [d for d in everywhere if d["kind"] in ("RoleBinding", "Role")]  # readSecrets off
    assert "--all-namespaces" in container(everywhere)["args"]
    assert "--admin=off" in container(everywhere)["args"]


def test_the_chart_passes_only_options_the_operator_has() -> None:
    import click

    from controller.cli.app import main

    command = main.get_command(click.Context(main), "operator")
    assert command is not None
    known = {flag for param in command.params for flag in param.opts + param.secondary_opts}
    for values in CONFIGURATIONS.values():
        args = container(manifests(values))["args"]
        assert args[0] == "operator"
        passed = {arg.partition("=")[0] for arg in args[1:]}
        assert passed <= known, sorted(passed - known)


def test_notes_tell_chargers_where_to_connect_and_where_the_admin_token_is() -> None:
    text = notes({})
    assert f"ws://{FULLNAME}.{NAMESPACE}.svc:9000/ocpp/<identity>" in text
    assert f"ws://{FULLNAME}.{NAMESPACE}.svc:9000/ocpp/<location>/<identity>" in text
    assert f"kubectl get secret {FULLNAME}-admin -n {NAMESPACE}" in text
    assert "{.data.admin}" in text
    assert "kubectl apply --server-side -f charts/chargectl/crds/" in text
    secure = notes(POSTGRESQL_REPLICAS)
    assert f"wss://{FULLNAME}.{NAMESPACE}.svc:9000/ocpp/<identity>" in secure
    assert "wss://ocpp.example.com/ocpp/<identity>" in secure


# --- the CRDs and the example fleet -----------------------------------------------------------


def crd_ids() -> list[str]:
    return sorted(p.stem for p in (CHART / "crds").glob("*.yaml"))


def test_helm_ships_every_crd_file() -> None:
    assert sorted(c["spec"]["names"]["plural"] for c in crds()) == crd_ids()


@pytest.mark.parametrize("plural", crd_ids())
def test_crd_is_a_valid_apiextensions_v1_object(plural: str) -> None:
    [definition] = [c for c in crds() if c["spec"]["names"]["plural"] == plural]
    assert definition["apiVersion"] == "apiextensions.k8s.io/v1"
    kubernetes_validate.validate(definition, KUBERNETES, strict=True)


@pytest.mark.parametrize("plural", crd_ids())
def test_crd_schema_is_structural(plural: str) -> None:
    [definition] = [c for c in crds() if c["spec"]["names"]["plural"] == plural]
    for version in definition["spec"]["versions"]:
        assert structural_problems(version["schema"]["openAPIV3Schema"]) == [], version["name"]


class KubectlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it (YAML 1.1, as sigs.k8s.io/yaml does), timestamps left as text:
    the API server gets JSON, in which a date is a string."""


KubectlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def example_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for index, doc in enumerate(yaml.load_all(path.read_text(), Loader=KubectlLoader)):
            if doc is not None:
                yield f"{path.relative_to(REPO_ROOT)}#{index}", doc


def as_the_api_server_validates(node: Any, *, preserved: bool = False) -> Any:
    """A CRD's OpenAPI v3 schema as a JSON Schema that refuses what the API server refuses.

    `nullable` admits null; objects refuse fields the schema does not declare, as the API
    server's strict field validation does (kubectl's default: it would otherwise prune them
    silently), except under x-kubernetes-preserve-unknown-fields and for maps
    (additionalProperties). List types `set` and `map` refuse duplicates, as the server does.
    """
    if not isinstance(node, dict):
        return node
    keep = preserved or bool(node.get("x-kubernetes-preserve-unknown-fields"))
    schema = {key: value for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if "properties" in node:
        schema["properties"] = {
            name: as_the_api_server_validates(sub, preserved=keep)
            for name, sub in node["properties"].items()
        }
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            schema[key] = as_the_api_server_validates(node[key], preserved=keep)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            schema[key] = [as_the_api_server_validates(sub, preserved=keep) for sub in node[key]]
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    if node.get("type") == "object" and "additionalProperties" not in node and not keep:
        schema["additionalProperties"] = False
    if node.get("x-kubernetes-list-type") == "set":
        schema["uniqueItems"] = True
    return schema


def list_map_duplicates(node: Any, value: Any, path: str = "") -> Iterator[str]:
    """Items of an x-kubernetes-list-type: map list that share their keys."""
    if not isinstance(node, dict):
        return
    if isinstance(value, dict):
        for name, sub in node.get("properties", {}).items():
            if name in value:
                yield from list_map_duplicates(sub, value[name], f"{path}.{name}")
        if isinstance(node.get("additionalProperties"), dict):
            for name, sub_value in value.items():
                yield from list_map_duplicates(
                    node["additionalProperties"], sub_value, f"{path}.{name}"
                )
    elif isinstance(value, list):
        keys = node.get("x-kubernetes-list-map-keys") or []
        if node.get("x-kubernetes-list-type") == "map":
            seen = [tuple(json.dumps(item.get(key)) for key in keys) for item in value]
            for index, key in enumerate(seen):
                if key in seen[:index]:
                    yield f"{path}[{index}]: duplicate entry for keys {keys}"
        for index, item in enumerate(value):
            yield from list_map_duplicates(node.get("items"), item, f"{path}[{index}]")


def object_meta_validator() -> Draft202012Validator:
    """ObjectMeta as the API server checks a custom resource's metadata (strictly)."""
    directory = f"kubernetes-json-schema/v{KUBERNETES}-local-strict"
    schema = kubernetes_validate.utils.schema_contents(
        f"{directory}/objectmeta-meta-v1.json", KUBERNETES
    )
    definitions = kubernetes_validate.utils.schema_contents(
        f"{directory}/_definitions.json", KUBERNETES
    )
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    return Draft202012Validator(schema, registry=registry)


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ApiServer:
    """Checks a custom resource against the chart's CRDs, as the API server would on create."""

    def __init__(self) -> None:
        self.served = {
            (f"{c['spec']['group']}/{version['name']}", c["spec"]["names"]["kind"]): version
            for c in crds()
            for version in c["spec"]["versions"]
            if version["served"]
        }
        self.meta = object_meta_validator()

    def problems(self, doc: dict[str, Any]) -> list[str]:
        """Why `doc` would be refused: the kind is not served by one of the CRDs, the name is
        not a DNS subdomain (the rule for custom resources), metadata is not ObjectMeta, or
        the rest does not validate against the CRD's openAPIV3Schema with strict field
        validation and unique list-map keys. A namespace is refused too: the examples leave
        it to `kubectl apply -n`."""
        version = self.served.get((doc.get("apiVersion"), doc.get("kind")))
        if version is None:
            return [f"no CRD serves {doc.get('apiVersion')} {doc.get('kind')}"]
        found = []
        metadata = doc.get("metadata") or {}
        if "namespace" in metadata:
            found.append("metadata.namespace is set")
        name = str(metadata.get("name", ""))
        if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            found.append(f"metadata.name {name!r} is not a DNS subdomain")
        found += [f"metadata: {e.message}" for e in self.meta.iter_errors(metadata)]
        openapi = version["schema"]["openAPIV3Schema"]
        outside = {k: v for k, v in openapi["properties"].items() if k != "metadata"}
        schema = as_the_api_server_validates({**openapi, "properties": outside})
        body = {key: value for key, value in doc.items() if key != "metadata"}
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        found += [
            f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(body)
        ]
        found += list(list_map_duplicates(openapi, doc))
        return found


def test_example_fleet_is_valid_custom_resources_for_the_charts_crds() -> None:
    """What `kubectl apply -R -f examples/fleet/` sends, namespace-less, is accepted."""
    server = ApiServer()
    documents = list(example_documents())
    assert len(documents) > 20, "examples/fleet has fewer documents than it should"
    problems = [f"{where}: {p}" for where, doc in documents for p in server.problems(doc)]
    assert problems == []


def test_the_api_server_check_refuses_what_the_api_server_refuses() -> None:
    """The check above is no rubber stamp."""
    server = ApiServer()
    where, doc = next((w, d) for w, d in example_documents() if d["kind"] == "Charger")
    assert server.problems(doc) == [], where

    def changed(change: Any) -> list[str]:
        edited = copy.deepcopy(doc)
        change(edited)
        return server.problems(edited)

    def typo(d: dict[str, Any]) -> None:
        d["spec"]["ocppIdentty"] = d["spec"].pop("ocppIdentity", "X")

    assert any("ocppIdentty" in p for p in changed(typo))
    assert changed(lambda d: d["spec"]["connectors"][0].update(maxCurrent="32"))
    assert changed(lambda d: d["metadata"].update(namespace="fleet"))
    assert changed(lambda d: d["metadata"].update(name="Acme_HQ"))
    assert changed(lambda d: d["metadata"].update(labelz={}))
    assert changed(lambda d: d.update(kind="Chargepoint"))
