"""Reading fleet files: where problems point, how strict values are, what is read at all.

A fleet engineer sees a problem as `file:line:column` with a caret under the spot; these tests
pin the spot for each kind of mistake, the Kubernetes-like strictness of values (`"32"` is not
an integer, `yes` is not a boolean), and that the fast parser reads what ruamel.yaml reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from controller.fleet import loading
from controller.fleet.checking import check_paths
from controller.fleet.loading import Locator, load_paths, parse_documents
from controller.fleet.problems import Problem
from controller.resources import Card, Charger, Team

CHARGER = """\
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata:
  name: bay-01
spec:
  location: garage
  ocppVersion: "1.6"
  connectors:
    - id: 1
      type: Type2
      maxCurrent: 32
    - id: 2
      type: Type2
      maxCurrent: 32
"""

TEAM = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: {name}
spec:
  displayName: Team {name}
  handle: {name}
"""

CARD = """\
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata:
  name: card-01
spec:
  idTag: 04A3B21C6F5E80
  team: ops
  expiresAt: {expires}
"""


def load(tmp_path: Path, text: str, name: str = "fleet.yaml") -> tuple[list[Problem], int]:
    """Problems (with line and column) and the number of resources loaded from one file."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = load_paths([path])
    return Locator().locate_all(result.problems), len(result.resources)


def only_problem(tmp_path: Path, text: str) -> Problem:
    problems, _ = load(tmp_path, text)
    assert len(problems) == 1, problems
    return problems[0]


def line_of(text: str, needle: str) -> int:
    """1-based number of the line holding `needle` (there must be exactly one)."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(numbers) == 1, (needle, numbers)
    return numbers[0]


def column_of(text: str, needle: str) -> int:
    line = text.splitlines()[line_of(text, needle) - 1]
    return line.index(needle) + 1


# --- positions ---------------------------------------------------------------------------------


def test_unknown_field_points_at_the_key(tmp_path: Path) -> None:
    text = CHARGER.replace("  location: garage\n", "  location: garage\n  colour: red\n")
    problem = only_problem(tmp_path, text)
    assert problem.code == "unknown-field"
    assert (problem.line, problem.column) == (line_of(text, "colour"), column_of(text, "colour"))


def test_wrong_value_points_at_the_value_not_the_key(tmp_path: Path) -> None:
    text = CHARGER.replace("  location: garage\n", "  location: Garage_Nord\n")
    problem = only_problem(tmp_path, text)
    assert problem.code == "invalid-value"
    assert problem.line == line_of(text, "Garage_Nord")
    assert problem.column == column_of(text, "Garage_Nord")


def test_missing_field_points_at_the_key_of_its_parent_mapping(tmp_path: Path) -> None:
    text = CHARGER.replace("  location: garage\n", "")
    problem = only_problem(tmp_path, text)
    assert problem.code == "missing-field"
    assert problem.path == ("spec", "location")
    assert (problem.line, problem.column) == (line_of(text, "spec:"), 1)


def test_error_in_the_second_list_item_points_at_that_item(tmp_path: Path) -> None:
    lines = CHARGER.splitlines(keepends=True)
    lines[-1] = "      maxCurrent: 0\n"  # connectors[1].maxCurrent
    text = "".join(lines)
    problem = only_problem(tmp_path, text)
    assert problem.path == ("spec", "connectors", 1, "maxCurrent")
    assert (problem.line, problem.column) == (len(lines), len("      maxCurrent: ") + 1)


def test_problem_in_the_third_document_gets_that_documents_line(tmp_path: Path) -> None:
    third = TEAM.format(name="c").replace("  handle: c\n", "  handle: c\n  colour: red\n")
    text = "---\n".join([TEAM.format(name="a"), TEAM.format(name="b"), third])
    problems, loaded = load(tmp_path, text)
    assert loaded == 2
    assert [(p.code, p.source.document if p.source else None) for p in problems] == [
        ("unknown-field", 2)
    ]
    assert problems[0].line == line_of(text, "colour")


# --- strictness, as the Kubernetes API server would see it -------------------------------------


def test_integer_written_as_a_string_is_refused(tmp_path: Path) -> None:
    text = CHARGER.replace("      maxCurrent: 32\n", '      maxCurrent: "32"\n', 1)
    problem = only_problem(tmp_path, text)
    assert problem.code == "invalid-value"
    assert problem.path == ("spec", "connectors", 0, "maxCurrent")
    assert "integer" in problem.message


