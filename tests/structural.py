"""The Kubernetes API server's structural-schema rules, as a function the tests call.

`structural_problems` says why the API server would refuse a schema as a CRD's
openAPIV3Schema, so a CRD that Kubernetes would refuse is caught by the unit tests
(tests/unit/resources/test_schemas.py) rather than by `kubectl apply`. Only the tests need it:
`controller.resources.generation` writes the CRDs, this checks them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

Schema = dict[str, Any]
"""A JSON Schema or OpenAPI v3 schema node, as plain JSON data."""


# --- the rules -----------------------------------------------------------------------------------

_TYPES: Final = frozenset({"object", "array", "string", "integer", "number", "boolean"})

_ALLOWED_KEYWORDS: Final = frozenset(
    {
        "description",
        "type",
        "format",
        "title",
        "default",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "multipleOf",
        "enum",
        "maxProperties",
        "minProperties",
        "required",
        "items",
        "allOf",
        "oneOf",
        "anyOf",
        "not",
        "properties",
        "additionalProperties",
        "nullable",
        "example",
        "externalDocs",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
    }
)
"""Keywords of apiextensions.k8s.io/v1 JSONSchemaProps that a CRD schema may use. The others
it knows ($ref, $schema, id, definitions, dependencies, patternProperties, additionalItems) are
refused by the API server, and keywords it does not know at all are unknown fields."""

_JUNCTORS: Final = ("allOf", "anyOf", "oneOf")

_FORBIDDEN_IN_JUNCTORS: Final = (
    "type",
    "description",
    "title",
    "default",
    "nullable",
    "additionalProperties",
    "externalDocs",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
)
"""What the value validations under allOf/anyOf/oneOf/not may not say: they may only narrow
the values of the structure the node itself declares, never declare structure of their own."""

_FORMATS: Final = frozenset(
    {
        "bsonobjectid",
        "byte",
        "cidr",
        "date",
        "date-time",
        "datetime",
        "double",
        "duration",
        "email",
        "float",
        "hostname",
        "int32",
        "int64",
        "ipv4",
        "ipv6",
        "mac",
        "password",
        "uri",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
    }
)
"""Formats the API server's validator knows; it silently ignores others."""

_NOT_RE2: Final = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]")
"""Lookarounds and back-references: Python and ECMA regexes have them, Go's RE2 does not."""

_INT_OR_STRING_ANY_OF: Final = [{"type": "integer"}, {"type": "string"}]

_PYTHON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def structural_problems(schema: Schema, path: str = "") -> list[str]:
    """Why the API server would refuse `schema` as a CRD's openAPIV3Schema; [] if it would not.

    Follows Kubernetes' rules for structural schemas (apiextensions-apiserver: every node
    typed, value validations that only narrow, metadata left to the server) and the CRD
    validation around them (no $ref, no `additionalProperties: false`, no `uniqueItems: true`,
    known keywords only). `path` prefixes the messages; an empty path means the schema root.
    """
    return list(_node_problems(schema, path, root=not path))


def _where(path: str) -> str:
    return path or "(root)"


