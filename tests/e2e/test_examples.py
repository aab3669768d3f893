"""The examples, end to end through the real `chargectl validate`.

- `examples/fleet` is a valid fleet: no error, no warning.
- Every file in `examples/invalid` is checked together with that fleet, and must produce exactly
  the problems its `# <- <code>` markers announce: same file, same line, same code, same count.
  A new, unexpected problem (or one on another line) fails the test.
- Every example file starts with a yaml-language-server modeline whose schema exists, and every
  fleet file satisfies the schema it names (what the editor shows agrees with the validator).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet"
INVALID = ROOT / "examples" / "invalid"
SCHEMAS = ROOT / "schemas"
CONTROLLER = ROOT / "controller"

MARKER = re.compile(r"#\s*<-\s*([a-z][a-z0-9-]*)\s*$")
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")

WARNING_CODES = frozenset(
    {
        "card-expired",
        "no-maintenance-window",
        "unknown-variable",
        "unmanaged-declared",
        "empty-window",
    }
)
"""Codes reported as warnings: exit 0 unless --strict."""

NOT_EXPRESSIBLE_AS_A_FILE = frozenset({"path-not-found", "unreadable-file"})
"""Codes with no example file: a path that does not exist, a file that is not UTF-8."""

INVALID_FILES = sorted(INVALID.glob("*.yaml"))
EXAMPLE_FILES = sorted([*FLEET.rglob("*.yaml"), *INVALID_FILES])


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def validate(*args: str) -> tuple[int, str]:
    """`chargectl validate ARGS` in-process; returns exit code and stdout."""
    result = CliRunner().invoke(main, ["validate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout


def validate_json(*paths: Path, strict: bool = False) -> tuple[int, dict[str, Any]]:
    args = ["--output", "json", *(["--strict"] if strict else []), *(str(p) for p in paths)]
    code, out = validate(*args)
    return code, json.loads(out)


def markers(path: Path) -> Counter[tuple[Path, int, str]]:
    """The (file, line, code) problems a file announces with `# <- code` comments."""
    found: Counter[tuple[Path, int, str]] = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            found[(path.resolve(), number, match.group(1))] += 1
    return found


def reported(document: dict[str, Any]) -> Counter[tuple[Path, int, str]]:
    return Counter(
        (Path(p["file"]).resolve() if p["file"] else Path("<fleet>"), p["line"], p["code"])
        for p in document["problems"]
    )


# --- the good fleet ----------------------------------------------------------------------------


def test_example_fleet_is_valid() -> None:
    code, document = validate_json(FLEET, strict=True)
    assert document["problems"] == []
    assert (document["errors"], document["warnings"]) == (0, 0)
    assert document["valid"] is True
    assert code == 0
    assert document["resources"] >= 30


def test_example_fleet_has_what_it_promises() -> None:
    """The fleet stays a realistic one: both OCPP versions, three locations, the kinds used."""
    from controller.fleet.checking import check_paths
    from controller.resources.settings import OcppVersion

    fleet = check_paths([FLEET]).fleet
    assert len(fleet.teams) == 2 and len(fleet.locations) == 3
    assert {c.resource.spec.ocpp_version for c in fleet.chargers.values()} == set(OcppVersion)
    assert sorted(len(fleet.chargers_at(name)) for name in fleet.locations) == [1, 6, 10]
    assert any(pl.resource.spec.parent for pl in fleet.power_limits.values())
    assert len(fleet.cards) >= 8 and fleet.tariffs


def test_console_script_validates_the_fleet() -> None:
    """The installed entry point, as CI calls it, in a subprocess."""
    script = Path(sys.executable).parent / "chargectl"
    command = str(script) if script.exists() else shutil.which("chargectl")
    assert command is not None
    done = subprocess.run(
        [command, "validate", _rel(FLEET)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid." in done.stdout


# --- one broken file per rule ------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_example_reports_exactly_its_markers(path: Path) -> None:
    expected = markers(path)
    assert expected, f"{_rel(path)} has no '# <- <code>' marker"
    codes = {code for _, _, code in expected}
    assert path.stem in codes, f"{_rel(path)} is named after a code it does not mark"

    code, document = validate_json(FLEET, path)
    got = reported(document)
    assert got == expected, (
        f"{_rel(path)}: unexpected {sorted(got - expected)}; missing {sorted(expected - got)}\n"
        + "\n".join(
            f"  {p['file']}:{p['line']}: {p['code']}: {p['message']}" for p in document["problems"]
        )
    )

    for problem in document["problems"]:
        wanted = "warning" if problem["code"] in WARNING_CODES else "error"
        assert problem["severity"] == wanted, problem
    warning_only = codes <= WARNING_CODES
    assert code == (0 if warning_only else 1)
    assert document["valid"] is warning_only

    strict_code, strict_document = validate_json(FLEET, path, strict=True)
    assert strict_code == 1
    assert strict_document["valid"] is False
    assert reported(strict_document) == expected


def _codes_in_source() -> set[str]:
    """Every problem code the loader and the fleet checks can report."""
    codes: set[str] = set()
    for module in ("loading.py", "model.py", "validation.py", "checking.py"):
        text = (CONTROLLER / "fleet" / module).read_text(encoding="utf-8")
        codes.update(re.findall(r'(?:Problem|_problem)\(\s*"([a-z][a-z0-9-]*)"', text))
        codes.update(re.findall(r'code = "([a-z][a-z0-9-]*)" if', text))
        codes.update(re.findall(r'\belse "([a-z][a-z0-9-]*)"\n', text))
    return codes


def test_every_problem_code_has_an_invalid_example() -> None:
    source = _codes_in_source()
    assert {"yaml-syntax", "duplicate-key", "unresolved-reference", "tariff-overlap"} <= source
    examples = {path.stem for path in INVALID_FILES}
    missing = source - NOT_EXPRESSIBLE_AS_A_FILE - examples
    assert not missing, f"add examples/invalid/<code>.yaml for: {', '.join(sorted(missing))}"
    assert examples >= WARNING_CODES


def test_invalid_example_comment_says_what_it_breaks() -> None:
    for path in INVALID_FILES:
        second = path.read_text(encoding="utf-8").splitlines()[1]
        assert second.startswith(f"# {path.stem}"), f"{_rel(path)}: line 2 should explain the rule"


def test_human_output_names_file_line_column_and_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # paths are printed as given: relative, as in CI
    path = INVALID / "unknown-field.yaml"
    [(_, line, code)] = markers(path)
    exit_code, out = validate(_rel(FLEET), _rel(path))
    assert exit_code == 1
    assert re.search(
        rf"(^|\n){re.escape(_rel(path))}:{line}:\d+: error\[{code}\]: unknown field ", out
    ), out
    assert "\x1b[" not in out, "no colour codes when the output is not a terminal"
    assert "1 error" in out


# --- editor support ----------------------------------------------------------------------------


def _kinds(text: str) -> set[str]:
    return set(re.findall(r"^(?:- |  )?kind:[ \t]*([A-Za-z]+)", text, flags=re.MULTILINE))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_rel)
def test_example_starts_with_schema_modeline(path: Path) -> None:
    from controller.resources import KINDS

    text = path.read_text(encoding="utf-8")
    match = MODELINE.match(text.splitlines()[0])
    assert match, f"{_rel(path)} must start with '# yaml-language-server: $schema=<path>'"
    target = (path.parent / match.group(1)).resolve()
    assert target.parent == SCHEMAS.resolve(), f"{_rel(path)}: schema is not in schemas/"

    kinds = _kinds(text)
    if len(kinds) == 1 and next(iter(kinds)) in KINDS:
        allowed = {f"{next(iter(kinds)).lower()}.json", "all.json"}
    else:
        allowed = {"all.json"}
    assert target.name in allowed, f"{_rel(path)}: expected one of {sorted(allowed)}"

    assert target.exists(), f"{_rel(path)}: {match.group(1)} does not exist"


@pytest.mark.parametrize("path", sorted(FLEET.rglob("*.yaml")), ids=_rel)
def test_fleet_file_satisfies_its_schema(path: Path) -> None:
    """What the editor shows through the modeline agrees with `chargectl validate`: no squiggle
    on a valid fleet file."""
    from datetime import date, datetime

    import jsonschema
    from ruamel.yaml import YAML

    match = MODELINE.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert match
    schema_file = path.parent / match.group(1)
    assert schema_file.exists(), f"{schema_file} is missing: run `chargectl schemas`"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)

    def as_json(value: object) -> object:
        # YAML timestamps reach the editor's validator (and the API server) as strings.
        return value.isoformat() if isinstance(value, datetime | date) else str(value)

    for index, document in enumerate(YAML(typ="safe").load_all(path.read_text("utf-8"))):
        if document is None:
            continue
        instance = json.loads(json.dumps(document, default=as_json))
        errors = [
            f"document {index + 1} at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(instance)
        ]
        assert not errors, f"{_rel(path)} against {match.group(1)}:\n" + "\n".join(errors)