def test_yes_is_a_string_not_a_boolean(tmp_path: Path) -> None:
    text = CHARGER + "  settings:\n    localAuthorizeOffline: yes\n"
    problem = only_problem(tmp_path, text)
    assert problem.code == "invalid-value"
    assert problem.path == ("spec", "settings", "localAuthorizeOffline")
    assert "boolean" in problem.message


def test_unquoted_ocpp_version_is_refused_with_a_hint_to_quote_it(tmp_path: Path) -> None:
    text = CHARGER.replace('ocppVersion: "1.6"', "ocppVersion: 1.6")
    problem = only_problem(tmp_path, text)
    assert problem.path == ("spec", "ocppVersion")
    assert 'ocppVersion: "1.6"' in problem.message
    assert "quoted" in problem.message


def test_unquoted_rfc3339_timestamp_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "cards.yaml"
    path.write_text(CARD.format(expires="2030-01-01T00:00:00Z"), encoding="utf-8")
    result = load_paths([path])
    assert result.problems == ()
    card = result.resources[0].resource
    assert isinstance(card, Card)
    assert card.spec.expires_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_timestamp_without_timezone_is_refused(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, CARD.format(expires="2030-01-01T00:00:00"))
    assert problem.code == "invalid-value"
    assert problem.path == ("spec", "expiresAt")
    assert "timezone offset" in problem.message


# --- YAML itself -------------------------------------------------------------------------------


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    text = TEAM.format(name="ops").replace("spec:", " spec:")
    problem = only_problem(tmp_path, text)
    assert problem.code == "yaml-syntax"
    assert problem.file == str(tmp_path / "fleet.yaml")
    assert (problem.line, problem.column) == (line_of(text, " spec:"), 2)


def test_duplicate_key_is_its_own_code_at_the_second_key(tmp_path: Path) -> None:
    text = TEAM.format(name="ops").replace("  handle: ops\n", "  handle: ops\n  handle: ops2\n")
    problem = only_problem(tmp_path, text)
    assert problem.code == "duplicate-key"
    assert problem.line == line_of(text, "handle: ops2")


def test_single_document_that_is_a_list_is_one_problem(tmp_path: Path) -> None:
    text = "- name: a\n- name: b\n- name: c\n"
    problems, loaded = load(tmp_path, text)
    assert [p.code for p in problems] == ["not-a-resource"]
    assert loaded == 0


@pytest.mark.parametrize(
    "text",
    ["", "\n", "# nothing declared here yet\n", "---\n", "# a\n---\n# b\n"],
    ids=["empty", "blank-line", "comment", "document-marker", "comments-in-documents"],
)
def test_file_without_documents_gives_nothing(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, text) == ([], 0)


def test_misspelt_required_field_is_one_problem_with_a_suggestion(tmp_path: Path) -> None:
    text = CHARGER.replace("      maxCurrent: 32\n", "      maxCurent: 32\n", 1)
    problem = only_problem(tmp_path, text)
    assert problem.code == "unknown-field"
    assert problem.path == ("spec", "connectors", 0, "maxCurent")
    assert "did you mean 'maxCurrent'?" in problem.message


# --- secrets -----------------------------------------------------------------------------------


def test_labels_and_annotations_about_secrets_are_not_secrets(tmp_path: Path) -> None:
    text = TEAM.format(name="ops").replace(
        "  name: ops\n",
        "  name: ops\n"
        "  labels:\n    password-policy: strict\n    secret-santa: 'yes'\n"
        "  annotations:\n    ops.example/secret: rotated monthly\n"
        "    ops.example/password-hint: ask the desk\n",
    )
    assert load(tmp_path, text) == ([], 1)


def test_plaintext_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = CHARGER + "  security:\n    profile: 1\n    basicAuthPassword: hunter2\n"
    problem = only_problem(tmp_path, text)
    assert problem.code == "plaintext-secret"
    assert problem.path == ("spec", "security", "basicAuthPassword")
    assert problem.line == line_of(text, "hunter2")
    assert "hunter2" not in problem.message


# --- which files are read ----------------------------------------------------------------------


