"""The store against real databases: every test runs on a SQLite file and on PostgreSQL.

What matters most is what a charger relies on across a restart: a transaction begun before it
is found and completed after it, and its id is never handed out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from controller.store import Store, open_store, schema
from controller.store.buffer import Batch
from controller.store.sql import SqlStore, _Read
from controller.values.records import (
    BootInfo,
    ChargerCondition,
    ConnectorStatus,
    Direction,
    Event,
    KeyState,
    KeyStatus,
    LogEntry,
    MessageType,
    MeterSample,
    ReportedKey,
    TransactionBucket,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)

pytestmark = pytest.mark.asyncio

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


def frame(identity: str, n: int) -> LogEntry:
    return LogEntry(
        identity=identity,
        at=at(n),
        direction=Direction.RECEIVED if n % 2 else Direction.SENT,
        message_type=MessageType.CALL,
        unique_id=f"{identity}-{n}",
        frame=f'[2,"{identity}-{n}","Heartbeat",{{}}]',
        action="Heartbeat",
    )


async def count(store: Store, table: Table, **where: object) -> int:
    """Rows in the database itself, past the store's buffer."""
    assert isinstance(store, SqlStore)
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with store.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


# -- chargers -------------------------------------------------------------------------------


async def test_charger_state_round_trip(store: Store) -> None:
    boot = BootInfo(
        vendor="Alfen",
        model="Eve Single",
        serial_number="ACE0001",
        firmware_version="5.8.1",
        iccid="8931",
        imsi="2040",
        meter_type="Carlo Gavazzi",
        meter_serial_number="M-1",
    )
    await store.record_connected("CP-1", at(0), "10.0.0.7:5123", "1.6")
    await store.record_boot("CP-1", boot, at(0.1))
    await store.record_heartbeat("CP-1", at(1))
    await store.record_heartbeat("CP-1", at(2))
    await store.record_status(ConnectorStatus("CP-1", 0, "Available", at(0.2)))
    await store.record_status(ConnectorStatus("CP-1", 1, "Available", at(0.2)))
    await store.record_status(
        ConnectorStatus("CP-1", 1, "Faulted", at(3), "GroundFailure", "RCD tripped", "E42")
    )
    await store.record_configuration(
        "CP-1",
        [ReportedKey("HeartbeatInterval", "300"), ReportedKey("ChargePointId", "CP-1", True)],
        at(4),
    )

    charger = await store.charger("CP-1")

    assert charger is not None
    assert charger.boot == boot
    assert charger.booted_at == at(0.1)
    assert (charger.connected, charger.connected_at) == (True, at(0))
    assert (charger.remote_address, charger.ocpp_version) == ("10.0.0.7:5123", "1.6")
    assert charger.last_heartbeat == at(2)
    assert charger.connectors == (
        ConnectorStatus("CP-1", 0, "Available", at(0.2)),
        ConnectorStatus("CP-1", 1, "Faulted", at(3), "GroundFailure", "RCD tripped", "E42"),
    )
    assert charger.configuration == (
        ReportedKey("ChargePointId", "CP-1", True),
        ReportedKey("HeartbeatInterval", "300", False),
    )
    assert charger.configuration_at == at(4)
    assert not charger.pending

    await store.record_disconnected("CP-1", at(5), "ping timeout")
    charger = await store.charger("CP-1")
    assert charger is not None
    assert (charger.connected, charger.disconnected_at) == (False, at(5))
    assert charger.disconnect_reason == "ping timeout"
    assert charger.connected_at == at(0)
    assert await store.charger("CP-unknown") is None


async def test_configuration_is_replaced_or_partially_updated(store: Store) -> None:
    await store.record_configuration(
        "CP-1", [ReportedKey("A", "1"), ReportedKey("B", "2"), ReportedKey("C", "3")], at(0)
    )
    await store.record_configuration("CP-1", [ReportedKey("A", "10"), ReportedKey("D", "4")], at(1))
    charger = await store.charger("CP-1")
    assert charger is not None and charger.configuration is not None
    assert {k.key: k.value for k in charger.configuration} == {"A": "10", "D": "4"}

    await store.record_configuration("CP-1", [ReportedKey("D", "40")], at(2), partial=True)
    charger = await store.charger("CP-1")
    assert charger is not None and charger.configuration is not None
    assert {k.key: k.value for k in charger.configuration} == {"A": "10", "D": "40"}
    assert charger.configuration_at == at(2)


async def test_configuration_is_buffered_and_reads_see_it(store_url: str) -> None:
    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_configuration(
            "CP-1", [ReportedKey("A", "1"), ReportedKey("B", "2", readonly=True)], at(0)
        )
        await store.record_configuration("CP-1", [ReportedKey("A", "10")], at(1), partial=True)
        assert await count(store, schema.reported_config) == 0  # in the buffer

        charger = await store.charger("CP-1")  # a read flushes first
        assert charger is not None and charger.configuration_at == at(1)
        assert charger.configuration == (ReportedKey("A", "10"), ReportedKey("B", "2", True))
        assert await count(store, schema.reported_config) == 2

        await store.record_configuration(
            "CP-1", [ReportedKey("B", None, True)], at(2), partial=True
        )
        (listed,) = await store.chargers(configuration=True)
        assert listed.configuration == (ReportedKey("A", "10"), ReportedKey("B", None, True))
        (one,) = await store.chargers(identities=["CP-1"])
        assert one.configuration is None and one.configuration_at == at(2)

        await store.record_configuration("CP-1", [ReportedKey("C", "3")], at(3))  # on close

    async with open_store(store_url) as reopened:
        charger = await reopened.charger("CP-1")
        assert charger is not None and charger.configuration_at == at(3)
        assert charger.configuration == (ReportedKey("C", "3"),)


async def test_full_and_partial_reports_in_one_batch_apply_in_order(store_url: str) -> None:
    def keys(**values: str) -> list[ReportedKey]:
        return [ReportedKey(key, value) for key, value in values.items()]

    async with SqlStore(store_url, flush_interval=3600) as store:
        for identity in ("CP-1", "CP-2", "CP-3", "CP-4"):
            await store.record_configuration(identity, keys(A="1", B="2", C="3"), at(0))
        await store.flush()

        # CP-1: partial, full, partial: the full report drops B, C and the first partial's D.
        await store.record_configuration("CP-1", keys(D="4"), at(1), partial=True)
        await store.record_configuration("CP-1", keys(A="10", E="5"), at(2))
        await store.record_configuration("CP-1", keys(E="50", F="6"), at(3), partial=True)
        # CP-2: partial after partial; the same key twice in one report: the last counts.
        await store.record_configuration("CP-2", keys(A="10"), at(1), partial=True)
        await store.record_configuration(
            "CP-2", [ReportedKey("B", "20"), ReportedKey("B", "21")], at(2), partial=True
        )
        # CP-3: a full report after a partial one: only the full one counts.
        await store.record_configuration("CP-3", keys(D="4"), at(1), partial=True)
        await store.record_configuration("CP-3", keys(C="30"), at(2))
        # CP-4: an empty full report: it has no keys any more.
        await store.record_configuration("CP-4", [], at(1))

        found = {
            c.identity: ({k.key: k.value for k in c.configuration or ()}, c.configuration_at)
            for c in await store.chargers(configuration=True)
        }

    assert found == {
        "CP-1": ({"A": "10", "E": "50", "F": "6"}, at(3)),
        "CP-2": ({"A": "10", "B": "21", "C": "3"}, at(2)),
        "CP-3": ({"C": "30"}, at(2)),
        "CP-4": ({}, at(1)),
    }


