"""The write-behind buffer's rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.store.buffer import (
    MeterLast,
    PendingConfiguration,
    WriteBuffer,
    later_condition,
    log_rows,
)
from controller.values.records import (
    ChargerCondition,
    ConnectorStatus,
    Direction,
    Event,
    KeyState,
    KeyStatus,
    LogEntry,
    MeterSample,
    ReportedKey,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(identity: str, n: int) -> LogEntry:
    return LogEntry(identity, at(n), Direction.RECEIVED, 2, f"{identity}-{n}", "[]", "Heartbeat")


def sample(n: int) -> MeterSample:
    return MeterSample("CP-1", 1, at(n), str(n))


def test_charger_state_and_statuses_keep_only_the_latest() -> None:
    buffer = WriteBuffer()
    buffer.charger("CP-1", {"connected": True, "connected_at": at(0), "remote_address": "a"})
    buffer.heartbeat("CP-1", at(1))
    buffer.heartbeat("CP-1", at(2))
    buffer.charger("CP-1", {"connected": False, "disconnected_at": at(3)})
    buffer.heartbeat("CP-2", at(1))
    buffer.status(ConnectorStatus("CP-1", 1, "Preparing", at(1)))
    buffer.status(ConnectorStatus("CP-1", 1, "Charging", at(2)))
    buffer.status(ConnectorStatus("CP-1", 2, "Available", at(1)))

    assert len(buffer) == 4
    batch = buffer.take()

    assert batch.chargers == {
        "CP-1": {
            "identity": "CP-1",
            "connected": False,
            "connected_at": at(0),
            "remote_address": "a",
            "last_heartbeat": at(2),
            "disconnected_at": at(3),
        },
        "CP-2": {"identity": "CP-2", "last_heartbeat": at(1)},
    }
    assert [s.status for s in batch.statuses.values()] == ["Charging", "Available"]
    assert len(buffer) == 0 and len(buffer.take()) == 0


def test_a_batch_put_back_goes_before_what_came_since() -> None:
    buffer = WriteBuffer()
    buffer.heartbeat("CP-1", at(1))
    buffer.charger("CP-1", {"connected": True})
    buffer.heartbeat("CP-2", at(1))
    buffer.log(entry("CP-1", 1))
    buffer.meter_values([sample(1)])
    buffer.event(Event(at(1), "Connected", "first"))
    failed = buffer.take()
    buffer.heartbeat("CP-1", at(5))
    buffer.log(entry("CP-1", 2))
    buffer.meter_values([sample(2)])
    buffer.event(Event(at(2), "Connected", "second"))

    buffer.put_back(failed)
    batch = buffer.take()

    assert batch.chargers == {
        "CP-1": {"identity": "CP-1", "last_heartbeat": at(5), "connected": True},
        "CP-2": {"identity": "CP-2", "last_heartbeat": at(1)},
    }
    assert [e.message for e in batch.events] == ["first", "second"]
    assert [e.unique_id for e in batch.log] == ["CP-1-1", "CP-1-2"]
    assert [s.value for s in batch.meter_values] == ["1", "2"]


def ready(status: str, seconds: int, reason: str = "", identity: str = "CP-1") -> ChargerCondition:
    return ChargerCondition(identity, "Ready", status, reason, "", at(seconds))


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    assert later_condition(None, ready("True", 5)) == ready("True", 5)
    assert later_condition(ready("True", 1, "a"), ready("True", 5, "b")) == ready("True", 1, "b")
    assert later_condition(ready("True", 1), ready("False", 5, "b")) == ready("False", 5, "b")


def test_conditions_keep_the_latest_per_charger_and_type() -> None:
    buffer = WriteBuffer()
    buffer.condition(ready("False", 1, "Pending"))
    buffer.condition(ready("False", 2, "Rejected"))
    buffer.condition(ready("Unknown", 3, identity="CP-2"))
    buffer.condition(ChargerCondition("CP-1", "Synced", "True", "Applied", "", at(4)))

    assert len(buffer) == 3
    batch = buffer.take()

    assert batch.conditions == {
        ("CP-1", "Ready"): ready("False", 1, "Rejected"),
        ("CP-2", "Ready"): ready("Unknown", 3, identity="CP-2"),
        ("CP-1", "Synced"): ChargerCondition("CP-1", "Synced", "True", "Applied", "", at(4)),
    }


def test_conditions_put_back_keep_the_earlier_transition_time() -> None:
    buffer = WriteBuffer()
    buffer.condition(ready("False", 1, "Pending"))
    buffer.condition(ready("True", 1, identity="CP-2"))
    failed = buffer.take()
    buffer.condition(ready("False", 5, "Rejected"))
    buffer.condition(ready("False", 6, identity="CP-2"))

    buffer.put_back(failed)

    assert buffer.take().conditions == {
        ("CP-1", "Ready"): ready("False", 1, "Rejected"),
        ("CP-2", "Ready"): ready("False", 6, identity="CP-2"),
    }


def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    buffer = WriteBuffer(max_queued=3)
    buffer.meter_values([sample(n) for n in range(5)])
    for n in range(4):
        buffer.log(entry("CP-1", n))

    batch = buffer.take()

    assert [s.value for s in batch.meter_values] == ["2", "3", "4"]
    assert [e.unique_id for e in batch.log] == ["CP-1-1", "CP-1-2", "CP-1-3"]
    assert buffer.dropped == 3


def test_log_rows_number_on_per_charger_and_fill_the_ring() -> None:
    entries = [entry("CP-A", 1), entry("CP-B", 1), entry("CP-A", 2)]

    rows, after = log_rows(entries, {"CP-A": 9, "CP-B": 1}, ring_size=4)

    assert [(r["identity"], r["seq"], r["slot"]) for r in rows] == [
        ("CP-A", 9, 1),
        ("CP-B", 1, 1),
        ("CP-A", 10, 2),
    ]
    assert after == {"CP-A": 11, "CP-B": 2}
    assert rows[0]["direction"] == "received" and rows[0]["message_type"] == 2


def test_log_rows_larger_than_the_ring_keep_the_newest_per_slot() -> None:
    rows, after = log_rows([entry("CP-A", n) for n in range(7)], {"CP-A": 1}, ring_size=3)

    assert sorted(r["seq"] for r in rows) == [5, 6, 7]
    assert len({r["slot"] for r in rows}) == 3
    assert after == {"CP-A": 8}


def keys(**values: str) -> list[ReportedKey]:
    return [ReportedKey(key, value) for key, value in values.items()]


def pending(replace: bool, **values: str) -> PendingConfiguration:
    return PendingConfiguration({k.key: k for k in keys(**values)}, replace)


def test_configuration_keeps_the_net_effect_of_full_and_partial_reports() -> None:
    buffer = WriteBuffer()
    buffer.configuration("CP-1", keys(A="1", B="2"), at(1), partial=True)
    buffer.configuration("CP-1", keys(B="20", C="3"), at(2), partial=True)
    buffer.configuration("CP-2", keys(A="1"), at(1), partial=True)
    buffer.configuration("CP-2", keys(B="2"), at(2))  # a full report: the partial one is moot
    buffer.configuration("CP-3", keys(A="1", B="2"), at(1))
    buffer.configuration("CP-3", keys(B="20"), at(3), partial=True)  # still a replacement

    assert len(buffer) == 6  # 3 chargers' configuration and their configuration_at
    batch = buffer.take()

    assert batch.configuration == {
        "CP-1": pending(False, A="1", B="20", C="3"),
        "CP-2": pending(True, B="2"),
        "CP-3": pending(True, A="1", B="20"),
    }
    assert batch.chargers == {
        "CP-1": {"identity": "CP-1", "configuration_at": at(2)},
        "CP-2": {"identity": "CP-2", "configuration_at": at(2)},
        "CP-3": {"identity": "CP-3", "configuration_at": at(3)},
    }


def status(identity: str, key: str, seconds: int) -> KeyStatus:
    return KeyStatus(identity, key, KeyState.PENDING, "1", at(seconds))


def test_key_statuses_keep_the_latest_and_can_be_forgotten() -> None:
    buffer = WriteBuffer()
    buffer.key_statuses([status("CP-1", "A", 1), status("CP-1", "B", 1)])
    buffer.key_statuses([status("CP-1", "A", 2), status("CP-2", "A", 1)])
    buffer.key_statuses([status("CP-3", "A", 1)])
    buffer.forget_key_statuses("CP-1", ["B", "never-recorded"])
    buffer.forget_key_statuses("CP-3", ["A"])
    buffer.forget_key_statuses("CP-unknown", ["A"])

    assert len(buffer) == 2
    assert buffer.take().key_statuses == {
        "CP-1": {"A": status("CP-1", "A", 2)},
        "CP-2": {"A": status("CP-2", "A", 1)},
    }


def test_configuration_and_key_statuses_put_back_go_before_what_came_since() -> None:
    buffer = WriteBuffer()
    buffer.configuration("CP-1", keys(A="1", B="2"), at(1))
    buffer.configuration("CP-2", keys(A="1"), at(1), partial=True)
    buffer.configuration("CP-3", keys(A="1"), at(1))
    buffer.key_statuses([status("CP-1", "A", 1), status("CP-1", "B", 1)])
    failed = buffer.take()
    buffer.configuration("CP-1", keys(B="20"), at(2), partial=True)
    buffer.configuration("CP-2", keys(C="3"), at(2))
    buffer.configuration("CP-4", keys(D="4"), at(2), partial=True)
    buffer.key_statuses([status("CP-1", "B", 2), status("CP-2", "A", 2)])

    buffer.put_back(failed)
    batch = buffer.take()

    assert batch.configuration == {
        "CP-1": pending(True, A="1", B="20"),
        "CP-2": pending(True, C="3"),
        "CP-3": pending(True, A="1"),
        "CP-4": pending(False, D="4"),
    }
    assert batch.key_statuses == {
        "CP-1": {"A": status("CP-1", "A", 1), "B": status("CP-1", "B", 2)},
        "CP-2": {"A": status("CP-2", "A", 2)},
    }
    assert batch.chargers["CP-1"] == {"identity": "CP-1", "configuration_at": at(2)}


def test_the_version_counts_what_was_added() -> None:
    buffer = WriteBuffer()
    assert buffer.version == 0
    buffer.heartbeat("CP-1", at(1))
    buffer.key_statuses([status("CP-1", "A", 1)])
    buffer.log(entry("CP-1", 1))
    after = buffer.version
    assert after == 3

    buffer.put_back(buffer.take())  # neither taking nor putting back adds anything
    buffer.forget_key_statuses("CP-1", ["A"])
    assert buffer.version == after


def test_forgetting_a_charger_drops_all_it_has_waiting_but_its_meter_values() -> None:
    buffer = WriteBuffer()
    for identity in ("CP-1", "CP-X"):
        buffer.charger(identity, {"pending": True})
        buffer.status(ConnectorStatus(identity, 1, "Available", at(1)))
        buffer.condition(ChargerCondition(identity, "Connected", "True", "Connected", "", at(1)))
        buffer.configuration(identity, [ReportedKey("A", "1")], at(1))
        buffer.key_statuses([KeyStatus(identity, "A", KeyState.APPLIED, "1", at(1))])
        buffer.event(Event(at(1), "Connected", "connected", identity))
        buffer.log(entry(identity, 1))
        buffer.meter_values([MeterSample(identity, 1, at(1), "1")])

    buffer.forget_charger("CP-X")

    batch = buffer.take()
    assert list(batch.chargers) == list(batch.configuration) == list(batch.key_statuses)
    assert list(batch.chargers) == ["CP-1"]
    assert [key[0] for key in (*batch.statuses, *batch.conditions)] == ["CP-1", "CP-1"]
    assert [e.identity for e in batch.events] == [e.identity for e in batch.log] == ["CP-1"]
    assert [m.identity for m in batch.meter_values] == ["CP-1", "CP-X"]


def reading(value: str, seconds: int, transaction_id: int | None = 7, **fields: str) -> MeterSample:
    return MeterSample("CP-1", 1, at(seconds), value, transaction_id=transaction_id, **fields)


def test_a_transactions_highest_register_reading_waits_once_per_transaction() -> None:
    buffer = WriteBuffer()
    buffer.meter_values(
        [
            reading("1.2", 1, unit="kWh"),
            reading("1500", 2),
            reading("1400", 3),  # lower: the highest stays
            reading("1500", 4),  # as high, later: its time is kept
            reading("9000", 5, phase="L1"),  # one phase is not the register
            reading("9000", 5, measurand="Power.Active.Import", unit="W"),
            reading("9000", 5, transaction_id=None),  # no transaction to raise
            reading("NaN", 6),
            reading("200", 1, transaction_id=8),
        ]
    )
    batch = buffer.take()
    assert batch.meter_last == {
        ("CP-1", 7): MeterLast(1500, at(4)),
        ("CP-1", 8): MeterLast(200, at(1)),
    }
    assert len(batch.meter_values) == 9


def test_the_highest_reading_outlives_a_put_back_and_a_full_queue() -> None:
    buffer = WriteBuffer(max_queued=2)
    buffer.meter_values([reading("700", 1), reading("10", 1, transaction_id=8)])
    failed = buffer.take()
    buffer.meter_values([reading("650", 2), reading("20", 2, transaction_id=8), reading("5", 3)])
    buffer.put_back(failed)
    batch = buffer.take()
    assert batch.meter_last == {
        ("CP-1", 7): MeterLast(700, at(1)),
        ("CP-1", 8): MeterLast(20, at(2)),
    }
    assert [s.value for s in batch.meter_values] == ["20", "5"]  # the oldest samples dropped
    buffer.meter_values([reading("800", 4)])
    buffer.forget_charger("CP-1")  # as its meter values, kept
    assert buffer.take().meter_last == {("CP-1", 7): MeterLast(800, at(4))}


def test_a_reading_too_large_for_the_column_is_not_taken() -> None:
    buffer = WriteBuffer()
    buffer.meter_values([reading("600", 1), reading("1e30", 2), reading("-1e30", 3)])
    batch = buffer.take()
    assert batch.meter_last == {("CP-1", 7): MeterLast(600, at(1))}
    assert len(batch.meter_values) == 3  # the samples are kept as sent
