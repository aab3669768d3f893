"""What every test folder shares: the event loops a test may run on, the emulated Kubernetes
API (`kube`, see `tests/kube.py`), and `--kube` for the opt-in suite against a real cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from tests.kube import kube  # noqa: F401  (the fixture, for every folder)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests marked `both_loops` run twice: on asyncio's loop, as the in-process tests do,
    and on uvloop's, which `chargectl serve` runs on where uvloop installs (transports, TLS
    and timers are uvloop's own code there). Other tests keep pytest-asyncio's default."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    if item.get_closest_marker("both_loops") is None:
        return factories  # pytest-asyncio refuses None: one factory keeps the test's name
    try:
        import uvloop
    except ImportError:  # Windows: serve runs on asyncio's loop there too
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


# --- the opt-in suite against a real cluster ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kube",
        action="store_true",
        default=False,
        help="Also run the tests marked kube_cluster against the Kubernetes cluster the "
        "current kubeconfig points at (our CRDs installed there).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--kube"):
        return
    skip = pytest.mark.skip(
        reason="needs a real Kubernetes cluster: run pytest --kube (the current kubeconfig)"
    )
    for item in items:
        if item.get_closest_marker("kube_cluster") is not None:
            item.add_marker(skip)
