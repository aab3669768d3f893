"""chargectl: an OCPP central system that converges EV chargers to a fleet declared as code."""

from __future__ import annotations

__version__ = "0.1.0"
