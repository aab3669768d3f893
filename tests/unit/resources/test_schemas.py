"""The generated JSON Schemas and CRDs: up to date, structural, and faithful to the models.

The models are the source of truth; these tests make sure that what editors and the Kubernetes
API server see says the same thing, and that Kubernetes would accept the CRDs at all.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from controller.resources import API_VERSION, KINDS
from controller.resources.generation import (
    ALL_KINDS_FILE,
    CRD_DIR,
    HEADER,
    SCHEMA_DIR,
    render_all,
    stale_files,
    write_all,
)
from tests.structural import structural_problems

REPO_ROOT = Path(__file__).resolve().parents[3]

rendered = functools.cache(render_all)
"""The generated files, rendered once for the whole module (rendering takes a while)."""

MINIMAL_SPECS: dict[str, dict[str, Any]] = {
    "Team": {"displayName": "Acme Charging", "handle": "acme"},
    "Location": {"team": "acme", "displayName": "Depot"},
    "Charger": {
        "location": "depot",
        "ocppVersion": "1.6",
        "connectors": [{"id": 1, "type": "Type2", "maxCurrent": 32}],
    },
    "Card": {"idTag": "04A1B2C3D4", "team": "acme"},
    "Tariff": {"currency": "EUR"},
    "PowerLimit": {"location": "depot", "limit": {"currentPerPhase": 63}},
}

RICH_CHARGER_SPEC: dict[str, Any] = {
    "location": "depot",
    "ocppVersion": "2.0.1",
    "ocppIdentity": "CP-0001",
    "expected": {"vendor": "Alfen", "model": None},
    "connectors": [
        {"id": 1, "type": "Type2", "maxCurrent": 32, "phases": 3},
        {"id": 2, "type": "CCS2", "format": "Cable", "currentType": "DC", "maxCurrent": 200},
    ],
    "security": {"profile": 2, "basicAuthPassword": {"secretKeyRef": {"name": "cp", "key": "pw"}}},
    "settings": {"heartbeatInterval": 300, "availability": None, "freeCharging": False},
    "configuration": {
        "OCPPCommCtrlr.HeartbeatInterval": 300,
        "AuthCtrlr.Enabled": True,
        "SampledDataCtrlr.TxUpdatedMeasurands": ["Energy.Active.Import.Register", "Power.Active"],
        "TxCtrlr.TxStartPoint": "PowerPathClosed",
    },
    "vendorConfiguration": {"Alfen.LedBrightness": "50"},
    "firmware": {"version": "6.4.0", "url": "https://firmware.example.com/6.4.0.bin"},
    "rebootPolicy": "MaintenanceWindow",
    "unmanagedKeys": ["NetworkProfile"],
}


def document(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": f"example-{kind.lower()}", "labels": {"site": "depot"}},
        "spec": copy.deepcopy(spec),
    }


def json_schema(relative: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(rendered()[relative])
    return schema


def crd(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(
        rendered()[f"{CRD_DIR}/{KINDS[kind].PLURAL}.yaml"]
    )
    return loaded


def openapi_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(schema)
    return [error.message for error in validator.iter_errors(instance)]


# --- up to date ----------------------------------------------------------------------------------


def test_committed_generated_files_are_up_to_date() -> None:
    stale = stale_files(REPO_ROOT)
    assert stale == [], (
        f"generated files differ from the models: {', '.join(stale)}. "
        "Run `chargectl schemas` and commit the result."
    )


def test_rendering_is_deterministic_and_labelled() -> None:
    first, second = render_all(), render_all()
    assert first == second
    for relative, content in first.items():
        assert content.endswith("\n") and not content.endswith("\n\n"), relative
        if relative.endswith(".yaml"):
            assert content.startswith(f"# {HEADER}\n"), relative
        else:
            assert json.loads(content)["$comment"] == HEADER, relative


def test_write_all_writes_only_changes_and_removes_orphans(tmp_path: Path) -> None:
    assert sorted(p.relative_to(tmp_path).as_posix() for p in write_all(tmp_path)) == sorted(
        render_all()
    )
    assert write_all(tmp_path) == []
    assert stale_files(tmp_path) == []

    tampered = tmp_path / SCHEMA_DIR / "charger.json"
    tampered.write_text(tampered.read_text() + " ")
    orphan = tmp_path / CRD_DIR / "gone.yaml"
    orphan.write_text(f"# {HEADER}\nkind: CustomResourceDefinition\n")
    handwritten = tmp_path / CRD_DIR / "README.yaml"
    handwritten.write_text("# not generated\n")
    (tmp_path / ALL_KINDS_FILE).unlink()

    assert stale_files(tmp_path) == sorted(
        [f"{SCHEMA_DIR}/charger.json", f"{CRD_DIR}/gone.yaml", ALL_KINDS_FILE]
    )
    write_all(tmp_path)
    assert stale_files(tmp_path) == []
    assert not orphan.exists()
    assert handwritten.exists()


# --- CRDs are structural -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_crd_is_structural(kind: str) -> None:
    assert structural_problems(openapi_schema(kind)) == []


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node below `node`, with its path."""
    if not isinstance(node, dict):
        return []
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        found += walk(node.get(key), f"{path}.{key}")
    return found