async def test_one_charger_is_read_as_in_the_list(store: Store) -> None:
    await store.record_connected("CP-1", at(0), "10.0.0.7:5123", "1.6")
    await store.record_boot("CP-1", BootInfo("Alfen", "Eve", "SN-1"), at(0))
    await store.record_status(ConnectorStatus("CP-1", 2, "Charging", at(1), "NoError"))
    await store.record_status(ConnectorStatus("CP-1", 1, "Available", at(1)))
    await store.record_status(ConnectorStatus("CP-2", 1, "Faulted", at(1)))
    await store.record_heartbeat("CP-3", at(2))  # no connectors at all
    await store.record_pending("CP-4", at(3), None)
    await store.record_configuration("CP-1", [ReportedKey("A", "1")], at(4))

    listed = {c.identity: c for c in await store.chargers()}

    assert sorted(listed) == ["CP-1", "CP-3", "CP-4"]  # a connector status alone is no charger
    for identity in ("CP-1", "CP-2", "CP-3", "CP-4"):
        found = await store.chargers(identities=[identity])
        assert found == ([listed[identity]] if identity in listed else [])
    (one,) = await store.chargers(identities={"CP-1"})
    assert [c.connector_id for c in one.connectors] == [1, 2]
    assert one.boot == BootInfo("Alfen", "Eve", "SN-1") and one.configuration is None
    assert one.configuration_at == at(4) and one.last_heartbeat is None
    assert listed["CP-3"].connectors == () and listed["CP-4"].pending
    assert await store.chargers(identities=["CP-unknown"]) == []
    assert await store.chargers(identities=[]) == []


async def test_pending_charger_is_listed_until_it_connects_as_known(store: Store) -> None:
    await store.record_connected("CP-1", at(0), None, "2.0.1")
    await store.record_pending("CP-new", at(1), "192.0.2.1")

    listed = await store.chargers()

    assert [(c.identity, c.pending) for c in listed] == [("CP-1", False), ("CP-new", True)]
    assert all(c.configuration is None for c in listed)  # not asked for
    assert listed[1].remote_address == "192.0.2.1"
    await store.record_connected("CP-new", at(2), "192.0.2.1", "1.6")
    adopted = await store.chargers(identities=["CP-new"], configuration=True)
    assert [(c.identity, c.pending, c.configuration) for c in adopted] == [("CP-new", False, ())]


async def test_pending_chargers_are_listed_oldest_first_with_their_location(
    store_url: str,
) -> None:
    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_pending("CP-B", at(2), None)
        await store.record_pending("CP-A", at(1), "192.0.2.1", "depot")
        await store.record_pending("CP-A", at(1.5), "192.0.2.1", "depot")  # in the same batch
        await store.record_connected("CP-1", at(0), None, "1.6")
        await store.flush()
        await store.record_disconnected("CP-A", at(3), "closed")
        await store.record_pending("CP-A", at(4), "192.0.2.9", "yard")  # back, elsewhere

        pending = await store.pending_chargers()

        assert [(c.identity, c.pending_since, c.pending_location) for c in pending] == [
            ("CP-A", at(1), "yard"),  # first seen is kept, the location is the latest
            ("CP-B", at(2), None),
        ]
        assert pending[0].connected and pending[0].remote_address == "192.0.2.9"
        await store.record_connected("CP-A", at(5), None, "1.6")  # declared since: adopted
        adopted = await store.charger("CP-A")
        assert adopted is not None and not adopted.pending
        assert (adopted.pending_since, adopted.pending_location) == (None, None)
        assert [c.identity for c in await store.pending_chargers()] == ["CP-B"]


async def test_forgetting_a_pending_charger_removes_what_is_kept_about_it(
    store_url: str,
) -> None:
    async def keep_some_of_everything(identity: str, minutes: float) -> None:
        await store.record_heartbeat(identity, at(minutes))
        await store.record_status(ConnectorStatus(identity, 1, "Available", at(minutes)))
        await store.record_configuration(identity, [ReportedKey("A", "1")], at(minutes))
        await store.add_event(Event(at(minutes), "Connected", "connected", identity))
        await store.log_message(frame(identity, int(minutes)))

    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_connected("CP-1", at(0), None, "1.6")
        await store.record_pending("CP-X", at(0), None)
        for identity in ("CP-1", "CP-X"):
            await keep_some_of_everything(identity, 1)
        await store.flush()
        await keep_some_of_everything("CP-X", 2)  # still in the buffer

        assert await store.forget_pending("CP-X")

        assert await store.charger("CP-X") is None
        assert await store.pending_chargers() == []
        assert (await store.events("CP-X"), await store.message_log("CP-X")) == ([], [])
        for table in (schema.connector_status, schema.reported_config, schema.message_log):
            assert await count(store, table, identity="CP-X") == 0
        assert not await store.forget_pending("CP-1")  # not pending: kept
        assert not await store.forget_pending("CP-never-seen")
        kept = await store.charger("CP-1")
        assert kept is not None and kept.configuration == (ReportedKey("A", "1"),)
        assert len(await store.message_log("CP-1")) == 1


async def test_a_database_from_before_the_pending_columns_gets_them(store_url: str) -> None:
    async with open_store(store_url) as before:
        await before.record_pending("CP-X", at(0), None)
        await before.flush()
        assert isinstance(before, SqlStore)
        async with before.engine.begin() as conn:
            for column in ("pending_since", "pending_location"):
                await conn.exec_driver_sql(f"ALTER TABLE chargers DROP COLUMN {column}")

    async with open_store(store_url) as after:
        [old] = await after.pending_chargers()
        assert (old.identity, old.pending_since, old.pending_location) == ("CP-X", None, None)
        await after.record_pending("CP-Y", at(1), None, "depot")
        assert [c.pending_location for c in await after.pending_chargers()] == [None, "depot"]


async def test_a_database_from_before_an_index_gets_it(store_url: str) -> None:
    async with open_store(store_url) as before:
        await before.start_transaction(TransactionStart("CP-1", 1, at(0), 0))
        assert isinstance(before, SqlStore)
        async with before.engine.begin() as conn:
            await conn.exec_driver_sql("DROP INDEX ix_transactions_open")

    async with open_store(store_url) as after:
        assert isinstance(after, SqlStore)
        async with after.engine.connect() as conn:
            names = await conn.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("transactions")}
            )
        assert "ix_transactions_open" in names
        assert len(await after.open_transactions_of()) == 1


async def test_timestamps_come_back_in_utc_and_naive_ones_are_refused(store: Store) -> None:
    amsterdam = timezone(timedelta(hours=1))
    await store.record_connected("CP-1", datetime(2025, 3, 1, 13, 0, tzinfo=amsterdam), None, "1.6")
    charger = await store.charger("CP-1")
    assert charger is not None and charger.connected_at == T0
    assert charger.connected_at.tzinfo == UTC
    with pytest.raises(ValueError, match="timezone"):
        await store.record_heartbeat("CP-1", datetime(2025, 3, 1, 12, 0))


