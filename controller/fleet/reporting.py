"""Problems for people and for machines: compiler-style text, JSON, GitHub annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from controller.fleet.problems import Problem, Severity, format_path

JSON_FORMAT_VERSION = 1


def _snippet(problem: Problem, cache: dict[str, list[str]]) -> list[str]:
    """The offending line with a caret under the column, as compilers show it."""
    if problem.file is None or problem.line is None:
        return []
    if problem.file not in cache:
        try:
            cache[problem.file] = Path(problem.file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            cache[problem.file] = []
    lines = cache[problem.file]
    if not 0 < problem.line <= len(lines):
        return []
    number = str(problem.line)
    gutter = " " * len(number)
    caret = " " * max((problem.column or 1) - 1, 0) + "^"
    return [
        f"  {number} | {lines[problem.line - 1]}",
        f"  {gutter} | " + click.style(caret, fg="red", bold=True),
    ]


def format_human(problems: Sequence[Problem], summary: str) -> str:
    out: list[str] = []
    cache: dict[str, list[str]] = {}
    for problem in problems:
        where = problem.file or "<fleet>"
        if problem.line is not None:
            where += f":{problem.line}:{problem.column or 1}"
        colour = "red" if problem.severity is Severity.ERROR else "yellow"
        label = click.style(f"{problem.severity.value}[{problem.code}]", fg=colour, bold=True)
        out.append(f"{click.style(where, bold=True)}: {label}: {problem.message}")
        context = []
        if problem.resource:
            context.append(f"in {problem.resource}")
        if problem.path:
            context.append(f"at {format_path(problem.path)}")
        if context:
            out.append("  " + " ".join(context))
        out.extend(_snippet(problem, cache))
        out.append("")
    out.append(summary)
    return "\n".join(out)


def problem_to_dict(problem: Problem) -> dict[str, object]:
    return {
        "code": problem.code,
        "severity": problem.severity.value,
        "message": problem.message,
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "path": format_path(problem.path) if problem.path else None,
        "resource": problem.resource,
    }


def format_json(problems: Sequence[Problem], extra: dict[str, object]) -> str:
    document = {
        "formatVersion": JSON_FORMAT_VERSION,
        **extra,
        "problems": [problem_to_dict(p) for p in problems],
    }
    return json.dumps(document, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(problems: Sequence[Problem]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on its line."""
    out = []
    for problem in problems:
        command = "error" if problem.severity is Severity.ERROR else "warning"
        props = []
        if problem.file:
            props.append(f"file={_escape_property(problem.file)}")
        if problem.line is not None:
            props.append(f"line={problem.line}")
            props.append(f"col={problem.column or 1}")
        props.append(f"title={_escape_property('chargectl ' + problem.code)}")
        where = f" ({format_path(problem.path)})" if problem.path else ""
        out.append(f"::{command} {','.join(props)}::{_escape_data(problem.message + where)}")
    return "\n".join(out)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
