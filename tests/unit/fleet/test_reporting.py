"""Problems as people and machines see them: compiler-style text, JSON, GitHub annotations."""

from __future__ import annotations

import json
from pathlib import Path

import click

from controller.fleet.checking import check_paths
from controller.fleet.problems import Problem, Severity, Source
from controller.fleet.reporting import JSON_FORMAT_VERSION, format_github, format_human, format_json

BAD_TEAM = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: ops
spec:
  displayName: Ops
  handle: ops
  colour: red
"""


def problem(**changes: object) -> Problem:
    fields: dict[str, object] = {
        "code": "invalid-value",
        "message": "input should be a valid integer",
        "source": Source("fleet/chargers.yaml"),
        "path": ("spec", "connectors", 0, "maxCurrent"),
        "line": 12,
        "column": 19,
        "resource": "Charger/bay-1",
    }
    fields.update(changes)
    return Problem(**fields)  # type: ignore[arg-type]


# --- GitHub annotations ------------------------------------------------------------------------


def test_github_error_annotation_names_file_line_and_column() -> None:
    out = format_github([problem()])
    assert out == (
        "::error file=fleet/chargers.yaml,line=12,col=19,title=chargectl invalid-value"
        "::input should be a valid integer (spec.connectors[0].maxCurrent)"
    )


def test_github_warning_uses_the_warning_command() -> None:
    out = format_github([problem(severity=Severity.WARNING, code="card-expired")])
    assert out.startswith("::warning file=")


def test_github_message_escapes_percent_and_newlines() -> None:
    out = format_github([problem(message="100% sure\r\nsecond line", path=())])
    assert out.endswith("::100%25 sure%0D%0Asecond line")
    assert "\n" not in out


def test_github_file_name_escapes_colon_and_comma() -> None:
    out = format_github([problem(source=Source("C:/fleet/a,b%.yaml"))])
    assert "file=C%3A/fleet/a%2Cb%25.yaml,line=12" in out


def test_github_title_escapes_colon_and_comma() -> None:
    out = format_github([problem(code="odd:code,x")])
    assert "title=chargectl odd%3Acode%2Cx::" in out


def test_github_problem_without_file_has_no_file_property() -> None:
    out = format_github([problem(source=None, line=None, column=None, path=())])
    assert out == "::error title=chargectl invalid-value::input should be a valid integer"


# --- JSON --------------------------------------------------------------------------------------


def test_json_has_format_version_and_every_field_of_a_problem() -> None:
    document = json.loads(format_json([problem()], {"valid": False, "errors": 1}))
    assert document["formatVersion"] == JSON_FORMAT_VERSION == 1
    assert document["valid"] is False
    assert document["problems"] == [
        {
            "code": "invalid-value",
            "severity": "error",
            "message": "input should be a valid integer",
            "file": "fleet/chargers.yaml",
            "line": 12,
            "column": 19,
            "path": "spec.connectors[0].maxCurrent",
            "resource": "Charger/bay-1",
        }
    ]


def test_json_problem_without_place_has_nulls() -> None:
    bare = Problem("path-not-found", "no such file or directory: nowhere")
    (entry,) = json.loads(format_json([bare], {}))["problems"]
    assert (entry["file"], entry["line"], entry["column"], entry["path"]) == (None,) * 4


# --- human -------------------------------------------------------------------------------------


def headers(text: str) -> list[str]:
    """The `file:line:column` of each problem, in the order printed."""
    return [line.split(": ")[0] for line in text.splitlines() if ": error[" in line]


def test_human_output_is_ordered_by_file_then_line(tmp_path: Path) -> None:
    late = BAD_TEAM.replace("  colour: red\n", "  colour: red\n  size: big\n")
    (tmp_path / "b.yaml").write_text(late, encoding="utf-8")
    (tmp_path / "a.yaml").write_text(late.replace("name: ops", "name: ops2"), encoding="utf-8")
    report = check_paths([tmp_path / "b.yaml", tmp_path / "a.yaml"])
    text = click.unstyle(format_human(report.problems, "done"))
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert headers(text) == [f"{a}:8:3", f"{a}:9:3", f"{b}:8:3", f"{b}:9:3"]


def test_human_output_puts_a_caret_under_the_column(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(BAD_TEAM.replace("handle: ops", "handle: Not_A_Handle"), encoding="utf-8")
    report = check_paths([path])
    text = click.unstyle(format_human(report.problems, "1 error"))
    lines = text.splitlines()
    source = lines.index("  7 |   handle: Not_A_Handle")
    caret = lines[source + 1]
    assert caret.endswith("^")
    assert caret.index("^") == lines[source].index("Not_A_Handle")


def test_human_output_says_where_in_the_resource_and_ends_with_the_summary() -> None:
    text = click.unstyle(format_human([problem()], "1 error (1 resource in 1 file checked)."))
    assert "fleet/chargers.yaml:12:19: error[invalid-value]: input should be a valid integer" in (
        text
    )
    assert "  in Charger/bay-1 at spec.connectors[0].maxCurrent" in text
    assert text.endswith("1 error (1 resource in 1 file checked).")