# -- reconciler: key statuses and conditions ------------------------------------------------


async def test_key_statuses_round_trip_and_upsert_by_charger_and_key(store: Store) -> None:
    pending = KeyStatus("CP-2", "MeterValueSampleInterval", KeyState.PENDING, "60", at(0))
    rejected = KeyStatus(
        "CP-1", "HeartbeatInterval", KeyState.REJECTED, "300", at(1), "Rejected by charger", 1
    )
    reboot = KeyStatus("CP-1", "AuthorizeRemoteTxRequests", KeyState.REBOOT_REQUIRED, "true", at(1))
    await store.record_key_statuses([pending, rejected, reboot])

    assert await store.key_statuses() == [reboot, rejected, pending]  # by identity, then key
    assert await store.key_statuses("CP-1") == [reboot, rejected]
    assert await store.key_statuses("CP-unknown") == []
    stored = (await store.key_statuses("CP-2"))[0]
    assert type(stored.state) is KeyState and stored.at.tzinfo == UTC

    retried = KeyStatus("CP-1", "HeartbeatInterval", KeyState.FAILED, "300", at(2), "timeout", 2)
    applied = KeyStatus("CP-1", "HeartbeatInterval", KeyState.APPLIED, "300", at(3), attempts=3)
    await store.record_key_statuses([retried, applied])  # the same key twice: the last counts
    await store.record_key_statuses([])

    assert await store.key_statuses("CP-1") == [reboot, applied]
    assert await count(store, schema.key_status) == 3


async def test_key_statuses_are_buffered_survive_a_restart_and_are_forgotten(
    store_url: str,
) -> None:
    statuses = [
        KeyStatus("CP-1", key, KeyState.NOT_SUPPORTED, "1", at(n), "unknown key", n)
        for n, key in enumerate(["A", "B", "C"])
    ] + [KeyStatus("CP-2", "A", KeyState.APPLIED, "1", at(5))]
    async with SqlStore(store_url, flush_interval=3600) as before:
        await before.record_key_statuses(statuses)
        assert await count(before, schema.key_status) == 0  # in the buffer
        assert await before.key_statuses("CP-2") == statuses[3:]  # a read flushes first
        assert await count(before, schema.key_status) == 4
        later = KeyStatus("CP-1", "A", KeyState.APPLIED, "2", at(9), attempts=4)
        await before.record_key_statuses([later])
        statuses[0] = later  # buffered, and written on close

    async with open_store(store_url) as after:
        assert await after.key_statuses() == statuses
        await after.forget_key_statuses("CP-1", {"A", "C", "never-declared"})
        await after.forget_key_statuses("CP-1", [])
        assert [(s.identity, s.key) for s in await after.key_statuses()] == [
            ("CP-1", "B"),
            ("CP-2", "A"),  # another charger's key of the same name stays
        ]

    async with open_store(store_url) as again:
        assert [(s.identity, s.key) for s in await again.key_statuses()] == [
            ("CP-1", "B"),
            ("CP-2", "A"),
        ]


async def test_forgetting_key_statuses_cancels_buffered_ones(store_url: str) -> None:
    def status(identity: str, key: str, minutes: float) -> KeyStatus:
        return KeyStatus(identity, key, KeyState.PENDING, "1", at(minutes))

    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_key_statuses([status("CP-1", "A", 0), status("CP-1", "B", 0)])
        await store.flush()
        # A newer status of A waits in the buffer, C only exists there.
        await store.record_key_statuses([status("CP-1", "A", 1), status("CP-1", "C", 1)])
        await store.record_key_statuses([status("CP-2", "C", 1)])

        await store.forget_key_statuses("CP-1", ["A", "C"])

        assert await store.key_statuses() == [status("CP-1", "B", 0), status("CP-2", "C", 1)]
        await store.record_key_statuses([status("CP-1", "C", 2)])  # declared again
        assert await store.key_statuses("CP-1") == [
            status("CP-1", "B", 0),
            status("CP-1", "C", 2),
        ]

    async with open_store(store_url) as reopened:
        assert [(s.identity, s.key) for s in await reopened.key_statuses()] == [
            ("CP-1", "B"),
            ("CP-1", "C"),
            ("CP-2", "C"),
        ]


