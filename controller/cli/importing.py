"""Chargers from a spreadsheet: the CSV behind `chargectl import`.

Installers and sales teams keep the chargers of a new site in a spreadsheet long before anyone
writes YAML. Importing turns each row into a `Charger` document, checks it with the very same
`parse_document` that `chargectl validate` uses, and reports every bad row as a `Problem` whose
line is the row's line in the CSV, so the spreadsheet can be fixed where it was written.

The importer only reports; `write_documents` only writes. Whether a CSV with bad rows may still
be partly imported (`--skip-invalid`) is the command's decision (`import_`, at the end).

Problem codes: `import-header` for the header row (unknown, repeated or missing columns),
`import-row` for a data row, `import-argument` for an unusable location or default OCPP version,
`unreadable-file` when the CSV cannot be read as UTF-8 text.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML

from controller.cli.options import ocpp_version_option
from controller.fleet.loading import Locator, parse_document
from controller.fleet.problems import Problem, Source
from controller.fleet.reporting import format_human, plural
from controller.resources import API_VERSION, Charger
from controller.resources.charger import CurrentType, PlugType, RebootPolicy
from controller.resources.common import NAME_PATTERN
from controller.resources.settings import OcppVersion

SINGLE_FILE_NAME = "chargers.yaml"

COLUMNS = (
    "identity",
    "name",
    "vendor",
    "model",
    "serial",
    "ocpp_version",
    "connectors",
    "connector_type",
    "max_current",
    "phases",
    "labels",
    "reboot_policy",
)
"""The columns a CSV may have, in the spelling the documentation uses."""

DEFAULT_CONNECTORS = 1
DEFAULT_PLUG_TYPE = PlugType.TYPE2
DEFAULT_MAX_CURRENT = 32
DEFAULT_PHASES = 3
MAX_CONNECTORS = 99
"""OCPP connector ids run from 1 to 99 (`Connector.id`)."""

DC_PLUG_TYPES = frozenset({PlugType.CCS1, PlugType.CCS2, PlugType.CHADEMO, PlugType.GBT_DC})
"""Plugs that only carry DC, always on a tethered cable. NACS carries both, so it is not here."""

_NAME_RE = re.compile(NAME_PATTERN)
_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class ImportResult:
    """What a CSV became: the good rows as documents, the bad ones as problems."""

    documents: tuple[dict[str, Any], ...]
    """One Charger document per good row, camelCase wire form, ready to dump as YAML."""
    problems: tuple[Problem, ...]
    """Everything wrong with the CSV; rows with problems produced no document."""
    skipped_rows: int
    """Data rows (blank ones not counted) that produced no document."""


# --- reading the CSV ---------------------------------------------------------------------------


def import_chargers(
    csv_path: Path, location: str, *, default_ocpp_version: str = "1.6"
) -> ImportResult:
    """Every row of `csv_path` as a Charger at `location`, or the reasons it cannot be one."""
    source = Source(str(csv_path), 0)
    argument_problems = _check_arguments(location, default_ocpp_version)
    if argument_problems:
        return ImportResult((), tuple(argument_problems), 0)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        message = (
            f"cannot read {csv_path} as UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save the spreadsheet as 'CSV UTF-8'"
        )
        return ImportResult((), (Problem("unreadable-file", message, source),), 0)
    except OSError as exc:
        message = f"cannot read file: {exc}"
        return ImportResult((), (Problem("unreadable-file", message, source),), 0)

    records, unparsable = _records(text)
    if unparsable is not None:
        line, reason = unparsable
        message = f"line {line}: not readable as CSV from here on ({reason}); is a quote left open?"
        problem = Problem("import-row", message, source, line=line, column=1)
        return ImportResult((), (problem,), 0)
    if not records:
        message = f"the file is empty; expected a header row with columns such as {_known()}"
        return ImportResult((), (Problem("import-header", message, source, line=1, column=1),), 0)
    data = [record for record in records[1:] if any(record.cells)]
    columns, header_problems = _read_header(records[0].cells, source, records[0].line)
    if header_problems:
        return ImportResult((), tuple(header_problems), len(data))

    builder = _RowBuilder(source, location, default_ocpp_version, columns)
    documents: list[dict[str, Any]] = []
    problems: list[Problem] = []
    skipped = 0
    for record in data:
        document, found = builder.build(record)
        problems.extend(found)
        if document is None:
            skipped += 1
        else:
            documents.append(document)
    return ImportResult(tuple(documents), tuple(problems), skipped)


def _check_arguments(location: str, default_ocpp_version: str) -> list[Problem]:
    """Arguments that are wrong would make every row wrong; say so once instead."""
    problems: list[Problem] = []
    if not _NAME_RE.match(location) or len(location) > 253:
        problems.append(
            Problem(
                "import-argument",
                f"location {location!r} is not a resource name: use lower-case letters, "
                "digits, '-' and '.', starting and ending with a letter or digit",
            )
        )
    if default_ocpp_version not in {v.value for v in OcppVersion}:
        choices = " or ".join(repr(v.value) for v in OcppVersion)
        problems.append(
            Problem(
                "import-argument",
                f"default OCPP version {default_ocpp_version!r} is not {choices}",
            )
        )
    return problems


def _records(text: str) -> tuple[list[_Record], tuple[int, str] | None]:
    """Each CSV record with its row and first line, cells stripped of surrounding blanks; or
    the line and reason where the text stops being CSV (typically a quote never closed).

    Rows and lines differ when a quoted cell holds a line break. Messages name the row, as the
    spreadsheet numbers it; problems point at the line, which editors and CI annotations use.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    records: list[_Record] = []
    previous = 0
    try:
        for row, cells in enumerate(reader, start=1):
            records.append(_Record(row, previous + 1, [cell.strip() for cell in cells]))
            previous = reader.line_num
    except csv.Error as exc:
        return records, (previous + 1, str(exc))
    return records, None


