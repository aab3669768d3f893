"""`coordination.Liveness.record`: the one correction of a record a dead replica left."""

from __future__ import annotations

from controller.store.coordination import GONE, ONE_PROCESS, Liveness, charger_key
from controller.values.records import ChargerRecord


def test_a_record_no_replica_holds_reads_as_its_end_would_have_left_it() -> None:
    held = ChargerRecord("CP-1", pending=False, connected=True)
    dead = ChargerRecord("CP-2", pending=False, connected=True)
    away = ChargerRecord("CP-3", pending=False, connected=False, disconnect_reason="closed")
    live = Liveness(frozenset({charger_key("CP-1")}))
    assert live.record(held) is held
    gone = live.record(dead)
    assert not gone.connected and gone.disconnect_reason == GONE
    assert live.record(away) is away
    assert [r.connected for r in live.records([held, dead, away])] == [True, False, False]
    assert ONE_PROCESS.record(dead) is dead  # one process: the record is the truth
