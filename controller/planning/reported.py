"""What a charger reported, as JSON documents: its boot information and connector statuses.

Pure: values in, JSON-ready dicts out. The status API (`controller.web.status`) and the status
of the Charger custom resources (`controller.sources.kubernetes.status`) show the same facts in
the same words from here. Keys are camelCase, as in the fleet's YAML; times RFC 3339 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controller.fleet.model import Loaded
from controller.resources import Charger
from controller.values.records import BootInfo, ConnectorStatus
from controller.values.timestamps import iso

Document = dict[str, Any]
"""A JSON object, ready for `json.dumps`."""


def time_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def boot_document(boot: BootInfo) -> Document:
    """The charger's BootNotification, every field (None where it sent none)."""
    return {
        "vendor": boot.vendor,
        "model": boot.model,
        "serialNumber": boot.serial_number,
        "firmwareVersion": boot.firmware_version,
        "iccid": boot.iccid,
        "imsi": boot.imsi,
        "meterType": boot.meter_type,
        "meterSerialNumber": boot.meter_serial_number,
    }


def connector_documents(
    declared: Loaded[Charger] | None,
    reported: Sequence[ConnectorStatus],
    *,
    times: bool = True,
) -> list[Document]:
    """Declared connectors with their reported status, then reported ones not declared (0),
    by id. `times=False` leaves out when each status was reported (`at`): a charger repeats
    the same status with a new time, which says nothing new."""
    statuses = {s.connector_id: s for s in reported}
    items: list[Document] = []
    declared_ids: set[int] = set()
    if declared is not None:
        for connector in declared.resource.spec.connectors:
            declared_ids.add(connector.id)
            item: Document = {
                "id": connector.id,
                "type": connector.type.value,
                "currentType": connector.current_type.value,
                "maxCurrent": connector.max_current,
                "phases": connector.phases,
            }
            item.update(connector_status(statuses.get(connector.id), times=times))
            items.append(item)
    for connector_id in sorted(set(statuses) - declared_ids):
        items.append({"id": connector_id, **connector_status(statuses[connector_id], times=times)})
    items.sort(key=lambda item: int(item["id"]))
    return items


def connector_status(status: ConnectorStatus | None, *, times: bool = True) -> Document:
    """One connector's last reported status; `{"status": None}` when it reported none."""
    if status is None:
        return {"status": None}
    document: Document = {
        "status": status.status,
        "errorCode": status.error_code,
        "info": status.info,
        "vendorErrorCode": status.vendor_error_code,
    }
    if times:
        document["at"] = time_or_none(status.timestamp)
    return document
