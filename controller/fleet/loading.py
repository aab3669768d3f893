"""YAML files → resources, with every problem tied to a file, line, column and document path.

Two parsers, for speed: a fleet is first read with ruamel.yaml's C-accelerated safe loader, which
keeps no source positions and is fast enough for ten thousand chargers on every pull request.
Only when a problem must be reported is its file read again with the round-trip loader, whose
nodes know their line and column (`Locator`). A valid fleet never pays for positions.

Documents are validated the way the Kubernetes API server would see them: converted to JSON and
checked strictly, so a file that passes here is also accepted by `kubectl apply` (`"60"` is not
an integer, `yes` is not a boolean).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from controller.fleet.model import Loaded
from controller.fleet.problems import Aim, DocPath, PathItem, Problem, Severity, Source
from controller.resources import API_VERSION, KINDS, Resource
from controller.resources.identity import IDENTITY_PATTERN, identity_problem

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class LoadResult:
    resources: tuple[Loaded[Resource], ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...]


# --- finding files -----------------------------------------------------------------------------


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """The YAML files under the given files and directories, in a stable order."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in YAML_SUFFIXES
                    and p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem("path-not-found", f"no such file or directory: {raw}"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for file in files:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            unique.append(file)
    return unique, problems


# --- parsing -----------------------------------------------------------------------------------


def _fast_yaml() -> YAML:
    return YAML(typ="safe", pure=False)


def parse_documents(text: str, yaml: YAML | None = None) -> list[Any]:
    """The documents of a YAML text, as plain Python values (YAML 1.2 core schema).

    yaml-rs (a Rust YAML 1.2 parser) reads a large fleet about eight times faster than
    ruamel.yaml's C loader, whose constructor runs in Python. It is used when installed;
    ruamel.yaml stays the reference: any text yaml-rs refuses is parsed again by ruamel.yaml,
    so the error a user sees is ruamel.yaml's, with its line and column, and texts where the
    two read differently (tags, a final line without newline) go to ruamel.yaml directly.
    """
    if _yaml_rs is not None and text.endswith("\n") and not _TAG.search(text):
        try:
            # A leading empty document makes yaml-rs always answer with a list of documents,
            # so a single document that is itself a list cannot pass for several documents.
            result = _yaml_rs.loads("--- ~\n...\n" + text, parse_datetime=True)
        except _yaml_rs.YAMLDecodeError:
            pass
        else:
            return result[1:] if isinstance(result, list) else []
    return list((yaml or _fast_yaml()).load_all(text))


_TAG = re.compile(r"(^|[\s\[{,:-])!")
"""Tags (`!foo`, `!!binary`): yaml-rs reads them as plain strings, ruamel.yaml does not."""

_yaml_rs: types.ModuleType | None
try:
    import yaml_rs as _yaml_rs
except ImportError:  # pragma: no cover - yaml-rs is a declared dependency
    _yaml_rs = None


def load_paths(paths: Sequence[str | Path], *, freeze: bool = True) -> LoadResult:
    """Read and schema-check every resource under `paths`.

    With `freeze`, everything alive afterwards is frozen out of the cyclic collector (see
    `gc.freeze`): right for a command that loads once and then works on the fleet. A running
    server re-reading its directory passes False: freezing then would also freeze its
    connections' objects, and cyclic garbage among them would never be collected."""
    files, problems = discover(paths)
    resources: list[Loaded[Resource]] = []
    yaml = _fast_yaml()
    with _no_gc_pauses():
        for file in files:
            _load_file(file, yaml, resources, problems)
        if freeze:
            gc.freeze()  # the fleet lives long: keep the collector from rescanning it
    return LoadResult(tuple(resources), tuple(problems), tuple(str(f) for f in files))


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Loading allocates hundreds of thousands of long-lived objects and no cycles; the
    cyclic collector would scan them again and again (a third of the time for a large fleet)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_file(
    file: Path, yaml: YAML, resources: list[Loaded[Resource]], problems: list[Problem]
) -> None:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem("unreadable-file", f"cannot read file: {exc}", Source(str(file))))
        return
    loaded, found = load_text(text, str(file), yaml)
    resources.extend(loaded)
    problems.extend(found)


