"""The import contracts in pyproject.toml hold, and would catch an import that breaks them.

`python3 dev.py test` runs `lint-imports` on the tree as it is; these tests show the contracts
are not vacuous: the same check, on a copy of the package with one wrong import added, fails
and names that import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on `tree` (a pyproject.toml beside a `controller` package)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT / "controller", tree / "controller", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return tree


@pytest.fixture(scope="module", autouse=True)
def _needs_lint_imports() -> None:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (pip install -e .[dev])")


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint(_copy_with(tmp_path, "controller.values.timestamps", "# untouched"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "wrong_import", "named"),
    [
        # a lower layer reaching up: the reconciler into the web view
        (
            "controller.reconciler.scheduler",
            "import controller.web.metrics",
            "controller.reconciler.scheduler -> controller.web.metrics",
        ),
        # the resources knowing of the OCPP endpoint
        (
            "controller.resources.charger",
            "import controller.ocpp.session",
            "controller.resources.charger -> controller.ocpp.session",
        ),
        # pure planning doing I/O
        ("controller.planning.tariffs", "import asyncio", "controller.planning.tariffs -> asyncio"),
        # the simulator using the server's store
        (
            "controller.simulator.clock",
            "import controller.store.base",
            "controller.simulator.clock -> controller.store.base",
        ),
    ],
)
def test_a_wrong_import_breaks_the_build(
    tmp_path: Path, module: str, wrong_import: str, named: str
) -> None:
    result = _lint(_copy_with(tmp_path, module, wrong_import))
    assert result.returncode != 0
    assert named in result.stdout