def test_hidden_directories_are_not_read(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    (fleet / ".git").mkdir(parents=True)
    (fleet / ".git" / "broken.yaml").write_text("a: [", encoding="utf-8")
    (fleet / "teams.yaml").write_text(TEAM.format(name="ops"), encoding="utf-8")
    result = load_paths([fleet])
    assert result.files == (str(fleet / "teams.yaml"),)
    assert result.problems == ()


def test_a_hidden_directory_given_itself_is_read(tmp_path: Path) -> None:
    fleet = tmp_path / ".fleet"
    fleet.mkdir()
    (fleet / "teams.yaml").write_text(TEAM.format(name="ops"), encoding="utf-8")
    assert len(load_paths([fleet]).resources) == 1


def test_the_same_file_given_twice_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text(TEAM.format(name="ops"), encoding="utf-8")
    (tmp_path / "sub").mkdir()
    report = check_paths([path, tmp_path, tmp_path / "sub" / ".." / "teams.yaml"])
    assert report.files == (str(path),)
    assert report.problems == ()
    assert list(report.fleet.teams) == ["ops"]


# --- the fast parser reads what ruamel.yaml reads ----------------------------------------------


def ruamel_documents(text: str) -> list[object]:
    return list(YAML(typ="safe", pure=False).load_all(text))


REPRESENTATIVE = {
    "charger": CHARGER,
    "multi-document": TEAM.format(name="a") + "---\n" + TEAM.format(name="b"),
    "leading-marker-and-empty-document": "---\n---\n" + TEAM.format(name="a") + "---\n",
    "top-level-list": "- a\n- b: 1\n",
    "scalar-document": "just text\n",
    "flow-collections": "a: {b: [1, 2, {c: d}], e: []}\nf: {}\n",
    "anchors-and-aliases": "base: &b {x: 1}\nuse: *b\nlist: [&v 2, *v]\n",
    "quoting": "a: 'it''s'\nb: \"tab\\tnew\\nline\"\nc: \"\\u00e9\"\nd: ''\ne: \"060\"\n",
    "yaml-1.2-core-scalars": "a: yes\nb: on\nc: true\nd: ~\ne: null\nf: 0o17\ng: 0x1F\nh: 07:30\n",
    "numbers": "a: 1.6\nb: -0\nc: 1e3\nd: +12\ne: 2.0.1\n",
    "timestamps": "a: 2030-01-01T00:00:00Z\nb: 2030-01-01T00:00:00+02:00\nc: 2030-01-01\n",
    "block-scalars": "a: |\n  one\n  two\nb: >\n  folded\n  text\nc: |-\n  stripped\nd: x\n",
    "comments": "# head\na: 1 # trailing\n# between\nb: 2\n",
    "no-final-newline": "a: 1\nb: [x, y]",
    "document-end-marker": "a: 1\n...\n---\nb: 2\n...\n",
    "unicode": "naam: Parkeergarage Zuid — niveau −1\nsymbol: €\n",
    "crlf": "a: 1\r\nb:\r\n  - x\r\n",
}


def test_fast_parser_is_in_use() -> None:
    """Without yaml-rs the comparisons below compare ruamel.yaml with itself."""
    assert loading._yaml_rs is not None


@pytest.mark.parametrize("text", list(REPRESENTATIVE.values()), ids=list(REPRESENTATIVE))
def test_fast_parser_reads_what_ruamel_reads(text: str) -> None:
    assert parse_documents(text) == ruamel_documents(text)


def test_fast_parser_keeps_a_keep_chomped_block_scalar_at_the_end_of_a_file() -> None:
    text = "a: |+\n  x\n"
    assert parse_documents(text) == ruamel_documents(text) == [{"a": "x\n"}]


def test_fast_parser_reads_a_final_block_scalar_without_newline_like_ruamel() -> None:
    text = "a: |\n  x"
    assert parse_documents(text) == ruamel_documents(text) == [{"a": "x"}]


KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_", min_size=1)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**62), max_value=2**62)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS, children, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(documents=st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=3))
def test_fast_parser_agrees_with_ruamel_on_nested_mappings(documents: list[object]) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = StringIO()
    yaml.dump_all(documents, buffer)
    text = buffer.getvalue()
    assert parse_documents(text) == ruamel_documents(text) == documents


def test_loaded_resources_are_typed_by_kind(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(TEAM.format(name="ops") + "---\n" + CHARGER, encoding="utf-8")
    kinds = [type(item.resource) for item in load_paths([path]).resources]
    assert kinds == [Team, Charger]