def load_text(
    text: str, file: str, yaml: YAML | None = None
) -> tuple[list[Loaded[Resource]], list[Problem]]:
    """Every resource in one file's text; a YAML syntax error refuses the whole file."""
    try:
        documents = parse_documents(text, yaml)
    except YAMLError as exc:
        return [], [_syntax_problem(exc, file)]
    resources: list[Loaded[Resource]] = []
    problems: list[Problem] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        resource, found = parse_document(document, Source(file, index))
        problems.extend(found)
        if resource is not None:
            resources.append(Loaded(resource, Source(file, index)))
    return resources, problems


def _syntax_problem(exc: YAMLError, file: str) -> Problem:
    line = column = None
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        message = what or str(exc)
        start = exc.context_mark
        if start is not None and mark is not None and start.line != mark.line:
            message += (
                f" (the construct started at line {start.line + 1}, column {start.column + 1})"
            )
    else:
        message = str(exc)
    code = "duplicate-key" if "duplicate key" in message else "yaml-syntax"
    return Problem(code, f"YAML: {message}", Source(file), (), line=line, column=column)


def parse_document(document: object, source: Source) -> tuple[Resource | None, list[Problem]]:
    """Schema-check one document; a Kubernetes source calls this for each custom resource."""
    if not isinstance(document, dict):
        kind_of = type(document).__name__
        return None, [
            Problem("not-a-resource", f"a document must be a mapping, got a {kind_of}", source)
        ]
    api_version = document.get("apiVersion")
    kind = document.get("kind")
    if api_version != API_VERSION:
        message = (
            f"unknown apiVersion {api_version!r}; expected {API_VERSION!r}"
            if api_version is not None
            else f"missing apiVersion; expected {API_VERSION!r}"
        )
        path: DocPath = ("apiVersion",) if api_version is not None else ()
        return None, [Problem("unknown-api-version", message, source, path)]
    if not isinstance(kind, str) or kind not in KINDS:
        choices = ", ".join(KINDS)
        message = f"unknown kind {kind!r}; expected one of {choices}"
        return None, [Problem("unknown-kind", message, source, ("kind",) if kind else ())]
    model = KINDS[kind]
    name = _name_of(document)
    label = f"{kind}/{name}" if name else kind
    secrets = list(_plaintext_secrets(document, source, label))
    secret_paths = {p.path for p in secrets}
    try:
        payload = json.dumps(document, default=_json_default)
        resource = model.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        schema = [
            p
            for p in _schema_problems(exc, document, model, source, label)
            if p.path not in secret_paths
        ]
        return None, secrets + schema
    return (None, secrets) if secrets else (resource, [])