@pytest.mark.parametrize("kind", list(KINDS))
def test_crds_use_only_keywords_kubernetes_accepts(kind: str) -> None:
    """Cross-check against the Kubernetes client's own list of JSONSchemaProps fields."""
    client = pytest.importorskip(
        "kubernetes.client",
        reason="the kubernetes extra is not installed (pip install '.[kubernetes]')",
    )

    known = set(client.V1JSONSchemaProps.attribute_map.values())
    refused = {"$ref", "$schema", "id", "definitions", "dependencies", "patternProperties"}
    for path, node in walk(openapi_schema(kind)):
        unknown = set(node) - (known - refused)
        assert not unknown, f"{kind}{path}: {sorted(unknown)}"


STRUCTURAL_VIOLATIONS = {
    "ref": (
        {"type": "object", "properties": {"spec": {"$ref": "#/$defs/Spec"}}},
        "'$ref' is not allowed",
    ),
    "untyped property": (
        {"type": "object", "properties": {"spec": {"description": "No type here."}}},
        ".spec: has no type",
    ),
    "additionalProperties false": (
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": False,
                }
            },
        },
        "additionalProperties: false is not allowed",
    ),
    "const": (
        {"type": "object", "properties": {"kind": {"type": "string", "const": "Charger"}}},
        "use enum: [value]",
    ),
    "type under anyOf": (
        {
            "type": "object",
            "properties": {"v": {"anyOf": [{"type": "boolean"}, {"type": "string"}]}},
        },
        ".v.anyOf[0]: 'type' is not allowed",
    ),
    "undeclared property under oneOf": (
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"properties": {"b": {"minLength": 1}}}],
        },
        ".oneOf[1].b: is not declared",
    ),
    "described metadata": (
        {"type": "object", "properties": {"metadata": {"type": "object", "description": "x"}}},
        ".metadata: must be just type: object",
    ),
    "uniqueItems": (
        {
            "type": "object",
            "properties": {
                "l": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
            },
        },
        "uniqueItems: true is not allowed",
    ),
    "array without items": (
        {"type": "object", "properties": {"l": {"type": "array"}}},
        ".l: an array needs items",
    ),
    "JSON Schema exclusiveMinimum": (
        {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}},
        "exclusiveMinimum must be a boolean",
    ),
    "null type": (
        {"type": "object", "properties": {"n": {"type": "null"}}},
        "type 'null' is not one of",
    ),
    "invalid default": (
        {"type": "object", "properties": {"n": {"type": "integer", "default": "3"}}},
        "default '3' does not validate",
    ),
}


@pytest.mark.parametrize(
    ("schema", "message"),
    list(STRUCTURAL_VIOLATIONS.values()),
    ids=list(STRUCTURAL_VIOLATIONS),
)
def test_structural_checker_catches(schema: dict[str, Any], message: str) -> None:
    problems = structural_problems(schema)
    assert any(message in problem for problem in problems), problems


