"""The fleet's rows: one per charger (declared or pending), shared by the chargers table and
the dashboard, cut to each viewer's scope by the request.

A row holds what both pages show and decide by: connection (and since when), sync state
(`insights.sync_state`), boot information, and what needs someone's attention and does not
depend on the clock (Faulted connectors, keys the reconciler gave up on, a failed firmware
update); "offline for long" is decided per request from `away_since`, as it changes with time
alone.

Rows are made from the store's records directly (no open transactions or configuration
documents: neither page shows them), with a fixed number of reads whatever the fleet's size:
the records, the conditions, the key statuses of the unsynced chargers, one reading of the
replicas' locks. Connected is decided as `StatusService` decides it (here, or recorded so by a
replica that still holds the charger's lock).

At 10,000 chargers the records alone take ~0.3 s to read (bench/web.py: /chargers was 433 ms
p50, 876 ms p99 reading them on every request, the dashboard 494 ms building the status
document), so from `shared.SHARED_FROM` chargers the whole fleet's rows are one `Shared` value
for every viewer, request and page (`shared_rows`); each request cuts them to its viewer.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from datetime import datetime

from controller.planning.reported import connector_documents
from controller.store.coordination import coordination_of, liveness
from controller.values.records import ChargerRecord, KeyStatus
from controller.values.timestamps import iso
from controller.web.access import Scope
from controller.web.view.fleetlist import Connection, Row
from controller.web.view.insights import (
    Attention,
    Sync,
    faulted_connectors,
    key_concerns,
    sync_state,
    synced_conditions,
)
from controller.web.view.shared import Shared, is_large
from controller.web.view.site import View

_SNAPSHOTS: weakref.WeakKeyDictionary[View, Snapshot] = weakref.WeakKeyDictionary()


def shared_rows(view: View) -> Snapshot:
    """The one snapshot of `view`'s fleet, shared by its pages (made on first use)."""
    snapshot = _SNAPSHOTS.get(view)
    if snapshot is None:
        snapshot = _SNAPSHOTS[view] = Snapshot(view)
    return snapshot


def visible(rows: Sequence[Row], scope: Scope) -> list[Row]:
    """The rows of the locations the viewer sees (a pending charger's: the one it came
    through), as `StatusService.chargers` cuts them."""
    if scope.locations is None:
        return list(rows)
    return [row for row in rows if scope.sees_location(row.location)]


class Snapshot:
    """The whole fleet's rows, shared by requests when the fleet is large (module docstring)."""

    def __init__(self, view: View) -> None:
        self.view = view
        self._size = 0
        self._shared: Shared[list[Row]] = Shared(self._read, "the fleet's rows")

    @property
    def large(self) -> bool:
        """Whether the fleet is large enough to share what pages read (pending chargers count
        too, as last read)."""
        return is_large(max(len(self.view.fleet.chargers), self._size))

    async def rows(self) -> list[Row]:
        if not self.large:
            return await self._read()
        return await self._shared.get(self.view.fleet)

    async def _read(self) -> list[Row]:
        rows = await all_rows(self.view)
        self._size = len(rows)
        return rows


async def key_statuses_of(view: View, identities: Sequence[str]) -> dict[str, list[KeyStatus]]:
    """Key statuses of these chargers by lower-cased identity: concurrent reads, which the
    store answers with one query (its per-charger reads are batched)."""
    store = view.central.store
    found = await asyncio.gather(*(store.key_statuses(identity) for identity in identities))
    return {i.lower(): list(s) for i, s in zip(identities, found, strict=True)}


async def all_rows(view: View) -> list[Row]:
    """Every declared charger (by name), then the pending ones not declared (by identity)."""
    fleet = view.fleet
    store = view.central.store
    records = {r.identity.lower(): r for r in await store.chargers()}
    synced = synced_conditions(await store.conditions())
    # Declared chargers that never connected can have conditions too (recorded by a replica,
    # or before a store was moved): the conditions say whose key statuses matter.
    unsynced = [c.identity for c in synced.values() if c.status == "False"]
    statuses = await key_statuses_of(view, unsynced)
    live = await liveness(coordination_of(view.central))
    here = {identity.lower() for identity in view.central.connections}

    def connected(record: ChargerRecord | None) -> bool:
        if record is None:
            return False
        return record.identity.lower() in here or live.connected(record.identity, record.connected)

    rows: list[Row] = []
    declared: set[str] = set()
    for name in sorted(fleet.chargers):
        charger = fleet.chargers[name]
        lowered = charger.resource.identity.lower()
        declared.add(lowered)
        record = records.get(lowered)
        keys = statuses.get(lowered, [])
        is_connected = connected(record)
        rows.append(
            _row(
                name,
                record.identity if record else charger.resource.identity,
                charger.resource.spec.location,
                record,
                is_connected,
                Connection.CONNECTED if is_connected else Connection.OFFLINE,
                sync_state(synced.get(lowered), keys).value,
                charger.resource.spec.ocpp_version.value,
                troubles=_troubles(record, keys),
            )
        )
    for lowered, record in sorted(records.items()):
        if record.pending and lowered not in declared:
            rows.append(
                _row(
                    None,
                    record.identity,
                    record.pending_location,
                    record,
                    connected(record),
                    Connection.PENDING,
                    Sync.UNKNOWN.value,
                    None,
                )
            )
    return rows


def _troubles(record: ChargerRecord | None, keys: Sequence[KeyStatus]) -> tuple[Attention, ...]:
    """What needs attention whatever the time: Faulted connectors (in the status API's words,
    `connector_documents`), blocked keys, a failed firmware update."""
    reported = record.connectors if record is not None else ()
    faults = faulted_connectors(connector_documents(None, reported, times=False))
    return (*faults, *key_concerns(keys))


def _row(
    name: str | None,
    identity: str,
    location: str | None,
    record: ChargerRecord | None,
    connected: bool,
    connection: Connection,
    sync: str,
    declared_version: str | None,
    troubles: tuple[Attention, ...] = (),
) -> Row:
    boot = record.boot if record is not None else None
    since = None
    if record is not None:
        since = record.connected_at if connected else record.disconnected_at
    return Row(
        name=name,
        identity=identity,
        location=location,
        connection=connection,
        sync=sync,
        vendor=boot.vendor if boot else None,
        model=boot.model if boot else None,
        serial=boot.serial_number if boot else None,
        firmware=boot.firmware_version if boot else None,
        ocpp_version=(record.ocpp_version if record else None) or declared_version,
        last_heartbeat=_iso(record.last_heartbeat if record else None),
        since=_iso(since),
        away_since=None if connected or record is None else record.disconnected_at,
        troubles=troubles,
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)
