"""`chargectl import`: a spreadsheet of chargers becomes Charger documents, or precise problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.cli.importing import ImportResult, import_chargers, write_documents
from controller.fleet.loading import load_paths, parse_document
from controller.fleet.problems import Problem, Source
from controller.resources import Charger

EXAMPLE = Path(__file__).parents[3] / "examples" / "import" / "chargers.csv"
SCHEMA = "../../schemas/charger.schema.json"

HEADER = "identity,vendor,model,serial,connectors,max_current,labels"
GOOD_ROWS = [
    "GAR-P1-01,Alfen,Eve Double Pro-line,ACE0412201,2,32,level=p1;access=public",
    "GAR-P1-02,Zaptec,Pro,ZPR104559,1,16,level=p1",
]


def run(tmp_path: Path, text: str, *, encoding: str = "utf-8", **kwargs: Any) -> ImportResult:
    path = tmp_path / "chargers.csv"
    path.write_text(text, encoding=encoding)
    return import_chargers(path, "public-garage", **kwargs)


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def only(problems: tuple[Problem, ...]) -> Problem:
    assert len(problems) == 1, [p.message for p in problems]
    return problems[0]


def test_good_csv_gives_charger_documents_that_validate(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text(HEADER, *GOOD_ROWS))

    assert result.problems == ()
    assert result.skipped_rows == 0
    assert len(result.documents) == 2
    for document in result.documents:
        resource, problems = parse_document(document, Source("imported.yaml"))
        assert problems == []
        assert isinstance(resource, Charger)
    first = result.documents[0]
    assert first["metadata"] == {
        "name": "gar-p1-01",
        "labels": {"level": "p1", "access": "public"},
    }
    assert first["spec"]["ocppIdentity"] == "GAR-P1-01"
    assert first["spec"]["location"] == "public-garage"
    assert first["spec"]["ocppVersion"] == "1.6"
    assert first["spec"]["expected"] == {
        "vendor": "Alfen",
        "model": "Eve Double Pro-line",
        "serialNumber": "ACE0412201",
    }
    assert [c["id"] for c in first["spec"]["connectors"]] == [1, 2]
    assert first["spec"]["connectors"][0] == {
        "id": 1,
        "type": "Type2",
        "maxCurrent": 32,
        "phases": 3,
    }


def test_bad_max_current_on_row_3_is_reported_on_line_3_naming_the_column(
    tmp_path: Path,
) -> None:
    result = run(
        tmp_path,
        csv_text("identity,Max Current", "GAR-01,32", "GAR-02,32 amps", "GAR-03,16"),
    )

    problem = only(result.problems)
    assert problem.code == "import-row"
    assert problem.source == Source(str(tmp_path / "chargers.csv"), 0)
    assert (problem.line, problem.column) == (3, 1)
    assert "row 3" in problem.message
    assert "'Max Current'" in problem.message
    assert "'32 amps' is not a whole number" in problem.message
    assert [d["metadata"]["name"] for d in result.documents] == ["gar-01", "gar-03"]
    assert result.skipped_rows == 1


def test_schema_rule_violations_use_the_validate_message_and_name_the_column(
    tmp_path: Path,
) -> None:
    result = run(tmp_path, csv_text("identity,max_current", "GAR-01,2000"))

    problem = only(result.problems)
    assert problem.line == 2
    assert "column 'max_current'" in problem.message
    assert "less than or equal to 1000" in problem.message


def test_semicolon_separated_csv_from_a_european_spreadsheet(tmp_path: Path) -> None:
    text = csv_text(
        "Identity;Vendor;Model;OCPP Version;Connector Type;Max Current;Phases",
        "GAR-P1-01;ABB;Terra AC W22-T-RD-M-0;2.0.1;Type2;32;3",
        "GAR-P1-02;ABB;Terra AC, wall;1.6;type 2;16;1",
    )

    result = run(tmp_path, text)

    assert result.problems == ()
    assert [d["spec"]["ocppVersion"] for d in result.documents] == ["2.0.1", "1.6"]
    assert result.documents[1]["spec"]["expected"]["model"] == "Terra AC, wall"
    assert result.documents[1]["spec"]["connectors"][0]["type"] == "Type2"


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text(HEADER, *GOOD_ROWS), encoding="utf-8-sig")

    assert result.problems == ()
    assert len(result.documents) == 2


def test_header_names_ignore_case_spaces_underscores_and_dashes(tmp_path: Path) -> None:
    text = csv_text("IDENTITY,ocpp-version,Reboot Policy", "GAR-01,2.0.1,MaintenanceWindow")

    result = run(tmp_path, text)

    assert result.problems == ()
    assert result.documents[0]["spec"]["ocppVersion"] == "2.0.1"
    assert result.documents[0]["spec"]["rebootPolicy"] == "MaintenanceWindow"


def test_duplicate_identity_is_a_problem_on_the_later_row(tmp_path: Path) -> None:
    text = csv_text("identity,name", "GAR-01,", "GAR-02,", "GAR-01,gar-01-again")

    result = run(tmp_path, text)

    problem = only(result.problems)
    assert problem.line == 4
    assert "identity 'GAR-01' is already used on row 2" in problem.message
    assert [d["metadata"]["name"] for d in result.documents] == ["gar-01", "gar-02"]


def test_identities_that_make_the_same_name_are_a_problem(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("identity", "GAR_01", "gar-01"))

    problem = only(result.problems)
    assert problem.line == 3
    assert "'gar-01', is already used on row 2" in problem.message
    assert "'name' column" in problem.message


def test_unknown_column_is_a_problem_listing_the_known_ones(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("identity,Serial Number,colour", "GAR-01,ACE1,red"))

    assert result.documents == ()
    assert result.skipped_rows == 1
    assert len(result.problems) == 2
    serial, colour = result.problems
    assert (serial.code, serial.line, serial.column) == ("import-header", 1, 1)
    assert "unknown column 'Serial Number'" in serial.message
    assert "did you mean 'serial'?" in serial.message
    assert "unknown column 'colour'" in colour.message
    assert "max_current" in colour.message and "reboot_policy" in colour.message


def test_missing_identity_column_is_a_problem(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("name,vendor", "gar-01,Alfen"))

    problem = only(result.problems)
    assert problem.code == "import-header"
    assert "no 'identity' column" in problem.message


def test_dc_plugs_are_declared_as_tethered_dc_connectors(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("identity,connector_type,max_current", "GAR-DC1,CCS2,125"))

    assert result.problems == ()
    connector = result.documents[0]["spec"]["connectors"][0]
    assert connector == {
        "id": 1,
        "type": "CCS2",
        "format": "Cable",
        "currentType": "DC",
        "maxCurrent": 125,
    }


def test_blank_rows_are_ignored(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("identity;max_current", "GAR-01;32", ";", "", "GAR-02;16"))

    assert result.problems == ()
    assert result.skipped_rows == 0
    assert len(result.documents) == 2


def test_unclosed_quote_is_reported_instead_of_swallowing_the_rest(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("identity,model", 'GAR-01,"Eve', "GAR-02,Pro"))

    problem = only(result.problems)
    assert problem.line == 2
    assert result.documents == ()


def test_spreadsheet_saved_in_a_legacy_encoding_gets_a_hint(tmp_path: Path) -> None:
    result = run(tmp_path, csv_text("identity,model", "GAR-01,Wallbox für Köln"), encoding="cp1252")

    problem = only(result.problems)
    assert problem.code == "unreadable-file"
    assert "CSV UTF-8" in problem.message


def test_invalid_location_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "chargers.csv"
    path.write_text(csv_text(HEADER, *GOOD_ROWS), encoding="utf-8")

    result = import_chargers(path, "Public Garage")

    problem = only(result.problems)
    assert problem.code == "import-argument"
    assert "'Public Garage'" in problem.message


def test_the_readme_example_imports_cleanly() -> None:
    result = import_chargers(EXAMPLE, "public-garage")

    assert result.problems == ()
    assert len(result.documents) == 8


def test_write_documents_one_file_per_charger_with_modeline(tmp_path: Path) -> None:
    documents = run(tmp_path, csv_text(HEADER, *GOOD_ROWS)).documents
    out = tmp_path / "fleet" / "chargers"

    written = write_documents(documents, out, single_file=False, schema_ref=SCHEMA)

    assert written == [out / "gar-p1-01.yaml", out / "gar-p1-02.yaml"]
    for path in written:
        first_line = path.read_text(encoding="utf-8").splitlines()[0]
        assert first_line == f"# yaml-language-server: $schema={SCHEMA}"
    loaded = load_paths([out])
    assert loaded.problems == ()
    assert sorted(r.name for r in loaded.resources) == ["gar-p1-01", "gar-p1-02"]


def test_write_documents_single_multi_document_file(tmp_path: Path) -> None:
    documents = run(tmp_path, csv_text(HEADER, *GOOD_ROWS)).documents
    out = tmp_path / "fleet"

    written = write_documents(documents, out, single_file=True, schema_ref=SCHEMA)

    assert written == [out / "chargers.yaml"]
    text = written[0].read_text(encoding="utf-8")
    assert text.startswith(f"# yaml-language-server: $schema={SCHEMA}\n")
    assert text.count("\n---\n") == 1
    loaded = load_paths(written)
    assert loaded.problems == ()
    assert [r.resource.KIND for r in loaded.resources] == ["Charger", "Charger"]


def test_write_documents_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    documents = run(tmp_path, csv_text(HEADER, *GOOD_ROWS)).documents
    out = tmp_path / "fleet"
    out.mkdir()
    existing = out / "gar-p1-02.yaml"
    existing.write_text("# edited by hand\n", encoding="utf-8")

    with pytest.raises(FileExistsError, match="gar-p1-02.yaml"):
        write_documents(documents, out, single_file=False, schema_ref=SCHEMA)

    assert existing.read_text(encoding="utf-8") == "# edited by hand\n"
    assert not (out / "gar-p1-01.yaml").exists()


def test_the_default_modeline_points_at_the_charger_schema_of_this_checkout() -> None:
    from controller.cli.importing import schemas_dir

    assert (schemas_dir() / "charger.json").is_file()