def _delimiter(text: str) -> str:
    """`,` unless the header row is separated by `;` (European spreadsheets) or tabs.

    Only the header is inspected: it is written by the user and holds no free text, unlike the
    rows, where a model name or a label list may contain either character. `csv.Sniffer` looks
    at the rows too and guesses wrong on small files.
    """
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _normalise(header: str) -> str:
    """Header names as people type them: `OCPP Version`, `ocpp_version`, `ocpp-version` are one."""
    return re.sub(r"[\s_-]+", "", header).lower()


_COLUMNS_BY_KEY = {_normalise(c): c for c in COLUMNS}


def _known() -> str:
    return ", ".join(COLUMNS)


@dataclass(frozen=True)
class _Record:
    row: int
    line: int
    cells: list[str]


@dataclass(frozen=True)
class _Column:
    index: int
    header: str
    """As written in the CSV, so a message names the column the way the user sees it."""


def _read_header(
    header: list[str], source: Source, line: int
) -> tuple[dict[str, _Column], list[Problem]]:
    """The known columns by their documented name, or why the header cannot be used."""
    columns: dict[str, _Column] = {}
    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem("import-header", message, source, line=line, column=1))

    for index, text in enumerate(header):
        if not text:
            continue
        key = _normalise(text)
        name = _COLUMNS_BY_KEY.get(key)
        if name is None:
            hint = difflib.get_close_matches(key, list(_COLUMNS_BY_KEY), n=1)
            suggestion = f"did you mean {_COLUMNS_BY_KEY[hint[0]]!r}? " if hint else ""
            problem(f"unknown column {text!r} ({suggestion}known columns: {_known()})")
        elif name in columns:
            problem(f"column {text!r} repeats column {columns[name].header!r}")
        else:
            columns[name] = _Column(index, text)
    if "identity" not in columns:
        problem("no 'identity' column: each charger needs its OCPP identity")
    return columns, problems


# --- rows → documents --------------------------------------------------------------------------