def _name_of(document: dict[str, Any]) -> str | None:
    meta = document.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _json_default(value: object) -> object:
    """YAML timestamps become RFC 3339 strings, as they do on their way to the API server."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# --- secrets -----------------------------------------------------------------------------------

_SECRET_KEY_WORDS = ("password", "passwd", "authorizationkey", "secret", "privatekey", "apikey")
_SECRET_CONFIG_KEYS = {"authorizationkey", "securityctrlr.basicauthpassword"}


def _plaintext_secrets(node: object, source: Source, label: str) -> Iterator[Problem]:
    """A secret written into a file ends up in Git history forever; refuse it before anything."""
    # metadata is free text (labels like `secret-santa: "yes"`) and never holds credentials.
    top = {k: v for k, v in node.items() if k != "metadata"} if isinstance(node, dict) else node
    stack: list[tuple[DocPath, object]] = [((), top)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if isinstance(child, dict | list):
                    stack.append(((*path, key), child))
                elif child is not None and child != "" and _is_secret_key(str(key)):
                    yield Problem(
                        "plaintext-secret",
                        f"{key!s} holds a secret in plain text; store it in a Kubernetes "
                        "Secret, an environment variable or a file and give a reference "
                        "(security.basicAuthPassword: {secretKeyRef|env|file})",
                        source,
                        (*path, key),
                        resource=label,
                    )
        elif isinstance(value, list):
            stack.extend(((*path, i), child) for i, child in enumerate(value))


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("_", "").replace("-", "")
    if lowered in _SECRET_CONFIG_KEYS:
        return True
    return any(word in lowered for word in _SECRET_KEY_WORDS) and "ref" not in lowered


# --- schema errors → problems ------------------------------------------------------------------


def _schema_problems(
    exc: ValidationError,
    document: dict[str, Any],
    model: type[BaseModel],
    source: Source,
    label: str,
) -> Iterator[Problem]:
    grouped: dict[DocPath, list[Any]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = loc if error["type"] == "missing" else _existing_prefix(document, loc)
        grouped.setdefault(path, []).append(error)
    problems = [
        _problem_for(path, errors, model, source, label) for path, errors in grouped.items()
    ]
    # A misspelt required field is one mistake, not two: keep "unknown field 'maxCurent' (did
    # you mean 'maxCurrent'?)" and drop "missing required field 'maxCurrent'" beside it.
    suggested = {
        (p.path[:-1], p.message.split("did you mean '")[1].split("'")[0])
        for p in problems
        if p.code == "unknown-field" and "did you mean '" in p.message
    }
    yield from (
        p
        for p in problems
        if not (p.code == "missing-field" and p.path and (p.path[:-1], p.path[-1]) in suggested)
    )


def _problem_for(
    path: DocPath, errors: list[Any], model: type[BaseModel], source: Source, label: str
) -> Problem:
    first = errors[0]
    kind = first["type"]
    field = path[-1] if path else ""
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, path[:-1])
        hint = difflib.get_close_matches(str(field), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        if allowed and not hint:
            suggestion = f" (allowed: {', '.join(sorted(allowed))})"
        return Problem(
            "unknown-field",
            f"unknown field {field!r}{suggestion}",
            source,
            path,
            resource=label,
            aim=Aim.KEY,
        )
    if kind == "missing":
        return Problem(
            "missing-field", f"missing required field {field!r}", source, path, resource=label
        )
    explained = _explained(first) if len(errors) == 1 else None
    if explained is not None:
        return Problem("invalid-value", explained, source, path, resource=label)
    messages = list(dict.fromkeys(_clean_message(e) for e in errors))
    if len(messages) > 1:
        tags = [str(e["loc"][-1]) for e in errors if len(e["loc"]) > len(path)]
        names = [_TYPE_NAMES.get(t, t) for t in dict.fromkeys(tags)]
        message = "expected " + (_either(names) if names else "; or ".join(messages))
    else:
        message = messages[0]
    value = first.get("input")
    if isinstance(value, str | int | float) and not isinstance(value, bool) and len(errors) == 1:
        shown = repr(value)
        if shown not in message:
            message = f"{message}, got {shown}"
    return Problem("invalid-value", message, source, path, resource=label)


def _identity_rule(value: str) -> str | None:
    problem = identity_problem(value)
    return None if problem is None else f"{value!r} is not an OCPP identity: {problem}"


_PATTERN_RULES: dict[str, Callable[[str], str | None]] = {IDENTITY_PATTERN: _identity_rule}
"""Patterns whose rule has words: a value that does not match is told what is wrong with it
rather than shown the regular expression."""


def _explained(error: Any) -> str | None:
    """The words of a pattern's rule for a string that does not match it, if it has some."""
    if error["type"] != "string_pattern_mismatch":
        return None
    rule = _PATTERN_RULES.get(str(error.get("ctx", {}).get("pattern")))
    value = error.get("input")
    return rule(value) if rule is not None and isinstance(value, str) else None


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


_TYPE_NAMES = {
    "bool": "a boolean",
    "int": "an integer",
    "str": "a string",
    "list[str]": "a list of strings",
}


def _clean_message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message[:1].lower() + message[1:]


def _existing_prefix(document: object, loc: tuple[PathItem, ...]) -> DocPath:
    """The part of a pydantic error location that exists in the document.

    Pydantic adds union member tags (`bool`, `list[str]`) and model names to locations; those
    are not in the YAML and would only confuse a user looking for the place.
    """
    node: Any = document
    out: list[PathItem] = []
    for item in loc:
        if not _has_child(node, item):
            break
        node = node[item]
        out.append(item)
    return tuple(out)


