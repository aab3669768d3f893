"""`chargectl` as CI and operators call it: exit codes, output formats, import then validate."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from controller import __version__
from controller.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet"
CSV = ROOT / "examples" / "import" / "chargers.csv"

TEAM_WITH_TYPO = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: ops
spec:
  displayName: Ops
  handle: ops
  colour: red
"""

WARNING_ONLY = """\
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
  maintenanceWindow:
    - start: "03:00"
      end: "03:00"
"""


def chargectl(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write(tmp_path: Path, text: str, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_without_a_path_is_a_usage_error() -> None:
    result = chargectl("validate")
    assert result.exit_code == 2
    assert "PATHS" in result.output


def test_missing_path_is_reported_and_fails(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = chargectl("validate", str(missing))
    assert result.exit_code == 1
    assert "path-not-found" in result.stdout
    assert str(missing) in result.stdout


def test_github_output_annotates_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, TEAM_WITH_TYPO)
    result = chargectl("validate", "--output", "github", str(path))
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert annotations == [
        f"::error file={path},line=8,col=3,title=chargectl unknown-field"
        "::unknown field 'colour' (allowed: autoEnroll, billing, branding, displayName, "
        "firmwareRollout, handle, teammates) (spec.colour)"
    ]


def test_warnings_alone_pass(tmp_path: Path) -> None:
    result = chargectl("validate", str(write(tmp_path, WARNING_ONLY)))
    assert result.exit_code == 0
    assert "warning[empty-window]" in result.stdout


def test_strict_turns_warnings_into_failure(tmp_path: Path) -> None:
    result = chargectl("validate", "--strict", str(write(tmp_path, WARNING_ONLY)))
    assert result.exit_code == 1
    assert "0 errors and 1 warning" in result.stdout


def test_imported_chargers_validate_with_the_example_fleet(tmp_path: Path) -> None:
    out = tmp_path / "imported"
    imported = chargectl("import", str(CSV), "--location", "centrum-garage", "--out", str(out))
    assert imported.exit_code == 0, imported.output
    written = sorted(out.glob("*.yaml"))
    assert len(written) == len(CSV.read_text(encoding="utf-8").splitlines()) - 1

    result = chargectl("validate", str(FLEET), str(out))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip().endswith("valid.")


def test_version_is_printed() -> None:
    result = chargectl("--version")
    assert result.exit_code == 0
    assert re.fullmatch(rf"chargectl, version {re.escape(__version__)}\s*", result.output)


def test_installed_script_validates_the_example_fleet() -> None:
    script = Path(sys.executable).parent / "chargectl"
    done = subprocess.run(
        [str(script), "validate", str(FLEET)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid." in done.stdout


HEAVY = (
    "ocpp",
    "websockets",
    "aiohttp",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "uvloop",
    "controller.ocpp",
    "controller.store",
    "controller.runtime",
    "controller.web",
    "controller.reconciler",
    "controller.converge",
    "controller.simulator",
)
"""What `chargectl validate` must not load: CI runs it on every pull request, and should pay for
the fleet checker only, not for the OCPP stack, a database driver or the server."""


def test_validate_loads_neither_the_ocpp_stack_nor_a_database_driver() -> None:
    code = (
        "import json, sys\n"
        "from controller.cli.app import main\n"
        "try:\n"
        f"    main(['validate', {str(FLEET)!r}])\n"
        "except SystemExit as exit:\n"
        "    print(json.dumps([exit.code, sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    status, modules = json.loads(done.stdout.splitlines()[-1])
    assert status == 0, done.stdout + done.stderr
    loaded = [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]
    assert loaded == []


def _on_a_terminal(*args: str, no_color: bool) -> str:
    """What `chargectl ARGS` writes to a terminal (a pseudo-terminal), with or without
    NO_COLOR set."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    if no_color:
        env["NO_COLOR"] = "1"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "chargectl"), *args],
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(leader)
    return output.decode()


def test_problems_are_coloured_on_a_terminal_unless_no_color_is_set() -> None:
    invalid = str(ROOT / "examples" / "invalid" / "card-expired.yaml")
    assert "\x1b[" in _on_a_terminal("validate", invalid, no_color=False)
    assert "\x1b[" not in _on_a_terminal("validate", invalid, no_color=True)
