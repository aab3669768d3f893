"""The OCPP versions the endpoint speaks, keyed by websocket subprotocol.

The server offers these subprotocols, picks a charger's version by the one agreed, and builds
its charger object with the binding's factory; supporting a version is adding its folder and
its row here. The order is the preference for a charger whose version the fleet does not
declare: the newest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from controller.ocpp import v16, v201
from controller.ocpp.binding import VersionBinding
from controller.resources.settings import OcppVersion

VERSIONS: Final[Mapping[str, VersionBinding]] = MappingProxyType(
    {binding.subprotocol: binding for binding in (v201.BINDING, v16.BINDING)}
)

BY_OCPP_VERSION: Final[Mapping[OcppVersion, VersionBinding]] = MappingProxyType(
    {binding.ocpp: binding for binding in VERSIONS.values()}
)
"""The binding of each version as the fleet declares it (`spec.ocppVersion`)."""