async def test_one_chargers_key_statuses_wait_for_a_batch_being_written(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqlStore(store_url, flush_interval=3600) as store:
        status = KeyStatus("CP-1", "A", KeyState.APPLIED, "1", at(0))
        await store.record_key_statuses([status])
        gate = asyncio.Event()
        write_batch = store._write_batch

        async def slow(batch: Batch) -> None:
            await gate.wait()
            await write_batch(batch)

        monkeypatch.setattr(store, "_write_batch", slow)
        flushing = asyncio.create_task(store.flush())
        for _ in range(10):
            await asyncio.sleep(0)  # the flush takes the batch and waits at the gate
        reading = asyncio.create_task(store.key_statuses("CP-1"))
        other = await store.key_statuses("CP-2")  # nothing of its own waiting: not blocked
        await asyncio.sleep(0.05)
        assert other == [] and not reading.done()

        gate.set()
        assert await reading == [status]
        await flushing


async def test_concurrent_reads_share_one_flush(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqlStore(store_url, flush_interval=3600) as store:
        batches: list[Batch] = []
        write_batch = store._write_batch

        async def counted(batch: Batch) -> None:
            batches.append(batch)
            await write_batch(batch)

        monkeypatch.setattr(store, "_write_batch", counted)

        async def reconciler_pass(n: int) -> list[str]:
            identity = f"CP-{n}"
            await store.record_configuration(identity, [ReportedKey("K", str(n))], at(n))
            await store.record_key_statuses(
                [KeyStatus(identity, "K", KeyState.APPLIED, str(n), at(n))]
            )
            found = await store.chargers(identities=[identity])
            return [c.identity for c in found]

        found = await asyncio.gather(*(reconciler_pass(n) for n in range(20)))

        assert found == [[f"CP-{n}"] for n in range(20)]
        assert len(batches) == 1 and len(batches[0].configuration) == 20
        assert await store.chargers(identities=["CP-3"]) == [
            c for c in await store.chargers() if c.identity == "CP-3"
        ]  # nothing left to flush: no batch
        assert len(batches) == 1


def condition(
    identity: str,
    type_: str,
    status: str,
    minutes: float,
    reason: str = "",
    message: str = "",
    generation: int | None = None,
) -> ChargerCondition:
    return ChargerCondition(identity, type_, status, reason, message, at(minutes), generation)


async def test_conditions_round_trip_by_charger_and_type(store: Store) -> None:
    recorded = [
        condition("CP-2", "Ready", "Unknown", 0, "NeverConnected", "not seen yet"),
        condition("CP-1", "Synced", "False", 1, "Rejected", "HeartbeatInterval refused", 7),
        condition("CP-1", "Connected", "True", 1, "Connected", "10.0.0.7:5123"),
    ]
    await store.record_conditions(recorded)

    assert await store.conditions() == [recorded[2], recorded[1], recorded[0]]
    assert await store.conditions("CP-1") == [recorded[2], recorded[1]]
    assert await store.conditions("CP-unknown") == []
    amsterdam = timezone(timedelta(hours=1))
    local = ChargerCondition(
        "CP-3", "Ready", "True", "Ready", "", datetime(2025, 3, 1, 13, 0, tzinfo=amsterdam)
    )
    await store.record_conditions([local])
    (stored,) = await store.conditions("CP-3")
    assert stored.last_transition_time == T0 and stored.last_transition_time.tzinfo == UTC


async def test_conditions_of_a_pages_chargers_in_one_read(store: Store) -> None:
    recorded = [
        condition(f"CP-{n}", "Synced", "True" if n % 2 else "False", n) for n in range(1200)
    ]
    await store.record_conditions(recorded)
    wanted = ["CP-7", "CP-1100", "CP-3", "CP-unknown"]  # more than one chunk's worth apart

    found = await store.conditions(identities=wanted)

    assert [c.identity for c in found] == ["CP-1100", "CP-3", "CP-7"]
    assert await store.conditions(identities=[]) == []
    many = [f"CP-{n}" for n in range(0, 1200, 2)]
    assert len(await store.conditions(identities=many)) == 600


async def test_a_conditions_transition_time_changes_only_with_its_status(store_url: str) -> None:
    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_conditions([condition("CP-1", "Synced", "False", 0, "Pending", "", 1)])
        await store.flush()

        # Same status, later: the stored time stays, everything else is replaced.
        await store.record_conditions([condition("CP-1", "Synced", "False", 5, "Rejected", "x", 2)])
        assert await store.conditions("CP-1") == [
            condition("CP-1", "Synced", "False", 0, "Rejected", "x", 2)
        ]

        # A new status takes the time it was recorded with.
        await store.record_conditions([condition("CP-1", "Synced", "True", 10, "Applied")])
        assert await store.conditions("CP-1") == [
            condition("CP-1", "Synced", "True", 10, "Applied")
        ]

        # The same rule within one call, and between calls waiting for the same flush.
        await store.record_conditions(
            [
                condition("CP-1", "Synced", "True", 11, "Applied", "again"),
                condition("CP-1", "Synced", "Unknown", 12, "Disconnected"),
                condition("CP-1", "Synced", "Unknown", 13, "Disconnected", "still"),
            ]
        )
        await store.record_conditions([condition("CP-1", "Synced", "Unknown", 14, "Gone", "yes")])
        assert await store.conditions("CP-1") == [
            condition("CP-1", "Synced", "Unknown", 12, "Gone", "yes")
        ]

        # Other types and chargers keep their own times.
        await store.record_conditions(
            [
                condition("CP-1", "Connected", "True", 20),
                condition("CP-2", "Synced", "Unknown", 21),
            ]
        )
        assert [(c.identity, c.type, c.last_transition_time) for c in await store.conditions()] == [
            ("CP-1", "Connected", at(20)),
            ("CP-1", "Synced", at(12)),
            ("CP-2", "Synced", at(21)),
        ]


async def test_conditions_survive_a_restart_and_keep_their_transition_time(
    store_url: str,
) -> None:
    async with SqlStore(store_url, flush_interval=3600) as before:
        await before.record_conditions(
            [
                condition("CP-1", "Connected", "True", 0, "Connected"),
                condition("CP-1", "Ready", "False", 0, "NotSynced", "2 keys pending", 3),
            ]
        )  # buffered: written on close

    async with open_store(store_url) as after:
        assert await after.conditions() == [
            condition("CP-1", "Connected", "True", 0, "Connected"),
            condition("CP-1", "Ready", "False", 0, "NotSynced", "2 keys pending", 3),
        ]
        await after.record_conditions(
            [
                condition("CP-1", "Connected", "True", 60, "Connected", "reconnected"),
                condition("CP-1", "Ready", "True", 60, "Ready", "", 4),
            ]
        )
        assert await after.conditions() == [
            condition("CP-1", "Connected", "True", 0, "Connected", "reconnected"),
            condition("CP-1", "Ready", "True", 60, "Ready", "", 4),
        ]


async def test_bad_conditions_and_key_statuses_are_refused(store_url: str) -> None:
    with pytest.raises(ValueError, match="True, False, Unknown"):
        condition("CP-1", "Ready", "true", 0)
    store = open_store(store_url)
    with pytest.raises(RuntimeError, match="not open"):
        await store.record_conditions([condition("CP-1", "Ready", "True", 0)])
    async with store:
        naive = datetime(2025, 3, 1, 12, 0)
        with pytest.raises(ValueError, match="timezone"):
            await store.record_conditions(
                [ChargerCondition("CP-1", "Ready", "True", "Ready", "", naive)]
            )
        with pytest.raises(ValueError, match="timezone"):
            await store.record_key_statuses([KeyStatus("CP-1", "K", KeyState.APPLIED, "1", naive)])
        assert await store.conditions() == [] and await store.key_statuses() == []


# -- transactions ---------------------------------------------------------------------------


async def test_transaction_survives_a_restart_and_its_stop_completes_it(store_url: str) -> None:
    async with open_store(store_url) as before:
        started = await before.start_transaction(TransactionStart("CP-1", 2, at(0), 12_345, "TAG"))

    async with open_store(store_url) as after:  # a new process: the store is the only memory
        assert await after.open_transactions("CP-1") == [started]
        stopped = await after.stop_transaction(
            TransactionStop(
                "CP-1", at(90), transaction_id=started.id, meter_stop_wh=34_567, reason="Local"
            )
        )
        assert stopped is not None
        assert stopped.energy_wh == 34_567 - 12_345
        assert (stopped.stopped_at, stopped.stop_reason) == (at(90), "Local")
        assert await after.transaction(started.id) == stopped
        assert await after.open_transactions("CP-1") == []
        again = TransactionStop("CP-1", at(95), transaction_id=started.id, meter_stop_wh=1)
        assert await after.stop_transaction(again) == stopped  # the first stop holds


async def test_transaction_ids_are_never_reused(store_url: str) -> None:
    async with open_store(store_url) as store:
        ids = [
            (await store.start_transaction(TransactionStart("CP-1", 1, at(n), n))).id
            for n in range(3)
        ]
        assert isinstance(store, SqlStore)
        async with store.engine.begin() as conn:  # e.g. a retention job deleting old rows
            await conn.execute(schema.transactions.delete())

    async with open_store(store_url) as store:
        later = await store.start_transaction(TransactionStart("CP-1", 1, at(10), 10))

    assert later.id > max(ids)
    assert len(set(ids)) == 3


async def test_unknown_or_foreign_stop_returns_none(store: Store) -> None:
    started = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 0))
    assert await store.stop_transaction(TransactionStop("CP-1", at(1), transaction_id=999)) is None
    foreign = TransactionStop("CP-2", at(1), transaction_id=started.id, meter_stop_wh=5)
    assert await store.stop_transaction(foreign) is None
    assert (await store.open_transactions("CP-1")) == [started]


