"""The parts of the untyped `ocpp` library the simulator uses, behind one import.

The library ships no type information; `_ocpp.pyi` next to this module declares the small
surface we rely on, so the rest of the simulator type-checks strictly without scattering
`type: ignore` comments. At runtime this module simply re-exports the library's objects.
"""

from __future__ import annotations

from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

__all__ = [
    "ChargePoint16",
    "ChargePoint201",
    "OCPPError",
    "call16",
    "call201",
    "on",
    "result16",
    "result201",
]
