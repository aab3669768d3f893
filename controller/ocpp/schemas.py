"""Payload validation against the OCPP JSON schemas, compiled once into Python code.

The schemas are the ones the `ocpp` library ships (copied from the specifications). The
library checks each message with `jsonschema`, interpreting the schema on every call, which is
most of its per-message cost; fastjsonschema compiles each schema once into a plain Python
function, an order of magnitude cheaper on a Heartbeat. The violated rule decides the CALLERROR
kind (see `rpc.ErrorKind`), as the specifications define them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from controller.ocpp.rpc import ErrorKind, RpcError, RpcVersion

Validator = Callable[[Any], Any]

_RULE_KINDS: dict[str, ErrorKind] = {
    "required": ErrorKind.OCCURRENCE,
    "minItems": ErrorKind.OCCURRENCE,
    "maxItems": ErrorKind.OCCURRENCE,
    "type": ErrorKind.TYPE,
    "maxLength": ErrorKind.TYPE,
    "minLength": ErrorKind.TYPE,
    "enum": ErrorKind.PROPERTY,
    "const": ErrorKind.PROPERTY,
    "minimum": ErrorKind.PROPERTY,
    "maximum": ErrorKind.PROPERTY,
    "exclusiveMinimum": ErrorKind.PROPERTY,
    "exclusiveMaximum": ErrorKind.PROPERTY,
    "pattern": ErrorKind.PROPERTY,
    "format": ErrorKind.PROPERTY,
    "additionalProperties": ErrorKind.FORMAT,
}


_FOLDERS: dict[RpcVersion, tuple[str, str]] = {
    RpcVersion.V16: ("v16", ""),
    RpcVersion.V201: ("v201", "Request"),
}
"""Each version's folder of schemas in the `ocpp` library, and the suffix of its request
schemas' names: file names differ by version (1.6 `Heartbeat.json`, 2.0.1
`HeartbeatRequest.json`)."""


def _schema_file(version: RpcVersion, action: str, response: bool) -> str:
    return f"{action}Response.json" if response else f"{action}{_FOLDERS[version][1]}.json"


def _strip_multiple_of(node: Any) -> Any:
    """multipleOf 0.1 on floats fails on binary rounding (21.4 → 21.399…); it guards nothing."""
    if isinstance(node, dict):
        return {k: _strip_multiple_of(v) for k, v in node.items() if k != "multipleOf"}
    if isinstance(node, list):
        return [_strip_multiple_of(v) for v in node]
    return node


def _tolerate_hertz(schema: Any) -> Any:
    """The `ocpp` library's 1.6 MeterValues schema allows the unit "Hertz" (not in OCPP 1.6)
    but its StopTransaction schema does not, so a charger that reports frequency would have its
    StopTransaction refused and the transaction never closed. Accept it in both."""
    if isinstance(schema, dict):
        enum = schema.get("enum")
        if isinstance(enum, list) and "Celsius" in enum and "Hertz" not in enum:
            schema = {**schema, "enum": [*enum, "Hertz"]}
        return {k: _tolerate_hertz(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_tolerate_hertz(v) for v in schema]
    return schema


@cache
def validator(version: RpcVersion, action: str, response: bool = False) -> Validator | None:
    """The compiled validator of an action's request (or response); None if none exists."""
    path = resources.files("ocpp").joinpath(
        _FOLDERS[version][0], "schemas", _schema_file(version, action, response)
    )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, OSError):
        return None
    schema = _tolerate_hertz(_strip_multiple_of(json.loads(text)))
    schema.pop("$id", None)
    compiled: Validator = fastjsonschema.compile(schema)
    return compiled


def known_actions(version: RpcVersion) -> frozenset[str]:
    """Every action the specification defines (those with a request schema)."""
    folder, request_suffix = _FOLDERS[version]
    names = set()
    for entry in resources.files("ocpp").joinpath(folder, "schemas").iterdir():
        name = entry.name.removesuffix(".json")
        if name.endswith("Response"):
            continue
        names.add(name.removesuffix(request_suffix))
    return frozenset(names)


def validate(
    version: RpcVersion, action: str, payload: dict[str, Any], message_id: str, response: bool
) -> None:
    """Raise the RpcError the specification prescribes when `payload` breaks the schema."""
    check = validator(version, action, response)
    if check is None:
        raise RpcError(ErrorKind.NOT_IMPLEMENTED, f"unknown action {action!r}", message_id)
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        kind = _RULE_KINDS.get(exc.rule or "", ErrorKind.FORMAT)
        raise RpcError(kind, f"{action}: {exc.message}", message_id) from None
