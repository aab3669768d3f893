"""Fixtures of the browser tests: one headless chromium and one `chargectl serve` of the
example fleet for the package, a fresh browser context per test (see harness.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.harness import (
    AXE,
    CHROMIUM_ARGS,
    DEADLINE,
    EXAMPLES,
    HERE,
    OPERATOR,
    ContextFactory,
    Served,
    every_charger_connected,
    start_serve,
    unavailable,
)


@pytest.fixture(scope="package")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[Any]:
    """One headless chromium for the package (Playwright's launch gives it a fresh profile)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The example fleet, served with a simulated charger each, behind a trusted proxy."""
    tmp = tmp_path_factory.mktemp("browser-serve")
    server = start_serve(tmp, EXAMPLES, "--simulate", "--seed", "7", "--sessions-per-hour", "6")
    try:
        every_charger_connected(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def open_context(browser: Any) -> Iterator[ContextFactory]:
    """`open_context(served, email, **options)`: a fresh browser context (no cookies) whose
    every request says the proxy signed in `email`; closed after the test."""
    contexts: list[Any] = []

    def open_one(served: Served, email: str | None = OPERATOR, **options: Any) -> Any:
        headers = {"X-Forwarded-Email": email} if email else {}
        context = browser.new_context(
            base_url=served.base,
            extra_http_headers=headers,
            locale=options.pop("locale", "en-GB"),
            timezone_id=options.pop("timezone_id", "Europe/Amsterdam"),
            **options,
        )
        context.set_default_timeout(DEADLINE * 1000 / 2)
        contexts.append(context)
        return context

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_context: ContextFactory, served: Served) -> Any:
    """A page in a fresh context, signed in as a Voltway operator."""
    return open_context(served).new_page()


@pytest.fixture(scope="package")
def axe_script() -> Path:
    if not AXE.exists():
        unavailable(f"axe-core is not installed in {HERE / 'node_modules'} (npm ci there)")
    return AXE
