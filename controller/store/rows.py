"""Between the value types and table rows, both ways; no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row

from controller.values.records import (
    BootInfo,
    ChargerCondition,
    ChargerRecord,
    ConnectorStatus,
    Direction,
    Event,
    KeyState,
    KeyStatus,
    LogEntry,
    MessageType,
    MeterSample,
    ReportedKey,
    Transaction,
)

_MESSAGE_TYPES = {int(t): t for t in MessageType}


def status_row(status: ConnectorStatus) -> dict[str, Any]:
    return {
        "identity": status.identity,
        "connector_id": status.connector_id,
        "status": status.status,
        "error_code": status.error_code,
        "info": status.info,
        "vendor_error_code": status.vendor_error_code,
        "at": status.timestamp,
    }


def meter_row(sample: MeterSample) -> dict[str, Any]:
    return {
        "transaction_id": sample.transaction_id,
        "identity": sample.identity,
        "connector_id": sample.connector_id,
        "at": sample.timestamp,
        "measurand": sample.measurand,
        "phase": sample.phase,
        "location": sample.location,
        "unit": sample.unit,
        "context": sample.context,
        "value": sample.value,
    }


def event_row(event: Event) -> dict[str, Any]:
    return {
        "identity": event.identity,
        "at": event.at,
        "kind": event.kind,
        "message": event.message,
        "data": dict(event.data),
    }


def key_status_row(status: KeyStatus) -> dict[str, Any]:
    return {
        "identity": status.identity,
        "key": status.key,
        "state": str(KeyState(status.state)),
        "value": status.value,
        "at": status.at,
        "detail": status.detail,
        "attempts": status.attempts,
    }


def condition_row(condition: ChargerCondition) -> dict[str, Any]:
    return {
        "identity": condition.identity,
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "last_transition_time": condition.last_transition_time,
        "observed_generation": condition.observed_generation,
    }


def boot_values(boot: BootInfo) -> dict[str, Any]:
    return {
        "vendor": boot.vendor,
        "model": boot.model,
        "serial_number": boot.serial_number,
        "firmware_version": boot.firmware_version,
        "iccid": boot.iccid,
        "imsi": boot.imsi,
        "meter_type": boot.meter_type,
        "meter_serial_number": boot.meter_serial_number,
    }


def connector_status(row: Row[Any]) -> ConnectorStatus:
    return ConnectorStatus(
        identity=row.identity,
        connector_id=row.connector_id,
        status=row.status,
        timestamp=row.at,
        error_code=row.error_code,
        info=row.info,
        vendor_error_code=row.vendor_error_code,
    )


def reported_key(row: Row[Any]) -> ReportedKey:
    return ReportedKey(key=row.key, value=row.value, readonly=row.readonly)


def charger_record(
    row: Row[Any],
    connectors: Iterable[ConnectorStatus],
    configuration: Iterable[ReportedKey] | None,
) -> ChargerRecord:
    boot = None
    if row.booted_at is not None:
        boot = BootInfo(
            vendor=row.vendor,
            model=row.model,
            serial_number=row.serial_number,
            firmware_version=row.firmware_version,
            iccid=row.iccid,
            imsi=row.imsi,
            meter_type=row.meter_type,
            meter_serial_number=row.meter_serial_number,
        )
    return ChargerRecord(
        identity=row.identity,
        pending=row.pending,
        pending_since=row.pending_since,
        pending_location=row.pending_location,
        ocpp_version=row.ocpp_version,
        boot=boot,
        booted_at=row.booted_at,
        connected=row.connected,
        connected_at=row.connected_at,
        disconnected_at=row.disconnected_at,
        disconnect_reason=row.disconnect_reason,
        remote_address=row.remote_address,
        last_heartbeat=row.last_heartbeat,
        connectors=tuple(sorted(connectors, key=lambda c: c.connector_id)),
        configuration=None if configuration is None else tuple(configuration),
        configuration_at=row.configuration_at,
    )


def transaction(row: Row[Any]) -> Transaction:
    return Transaction(
        id=row.id,
        identity=row.identity,
        connector_id=row.connector_id,
        started_at=row.started_at,
        meter_start_wh=row.meter_start_wh,
        id_tag=row.id_tag,
        charger_transaction_id=row.charger_transaction_id,
        meter_last_wh=row.meter_last_wh,
        updated_at=row.updated_at,
        stopped_at=row.stopped_at,
        meter_stop_wh=row.meter_stop_wh,
        stop_reason=row.stop_reason,
        stop_id_tag=row.stop_id_tag,
        energy_wh=row.energy_wh,
    )


def meter_sample(row: Row[Any]) -> MeterSample:
    return MeterSample(
        identity=row.identity,
        connector_id=row.connector_id,
        timestamp=row.at,
        value=row.value,
        measurand=row.measurand,
        unit=row.unit,
        phase=row.phase,
        location=row.location,
        context=row.context,
        transaction_id=row.transaction_id,
    )


def event(row: Row[Any]) -> Event:
    return Event(
        at=row.at,
        kind=row.kind,
        message=row.message,
        identity=row.identity,
        data=row.data,
        id=row.id,
    )


def log_entry(row: Row[Any]) -> LogEntry:
    return LogEntry(
        identity=row.identity,
        at=row.at,
        direction=Direction(row.direction),
        message_type=_MESSAGE_TYPES.get(row.message_type, row.message_type),
        unique_id=row.unique_id,
        frame=row.frame,
        action=row.action,
        id=row.seq,
    )


def key_status(row: Row[Any]) -> KeyStatus:
    return KeyStatus(
        identity=row.identity,
        key=row.key,
        state=KeyState(row.state),
        value=row.value,
        at=row.at,
        detail=row.detail,
        attempts=row.attempts,
    )


def condition(row: Row[Any]) -> ChargerCondition:
    return ChargerCondition(
        identity=row.identity,
        type=row.type,
        status=row.status,
        reason=row.reason,
        message=row.message,
        last_transition_time=row.last_transition_time,
        observed_generation=row.observed_generation,
    )
