"""One charger's connection after the handshake, on any `Transport`: from agreed subprotocol
to goodbye.

The agreed subprotocol picks the version from `versions.VERSIONS`; its binding builds the
charger object on a new session, the central system registers it (closing a connection it
replaces), and the session serves until the transport closes. Kept apart from the websockets
server so that the whole path runs on an in-memory transport in tests.

Before any of that the connection claims its charger (`store.coordination`): with several
replicas on PostgreSQL, the replica serving a charger holds its advisory lock for the life of
the connection, and one holding it elsewhere is asked to let go (the newest connection wins,
as it does within one process). One that does not let go in time leaves the connection
closed with 1013 (try again later), and the charger reconnects. With SQLite the claim always
succeeds.
"""

from __future__ import annotations

import logging

from controller.ocpp.central import CentralSystem
from controller.ocpp.session import Session
from controller.ocpp.transport import Transport
from controller.ocpp.versions import VERSIONS
from controller.store.coordination import coordination_of
from controller.values.commands import ChargerCommands

log = logging.getLogger("chargectl.ocpp")


async def serve_connection(
    transport: Transport, identity: str, central: CentralSystem, *, call_timeout: float = 30.0
) -> None:
    """Serve `identity` on `transport`, whose subprotocol is one of `VERSIONS`."""
    protocol = transport.subprotocol
    binding = VERSIONS.get(protocol) if protocol is not None else None
    if binding is None:
        raise ValueError(f"{identity}: no OCPP version speaks subprotocol {protocol!r}")
    coordination = coordination_of(central)
    claim = await coordination.claim(identity)
    if claim is None:
        log.warning(
            "%s: closed with 1013: another replica holds it and did not let go; it may retry",
            identity,
            extra={"charger": identity},
        )
        await transport.close(1013, "held by another replica; try again later")
        return
    try:
        session = Session(
            identity,
            binding.rpc,
            transport,
            central,
            call_timeout=call_timeout,
            redact=binding.redact,
        )
        charger = binding.charger(session, central)
        previous = await central.connected(
            identity, charger, binding.ocpp.value, transport.remote_address
        )
        if previous is not None:
            log.info("%s reconnected; closing its previous connection", identity)
            await _close_previous(previous)
        if not claim.valid:  # another replica took it over before it was registered here
            await central.hand_over(identity, "taken over by another replica")
        reason = "closed"
        try:
            await session.serve()
            reason = f"closed ({transport.close_code or 1006})"
        finally:
            await central.disconnected(identity, charger, reason)
    finally:
        await coordination.release(claim)


async def _close_previous(previous: ChargerCommands) -> None:
    session = getattr(previous, "session", None)
    if isinstance(session, Session):
        await session.close(1000, "replaced by a new connection")
