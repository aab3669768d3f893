#!/usr/bin/env python3
"""The project's commands, with nothing but Python 3.11 installed.

    python3 dev.py demo         set up .venv, validate the example fleet and run it with
                                simulated chargers; the web view is at http://127.0.0.1:8080/
                                (extra arguments go to `chargectl serve`)
    python3 dev.py test         set up .venv and run the whole test suite (ruff, mypy, the
                                import contracts, pytest)
    python3 dev.py screenshots  set up .venv and save the README's screenshots of the web view
                                in docs/ (needs Debian's chromium; an argument: another folder)

A virtualenv in .venv is created or refreshed when pyproject.toml changes. Extra arguments
after `test` go to pytest (e.g. `python3 dev.py test -k validate`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("CHARGECTL_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".chargectl-installed"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"chargectl needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not (BIN / "python").exists():
        print(f"creating virtualenv in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev,kubernetes]")
    STAMP.touch()


NODE_PACKAGES = {
    ROOT / "tests" / "interop": "the interop tests (an independent OCPP stack)",
    ROOT / "tests" / "e2e" / "browser": "the browser tests' accessibility check (axe-core)",
}
"""The test directories with a package-lock.json of their own, and what needs each."""


def ensure_node_packages() -> None:
    """`npm ci` in each of NODE_PACKAGES whose node_modules is older than its lock (the tests
    that need one skip, saying so, if npm is missing)."""
    if shutil.which("npm") is None:
        for needed in NODE_PACKAGES.values():
            print(f"npm not found: {needed} will be skipped", flush=True)
        return
    for directory in NODE_PACKAGES:
        installed = directory / "node_modules" / ".package-lock.json"
        lock = directory / "package-lock.json"
        if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
            continue
        run("npm", "ci", "--prefix", directory, "--no-audit", "--no-fund", "--loglevel=error")


def demo(args: list[str]) -> None:
    run(BIN / "chargectl", "validate", "examples/fleet")
    store = ROOT / ".demo" / "chargectl.db"
    store.parent.mkdir(exist_ok=True)
    print("Starting the central system with a simulated fleet; Ctrl-C stops it.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        run(
            BIN / "chargectl",
            "serve",
            "examples/fleet",
            "--simulate",  # every listener on loopback, the defaults
            "--store",
            f"sqlite:///{store}",
            *args,
        )


def test(args: list[str]) -> None:
    ensure_node_packages()
    run(BIN / "ruff", "check", "controller", "tests", "bench", "dev.py")
    run(BIN / "ruff", "format", "--check", "controller", "tests", "bench", "dev.py")
    run(BIN / "mypy", "--strict", "controller")
    run(BIN / "lint-imports")
    run(BIN / "python", "-m", "pytest", *args)


def screenshots(args: list[str]) -> None:
    run(BIN / "python", "-m", "tests.e2e.browser.screenshots", *args)


COMMANDS = {"demo": demo, "test": test, "screenshots": screenshots}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    ensure_venv()
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
