"""OCPP 1.6J: the charger's CALLs, answered and recorded through the central system.

Each handler takes the validated payload and returns the reply payload (the session checks both
against the schemas). What is decided (boot, authorisation) and what is kept (store, events) is
the central system's; here is only what the 1.6 messages mean.
"""

from __future__ import annotations

from typing import Any

from controller.ocpp.central import CentralSystem
from controller.ocpp.common import CommonHandlers
from controller.ocpp.session import Handler
from controller.ocpp.v16.conversions import (
    boot_info,
    connector_status,
    id_tag_info,
    meter_samples,
)
from controller.values.records import TransactionStart, TransactionStop
from controller.values.timestamps import parse_timestamp


class V16Handlers(CommonHandlers):
    """The answers to one connected 1.6 charger's CALLs; `table` is the session's handlers."""

    def __init__(self, identity: str, central: CentralSystem) -> None:
        super().__init__(identity, central, boot_info, connector_status)

    @property
    def table(self) -> dict[str, Handler]:
        return {
            **self.shared_table(),
            "Authorize": self.authorize,
            "StartTransaction": self.start_transaction,
            "StopTransaction": self.stop_transaction,
            "MeterValues": self.meter_values,
            "DiagnosticsStatusNotification": self.diagnostics_status,
            "FirmwareStatusNotification": self.firmware_status,
            "SecurityEventNotification": self.security_event,
            "LogStatusNotification": self.log_status,
            "SignedFirmwareStatusNotification": self.firmware_status,
        }

    async def authorize(self, payload: dict[str, Any]) -> dict[str, Any]:
        decision = self.central.authorize(self.identity, payload["idTag"])
        return {"idTagInfo": id_tag_info(decision)}

    async def start_transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        decision = self.central.authorize(self.identity, payload["idTag"])
        # The transaction is recorded (and committed) even when the card is refused: the
        # charger may already be delivering energy (offline start), and will stop on our answer.
        # Not for a charger not in the fleet: its id names no stored transaction (see
        # CentralSystem.start_transaction), and its stop is answered all the same.
        transaction = await self.central.start_transaction(
            TransactionStart(
                identity=self.identity,
                connector_id=payload["connectorId"],
                started_at=parse_timestamp(payload["timestamp"]),
                meter_start_wh=payload["meterStart"],
                id_tag=payload["idTag"],
            )
        )
        return {"transactionId": transaction.id, "idTagInfo": id_tag_info(decision)}

    async def stop_transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        transaction_id = payload["transactionId"]
        stop = TransactionStop(
            identity=self.identity,
            stopped_at=parse_timestamp(payload["timestamp"]),
            transaction_id=transaction_id,
            meter_stop_wh=payload["meterStop"],
            reason=payload.get("reason", "Local"),
            id_tag=payload.get("idTag"),
        )
        transaction = await self.central.stop_transaction(stop)
        if transaction is not None and payload.get("transactionData"):
            await self.central.meter_values(
                meter_samples(
                    self.identity,
                    transaction.connector_id,
                    payload["transactionData"],
                    transaction.id,
                )
            )
        if "idTag" in payload:
            return {
                "idTagInfo": id_tag_info(self.central.authorize(self.identity, payload["idTag"]))
            }
        return {}

    async def meter_values(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.meter_values(
            meter_samples(
                self.identity,
                payload["connectorId"],
                payload["meterValue"],
                payload.get("transactionId"),
            )
        )
        return {}

    async def diagnostics_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity, "DiagnosticsStatus", f"diagnostics {status}", {"status": status}
        )
        return {}

    async def firmware_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity, "FirmwareStatus", f"firmware {status}", {"status": status}
        )
        return {}

    async def security_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.reported(
            self.identity,
            "SecurityEvent",
            f"security event {payload['type']}",
            {"type": payload["type"], "techInfo": payload.get("techInfo")},
        )
        return {}

    async def log_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(self.identity, "LogStatus", f"log {status}", {"status": status})
        return {}
