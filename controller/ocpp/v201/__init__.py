"""OCPP 2.0.1, as one folder: `handlers` (the station's CALLs), `commands` (ours),
`conversions` (wire dicts ↔ values), and here the binding the endpoint's table holds."""

from __future__ import annotations

from controller.ocpp.binding import VersionBinding
from controller.ocpp.central import CentralSystem
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.ocpp.v201.commands import V201Commands
from controller.ocpp.v201.conversions import redact
from controller.ocpp.v201.handlers import Reports, V201Handlers
from controller.resources.settings import OcppVersion

__all__ = ["BINDING", "V201Charger"]


class V201Charger(V201Commands):
    """A connected OCPP 2.0.1 charging station: answers its CALLs, implements `ChargerCommands`.

    Its handlers and commands share the base reports in flight: GetBaseReport (a command)
    is answered by NotifyReport CALLs (handled)."""

    def __init__(self, session: Session, central: CentralSystem) -> None:
        reports: Reports = {}
        super().__init__(session, central, reports)
        session.handlers = V201Handlers(session.identity, central, reports).table


BINDING = VersionBinding(
    subprotocol="ocpp2.0.1",
    rpc=RpcVersion.V201,
    ocpp=OcppVersion.V201,
    charger=V201Charger,
    password_key="SecurityCtrlr.BasicAuthPassword",
    redact=redact,
)