class _RowBuilder:
    """Turns rows into Charger documents and remembers identities and names already taken."""

    def __init__(
        self,
        source: Source,
        location: str,
        default_ocpp_version: str,
        columns: Mapping[str, _Column],
    ) -> None:
        self._source = source
        self._location = location
        self._default_version = default_ocpp_version
        self._columns = columns
        self._identities: dict[str, int] = {}
        self._names: dict[str, int] = {}

    def build(self, record: _Record) -> tuple[dict[str, Any] | None, list[Problem]]:
        """The row's document if it is good; otherwise None and everything wrong with it."""
        row = _Row(record, self._columns)
        stray = [i for i, cell in enumerate(record.cells) if cell and not row.has_column_at(i)]
        if stray:
            row.complain(None, f"a value in column {stray[0] + 1}, which has no known header")

        identity = row.get("identity")
        name = row.get("name") or (_name_from_identity(identity) if identity else "")
        if not identity:
            row.complain("identity", "missing: every charger needs its OCPP identity")
        elif not name:
            row.complain(
                "identity",
                f"no resource name can be made from {identity!r}; give one in a 'name' column",
            )
        self._check_unique(row, identity, name)

        document = self._document(row, identity, name or f"row-{record.row}")
        _, found = parse_document(document, self._source)
        for problem in found:
            row.complain(_column_of(problem.path, row), problem.message)
        problems = row.problems(self._source, name)
        return (None if problems else document), problems

    def _check_unique(self, row: _Row, identity: str, name: str) -> None:
        """A second row for one charger would silently replace the first; refuse it instead."""
        given_name = bool(row.get("name"))
        if identity:
            first = self._identities.setdefault(identity, row.row)
            if first != row.row:
                row.complain("identity", f"identity {identity!r} is already used on row {first}")
                if not given_name:
                    return  # the name made from it is then taken too: one cause, one message
        if name:
            first = self._names.setdefault(name, row.row)
            if first == row.row:
                return
            if given_name:
                row.complain("name", f"name {name!r} is already used on row {first}")
            else:
                row.complain(
                    "identity",
                    f"the name made from it, {name!r}, is already used on row {first}; "
                    "give this row its own name in a 'name' column",
                )

    def _document(self, row: _Row, identity: str, name: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name}
        labels = row.labels()
        if labels:
            metadata["labels"] = labels
        spec: dict[str, Any] = {"ocppIdentity": identity} if identity else {}
        spec["location"] = self._location
        spec["ocppVersion"] = _canonical_version(row.get("ocpp_version") or self._default_version)
        expected = {
            key: value
            for key, value in (
                ("vendor", row.get("vendor")),
                ("model", row.get("model")),
                ("serialNumber", row.get("serial")),
            )
            if value
        }
        if expected:
            spec["expected"] = expected
        spec["connectors"] = self._connectors(row)
        policy = row.get("reboot_policy")
        if policy:
            spec["rebootPolicy"] = _canonical(policy, RebootPolicy)
        return {"apiVersion": API_VERSION, "kind": Charger.KIND, "metadata": metadata, "spec": spec}

    def _connectors(self, row: _Row) -> list[dict[str, Any]]:
        count = row.integer("connectors", DEFAULT_CONNECTORS)
        if not 1 <= count <= MAX_CONNECTORS:
            row.complain("connectors", f"must be from 1 to {MAX_CONNECTORS}, got {count}")
            count = DEFAULT_CONNECTORS
        plug = _canonical(row.get("connector_type") or DEFAULT_PLUG_TYPE.value, PlugType)
        max_current = row.integer("max_current", DEFAULT_MAX_CURRENT)
        dc = plug in {p.value for p in DC_PLUG_TYPES}
        phases = row.integer("phases", DEFAULT_PHASES)
        connectors: list[dict[str, Any]] = []
        for connector_id in range(1, count + 1):
            connector: dict[str, Any] = {"id": connector_id, "type": plug}
            if dc:
                connector["format"] = "Cable"
                connector["currentType"] = CurrentType.DC.value
            connector["maxCurrent"] = max_current
            if not dc or row.get("phases"):
                connector["phases"] = phases
            connectors.append(connector)
        return connectors