def _has_child(node: Any, item: PathItem) -> bool:
    if isinstance(node, dict):
        return item in node
    return isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)


def _allowed_fields(model: type[BaseModel], path: DocPath) -> list[str]:
    """The field names (wire spelling) valid at `path`, for did-you-mean suggestions."""
    current: object = model
    for item in path:
        if isinstance(item, int):
            current = _element_type(current)
            continue
        target = _unwrap_model(current)
        if target is None:
            return []
        field = next(
            (f for n, f in target.model_fields.items() if (f.alias or n) == item),
            None,
        )
        if field is None:
            return []
        current = field.annotation
    target = _unwrap_model(current)
    if target is None:
        return []
    return [f.alias or n for n, f in target.model_fields.items()]


def _unwrap_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg) if not isinstance(arg, str) else None
        if found is not None and (
            isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not list
        ):
            return found
    return None


def _element_type(annotation: object) -> object:
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is list:
            return typing.get_args(candidate)[0]
    return annotation


# --- positions ---------------------------------------------------------------------------------


class Locator:
    """Fills in line and column of problems by re-reading their files with positions."""

    def __init__(self) -> None:
        self._documents: dict[str, tuple[list[Any], list[str]] | None] = {}

    def locate(self, problem: Problem) -> Problem:
        if problem.line is not None or problem.source is None:
            return problem
        parsed = self._parsed(problem.source.file)
        if parsed is None or problem.source.document >= len(parsed[0]):
            return problem.at(1, 1)
        documents, lines = parsed
        line, column, node = _position(
            documents[problem.source.document], problem.path, problem.aim
        )
        if problem.offset and isinstance(node, str) and 0 < line <= len(lines):
            column = _column_in_text(lines[line - 1], column, node, problem.offset)
        return problem.at(line, column)

    def locate_all(self, problems: Iterable[Problem]) -> list[Problem]:
        located = [self.locate(p) for p in problems]
        return sorted(located, key=Problem.sort_key)

    def _parsed(self, file: str) -> tuple[list[Any], list[str]] | None:
        if file not in self._documents:
            try:
                yaml = YAML(typ="rt")
                yaml.allow_duplicate_keys = True
                text = Path(file).read_text(encoding="utf-8")
                self._documents[file] = (list(yaml.load_all(text)), text.splitlines())
            except (OSError, UnicodeDecodeError, YAMLError):
                self._documents[file] = None
        return self._documents[file]


def _position(document: object, path: DocPath, aim: Aim) -> tuple[int, int, object]:
    """1-based line and column of the node at `path` (see `Aim` for which part of it), and the
    node; or, where the path leaves the document, the key of its deepest existing ancestor and
    None."""
    node = document
    line, column = _start_of(document)
    for index, item in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, CommentedMap) and item in node:
            child = node[item]
            if last and aim is not Aim.NODE:
                use_key = aim is Aim.KEY
            else:
                use_key = isinstance(child, CommentedMap | CommentedSeq)
            line, column = node.lc.key(item) if use_key else node.lc.value(item)
            node = child
        elif isinstance(node, CommentedSeq) and isinstance(item, int) and 0 <= item < len(node):
            line, column = node.lc.item(item)
            node = node[item]
        else:
            return line + 1, column + 1, None
    return line + 1, column + 1, node


def _column_in_text(line: str, column: int, text: str, offset: int) -> int:
    """The column `offset` characters into the scalar `text` that starts at `column` of
    `line`, if the line holds it as written (plain or quoted, no escapes before the offset);
    otherwise `column`, the start of the scalar."""
    start = column - 1
    if line[start : start + 1] in ("'", '"'):
        start += 1
    return start + offset + 1 if line.startswith(text[:offset], start) else column


def _start_of(node: object) -> tuple[int, int]:
    if isinstance(node, CommentedMap | CommentedSeq) and node.lc.line is not None:
        return node.lc.line, node.lc.col
    return 0, 0


def severity_counts(problems: Iterable[Problem]) -> tuple[int, int]:
    errors = warnings = 0
    for problem in problems:
        if problem.severity is Severity.ERROR:
            errors += 1
        else:
            warnings += 1
    return errors, warnings
