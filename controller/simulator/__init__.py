"""Simulated OCPP 1.6 and 2.0.1 chargers, for demos, tests and benchmarks.

The public names are re-exported here; the modules behind them are private to the package:

- `SimulatedCharger` (`Charger16`, `Charger201`, or `make_charger(version, ...)`): one charger
  with `run()`, `stop()`, `plug_in()`, `unplug()`, `drop()`, `send_raw()`, `misbehave()`,
  its `configuration` table and `offered_current()`;
- `SimProfile`: how its configuration and hardware behave;
- `chargers_from_fleet()` and `anonymous_chargers()`: many at once;
- `run_simulation()` with `DriverOptions`: run them, with cars coming and going;
- `BadFrame` and `RawExchange`: misbehaving on purpose.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.simulator.charger import SimulatedCharger, firmware_version_from_url
    from controller.simulator.clock import SimClock
    from controller.simulator.config_table import ChangeOutcome
    from controller.simulator.driver import DriverOptions
    from controller.simulator.errors import (
        CallErrorReply,
        CallFailed,
        NotConnected,
        SessionRefused,
        SimulatorError,
    )
    from controller.simulator.fleet import anonymous_chargers, chargers_from_fleet, make_charger
    from controller.simulator.frames import BadFrame, RawExchange, bad_frame
    from controller.simulator.profile import DEFAULT_PROFILE, FirmwareFailure, SimProfile
    from controller.simulator.run import run_simulation
    from controller.simulator.state import ConnectorSpec, Identification
    from controller.simulator.v16 import Charger16
    from controller.simulator.v201 import Charger201

_HOMES = {
    "SimulatedCharger": "charger",
    "firmware_version_from_url": "charger",
    "SimClock": "clock",
    "ChangeOutcome": "config_table",
    "DriverOptions": "driver",
    "CallErrorReply": "errors",
    "CallFailed": "errors",
    "NotConnected": "errors",
    "SessionRefused": "errors",
    "SimulatorError": "errors",
    "anonymous_chargers": "fleet",
    "chargers_from_fleet": "fleet",
    "make_charger": "fleet",
    "BadFrame": "frames",
    "RawExchange": "frames",
    "bad_frame": "frames",
    "DEFAULT_PROFILE": "profile",
    "FirmwareFailure": "profile",
    "SimProfile": "profile",
    "run_simulation": "run",
    "ConnectorSpec": "state",
    "Identification": "state",
    "Charger16": "v16",
    "Charger201": "v201",
}
"""Where each public name lives. Imported on first use, so that `chargectl validate` does not
pay for loading the OCPP library when the simulate command is merely registered."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "DEFAULT_PROFILE",
    "BadFrame",
    "CallErrorReply",
    "CallFailed",
    "ChangeOutcome",
    "Charger16",
    "Charger201",
    "ConnectorSpec",
    "DriverOptions",
    "FirmwareFailure",
    "Identification",
    "NotConnected",
    "RawExchange",
    "SessionRefused",
    "SimClock",
    "SimProfile",
    "SimulatedCharger",
    "SimulatorError",
    "anonymous_chargers",
    "bad_frame",
    "chargers_from_fleet",
    "firmware_version_from_url",
    "make_charger",
    "run_simulation",
]
