"""The store's value types (`controller.values.records`) and small rules, and its public
surface: the interface and `open_store`; the records are values of their own layer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, StatementError

import controller.store
import controller.values.records
from controller.store.engine import is_transient
from controller.store.schema import UtcDateTime
from controller.values.records import (
    ChargerCondition,
    KeyState,
    MeterSample,
    TransactionStop,
    TransactionUpdate,
    energy_between,
    register_wh,
    utc,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_the_public_names_are_the_documented_ones() -> None:
    assert set(controller.store.__all__) == {"Store", "open_store"}
    assert all(hasattr(controller.store, name) for name in controller.store.__all__)
    assert {
        "ENERGY_REGISTER", "BootInfo", "ChargerCondition", "ChargerRecord", "ConnectorStatus",
        "Direction", "Event", "KeyState", "KeyStatus", "LogEntry", "MessageType", "MeterSample",
        "ReportedKey", "Transaction", "TransactionStart", "TransactionStop", "TransactionUpdate",
    } <= set(vars(controller.values.records))  # fmt: skip


def test_a_stop_or_update_names_its_transaction_exactly_once() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TransactionStop("CP-1", T0)
    with pytest.raises(ValueError, match="exactly one"):
        TransactionStop("CP-1", T0, transaction_id=1, charger_transaction_id="a")
    with pytest.raises(ValueError, match="exactly one"):
        TransactionUpdate("CP-1", T0)
    assert TransactionStop("CP-1", T0, charger_transaction_id="a").transaction_id is None


@pytest.mark.parametrize(
    ("start", "stop", "energy"),
    [(1000, 4500, 3500), (1000, 1000, 0), (None, 4500, None), (1000, None, None), (5, 1, None)],
)
def test_energy_between(start: int | None, stop: int | None, energy: int | None) -> None:
    assert energy_between(start, stop) == energy


def test_utc_converts_aware_and_refuses_naive_timestamps() -> None:
    assert utc(datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))) == T0
    assert utc(T0).tzinfo is UTC
    with pytest.raises(ValueError, match="no timezone"):
        utc(datetime(2025, 3, 1, 12, 0))


def test_meter_values_keep_their_text_and_read_as_decimal() -> None:
    sample = MeterSample("CP-1", 1, T0, "0012.50")
    assert sample.value == "0012.50" and str(sample.decimal) == "12.50"


def test_timestamps_are_stored_in_utc_on_both_dialects() -> None:
    column = UtcDateTime()
    pg: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    lite: Dialect = sqlite.dialect()
    local = datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert column.process_bind_param(local, pg) == T0
    assert column.process_bind_param(local, lite) == "2025-03-01 12:00:00.000000"  # sorts as time
    assert column.process_result_value("2025-03-01 12:00:00.000000", lite) == T0
    assert column.process_result_value(datetime(2025, 3, 1, 12, 0), lite) == T0
    with pytest.raises(ValueError):
        column.process_bind_param(datetime(2025, 3, 1), lite)


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OperationalError("INSERT", {}, Exception("database is locked")), True),
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), False),
        (DBAPIError("INSERT", {}, _PgError("40P01")), True),  # deadlock
        (DBAPIError("INSERT", {}, _PgError("08006")), True),  # connection failure
        (DBAPIError("INSERT", {}, _PgError("22003")), False),  # numeric value out of range
        (StatementError("bad value", "INSERT", {}, ValueError("x")), False),
        (ConnectionRefusedError(), True),
        (asyncio.CancelledError(), True),
        (ValueError("x"), False),
    ],
)
def test_passing_errors_are_told_from_lasting_ones(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_condition_status_is_true_false_or_unknown() -> None:
    for status in ("True", "False", "Unknown"):
        assert ChargerCondition("CP-1", "Ready", status, "", "", T0).status == status
    with pytest.raises(ValueError, match="not one of True, False, Unknown"):
        ChargerCondition("CP-1", "Ready", "true", "", "", T0)


def test_key_states_are_the_wire_words() -> None:
    assert [str(state) for state in KeyState] == [
        "Pending", "Applied", "RebootRequired", "Rejected", "NotSupported", "Failed"
    ]  # fmt: skip
    assert KeyState("RebootRequired") is KeyState.REBOOT_REQUIRED


def _register(value: str, **fields: str | None) -> MeterSample:
    return MeterSample(
        "CP-1", 1, datetime(2026, 1, 1, tzinfo=UTC), value, "Energy.Active.Import.Register",
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sample", "wh"),
    [
        (_register("5000"), 5000),
        (_register("5000", unit="Wh", location="Outlet"), 5000),
        (_register("12.5", unit="kWh"), 12500),
        (_register("48000000", location="Inlet"), None),  # the grid side, not the session
        (_register("900", location="EV"), None),
        (_register("5000", unit="varh"), None),
        (_register("1700", phase="L1"), None),
        (_register("n/a"), None),
    ],
)
def test_only_the_outlets_whole_register_in_wh_or_kwh_is_a_reading(
    sample: MeterSample, wh: int | None
) -> None:
    """What raises a transaction's last reading and prices it: the rule 2.0.1's
    register_readings applies to TransactionEvent, applied to every stored sample."""
    assert register_wh(sample) == wh
