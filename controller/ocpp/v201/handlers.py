"""OCPP 2.0.1: the charging station's CALLs, answered and recorded through the central system.

Each handler takes the validated payload and returns the reply payload (the session checks both
against the schemas). Two kinds of message need more than a translation:

* TransactionEvent Started/Updated/Ended carries the station's own transaction id. An Updated or
  Ended for a transaction we do not know (its Started went to another central system, or was
  lost with a database) creates the transaction first, so the energy delivered is never dropped.
  A station not in the fleet has no transactions recorded at all (`CentralSystem`'s
  transaction methods answer with ones that are not), so none is recovered either.
* NotifyReport is the answer to our GetBaseReport, in parts: they collect in the
  `PendingReport` the command registered, and the last one completes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.ocpp.central import CentralSystem
from controller.ocpp.common import CommonHandlers
from controller.ocpp.session import Handler
from controller.ocpp.v201.conversions import (
    Reading,
    boot_info,
    connector_status,
    first_reading,
    id_tag_of,
    id_token_info,
    last_reading,
    meter_samples,
    register_readings,
    reported_keys,
)
from controller.resources.catalogue import variable_key
from controller.values.commands import ConfigurationReport
from controller.values.records import (
    Transaction,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from controller.values.timestamps import parse_timestamp

log = logging.getLogger("chargectl.ocpp")


@dataclass(slots=True)
class PendingReport:
    """A GetBaseReport we asked for; NotifyReport parts collect here until tbc is false."""

    done: asyncio.Future[ConfigurationReport]
    last_part: float
    parts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


Reports = dict[int, PendingReport]
"""The base reports in flight on one connection, by requestId; shared by handlers and commands."""


class V201Handlers(CommonHandlers):
    """The answers to one connected 2.0.1 station's CALLs; `table` is the session's handlers."""

    def __init__(self, identity: str, central: CentralSystem, reports: Reports) -> None:
        super().__init__(identity, central, boot_info, connector_status)
        self.reports = reports

    @property
    def table(self) -> dict[str, Handler]:
        return {
            **self.shared_table(),
            "Authorize": self.authorize,
            "TransactionEvent": self.transaction_event,
            "MeterValues": self.meter_values,
            "NotifyReport": self.notify_report,
            "FirmwareStatusNotification": self.firmware_status,
            "LogStatusNotification": self.log_status,
            "SecurityEventNotification": self.security_event,
            "NotifyEvent": self.notify_event,
            "NotifyChargingLimit": self.notify_charging_limit,
            "ClearedChargingLimit": self.cleared_charging_limit,
            "ReservationStatusUpdate": self.reservation_status,
        }

    async def authorize(self, payload: dict[str, Any]) -> dict[str, Any]:
        decision = self.central.authorize(self.identity, payload["idToken"]["idToken"])
        return {"idTokenInfo": id_token_info(decision)}

    async def transaction_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        charger_transaction_id: str = payload["transactionInfo"]["transactionId"]
        evse = payload.get("evse")
        evse_id: int | None = evse["id"] if evse is not None else None
        token = payload.get("idToken")
        meter_values = payload.get("meterValue", [])
        readings = register_readings(meter_values)
        event_type = payload["eventType"]
        transaction: Transaction | None
        if event_type == "Started":
            transaction = await self._start(payload, readings, recovered=False)
        else:
            # Ended goes through an update too: it records the EVSE and token the Ended may be
            # the first to name, and tells an unknown transaction apart without a stop event.
            last = last_reading(readings)
            update = TransactionUpdate(
                identity=self.identity,
                at=parse_timestamp(payload["timestamp"]),
                charger_transaction_id=charger_transaction_id,
                id_tag=id_tag_of(token),
                meter_wh=last.wh if last is not None else None,
                connector_id=evse_id,
            )
            transaction = await self.central.update_transaction(update)
            if transaction is None:
                transaction = await self._start(payload, readings, recovered=True)
                if event_type == "Updated":
                    # The store takes the first reading of a transaction without a start
                    # reading as its start. An Ended's reading is where it stopped: not that.
                    transaction = await self.central.update_transaction(update) or transaction
            if event_type == "Ended":
                end = last_reading(readings, "Transaction.End") or last
                stopped = await self.central.stop_transaction(
                    TransactionStop(
                        identity=self.identity,
                        stopped_at=update.at,
                        charger_transaction_id=charger_transaction_id,
                        meter_stop_wh=end.wh if end is not None else None,
                        # Reason "MAY only be omitted when Reason is Local".
                        reason=payload["transactionInfo"].get("stoppedReason", "Local"),
                        id_tag=id_tag_of(token),
                    )
                )
                transaction = stopped or transaction
        if meter_values and transaction is not None:
            await self.central.meter_values(
                meter_samples(
                    self.identity,
                    evse_id if evse_id is not None else transaction.connector_id,
                    meter_values,
                    transaction.id,
                )
            )
        if token is None:
            return {}
        return {
            "idTokenInfo": id_token_info(self.central.authorize(self.identity, token["idToken"]))
        }

    async def _start(
        self, payload: dict[str, Any], readings: Sequence[Reading], *, recovered: bool
    ) -> Transaction:
        """Record the transaction a TransactionEvent belongs to.

        Without an EVSE (a Started on authorisation, before the cable is in) the connector is
        0 until an Updated names the EVSE. A transaction recovered from an Updated or Ended
        starts at its Transaction.Begin reading if the event carries one. Otherwise its start
        reading is unknown: after an Updated the store counts from the first reading it gets
        (the energy before is lost), after an Ended its energy stays unknown.
        """
        charger_transaction_id = payload["transactionInfo"]["transactionId"]
        at = parse_timestamp(payload["timestamp"])
        begin = first_reading(readings, "Transaction.Begin")
        if not recovered:
            begin = begin or first_reading(readings)
        elif begin is not None:
            at = begin.at
        evse = payload.get("evse")
        transaction = await self.central.start_transaction(
            TransactionStart(
                identity=self.identity,
                connector_id=evse["id"] if evse is not None else 0,
                started_at=at,
                meter_start_wh=begin.wh if begin is not None else None,
                id_tag=id_tag_of(payload.get("idToken")),
                charger_transaction_id=charger_transaction_id,
            )
        )
        if recovered:
            await self.central.event(
                self.identity,
                "TransactionRecovered",
                f"transaction {charger_transaction_id} was unknown: recorded from its "
                f"TransactionEvent {payload['eventType']} (seqNo {payload['seqNo']})",
                {"transactionId": charger_transaction_id, "id": transaction.id},
            )
        return transaction

    async def meter_values(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.meter_values(
            meter_samples(self.identity, payload["evseId"], payload["meterValue"], None)
        )
        return {}

    async def notify_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        pending = self.reports.get(payload["requestId"])
        if pending is None or pending.done.done():
            log.info(
                "%s: ignored NotifyReport part %s of request %s, which nobody awaits",
                self.identity,
                payload["seqNo"],
                payload["requestId"],
            )
            return {}
        pending.parts[payload["seqNo"]] = payload.get("reportData", [])
        pending.last_part = asyncio.get_running_loop().time()
        if payload.get("tbc", False):
            return {}
        report = ConfigurationReport(
            tuple(
                reported_keys(
                    item for seq_no in sorted(pending.parts) for item in pending.parts[seq_no]
                )
            )
        )
        await self.central.store.record_configuration(
            self.identity, report.values, datetime.now(UTC)
        )
        pending.done.set_result(report)
        return {}

    async def firmware_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity,
            "FirmwareStatus",
            f"firmware {status}",
            {"status": status, "requestId": payload.get("requestId")},
        )
        return {}

    async def log_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["status"]
        await self.central.reported(
            self.identity,
            "LogStatus",
            f"log {status}",
            {"status": status, "requestId": payload.get("requestId")},
        )
        return {}

    async def security_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.central.reported(
            self.identity,
            "SecurityEvent",
            f"security event {payload['type']}",
            {
                "type": payload["type"],
                "techInfo": payload.get("techInfo"),
                "timestamp": payload["timestamp"],
            },
        )
        return {}

    async def notify_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Device model events (a connector's Problem, a tripped monitor): one event each."""
        for event in payload["eventData"]:
            key = variable_key(event["component"], event["variable"])
            evse = event["component"].get("evse")
            where = f" on EVSE {evse['id']}" if evse is not None else ""
            cleared = " (cleared)" if event.get("cleared") else ""
            await self.central.reported(
                self.identity,
                "DeviceEvent",
                f"{key}{where} = {event['actualValue']}{cleared}",
                {
                    "variable": key,
                    "evse": evse,
                    "actualValue": event["actualValue"],
                    "trigger": event["trigger"],
                    "eventId": event["eventId"],
                    "timestamp": event["timestamp"],
                    "cleared": event.get("cleared", False),
                    "techCode": event.get("techCode"),
                    "techInfo": event.get("techInfo"),
                    "transactionId": event.get("transactionId"),
                },
            )
        return {}

    async def notify_charging_limit(self, payload: dict[str, Any]) -> dict[str, Any]:
        limit = payload["chargingLimit"]
        source = limit["chargingLimitSource"]
        await self.central.reported(
            self.identity,
            "ChargingLimit",
            f"charging limit set by {source}",
            {
                "source": source,
                "evseId": payload.get("evseId"),
                "isGridCritical": limit.get("isGridCritical"),
            },
        )
        return {}

    async def cleared_charging_limit(self, payload: dict[str, Any]) -> dict[str, Any]:
        source = payload["chargingLimitSource"]
        await self.central.reported(
            self.identity,
            "ChargingLimitCleared",
            f"charging limit of {source} cleared",
            {"source": source, "evseId": payload.get("evseId")},
        )
        return {}

    async def reservation_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        status = payload["reservationUpdateStatus"]
        await self.central.reported(
            self.identity,
            "ReservationStatus",
            f"reservation {payload['reservationId']} {status}",
            {"reservationId": payload["reservationId"], "status": status},
        )
        return {}
