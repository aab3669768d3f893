"""What the endpoint needs to know of one OCPP version: the interface each version folder fills.

Each version package (`v16/`, `v201/`) exposes one `VersionBinding` as `BINDING`; the table in
`versions.py` collects them by subprotocol. The endpoint and the session read only this, so
nothing outside a version's folder names its messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.ocpp.central import CentralSystem
from controller.ocpp.redaction import Redact
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.resources.settings import OcppVersion
from controller.values.commands import ChargerCommands

ChargerFactory = Callable[[Session, CentralSystem], ChargerCommands]
"""Builds the charger object of a new session: installs the version's handlers on the session
and returns its `ChargerCommands`."""


@dataclass(frozen=True, slots=True)
class VersionBinding:
    subprotocol: str
    """The websocket subprotocol that selects this version (OCPP-J: `ocpp` + version)."""
    rpc: RpcVersion
    """The RPC dialect: error codes and schema files."""
    ocpp: OcppVersion
    """The version as the fleet declares it (`spec.ocppVersion`) and the store records it."""
    charger: ChargerFactory
    password_key: str
    """The write-only key that sets the charger's HTTP Basic auth password (1.6 security
    whitepaper: AuthorizationKey; 2.0.1: SecurityCtrlr.BasicAuthPassword), for rotation."""
    redact: Redact
    """Masks secret values in the frames the session logs (`redaction`)."""