async def test_repeated_start_returns_the_same_transaction(store: Store) -> None:
    start = TransactionStart("CP-1", 1, at(0), 100, "TAG")
    first = await store.start_transaction(start)
    assert await store.start_transaction(start) == first  # the charger never got our reply
    other = await store.start_transaction(TransactionStart("CP-1", 1, at(5), 100, "TAG"))
    assert other.id != first.id


async def test_ocpp201_transaction_is_found_by_the_chargers_id(store: Store) -> None:
    started = await store.start_transaction(
        TransactionStart("CP-2", 1, at(0), None, charger_transaction_id="tx-abc")
    )
    same_id_elsewhere = await store.start_transaction(
        TransactionStart("CP-3", 1, at(0), 0, charger_transaction_id="tx-abc")
    )
    assert same_id_elsewhere.id != started.id  # unique per charger, not globally
    retried = TransactionStart("CP-2", 1, at(0.5), None, charger_transaction_id="tx-abc")
    assert (await store.start_transaction(retried)).id == started.id

    updated = await store.update_transaction(
        TransactionUpdate("CP-2", at(1), charger_transaction_id="tx-abc", id_tag="RFID-1")
    )
    assert updated is not None and updated.id_tag == "RFID-1"
    await store.update_transaction(
        TransactionUpdate("CP-2", at(2), charger_transaction_id="tx-abc", meter_wh=1_000)
    )
    updated = await store.update_transaction(
        TransactionUpdate("CP-2", at(3), transaction_id=started.id, meter_wh=4_500)
    )
    assert updated is not None
    assert (updated.meter_start_wh, updated.meter_last_wh) == (1_000, 4_500)
    unknown = TransactionUpdate("CP-2", at(3), charger_transaction_id="nope", meter_wh=1)
    assert await store.update_transaction(unknown) is None

    stopped = await store.stop_transaction(
        TransactionStop("CP-2", at(4), charger_transaction_id="tx-abc", reason="EVDisconnected")
    )
    assert stopped is not None
    assert (stopped.id, stopped.meter_stop_wh, stopped.energy_wh) == (started.id, 4_500, 3_500)
    assert stopped.charger_transaction_id == "tx-abc"
    late = TransactionUpdate("CP-2", at(5), charger_transaction_id="tx-abc", meter_wh=9_999)
    assert await store.update_transaction(late) == stopped  # a stopped transaction is final


async def test_meter_going_backwards_gives_no_energy(store: Store) -> None:
    started = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 5_000))
    stopped = await store.stop_transaction(
        TransactionStop("CP-1", at(1), transaction_id=started.id, meter_stop_wh=10)
    )
    assert stopped is not None and stopped.energy_wh is None and stopped.meter_stop_wh == 10


async def test_concurrent_starts_get_distinct_ids(store: Store) -> None:
    starts = [TransactionStart(f"CP-{n % 7}", n, at(n), n * 10) for n in range(60)]
    transactions = await asyncio.gather(*(store.start_transaction(s) for s in starts))
    assert len({t.id for t in transactions}) == 60
    assert [(t.identity, t.connector_id) for t in transactions] == [
        (s.identity, s.connector_id) for s in starts
    ]


async def test_transactions_are_filtered_by_charger_and_start_time(store: Store) -> None:
    for n, identity in enumerate(["CP-1", "CP-2", "CP-1", "CP-3"]):
        await store.start_transaction(TransactionStart(identity, 1, at(60 * n), 0))

    every = await store.transactions()
    assert [t.started_at for t in every] == [at(0), at(60), at(120), at(180)]
    some = await store.transactions(identities={"CP-1", "CP-3"}, since=at(60), until=at(180))
    assert [(t.identity, t.started_at) for t in some] == [("CP-1", at(120))]