def test_structural_checker_accepts_kubernetes_idioms() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object"},
            "port": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
            "raw": {"x-kubernetes-preserve-unknown-fields": True, "description": "Anything."},
            "ref": {
                "type": "object",
                "properties": {"env": {"type": "string"}, "file": {"type": "string"}},
                "oneOf": [{"required": ["env"]}, {"required": ["file"]}],
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "mode": {"type": "string", "enum": ["A", "B", None], "nullable": True},
        },
    }
    assert structural_problems(schema) == []


# --- CRD content ---------------------------------------------------------------------------------


def test_charger_crd_has_printer_columns_and_status_subresource() -> None:
    version = crd("Charger")["spec"]["versions"][0]
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    shown = {
        name: (c["jsonPath"], c["type"]) for name, c in columns.items() if not c.get("priority")
    }
    assert shown == {
        "Location": (".spec.location", "string"),
        "Version": (".spec.ocppVersion", "string"),
        "Connected": ('.status.conditions[?(@.type=="Connected")].status', "string"),
        "Synced": ('.status.conditions[?(@.type=="Synced")].status', "string"),
        "Firmware": (".status.reported.boot.firmwareVersion", "string"),
        "Age": (".metadata.creationTimestamp", "date"),
    }
    assert list(shown) == ["Location", "Version", "Connected", "Synced", "Firmware", "Age"]
    wide = [name for name, c in columns.items() if c.get("priority") == 1]
    assert wide == ["Ready", "Plan"]
    assert version["subresources"] == {"status": {}}
    assert version["served"] is True and version["storage"] is True


@pytest.mark.parametrize("kind", list(KINDS))
def test_crd_names_and_envelope(kind: str) -> None:
    resource = KINDS[kind]
    definition = crd(kind)
    spec = definition["spec"]
    assert definition["metadata"]["name"] == f"{resource.PLURAL}.chargectl.io"
    assert spec["group"] == "chargectl.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": resource.PLURAL,
        "singular": kind.lower(),
        "shortNames": list(resource.SHORT_NAMES),
        "categories": ["chargectl"],
    }
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    root = version["schema"]["openAPIV3Schema"]
    assert root["properties"]["metadata"] == {"type": "object"}
    status = root["properties"]["status"]
    assert set(status["properties"]) >= {"conditions", "observedGeneration"}
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_status_declares_every_field_so_kubectl_explain_shows_it(kind: str) -> None:
    """Nothing in status is kept unexamined: the API server prunes what is not declared, and
    `kubectl explain <plural>.status` describes what is."""
    status = openapi_schema(kind)["properties"]["status"]
    kept = [path for path, node in walk(status) if node.get("x-kubernetes-preserve-unknown-fields")]
    assert kept == []
    assert status["type"] == "object" and "nullable" not in status


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_crd_property_has_a_description(kind: str) -> None:
    """Descriptions are the `kubectl explain` text. Root metadata is the exception: the API
    server owns its schema and refuses a description there."""
    missing = [
        f"{path}.{name}"
        for path, node in walk(openapi_schema(kind))
        for name, sub in node.get("properties", {}).items()
        if not (path == "" and name == "metadata") and not str(sub.get("description", "")).strip()
    ]
    assert missing == []


