"""The replicas' lock keys and the one-process coordination, without a database.

(Locks, takeovers, forwarded commands and shared decisions on a real PostgreSQL are in
tests/integration/test_replicas.py.)
"""

from __future__ import annotations

import pytest

from controller.store.coordination import (
    LOCAL,
    NotHeld,
    charger_key,
    coordination_of,
    lock_halves,
    scope_key,
)
from tests.fakes import FakeCentral, FakeStore


def test_a_chargers_lock_is_its_identity_without_case_and_no_other_chargers() -> None:
    assert charger_key("CP-0001") == charger_key("cp-0001")
    keys = {charger_key(f"CP-{n:05d}") for n in range(20_000)}
    assert len(keys) == 20_000, "ten thousand chargers never share a lock"
    assert all(-(2**63) <= key < 2**63 for key in keys), "a PostgreSQL bigint"


def test_a_scope_lock_is_never_a_chargers_lock() -> None:
    assert scope_key("location:depot") != charger_key("location:depot")
    assert scope_key("location:depot") != scope_key("team:depot")


def test_the_lock_halves_are_the_two_unsigned_words_pg_locks_shows() -> None:
    for key in (0, 1, -1, 2**62 + 5, -(2**63), charger_key("CP-1")):
        high, low = lock_halves(key)
        assert 0 <= high < 2**32 and 0 <= low < 2**32
        assert ((high << 32) | low) == key % 2**64


async def test_one_process_claims_every_charger_and_forwards_nothing() -> None:
    claim = await LOCAL.claim("CP-1")
    assert claim is not None and claim.valid and claim.identity == "CP-1"
    assert await LOCAL.owner("CP-1") is None
    await LOCAL.release(claim)
    assert not claim.valid
    assert not LOCAL.shared
    with pytest.raises(NotHeld):
        await LOCAL.forward("CP-1", {"command": "reset"}, "token:ops", 1.0)
    LOCAL.publish("transaction", "depot")  # heard by no one: there is no one else


def test_what_has_no_coordination_is_one_process() -> None:
    assert coordination_of(FakeStore()) is LOCAL
    assert coordination_of(FakeCentral()) is LOCAL