async def test_open_transactions_of_many_chargers_are_read_at_once(store: Store) -> None:
    started = [
        await store.start_transaction(TransactionStart(f"CP-{n % 4}", 1 + n // 4, at(10 - n), n))
        for n in range(8)
    ]
    await store.stop_transaction(TransactionStop("CP-1", at(20), transaction_id=started[1].id))
    still_open = sorted(started[:1] + started[2:], key=lambda t: t.started_at)

    assert await store.open_transactions_of() == still_open
    some = await store.open_transactions_of({"CP-0", "CP-1", "CP-9"})
    assert [(t.identity, t.connector_id) for t in some] == [("CP-1", 2), ("CP-0", 2), ("CP-0", 1)]
    assert await store.open_transactions_of([]) == []
    many = [f"CP-{n}" for n in range(1000)]  # more than one IN list holds: read all, keep these
    assert await store.open_transactions_of(many) == still_open
    assert await store.open_transactions_of(many[4:]) == []
    for identity in ("CP-0", "CP-2"):
        assert await store.open_transactions(identity) == [
            t for t in still_open if t.identity == identity
        ]


async def test_transaction_totals_are_summed_per_bucket_by_start_time(store: Store) -> None:
    # T0 is 12:00 UTC. Stopped: 4,000 Wh and 6,000 Wh in the 12:00 hour, one whose meter went
    # backwards (unmetered) at 13:10; open: one on a 1.6 charger that reports the register in
    # MeterValues (kWh), one on a 2.0.1 charger whose updates carry it, one with no reading.
    first = await store.start_transaction(TransactionStart("CP-1", 1, at(5), 1_000))
    await store.stop_transaction(
        TransactionStop("CP-1", at(65), transaction_id=first.id, meter_stop_wh=5_000)
    )
    second = await store.start_transaction(TransactionStart("CP-2", 1, at(50), 0))
    await store.stop_transaction(
        TransactionStop("CP-2", at(80), transaction_id=second.id, meter_stop_wh=6_000)
    )
    backwards = await store.start_transaction(TransactionStart("CP-1", 1, at(70), 9_000))
    await store.stop_transaction(
        TransactionStop("CP-1", at(75), transaction_id=backwards.id, meter_stop_wh=10)
    )
    metered = await store.start_transaction(TransactionStart("CP-1", 2, at(130), 2_000))
    await store.add_meter_values(
        [
            MeterSample("CP-1", 2, at(140), "2.5", unit="kWh", transaction_id=metered.id),
            MeterSample("CP-1", 2, at(150), "3.25", unit="kWh", transaction_id=metered.id),
            MeterSample("CP-1", 2, at(150), "1.1", unit="kWh", phase="L1",
                        transaction_id=metered.id),
            MeterSample("CP-1", 2, at(160), "7400", "Power.Active.Import", "W",
                        transaction_id=metered.id),
        ]
    )  # fmt: skip
    await store.start_transaction(
        TransactionStart("CP-3", 1, at(135), None, charger_transaction_id="tx-1")
    )
    for minutes, wh in ((136, 10_000), (150, 12_500)):
        await store.update_transaction(
            TransactionUpdate("CP-3", at(minutes), charger_transaction_id="tx-1", meter_wh=wh)
        )
    await store.start_transaction(TransactionStart("CP-4", 1, at(170), None))
    await store.start_transaction(TransactionStart("CP-1", 1, at(24 * 60), 0))  # out of range

    hours = await store.transaction_totals(since=at(0), until=at(600), bucket=timedelta(hours=1))

    assert hours[:2] == [
        TransactionBucket(at(0), sessions=2, open=0, energy_wh=10_000, unmetered=0,
                          busy_seconds=(60 + 30) * 60),
        TransactionBucket(at(60), sessions=1, open=0, energy_wh=0, unmetered=1,
                          busy_seconds=5 * 60),
    ]  # fmt: skip
    assert len(hours) == 3
    running = hours[2]
    assert (running.start, running.sessions, running.open) == (at(120), 3, 3)
    assert (running.energy_wh, running.unmetered) == (3_250 - 2_000 + 12_500 - 10_000, 1)
    assert running.busy_seconds >= 3 * 60 * 60  # until now, long after `until`: cut at `until`
    assert running.busy_seconds == (600 - 130 + 600 - 135 + 600 - 170) * 60

    quarters = await store.transaction_totals(
        since=at(0), until=at(120), bucket=timedelta(minutes=15), identities=["CP-1"]
    )
    assert [(b.start, b.sessions, b.energy_wh) for b in quarters] == [
        (at(0), 1, 4_000),
        (at(60), 1, 0),
    ]
    assert (
        await store.transaction_totals(
            since=at(0), until=at(600), bucket=timedelta(hours=1), identities=[]
        )
        == []
    )
    many = [f"CP-{n}" for n in range(1, 1200)]  # several IN lists, summed into one bucket each
    assert (
        await store.transaction_totals(
            since=at(0), until=at(600), bucket=timedelta(hours=1), identities=many
        )
        == hours
    )
    for bad in (timedelta(minutes=7), timedelta(seconds=0.5), timedelta(days=2), timedelta(0)):
        with pytest.raises(ValueError, match="divide a day"):
            await store.transaction_totals(since=at(0), until=at(60), bucket=bad)


async def test_transaction_totals_buckets_are_utc_and_fold_into_local_days(store: Store) -> None:
    # 23:30 and 00:30 UTC are one day in Amsterdam (UTC+1): a page folds UTC quarters into it.
    for minutes in (11 * 60 + 30, 12 * 60 + 30):
        started = await store.start_transaction(TransactionStart("CP-1", 1, at(minutes), 0))
        await store.stop_transaction(
            TransactionStop("CP-1", at(minutes + 10), transaction_id=started.id, meter_stop_wh=1)
        )
    amsterdam = timezone(timedelta(hours=1))
    buckets = await store.transaction_totals(
        since=at(-24 * 60), until=at(24 * 60), bucket=timedelta(minutes=15)
    )
    assert [b.start for b in buckets] == [at(11 * 60 + 30), at(12 * 60 + 30)]
    assert all(b.start.tzinfo is UTC for b in buckets)
    assert {b.start.astimezone(amsterdam).date() for b in buckets} == {
        at(12 * 60).astimezone(amsterdam).date()
    }


async def test_newest_meter_values_of_many_transactions(store: Store) -> None:
    one = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 0))
    two = await store.start_transaction(TransactionStart("CP-2", 1, at(0), 0))
    samples = [
        MeterSample("CP-1", 1, at(n), str(7000 + n), "Power.Active.Import", "W",
                    transaction_id=one.id)
        for n in range(50)
    ] + [
        MeterSample("CP-1", 1, at(49), "10.1", "Current.Import", "A", "L1", transaction_id=one.id),
        MeterSample("CP-1", 1, at(49), "10.2", "Current.Import", "A", "L2", transaction_id=one.id),
        MeterSample("CP-1", 1, at(20), "16", "Current.Offered", "A", transaction_id=one.id),
        MeterSample("CP-2", 1, at(3), "9.9", "Current.Import", "A", "L1", transaction_id=two.id),
        MeterSample("CP-2", 1, at(4), "230", "Voltage", "V", "L1-N", transaction_id=two.id),
        MeterSample("CP-9", 1, at(5), "1", "Current.Import", "A", transaction_id=None),
    ]  # fmt: skip
    await store.add_meter_values(samples)  # buffered: the read flushes first

    newest = await store.newest_meter_values(
        [one.id, two.id, two.id + 100], ["Power.Active.Import", "Current.Import", "Current.Offered"]
    )

    assert set(newest) == {one.id, two.id}
    by_kind = sorted(newest[one.id], key=lambda s: (s.measurand, s.phase or ""))
    assert by_kind == [samples[50], samples[51], samples[52], samples[49]]
    # Current.Import L1 and L2 at 49, Current.Offered at 20 (its newest), Power at 49
    assert newest[two.id] == [samples[53]]  # no Voltage: not asked for
    assert await store.newest_meter_values([], ["Voltage"]) == {}
    assert await store.newest_meter_values([one.id], []) == {}


async def test_meter_values_of_many_transactions_in_time_order(store: Store) -> None:
    one = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 0))
    two = await store.start_transaction(TransactionStart("CP-2", 1, at(0), 0))
    idle = await store.start_transaction(TransactionStart("CP-3", 1, at(0), 0))
    later = MeterSample(
        "CP-1", 1, at(9), "900", "Energy.Active.Import.Register", "Wh", transaction_id=one.id
    )
    earlier = MeterSample(
        "CP-1", 1, at(2), "200", "Energy.Active.Import.Register", "Wh", transaction_id=one.id
    )
    other = MeterSample("CP-2", 1, at(5), "7000", "Power.Active.Import", "W", transaction_id=two.id)
    loose = MeterSample("CP-9", 1, at(5), "1", "Current.Import", "A", transaction_id=None)
    await store.add_meter_values([later, other, earlier, loose])  # fmt: skip

    found = await store.meter_values_of([one.id, two.id, idle.id, two.id + 100])

    assert found == {one.id: [earlier, later], two.id: [other]}  # none: left out
    assert found[one.id] == await store.meter_values(one.id)  # as one transaction's read
    assert await store.meter_values_of([]) == {}


# -- buffered writes ------------------------------------------------------------------------


async def test_buffered_writes_wait_for_a_flush_and_survive_close(store_url: str) -> None:
    store = SqlStore(store_url, flush_interval=3600)  # only explicit flushes and close write
    async with store:
        await store.record_heartbeat("CP-1", at(1))
        await store.record_status(ConnectorStatus("CP-1", 1, "Charging", at(1)))
        await store.log_message(frame("CP-1", 1))
        sample = MeterSample("CP-1", 1, at(1), "10.5", unit="kWh", transaction_id=7)
        await store.add_meter_values([sample])
        assert await count(store, schema.chargers) == 0  # still in memory
        await store.flush()
        assert await count(store, schema.chargers) == 1
        assert await count(store, schema.connector_status) == 1
        assert await count(store, schema.message_log) == 1
        assert await count(store, schema.meter_values) == 1

        await store.record_heartbeat("CP-1", at(2))
        charger = await store.charger("CP-1")  # a read flushes first
        assert charger is not None and charger.last_heartbeat == at(2)

        await store.record_heartbeat("CP-1", at(3))
        await store.record_status(ConnectorStatus("CP-1", 1, "Finishing", at(3)))
        await store.log_message(frame("CP-1", 2))
        await store.add_event(Event(at(3), "Disconnected", "bye", "CP-1"))
        await store.record_disconnected("CP-1", at(3), "closing")

    async with open_store(store_url) as reopened:
        charger = await reopened.charger("CP-1")
        assert charger is not None and charger.last_heartbeat == at(3)
        assert [c.status for c in charger.connectors] == ["Finishing"]
        assert [e.unique_id for e in await reopened.message_log("CP-1")] == ["CP-1-1", "CP-1-2"]
        assert [e.kind for e in await reopened.events("CP-1")] == ["Disconnected"]
        assert (charger.connected, charger.disconnect_reason) == (False, "closing")