class _Row:
    """One data row: its cells by column, and the problems found in it so far."""

    def __init__(self, record: _Record, columns: Mapping[str, _Column]) -> None:
        self.row = record.row
        self.line = record.line
        self._cells = record.cells
        self._columns = columns
        self._found: dict[tuple[str | None, str], None] = {}

    def has_column_at(self, index: int) -> bool:
        return any(c.index == index for c in self._columns.values())

    def get(self, column: str) -> str:
        """The cell's text, "" when the column is absent or the cell is empty."""
        spec = self._columns.get(column)
        if spec is None or spec.index >= len(self._cells):
            return ""
        return self._cells[spec.index]

    def integer(self, column: str, default: int) -> int:
        """The cell as a whole number; the default when it is empty or, after a complaint, bad."""
        text = self.get(column)
        if not text:
            return default
        if not _INTEGER_RE.match(text):
            self.complain(column, f"{text!r} is not a whole number")
            return default
        return int(text)

    def labels(self) -> dict[str, str]:
        """`zone=p1;tier=public` (`,` works too: neither can occur in a label)."""
        labels: dict[str, str] = {}
        for item in re.split(r"[;,]", self.get("labels")):
            item = item.strip()
            if not item:
                continue
            key, equals, value = (part.strip() for part in item.partition("="))
            if not equals or not key:
                self.complain("labels", f"{item!r} is not key=value (write zone=p1;tier=public)")
            elif key in labels:
                self.complain("labels", f"label {key!r} is given twice")
            else:
                labels[key] = value
        return labels

    def complain(self, column: str | None, reason: str) -> None:
        self._found.setdefault((column, reason), None)

    def problems(self, source: Source, name: str) -> list[Problem]:
        out: list[Problem] = []
        for column, reason in self._found:
            where = f"row {self.row}"
            if self.row != self.line:
                where += f" (line {self.line})"
            if column is not None:
                spec = self._columns.get(column)
                header = spec.header if spec else column
                where += f", column {header!r}"
            out.append(
                Problem(
                    "import-row",
                    f"{where}: {reason}",
                    source,
                    line=self.line,
                    column=1,
                    resource=f"{Charger.KIND}/{name}" if name else None,
                )
            )
        return out


def _column_of(path: tuple[str | int, ...], row: _Row) -> str | None:
    """The CSV column a document path was filled from, for messages in the user's terms."""
    field = str(path[-1]) if path and isinstance(path[-1], str) else ""
    match path[:2]:
        case ("metadata", "name"):
            return "name" if row.get("name") else "identity"
        case ("metadata", "labels"):
            return "labels"
        case ("spec", "ocppIdentity"):
            return "identity"
        case ("spec", "ocppVersion"):
            return "ocpp_version"
        case ("spec", "rebootPolicy"):
            return "reboot_policy"
        case ("spec", "expected"):
            return {"vendor": "vendor", "model": "model", "serialNumber": "serial"}.get(field)
        case ("spec", "connectors"):
            by_field = {"type": "connector_type", "maxCurrent": "max_current", "phases": "phases"}
            return by_field.get(field, "connectors")
    return None


def _name_from_identity(identity: str) -> str:
    """`GAR-P1_01` → `gar-p1-01`: a resource name (RFC 1123) that still reads like the identity."""
    text = re.sub(r"[^a-z0-9.]+", "-", identity.lower())
    segments = (segment.strip("-") for segment in text.split("."))
    return ".".join(s for s in segments if s)[:253].strip("-.")


def _canonical(value: str, choices: type[StrEnum]) -> str:
    """`type 2` → `Type2`: spreadsheets are typed by hand; an unknown value is left for the schema
    check to report with the list of choices."""
    wanted = _normalise(value)
    for choice in choices:
        if _normalise(choice.value) == wanted:
            return choice.value
    return value