def as_json_schema(node: Any) -> Any:
    """A CRD schema as a JSON Schema, to check it with the same validator: OpenAPI's
    `nullable` becomes a null type; x-kubernetes-* keywords are ignored by JSON Schema."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: as_json_schema(value) for key, value in node.items()}
    if "properties" in node:
        result["properties"] = {k: as_json_schema(v) for k, v in node["properties"].items()}
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


@pytest.mark.parametrize("kind", list(KINDS))
def test_crd_accepts_what_the_model_accepts(kind: str) -> None:
    schema = as_json_schema(openapi_schema(kind))
    assert errors(schema, document(kind, MINIMAL_SPECS[kind])) == []


def test_charger_crd_accepts_every_kind_of_configuration_value_and_nulls() -> None:
    rich = document("Charger", RICH_CHARGER_SPEC)
    KINDS["Charger"].model_validate(rich)
    schema = as_json_schema(openapi_schema("Charger"))
    assert errors(schema, rich) == []
    wrong = copy.deepcopy(rich)
    wrong["spec"]["connectors"][0]["type"] = "Type3"
    assert errors(schema, wrong) != []


# --- JSON Schemas for editors ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_minimal_documents_are_valid_models(kind: str) -> None:
    """Keeps the fixtures honest: what the schema tests call valid, the models accept."""
    KINDS[kind].model_validate(document(kind, MINIMAL_SPECS[kind]))


@pytest.mark.parametrize("kind", list(KINDS))
def test_json_schema_accepts_a_minimal_document(kind: str) -> None:
    schema = json_schema(f"{SCHEMA_DIR}/{kind.lower()}.json")
    Draft202012Validator.check_schema(schema)
    assert errors(schema, document(kind, MINIMAL_SPECS[kind])) == []


@pytest.mark.parametrize("kind", list(KINDS))
def test_json_schema_refuses_unknown_fields(kind: str) -> None:
    schema = json_schema(f"{SCHEMA_DIR}/{kind.lower()}.json")
    in_spec = document(kind, {**MINIMAL_SPECS[kind], "colour": "red"})
    at_top = {**document(kind, MINIMAL_SPECS[kind]), "specs": {}}
    assert any("colour" in message for message in errors(schema, in_spec))
    assert any("specs" in message for message in errors(schema, at_top))


@pytest.mark.parametrize("kind", list(KINDS))
def test_json_schema_fixes_api_version_and_kind(kind: str) -> None:
    schema = json_schema(f"{SCHEMA_DIR}/{kind.lower()}.json")
    assert schema["properties"]["apiVersion"]["const"] == API_VERSION
    assert schema["properties"]["kind"]["const"] == kind
    assert errors(schema, {**document(kind, MINIMAL_SPECS[kind]), "apiVersion": "v1"}) != []


def test_all_kinds_schema_validates_each_kind_by_its_own_schema() -> None:
    schema = json_schema(ALL_KINDS_FILE)
    Draft202012Validator.check_schema(schema)
    for kind, spec in MINIMAL_SPECS.items():
        assert errors(schema, document(kind, spec)) == [], kind
    team_spec_as_charger = document("Charger", MINIMAL_SPECS["Team"])
    assert errors(schema, team_spec_as_charger) != []


def test_all_kinds_schema_refuses_an_unknown_kind() -> None:
    schema = json_schema(ALL_KINDS_FILE)
    assert errors(schema, document("Chargepoint", MINIMAL_SPECS["Charger"])) != []
    assert errors(schema, {"apiVersion": API_VERSION, "metadata": {"name": "x"}}) != []


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    """The documents of the example fleet, as JSON data (YAML timestamps become strings)."""
    yaml = YAML(typ="safe")
    found = []
    for path in sorted((REPO_ROOT / "examples" / "fleet").rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text()):
            if isinstance(doc, dict):
                data = json.loads(json.dumps(doc, default=lambda value: value.isoformat()))
                found.append((f"{path.relative_to(REPO_ROOT)}:{doc.get('kind')}", data))
    return found


def test_real_documents_are_valid_for_editors_and_for_the_api_server() -> None:
    """The example fleet, which the models accept, passes both generated schemas too."""
    documents = example_documents()
    assert documents, "examples/fleet has no documents"
    all_kinds = json_schema(ALL_KINDS_FILE)
    for where, doc in documents:
        assert errors(all_kinds, doc) == [], where
        assert errors(as_json_schema(openapi_schema(doc["kind"])), doc) == [], where


# --- the chart ------------------------------------------------------------------------------------


def test_chart_rbac_covers_every_kind() -> None:
    """The chart's ClusterRole is written by hand: a new kind must be added to it too."""
    rbac = (REPO_ROOT / "charts/chargectl/templates/rbac.yaml").read_text()
    for resource in KINDS.values():
        assert re.search(rf"\b{resource.PLURAL}\b", rbac), resource.PLURAL
        assert f"{resource.PLURAL}/status" in rbac, resource.PLURAL
