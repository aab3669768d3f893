"""OCPP 1.6J, as one folder: `handlers` (the charger's CALLs), `commands` (ours),
`conversions` (wire dicts ↔ values), and here the binding the endpoint's table holds."""

from __future__ import annotations

from controller.ocpp.binding import VersionBinding
from controller.ocpp.central import CentralSystem
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.ocpp.v16.commands import V16Commands
from controller.ocpp.v16.conversions import redact
from controller.ocpp.v16.handlers import V16Handlers
from controller.resources.settings import OcppVersion

__all__ = ["BINDING", "V16Charger"]


class V16Charger(V16Commands):
    """A connected OCPP 1.6 charger: answers its CALLs, implements `ChargerCommands`."""

    def __init__(self, session: Session, central: CentralSystem) -> None:
        super().__init__(session, central)
        session.handlers = V16Handlers(session.identity, central).table


BINDING = VersionBinding(
    subprotocol="ocpp1.6",
    rpc=RpcVersion.V16,
    ocpp=OcppVersion.V16,
    charger=V16Charger,
    password_key="AuthorizationKey",
    redact=redact,
)
