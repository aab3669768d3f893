"""The CEL rules of the generated CRDs (`x-kubernetes-validations`), evaluated as the API
server would at `kubectl apply`: every rule compiles; the example fleet passes every one; each
refuses what `chargectl validate` refuses, in validate's words where it mirrors a fleet rule;
and none refuses a document that validate lets through (a warning is not a refusal).

There is no kube-apiserver here: the rules run on cel-python (`celpy`), a CEL implementation
with RE2 regular expressions as Kubernetes has. It does not estimate a rule's cost as the API
server does when the CRD is created; the rules that iterate a list iterate bounded ones
(`maxItems`), which is what that estimate needs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from controller.fleet.checking import check_paths
from controller.fleet.problems import Severity
from controller.resources import API_VERSION, KINDS
from controller.resources.generation import CRD_DIR, render_all

celpy = pytest.importorskip("celpy", reason="cel-python is not installed (pip install '.[dev]')")

REPO_ROOT = Path(__file__).resolve().parents[3]
FLEET = REPO_ROOT / "examples" / "fleet"
INVALID = REPO_ROOT / "examples" / "invalid"

Schema = dict[str, Any]

_ENVIRONMENT = celpy.Environment()


rendered = functools.cache(render_all)


@functools.cache
def openapi_schema(kind: str) -> Schema:
    crd: Schema = YAML(typ="safe").load(rendered()[f"{CRD_DIR}/{KINDS[kind].PLURAL}.yaml"])
    schema: Schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def rules(schema: Schema, path: str = "") -> Iterator[tuple[str, dict[str, str]]]:
    """Every rule below `schema`, with the path of the node it is on."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule
    for name, sub in schema.get("properties", {}).items():
        yield from rules(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from rules(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from rules(schema["additionalProperties"], f"{path}.*")


@functools.cache
def program(expression: str) -> Any:
    return _ENVIRONMENT.program(_ENVIRONMENT.compile(expression))


def evaluate(expression: str, value: Any) -> Any:
    return program(expression).evaluate({"self": celpy.json_to_cel(value)})


def refusals(schema: Schema, value: Any, path: str = "") -> list[str]:
    """The messages the API server would refuse `value` with, by its CEL rules: each rule on
    each node present (a null is not validated), `messageExpression` first, as it words them."""
    if value is None:
        return []
    found: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        if not bool(evaluate(rule["rule"], value)):
            message = rule["message"]
            if "messageExpression" in rule:
                with contextlib.suppress(celpy.CELEvalError):  # the API server falls back too
                    message = str(evaluate(rule["messageExpression"], value))
            found.append(f"{path or '<root>'}: {message}")
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += refusals(sub, value[name], f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                found += refusals(extra, item, f"{path}.{name}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += refusals(schema["items"], item, f"{path}[{i}]")
    return found


def documents(path: Path) -> list[dict[str, Any]]:
    """The resources in a file, as JSON data (YAML timestamps become strings)."""
    found = []
    try:
        loaded = list(YAML(typ="safe").load_all(path.read_text(encoding="utf-8")))
    except YAMLError:
        return []  # a file that tests the YAML reader: kubectl would not send it either
    for doc in loaded:
        if isinstance(doc, dict) and doc.get("kind") in KINDS:
            found.append(json.loads(json.dumps(doc, default=lambda value: value.isoformat())))
    return found


def example(kind: str, name: str) -> dict[str, Any]:
    """A document of the example fleet, to change one thing in."""
    for path in sorted(FLEET.rglob("*.yaml")):
        for doc in documents(path):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise LookupError(f"no {kind} {name} in examples/fleet")


def refused_by_cel(doc: dict[str, Any]) -> list[str]:
    return refusals(openapi_schema(doc["kind"]), doc)


# --- every rule is CEL, and the example fleet passes them all ------------------------------------


def all_rules() -> list[tuple[str, str, dict[str, str]]]:
    return [(kind, path, rule) for kind in KINDS for path, rule in rules(openapi_schema(kind))]


def test_there_are_rules_for_the_kinds_that_need_them() -> None:
    kinds = {kind for kind, _, _ in all_rules()}
    assert kinds == {"Charger", "Location", "Tariff", "PowerLimit"}


@pytest.mark.parametrize(
    ("kind", "path", "rule"),
    all_rules(),
    ids=[f"{kind}{path}:{rule['message'][:40]}" for kind, path, rule in all_rules()],
)
def test_every_rule_and_message_expression_compiles(
    kind: str, path: str, rule: dict[str, str]
) -> None:
    _ENVIRONMENT.compile(rule["rule"])
    if "messageExpression" in rule:
        _ENVIRONMENT.compile(rule["messageExpression"])
    assert rule["message"].strip(), "a rule needs a message for when its expression fails"


def test_the_example_fleet_passes_every_rule() -> None:
    docs = [doc for path in sorted(FLEET.rglob("*.yaml")) for doc in documents(path)]
    assert len(docs) > 20
    for doc in docs:
        assert refused_by_cel(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


# --- what the rules refuse, in whose words ------------------------------------------------------


def validate_problems(path: Path) -> list[tuple[str, str, Severity]]:
    """`chargectl validate examples/fleet PATH`'s problems in PATH: (code, message, severity)."""
    report = check_paths([FLEET, path])
    return [
        (p.code, p.message, p.severity)
        for p in report.problems
        if p.source is not None and Path(p.source.file).resolve() == path.resolve()
    ]


MIRRORED_CODES = {"schedule-over-limit", "invalid-identity"}
"""Fleet-wide problems of validate that one object shows on its own, and that a CEL rule
refuses with validate's own message."""


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.name)
def test_rules_refuse_no_more_than_validate_and_in_its_words(path: Path) -> None:
    docs = documents(path)
    if not docs:
        pytest.skip("no resource of a known kind here: what it tests is before the API server")
    problems = validate_problems(path)
    refused = [message for doc in docs for message in refused_by_cel(doc)]
    errors = [(code, message) for code, message, severity in problems if severity is Severity.ERROR]
    if not errors:
        assert refused == [], "a warning of validate must not be a refusal of the API server"
    words = {message.split(": ", 1)[1] for message in refused}
    for code, message in errors:
        if code in MIRRORED_CODES:
            assert message in words, f"{code}: the API server should say {message!r}"


def changed(kind: str, name: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """An example document with the value at `path` replaced (None: removed)."""
    doc = copy.deepcopy(example(kind, name))
    node: Any = doc
    for step in path[:-1]:
        node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return doc


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "limit with both currentPerPhase and power": (
        changed(
            "PowerLimit", "acme-hq-grid", ("spec", "limit"), {"currentPerPhase": 63, "power": 1}
        ),
        ".spec.limit: give exactly one of currentPerPhase or power",
    ),
    "limit with neither": (
        changed("PowerLimit", "acme-hq-grid", ("spec", "limit"), {}),
        ".spec.limit: give exactly one of currentPerPhase or power",
    ),
    "a schedule above a limit in watts": (
        changed(
            "PowerLimit",
            "acme-hq-grid",
            ("spec",),
            {
                "location": "acme-hq",
                "limit": {"power": 43470},
                "phases": 3,
                "schedule": [{"start": "08:00", "end": "18:00", "limit": {"currentPerPhase": 64}}],
            },
        ),
        ".spec: scheduled limit of 64 A per phase is above the circuit's own 63 A per phase; "
        "a schedule can only lower the limit",
    ),
    "its own parent": (
        changed("PowerLimit", "acme-hq-grid", ("spec", "parent"), "acme-hq-grid"),
        "<root>: circuits form a loop: acme-hq-grid → acme-hq-grid",
    ),
    "a secret reference with two places": (
        changed(
            "Charger",
            "acme-hq-01",
            ("spec", "security", "basicAuthPassword"),
            {"env": "PW", "file": "/run/pw"},
        ),
        ".spec.security.basicAuthPassword: give exactly one of secretKeyRef, env or file",
    ),
    "profile 1 without a password": (
        changed("Charger", "acme-hq-01", ("spec", "security"), {"profile": 1}),
        ".spec.security: security profile 1 needs basicAuthPassword (a reference)",
    ),
    "an identity of dots alone": (
        changed("Charger", "acme-hq-01", ("spec", "ocppIdentity"), ".."),
        ".spec.ocppIdentity: '..' is not an OCPP identity (identifierString): '..' names a "
        "directory in a URL, not a charger",
    ),
    "a VAT rate above 100": (
        changed("Tariff", "public-standard", ("spec", "vatRate"), "100.5"),
        ".spec.vatRate: a VAT rate is a percentage between 0 and 100",
    ),
    "a latitude beyond the pole": (
        changed(
            "Location",
            "acme-hq",
            ("spec", "coordinates"),
            {"latitude": "90.5", "longitude": "4.9"},
        ),
        ".spec.coordinates.latitude: latitude must be between -90 and 90",
    ),
    "a longitude beyond the date line": (
        changed(
            "Location",
            "acme-hq",
            ("spec", "coordinates"),
            {"latitude": "52.1", "longitude": "-180.01"},
        ),
        ".spec.coordinates.longitude: longitude must be between -180 and 180",
    ),
}


@pytest.mark.parametrize(("doc", "message"), list(CASES.values()), ids=list(CASES))
def test_a_rule_refuses_what_the_model_refuses(doc: dict[str, Any], message: str) -> None:
    assert refused_by_cel(doc) == [message]
    if message.startswith("<root>") or "scheduled limit" in message:
        return  # a fleet-wide rule of validate, compared with its words above
    with pytest.raises(ValidationError):
        KINDS[doc["kind"]].model_validate(doc)


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        (
            changed("Charger", "acme-hq-01", ("spec", "security"), {"profile": 3}),
            "profile 3 needs no password",
        ),
        (changed("Charger", "acme-hq-01", ("spec", "ocppIdentity"), "a.b"), "dots among others"),
        (changed("Tariff", "public-standard", ("spec", "vatRate"), "100"), "100 %"),
        (
            changed(
                "PowerLimit",
                "acme-hq-grid",
                ("spec", "schedule"),
                [{"start": "08:00", "end": "18:00", "limit": {"power": 43470}}],
            ),
            "a schedule in watts at the limit",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_rule_lets_through_what_the_model_accepts(doc: dict[str, Any], why: str) -> None:
    KINDS[doc["kind"]].model_validate(doc)
    assert refused_by_cel(doc) == [], why


def test_documents_carry_api_version() -> None:
    """Keeps the fixtures honest: the cases are documents of the example fleet."""
    for doc, _ in CASES.values():
        assert doc["apiVersion"] == API_VERSION
