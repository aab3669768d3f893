"""Threat: a fleet change declares a charger identity OCPP does not allow.

The identity is the last segment of the charger's websocket URL and the key of everything
recorded about it. Someone who can propose a fleet change (a pull request, `kubectl apply`)
could declare one with `/`, `..`, `%2F`, a space or a control character in it, so that the
URL, the store and the logs read it as something else; one longer than the 48 characters of
OCPP's identifierString, which no charger could connect as (a `metadata.name` standing in for
the identity may be 253); or one differing from another only in case, so that one charger
takes over the other's session. Each is refused before anything runs: by `chargectl validate`
as CI runs it (a subprocess, its JSON output), by `chargectl serve`'s loading (nothing is
started, no store is written), and for a custom resource as the Kubernetes source reads it.
Every refusal points at the value that is the identity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.fleet.loading import parse_document
from controller.fleet.model import Fleet, Loaded
from controller.fleet.problems import Source
from controller.fleet.validation import check_fleet
from controller.runtime.serve import FleetInvalid, ServeOptions, running

FLEET = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: ops
spec:
  displayName: Ops
  handle: ops
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata:
  name: garage
spec:
  team: ops
  displayName: Garage
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata:
  name: bay-1
spec:
  location: garage
  ocppVersion: "1.6"
  connectors: [{id: 1, type: Type2, maxCurrent: 16}]
"""

CHARGER = """\
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata:
  name: {name}
spec:
  location: garage
{identity}  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 16}}]
"""
"""A second charger: its name on line 4 at column 9, its ocppIdentity (if any) on line 7 at
column 17."""

NAME_AT = (4, 9)
IDENTITY_AT = (7, 17)

OUTSIDE_IDENTIFIER_STRING = {
    "slash": "bay/1",
    "dot-dot-slash": "../admin",
    "percent-encoded-slash": "bay%2F1",
    "space": "bay 1",
    "newline": "bay\\nforged log line",
    "question-mark": "bay-1?admin=1",
    "non-ascii-lookalike": "bаy-1",  # a Cyrillic а
    "49-characters": "B" * 49,
    "dot-dot": "..",
}


def fleet(tmp_path: Path, *, name: str = "bay-2", identity: str | None = None) -> Path:
    root = tmp_path / "fleet"
    root.mkdir()
    (root / "base.yaml").write_text(FLEET, encoding="utf-8")
    line = f'  ocppIdentity: "{identity}"\n' if identity is not None else ""
    text = CHARGER.format(name=name, identity=line)
    (root / "charger.yaml").write_text(text, encoding="utf-8")
    return root


def validate(root: Path) -> tuple[int, dict[str, Any]]:
    """`chargectl validate --output json`, the installed console script, as CI runs it."""
    script = Path(sys.executable).parent / "chargectl"
    done = subprocess.run(
        [str(script), "validate", "--output", "json", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return done.returncode, json.loads(done.stdout)


def where(problem: dict[str, Any]) -> tuple[str, int, int]:
    return Path(problem["file"]).name, problem["line"], problem["column"]


@pytest.mark.parametrize(
    "identity", OUTSIDE_IDENTIFIER_STRING.values(), ids=list(OUTSIDE_IDENTIFIER_STRING)
)
def test_validate_refuses_an_ocpp_identity_outside_identifier_string(
    tmp_path: Path, identity: str
) -> None:
    code, report = validate(fleet(tmp_path, identity=identity))
    assert code == 1
    [problem] = report["problems"]
    assert problem["code"] == "invalid-value"
    assert problem["path"] == "spec.ocppIdentity"
    assert where(problem) == ("charger.yaml", *IDENTITY_AT)
    assert "is not an OCPP identity: " in problem["message"]


def test_validate_refuses_a_name_too_long_to_stand_in_for_the_identity(tmp_path: Path) -> None:
    name = "centrum-garage-level-p1-bay-08-east-wall-next-to-the-lift"  # 57 characters
    code, report = validate(fleet(tmp_path, name=name))
    assert code == 1
    [problem] = report["problems"]
    assert problem["code"] == "invalid-identity"
    assert where(problem) == ("charger.yaml", *NAME_AT)
    assert "defaults to metadata.name" in problem["message"]
    assert "57 characters long; at most 48" in problem["message"]
    assert problem["message"].endswith("set spec.ocppIdentity")


def test_validate_accepts_a_long_name_with_an_identity_that_fits(tmp_path: Path) -> None:
    name = "centrum-garage-level-p1-bay-08-east-wall-next-to-the-lift"
    code, report = validate(fleet(tmp_path, name=name, identity="CTR-P1-08"))
    assert (code, report["problems"]) == (0, [])


def test_validate_refuses_an_identity_that_differs_from_another_only_in_case(
    tmp_path: Path,
) -> None:
    code, report = validate(fleet(tmp_path, identity="BAY-1"))
    assert code == 1
    [problem] = report["problems"]
    assert problem["code"] == "duplicate-identity"
    assert where(problem) == ("charger.yaml", *IDENTITY_AT)


async def test_serve_starts_nothing_on_a_fleet_with_such_an_identity(tmp_path: Path) -> None:
    root = fleet(tmp_path, name="bay-" + "2" * 60)
    store = tmp_path / "state.db"
    options = ServeOptions(
        paths=[root], store_url=f"sqlite:///{store}", host="127.0.0.1", port=0, watch=False
    )
    with pytest.raises(FleetInvalid) as refused:
        async with running(options):
            pytest.fail("the central system started")
    assert [p.code for p in refused.value.problems] == ["invalid-identity"]
    assert not store.exists()


def test_a_custom_resource_with_such_an_identity_is_refused_as_kubectl_applied_it() -> None:
    """The Kubernetes source reads each custom resource through the same checks."""
    resource = {
        "apiVersion": "chargectl.io/v1alpha1",
        "kind": "Charger",
        "metadata": {"name": "bay-2"},
        "spec": {
            "location": "garage",
            "ocppIdentity": "bay/../1",
            "ocppVersion": "2.0.1",
            "connectors": [{"id": 1, "type": "Type2", "maxCurrent": 16}],
        },
    }
    charger, problems = parse_document(resource, Source("kubernetes"))
    assert charger is None
    assert [(p.code, p.path) for p in problems] == [("invalid-value", ("spec", "ocppIdentity"))]
    assert "'/'" in problems[0].message

    long_name = {**resource, "metadata": {"name": "b" * 49}, "spec": {**resource["spec"]}}
    del long_name["spec"]["ocppIdentity"]
    loaded, none = parse_document(long_name, Source("kubernetes"))
    assert loaded is not None and none == []
    built, _ = Fleet.build([Loaded(loaded, Source("kubernetes"))])
    problems = [p for p in check_fleet(built) if p.code == "invalid-identity"]
    assert [(p.code, p.path) for p in problems] == [("invalid-identity", ("metadata", "name"))]
