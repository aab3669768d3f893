"""The transactions of a charger's status document (`StatusService.charger`, what
GET /api/chargers/{id}?transactions=N serves): the newest N, oldest first, none for N = 0,
against a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.runtime.serve import ServeOptions, running
from controller.store.base import Store
from controller.values.records import Transaction, TransactionStart
from controller.web.access import Scope
from controller.web.status import ChargerRef, StatusService
from tests.integration.fleets import PASSWORD_ENV, write_fleet

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Served:
    service: StatusService
    store: Store
    ref: ChargerRef

    async def ids(self, count: int) -> list[int]:
        document = await self.service.charger(self.ref, events=0, transactions=count)
        return [t["id"] for t in document["transactions"]]


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-password")
    options = ServeOptions(
        reconcile=False,
        paths=[write_fleet(tmp_path)],
        store_url=f"sqlite:///{tmp_path / 'state.db'}",
        host="127.0.0.1",
        port=0,
    )
    async with running(options) as started:
        service = StatusService(started.central)
        ref = await service.find("cp-16", Scope(requester=None))
        assert ref is not None
        yield Served(service, started.central.store, ref)


async def start(store: Store, identity: str, started: datetime) -> int:
    return (await store.start_transaction(TransactionStart(identity, 1, started, 1000))).id


async def test_zero_transactions_asked_for_gives_none(served: Served) -> None:
    for back in range(3):
        await start(served.store, "CP-16", NOW - timedelta(hours=back))
    assert await served.ids(0) == []


async def test_the_newest_ones_oldest_first_across_days(served: Served) -> None:
    # Three on each of four days, made out of order, and another charger's in between.
    made: dict[datetime, int] = {}
    for day in (2, 0, 3, 1):
        for hour in (3, 1, 2):
            at = NOW - timedelta(days=day, hours=hour)
            made[at] = await start(served.store, "CP-16", at)
        await start(served.store, "CP-201", NOW - timedelta(days=day))
    oldest_first = [made[at] for at in sorted(made)]
    assert await served.ids(1) == oldest_first[-1:]
    assert await served.ids(4) == oldest_first[-4:]  # the newest day's three and one before
    assert await served.ids(12) == oldest_first
    assert await served.ids(50) == oldest_first


async def test_only_the_days_holding_the_newest_ones_are_read(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in range(30):
        await start(served.store, "CP-16", NOW - timedelta(days=day))
    asked: list[datetime | None] = []
    read = served.store.transactions

    async def spy(**query: Any) -> list[Transaction]:
        asked.append(query.get("since"))
        return await read(**query)

    monkeypatch.setattr(served.store, "transactions", spy)
    assert len(await served.ids(2)) == 2
    (since,) = asked
    assert since is not None and since > NOW - timedelta(days=3)


async def test_a_charger_without_transactions_has_none(served: Served) -> None:
    await start(served.store, "CP-201", NOW)
    assert await served.ids(50) == []