async def test_a_full_buffer_is_flushed_without_waiting_for_the_timer(store_url: str) -> None:
    async with SqlStore(store_url, flush_interval=3600, flush_rows=10) as store:
        for n in range(10):
            await store.log_message(frame("CP-1", n))
        for _ in range(100):
            if await count(store, schema.message_log) == 10:
                break
            await asyncio.sleep(0.05)
        assert await count(store, schema.message_log) == 10


async def test_the_background_flush_writes_within_the_interval(store_url: str) -> None:
    async with SqlStore(store_url, flush_interval=0.05) as store:
        await store.record_heartbeat("CP-1", at(1))
        for _ in range(100):
            if await count(store, schema.chargers) == 1:
                break
            await asyncio.sleep(0.05)
        assert await count(store, schema.chargers) == 1


async def test_close_ends_the_flusher_woken_at_the_same_moment(store_url: str) -> None:
    # A full buffer wakes the flusher; closing right then must not hang (Python 3.11's
    # wait_for swallowed the cancellation that came with the wake).
    store = SqlStore(store_url, flush_interval=0.5)
    await store.open()
    await asyncio.sleep(0.01)
    store._wake.set()
    await asyncio.sleep(0)
    await asyncio.wait_for(store.close(), 5)


async def test_a_flush_that_failed_for_a_passing_reason_keeps_its_rows(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_away(batch: Batch) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_heartbeat("CP-1", at(1))
        await store.log_message(frame("CP-1", 1))
        with monkeypatch.context() as patch:
            patch.setattr(store, "_write_batch", database_away)
            with pytest.raises(OperationalError):
                await store.flush()
        await store.log_message(frame("CP-1", 2))

        assert [e.id for e in await store.message_log("CP-1")] == [1, 2]
        charger = await store.charger("CP-1")
        assert charger is not None and charger.last_heartbeat == at(1)


async def test_a_batch_that_can_never_be_written_is_dropped_not_retried_forever(
    store_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def bad_rows(batch: Batch) -> None:
        raise IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed"))

    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.log_message(frame("CP-1", 1))
        with monkeypatch.context() as patch:
            patch.setattr(store, "_write_batch", bad_rows)
            await store.flush()
        await store.log_message(frame("CP-1", 2))

        assert [e.unique_id for e in await store.message_log("CP-1")] == ["CP-1-2"]
        assert "dropped 1 buffered rows" in caplog.text


async def test_a_read_that_failed_leaves_the_store_working(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqlStore(store_url, flush_interval=3600) as store:
        await store.record_heartbeat("CP-1", at(1))
        await store.flush()
        await store.chargers(identities=["CP-1"])  # compiles the one-charger read
        read = store._batched_statements[_Read.CHARGER, 1]
        with monkeypatch.context() as patch:
            patch.setattr(read, "sql", "SELECT * FROM no_such_table")
            for _ in range(20):  # more than the pool holds: the failed connections are not reused
                with pytest.raises(Exception, match="no_such_table"):
                    await store.chargers(identities=["CP-1"])

        for _ in range(20):
            (charger,) = await store.chargers(identities=["CP-1"])
            assert charger.last_heartbeat == at(1)
        reading = asyncio.create_task(store.chargers(identities=["CP-1"]))
        await asyncio.sleep(0)
        reading.cancel()  # a pass of a charger that disconnected
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert [c.identity for c in await store.chargers(identities=["CP-1"])] == ["CP-1"]


async def test_buffered_writes_need_an_open_store(store_url: str) -> None:
    store = open_store(store_url)
    with pytest.raises(RuntimeError, match="not open"):
        await store.record_heartbeat("CP-1", at(0))
    async with store:
        await store.record_heartbeat("CP-1", at(0))
    with pytest.raises(RuntimeError, match="not open"):
        await store.log_message(frame("CP-1", 1))


# -- message log ----------------------------------------------------------------------------


async def test_message_log_keeps_the_newest_per_charger_and_tails(store_url: str) -> None:
    async with open_store(store_url, log_limit_per_charger=5) as store:
        for n in range(1, 13):
            await store.log_message(frame("CP-A", n))
        for n in range(1, 4):
            await store.log_message(frame("CP-B", n))

        newest = await store.message_log("CP-A")
        assert [e.unique_id for e in newest] == [f"CP-A-{n}" for n in range(8, 13)]
        assert [e.id for e in newest] == [8, 9, 10, 11, 12]
        assert newest[-1] == LogEntry(
            "CP-A", at(12), Direction.SENT, MessageType.CALL, "CP-A-12",
            '[2,"CP-A-12","Heartbeat",{}]', "Heartbeat", id=12,
        )  # fmt: skip
        assert await count(store, schema.message_log, identity="CP-A") == 5
        assert [e.id for e in await store.message_log("CP-B")] == [1, 2, 3]
        assert [e.id for e in await store.message_log("CP-A", limit=2)] == [11, 12]

        assert [e.id for e in await store.message_log("CP-A", after_id=10)] == [11, 12]
        assert [e.id for e in await store.message_log("CP-A", after_id=7, limit=2)] == [8, 9]
        assert await store.message_log("CP-A", after_id=12) == []
        await store.log_message(frame("CP-A", 13))
        assert [e.id for e in await store.message_log("CP-A", after_id=12)] == [13]

    async with open_store(store_url, log_limit_per_charger=5) as store:
        await store.log_message(frame("CP-A", 14))
        assert [e.id for e in await store.message_log("CP-A", after_id=12)] == [13, 14]
        assert await count(store, schema.message_log, identity="CP-A") == 5

    async with open_store(store_url, log_limit_per_charger=3) as store:  # a smaller limit
        assert [e.id for e in await store.message_log("CP-A")] == [12, 13, 14]
        await store.log_message(frame("CP-A", 15))
        assert [e.id for e in await store.message_log("CP-A")] == [13, 14, 15]
        assert [e.id for e in await store.message_log("CP-B")] == [1, 2, 3]

    async with open_store(store_url, log_limit_per_charger=6) as store:  # and a larger one
        for n in range(16, 20):
            await store.log_message(frame("CP-A", n))
        assert [e.id for e in await store.message_log("CP-A")] == [14, 15, 16, 17, 18, 19]


async def test_a_batch_larger_than_the_ring_keeps_the_newest(store_url: str) -> None:
    async with SqlStore(store_url, log_limit_per_charger=4, flush_interval=3600) as store:
        for n in range(1, 11):
            await store.log_message(frame("CP-A", n))
        assert [e.id for e in await store.message_log("CP-A")] == [7, 8, 9, 10]


# -- meter values and events ----------------------------------------------------------------


async def test_meter_values_round_trip(store: Store) -> None:
    started = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 0))
    samples = [
        MeterSample("CP-1", 1, at(1), "16.02", "Current.Import", "A", "L1", "Outlet",
                    "Sample.Periodic", started.id),
        MeterSample("CP-1", 1, at(1), "15.98", "Current.Import", "A", "L2", "Outlet",
                    "Sample.Periodic", started.id),
        MeterSample("CP-1", 1, at(0), "0.000", unit="kWh", context="Transaction.Begin",
                    transaction_id=started.id),
        MeterSample("CP-1", 2, at(1), "230.1", "Voltage", "V", "L1-N"),
    ]  # fmt: skip
    await store.add_meter_values(samples)

    stored = await store.meter_values(started.id)

    assert stored == [samples[2], samples[0], samples[1]]
    assert stored[0].value == "0.000"  # the text as sent, trailing zeros and all
    assert stored[1].decimal == Decimal("16.02")
    assert await store.meter_values(started.id + 1000) == []


async def test_events_newest_last_per_charger(store: Store) -> None:
    await store.add_event(Event(at(2), "connected", "CP-1 connected", "CP-1", {"remote": "x"}))
    await store.add_event(Event(at(1), "rejected", "key refused", "CP-1", {"key": "K", "n": 1}))
    await store.add_event(Event(at(3), "started", "central system started"))
    await store.add_event(Event(at(2), "reset", "reset sent", "CP-2", {"when": at(2)}))
    await store.add_event(Event(at(4), "disconnected", "CP-1 gone", "CP-1"))

    every = await store.events()
    assert [e.kind for e in every] == ["rejected", "connected", "reset", "started", "disconnected"]
    assert every[0].data == {"key": "K", "n": 1}
    assert every[2].data == {"when": str(at(2))}  # not JSON by nature: kept as text
    assert all(e.id is not None for e in every)
    assert [e.kind for e in await store.events("CP-1")] == ["rejected", "connected", "disconnected"]
    assert [e.kind for e in await store.events("CP-1", limit=2)] == ["connected", "disconnected"]
    assert [e.kind for e in await store.events(limit=1)] == ["disconnected"]


# -- an open transaction's last meter reading, from its meter values ------------------------


def register(
    identity: str, transaction_id: int, minutes: float, value: str, **fields: str
) -> MeterSample:
    return MeterSample(identity, 1, at(minutes), value, transaction_id=transaction_id, **fields)


async def stored_last(store: Store, transaction_id: int) -> int | None:
    """`meter_last_wh` as written in the database, past the buffer's overlay."""
    assert isinstance(store, SqlStore)
    query = select(schema.transactions.c.meter_last_wh).where(
        schema.transactions.c.id == transaction_id
    )
    async with store.engine.connect() as conn:
        return await conn.scalar(query)


async def test_meter_values_raise_an_open_transactions_last_reading(store: Store) -> None:
    assert isinstance(store, SqlStore)
    started = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 1_000, "A"))
    other = await store.start_transaction(TransactionStart("CP-2", 1, at(0), 50, "B"))
    await store.add_meter_values(
        [
            register("CP-1", started.id, 1, "1.5", unit="kWh"),  # 1,500 Wh
            register("CP-1", started.id, 2, "2250"),  # Wh when no unit is given
            register("CP-1", started.id, 2, "9999", phase="L1"),  # a phase: not the register
            register("CP-1", started.id, 2, "9999", measurand="Power.Active.Import", unit="W"),
            register("CP-1", started.id, 3, "2000"),  # lower than 2,250: not taken
            register("CP-2", started.id, 3, "99999"),  # another charger's transaction id
            register("CP-2", other.id, 1, "not a number"),
        ]
    )
    # Buffered: the reads already see the highest reading, before any flush.
    [seen] = await store.open_transactions("CP-1")
    assert (seen.meter_last_wh, seen.updated_at) == (2_250, at(2))
    assert await stored_last(store, started.id) == 1_000

    await store.flush()
    assert await stored_last(store, started.id) == 2_250
    assert await stored_last(store, other.id) == 50
    found = await store.transaction(started.id)
    assert found is not None and (found.meter_last_wh, found.updated_at) == (2_250, at(2))
    [listed] = [t for t in await store.transactions() if t.id == started.id]
    assert listed.meter_last_wh == 2_250
    opened = {t.id: t.meter_last_wh for t in await store.open_transactions_of(["CP-1", "CP-2"])}
    assert opened == {started.id: 2_250, other.id: 50}

    # Batches that arrive later only raise it, whatever their order.
    await store.add_meter_values([register("CP-1", started.id, 4, "2.1", unit="kWh")])
    await store.flush()
    assert await stored_last(store, started.id) == 2_250
    await store.add_meter_values([register("CP-1", started.id, 5, "3.0004", unit="kWh")])
    await store.add_meter_values([register("CP-1", started.id, 6, "2999")])
    await store.flush()
    assert await stored_last(store, started.id) == 3_000
    [totals] = await store.transaction_totals(
        since=at(0), until=at(60), bucket=timedelta(days=1), identities=["CP-1"]
    )
    assert totals.energy_wh == 2_000