def _node_problems(node: Any, path: str, *, root: bool = False) -> Iterator[str]:
    if not isinstance(node, dict):
        yield f"{_where(path)}: must be a schema object, not {type(node).__name__}"
        return
    yield from _keyword_problems(node, path)
    yield from _type_problems(node, path, root=root)
    yield from _map_problems(node, path, root=root)
    yield from _value_problems(node, path)
    yield from _extension_problems(node, path)
    if root:
        yield from _root_problems(node, path)
    for name, sub in node.get("properties", {}).items():
        if not (root and name == "metadata"):
            yield from _node_problems(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _node_problems(node["items"], f"{path}[*]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _node_problems(node["additionalProperties"], f"{path}.*")
    yield from _junctor_problems(node, path)


def _keyword_problems(node: Schema, path: str) -> Iterator[str]:
    for key in sorted(set(node) - _ALLOWED_KEYWORDS):
        hint = " (inline the definition)" if key in ("$ref", "$defs", "definitions") else ""
        hint = " (use enum: [value])" if key == "const" else hint
        yield f"{_where(path)}: keyword {key!r} is not allowed in a CRD schema{hint}"


def _type_problems(node: Schema, path: str, *, root: bool) -> Iterator[str]:
    kind = node.get("type")
    if kind is None:
        exempt = node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        if root or not exempt:
            yield f"{_where(path)}: has no type"
    elif not isinstance(kind, str) or kind not in _TYPES:
        yield f"{_where(path)}: type {kind!r} is not one of {', '.join(sorted(_TYPES))}"
    if kind == "array" and not isinstance(node.get("items"), dict):
        yield f"{_where(path)}: an array needs items, one schema"
    if root and kind not in (None, "object"):
        yield f"{_where(path)}: must be an object at the root"


def _map_problems(node: Schema, path: str, *, root: bool) -> Iterator[str]:
    if "additionalProperties" not in node:
        return
    extra = node["additionalProperties"]
    if extra is False:
        yield (
            f"{_where(path)}: additionalProperties: false is not allowed; "
            "the API server prunes unknown fields"
        )
    elif not isinstance(extra, dict):
        yield (
            f"{_where(path)}: additionalProperties must be a schema; "
            "use x-kubernetes-preserve-unknown-fields to keep unknown fields"
        )
    if node.get("properties"):
        yield f"{_where(path)}: properties and additionalProperties are mutually exclusive"
    if root:
        yield f"{_where(path)}: additionalProperties is not allowed at the root"


def _value_problems(node: Schema, path: str) -> Iterator[str]:
    where = _where(path)
    if node.get("uniqueItems") is True:
        yield f"{where}: uniqueItems: true is not allowed (quadratic to check)"
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in node and not isinstance(node[key], bool):
            yield f"{where}: {key} must be a boolean next to minimum/maximum (OpenAPI v3.0)"
    if "format" in node and node["format"] not in _FORMATS:
        yield f"{where}: format {node['format']!r} is unknown to the API server"
    if isinstance(node.get("pattern"), str) and _NOT_RE2.search(node["pattern"]):
        yield f"{where}: pattern uses lookaround or back-references, which RE2 lacks"
    if "nullable" in node and not isinstance(node["nullable"], bool):
        yield f"{where}: nullable must be a boolean"
    if "default" in node and not _valid_default(node, node["default"]):
        yield f"{where}: default {node['default']!r} does not validate against the schema"


def _valid_default(node: Schema, value: Any) -> bool:
    """A shallow check: the type, and the enum when there is one."""
    if value is None:
        return bool(node.get("nullable"))
    expected = _PYTHON_TYPES.get(str(node.get("type")))
    if expected is not None and (
        not isinstance(value, expected)
        or (isinstance(value, bool) and node.get("type") in ("integer", "number"))
    ):
        return False
    return "enum" not in node or value in node["enum"]


def _extension_problems(node: Schema, path: str) -> Iterator[str]:
    where = _where(path)
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if preserve is not None and preserve is not True:
        yield f"{where}: x-kubernetes-preserve-unknown-fields must be true or absent"
    if preserve and node.get("x-kubernetes-int-or-string"):
        yield f"{where}: x-kubernetes-int-or-string excludes x-kubernetes-preserve-unknown-fields"
    if node.get("x-kubernetes-list-type") == "map":
        yield from _list_map_problems(node, where)


def _list_map_problems(node: Schema, where: str) -> Iterator[str]:
    items = node.get("items", {})
    keys = node.get("x-kubernetes-list-map-keys") or []
    if node.get("type") != "array" or items.get("type") != "object":
        yield f"{where}: x-kubernetes-list-type map needs an array of objects"
    if not keys:
        yield f"{where}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys"
    for key in keys:
        if key not in items.get("required", []) and "default" not in items.get(
            "properties", {}
        ).get(key, {}):
            yield f"{where}: list map key {key!r} must be required or defaulted"


def _root_problems(node: Schema, path: str) -> Iterator[str]:
    properties = node.get("properties", {})
    for name in ("apiVersion", "kind"):
        if name in properties and properties[name].get("type") != "string":
            yield f"{_where(path)}.{name}: must be of type string"
    metadata = properties.get("metadata")
    if metadata is None:
        return
    restricted = set(metadata.get("properties", {})) - {"name", "generateName"}
    if set(metadata) - {"type", "properties"} or restricted or metadata.get("type") != "object":
        yield (
            f"{_where(path)}.metadata: must be just type: object (the API server owns its "
            "schema; only name and generateName may be restricted)"
        )


def _junctor_problems(node: Schema, path: str) -> Iterator[str]:
    skip_any_of = node.get("x-kubernetes-int-or-string") and (
        node.get("anyOf") == _INT_OR_STRING_ANY_OF
    )
    for junctor in _JUNCTORS:
        if junctor == "anyOf" and skip_any_of:
            continue
        for index, branch in enumerate(node.get(junctor, [])):
            yield from _branch_problems(branch, node, f"{path}.{junctor}[{index}]")
    if "not" in node:
        yield from _branch_problems(node["not"], node, f"{path}.not")


def _branch_problems(branch: Any, structure: Schema, path: str) -> Iterator[str]:
    """A value validation under a junctor, against the structure `structure` declares."""
    if not isinstance(branch, dict):
        yield f"{path}: must be a schema object"
        return
    for key in _FORBIDDEN_IN_JUNCTORS:
        if key in branch:
            yield f"{path}: {key!r} is not allowed under allOf/anyOf/oneOf/not"
    for key in sorted(set(branch) - _ALLOWED_KEYWORDS):
        yield f"{path}: keyword {key!r} is not allowed in a CRD schema"
    declared = structure.get("properties", {})
    for name, sub in branch.get("properties", {}).items():
        if name == "metadata":
            yield f"{path}.metadata: must not be specified under a junctor"
        elif name not in declared:
            yield f"{path}.{name}: is not declared in the properties outside the junctor"
        else:
            yield from _branch_problems(sub, declared[name], f"{path}.{name}")
    if "items" in branch:
        if not isinstance(structure.get("items"), dict):
            yield f"{path}: items are not declared outside the junctor"
        else:
            yield from _branch_problems(branch["items"], structure["items"], f"{path}[*]")
    for junctor in _JUNCTORS:
        for index, sub in enumerate(branch.get(junctor, [])):
            yield from _branch_problems(sub, structure, f"{path}.{junctor}[{index}]")
    if "not" in branch:
        yield from _branch_problems(branch["not"], structure, f"{path}.not")