def _canonical_version(value: str) -> str:
    """`OCPP 1.6J` → `1.6`: how portals and datasheets usually write the version."""
    text = _normalise(value).removeprefix("ocpp").removesuffix("j")
    return text if text in {v.value for v in OcppVersion} else value


# --- writing YAML ------------------------------------------------------------------------------


def write_documents(
    documents: Sequence[dict[str, Any]], out_dir: Path, *, single_file: bool, schema_ref: str
) -> list[Path]:
    """One file per charger `<name>.yaml` (or one multi-document `chargers.yaml`), each starting
    with the modeline `# yaml-language-server: $schema=<schema_ref>`, so editors check and
    complete the files from the first keystroke; refuses to overwrite an existing file (raises
    FileExistsError naming it), because an import must never destroy hand-made edits.

    Every target is checked before the first is written, so a refusal leaves nothing behind.
    """
    modeline = f"# yaml-language-server: $schema={schema_ref}\n"
    if not documents:
        return []
    if single_file:
        contents = {out_dir / SINGLE_FILE_NAME: "---\n".join(_dump(d) for d in documents)}
    else:
        contents = {}
        for document in documents:
            target = out_dir / f"{document['metadata']['name']}.yaml"
            if target in contents:
                raise ValueError(f"two documents would be written to {target}")
            contents[target] = _dump(document)
    for target in contents:
        if target.exists():
            raise FileExistsError(f"{target} already exists")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for target, body in contents.items():
        with target.open("x", encoding="utf-8", newline="\n") as file:
            file.write(modeline + body)
        written.append(target)
    return written


def _dump(document: dict[str, Any]) -> str:
    """Block style, Kubernetes indentation, no line wrapping: how people write fleet files."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


# --- chargectl import ----------------------------------------------------------------------------


@click.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--location", required=True, help="Location the imported chargers stand at.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write Charger files into (created if needed); default: print them.",
)
@click.option("--single-file", is_flag=True, help="Write one multi-document chargers.yaml.")
@click.option("--skip-invalid", is_flag=True, help="Write the good rows even if some are bad.")
@ocpp_version_option(help="OCPP version for rows that do not say.")
@click.option(
    "--schema-ref",
    default=None,
    help="Schema path for the yaml-language-server modeline (default: relative to --out).",
)
def import_(
    csv_file: Path,
    location: str,
    out: Path | None,
    single_file: bool,
    skip_invalid: bool,
    ocpp_version: str,
    schema_ref: str | None,
) -> None:
    """Turn a spreadsheet (CSV) of chargers into Charger resources.

    Nothing is written unless every row is good, or --skip-invalid is given.
    """
    result = import_chargers(csv_file, location, default_ocpp_version=ocpp_version)
    problems = Locator().locate_all(result.problems)
    if problems:
        click.echo(
            format_human(problems, f"{plural(len(problems), 'problem')} in {csv_file}."), err=True
        )
        if not skip_invalid:
            click.echo("Nothing written: fix the rows or pass --skip-invalid.", err=True)
            sys.exit(1)
    if out is None:
        yaml = YAML()
        yaml.default_flow_style = False
        buffer = io.StringIO()
        yaml.dump_all(list(result.documents), buffer)
        click.echo(buffer.getvalue(), nl=False)
    else:
        out.mkdir(parents=True, exist_ok=True)
        ref = schema_ref or os.path.relpath(schemas_dir() / "charger.json", out.resolve())
        try:
            written = write_documents(
                result.documents, out, single_file=single_file, schema_ref=ref
            )
        except FileExistsError as exc:
            raise click.ClickException(f"{exc}; nothing written") from exc
        for path in written:
            click.echo(f"wrote {path}")
    click.echo(
        f"Imported {plural(len(result.documents), 'charger')}"
        + (f", skipped {result.skipped_rows} rows." if result.skipped_rows else "."),
        err=True,
    )
    sys.exit(1 if problems and not result.documents else 0)


def schemas_dir() -> Path:
    """schemas/ of this checkout (controller/cli/ is two levels below it); fleets usually live
    in the same repository."""
    return Path(__file__).resolve().parents[2] / "schemas"
