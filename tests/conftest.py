"""What every test folder shares: the event loops a test may run on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest


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