async def test_a_stopped_transaction_keeps_its_stop_reading(store: Store) -> None:
    started = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 1_000, "A"))
    await store.add_meter_values([register("CP-1", started.id, 1, "4000")])
    # A stop without a reading stops at the highest one, buffered or not.
    stopped = await store.stop_transaction(
        TransactionStop("CP-1", at(2), transaction_id=started.id)
    )
    assert stopped is not None and (stopped.meter_stop_wh, stopped.energy_wh) == (4_000, 3_000)
    # Samples that come after the stop (1.6 transactionData) leave it as the stop left it.
    await store.add_meter_values([register("CP-1", started.id, 3, "9000")])
    found = await store.transaction(started.id)
    assert found is not None and found.meter_last_wh == 4_000
    await store.flush()
    assert await stored_last(store, started.id) == 4_000
    assert len(await store.meter_values(started.id)) == 2  # the samples are all kept


async def test_a_transaction_update_never_lowers_the_last_reading(store: Store) -> None:
    started = await store.start_transaction(
        TransactionStart("CP-1", 1, at(0), 100, charger_transaction_id="tx-1")
    )
    await store.add_meter_values([register("CP-1", started.id, 1, "5000")])
    lower = await store.update_transaction(
        TransactionUpdate("CP-1", at(2), charger_transaction_id="tx-1", meter_wh=4_000)
    )
    assert lower is not None and lower.meter_last_wh == 5_000  # the buffered one is higher
    await store.flush()
    assert await stored_last(store, started.id) == 5_000
    higher = await store.update_transaction(
        TransactionUpdate("CP-1", at(3), charger_transaction_id="tx-1", meter_wh=6_000)
    )
    assert higher is not None and higher.meter_last_wh == 6_000


async def test_buffered_readings_survive_a_failed_flush(store: Store) -> None:
    assert isinstance(store, SqlStore)
    started = await store.start_transaction(TransactionStart("CP-1", 1, at(0), 0, "A"))
    await store.add_meter_values([register("CP-1", started.id, 1, "700")])
    failed = store._buffer.take()
    await store.add_meter_values([register("CP-1", started.id, 2, "650")])
    store._buffer.put_back(failed)  # as a flush that failed for a passing reason does
    await store.flush()
    assert await stored_last(store, started.id) == 700
