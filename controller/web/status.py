"""The JSON documents of the status API, computed from the fleet, the store and the connections.

Kept apart from HTTP so each document is testable by calling a method, and so the HTML view of
a later issue renders the same data the JSON API serves. Every method takes the requester's
`Scope` (see `access`) and leaves out what it does not cover.

Documents use camelCase keys like the fleet's YAML, times in RFC 3339 UTC, energy in Wh, power
in W and current in A. Lists that grow with time (events, transactions, the message log) are
oldest first, as the store returns them. Nothing here changes any state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from controller.fleet.model import Fleet, Loaded
from controller.ocpp.central import CentralSystem
from controller.planning.reported import boot_document, connector_documents
from controller.resources import Charger, Location, PowerLimit
from controller.store.base import Store
from controller.store.coordination import GONE, Liveness, coordination_of, liveness
from controller.values.commands import ChargerCommands
from controller.values.records import (
    ChargerRecord,
    Event,
    LogEntry,
    MeterSample,
    Transaction,
)
from controller.values.timestamps import iso
from controller.web.access import Scope

Document = dict[str, Any]
"""A JSON object, ready for `json.dumps`."""

POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"
DRAW_MEASURANDS = (POWER, CURRENT, CURRENT_OFFERED)
"""What a live draw is made of: the newest samples of these, per open transaction."""
DAY = timedelta(days=1)
HISTORY_START = datetime(2000, 1, 1, tzinfo=UTC)
"""Where the per-day counts that find a charger's newest transactions start."""


@dataclass(frozen=True, slots=True)
class ChargerRef:
    """A charger as the API names it: declared in the fleet, known to the store, or both.

    `identity` is the OCPP identity the store and the connections know it by; a declared
    charger that never connected has its declared identity.
    """

    identity: str
    declared: Loaded[Charger] | None
    record: ChargerRecord | None

    @property
    def location(self) -> str | None:
        """Where it is declared; for a pending charger, the location it came through."""
        if self.declared is not None:
            return self.declared.resource.spec.location
        return self.record.pending_location if self.record is not None else None


class StatusService:
    """Reads (never writes) the central system's state into JSON documents."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    @property
    def fleet(self) -> Fleet:
        return self.central.fleet  # read on every call: the fleet is replaced on reload

    @property
    def store(self) -> Store:
        return self.central.store

    # --- lookup ------------------------------------------------------------------------------

    async def find(self, key: str, scope: Scope) -> ChargerRef | None:
        """A charger by its name in the fleet or its OCPP identity (any case); None when no
        declared or recorded charger has it, or `scope` does not cover it."""
        fleet = self.fleet
        declared = fleet.chargers.get(key) or fleet.charger_by_identity(key)
        identity = declared.resource.identity if declared is not None else key
        identity = self.live_identity(identity) or identity
        record = await self.store.charger(identity)
        if declared is None and record is None:
            return None
        ref = ChargerRef(record.identity if record else identity, declared, record)
        if declared is None and record is not None and not record.pending:
            return None  # no longer declared: history only, not part of the fleet view
        return ref if scope.sees_location(ref.location) else None

    def live_identity(self, identity: str) -> str | None:
        """The identity a connected charger used (OCPP identities compare without case)."""
        if identity in self.central.connections:
            return identity
        lowered = identity.lower()
        for connected in self.central.connections:
            if connected.lower() == lowered:
                return connected
        return None

    def connection(self, ref: ChargerRef) -> ChargerCommands | None:
        """The charger's session in this process, if it is connected here."""
        live = self.live_identity(ref.identity)
        return self.central.connections[live] if live is not None else None

    # --- documents ---------------------------------------------------------------------------

    async def chargers(self, scope: Scope, location: str | None = None) -> Document:
        """Every declared charger the scope covers (at `location`, if given), then the pending
        ones (with a location, those that came through its URL), with their live status."""
        refs = await self._all_refs(scope, location)
        open_transactions = await self._open_transactions(refs)
        live = await self._liveness()
        items = [self._summary(ref, open_transactions.get(ref.identity, []), live) for ref in refs]
        return {
            "chargers": items,
            "total": len(items),
            "connected": sum(1 for item in items if item["connected"]),
            "pending": sum(1 for item in items if item["pending"]),
        }

    async def charger(
        self, ref: ChargerRef, *, events: int = 50, transactions: int = 50
    ) -> Document:
        """One charger: its summary, reported and declared configuration, recent history."""
        open_transactions = await self._open_transactions([ref])
        document = self._summary(
            ref, open_transactions.get(ref.identity, []), await self._liveness()
        )
        record = ref.record
        reported = record.configuration if record is not None else None
        document["configuration"] = {
            "reportedAt": _time(record.configuration_at if record else None),
            "reported": [
                {"key": key.key, "value": key.value, "readonly": key.readonly}
                for key in reported or ()
            ],
            "declared": _declared_configuration(self.fleet, ref.declared),
        }
        newest = await self._newest_transactions(ref.identity, transactions)
        document["transactions"] = [_transaction(t) for t in newest]
        recent = await self.store.events(ref.identity, limit=events) if events > 0 else []
        document["events"] = [_event(e) for e in recent]
        return document

    async def _newest_transactions(self, identity: str, count: int) -> list[Transaction]:
        """The charger's newest `count` transactions (none for 0), oldest first. Per-day
        counts find the day the oldest of them started on, and only the days from there are
        read: not the charger's whole history (it may have years of transactions)."""
        if count <= 0:
            return []
        days = await self.store.transaction_totals(
            since=HISTORY_START,
            until=datetime.now(UTC) + DAY,
            bucket=DAY,
            identities=[identity],
        )
        since: datetime | None = None  # fewer than `count` counted: read them all
        seen = 0
        for day in reversed(days):
            seen += day.sessions
            if seen >= count:
                since = day.start
                break
        recent = await self.store.transactions(identities=[identity], since=since)
        return recent[-count:]

    async def location(self, name: str, scope: Scope) -> Document | None:
        """A location as declared, its chargers with their status and power, its circuits, and
        the pending chargers that came through its URL (`pendingChargers`; they have no
        transactions, so they add nothing to the sums)."""
        fleet = self.fleet
        loaded = fleet.locations.get(name)
        if loaded is None or not scope.sees_location(name):
            return None
        chargers = fleet.chargers_at(name)
        records = await self._records([c.resource.identity for c in chargers])
        items: list[Document] = []
        draws: dict[str, _Draw] = {}
        ordered = sorted(chargers, key=lambda c: c.name)
        refs = [
            ChargerRef(
                _record_identity(records, charger.resource.identity),
                charger,
                records.get(charger.resource.identity.lower()),
            )
            for charger in ordered
        ]
        open_transactions = await self._open_transactions(refs)
        newest = await self.store.newest_meter_values(
            [t.id for running in open_transactions.values() for t in running], DRAW_MEASURANDS
        )
        live = await self._liveness()
        for charger, ref in zip(ordered, refs, strict=True):
            running = open_transactions.get(ref.identity, [])
            item = self._summary(ref, running, live)
            draw = _draw(running, newest)
            draws[charger.name] = draw
            item["power"] = draw.document()
            items.append(item)
        pending = [self._summary(ref, [], live) for ref in await self._pending_at(name, scope)]
        return {
            **_location(loaded.resource),
            "chargers": items,
            "pendingChargers": pending,
            "summary": {
                "chargers": len(items),
                "connected": sum(1 for item in items if item["connected"]),
                "charging": sum(len(item["openTransactions"]) for item in items),
                "watts": _total(d.watts for d in draws.values()),
                "pending": len(pending),
            },
            "circuits": [
                _circuit(limit, fleet, draws)
                for limit in sorted(fleet.power_limits.values(), key=lambda p: p.name)
                if limit.resource.spec.location == name
            ],
        }

    async def message_log(
        self, ref: ChargerRef, *, after: int | None = None, limit: int = 100
    ) -> Document:
        """The charger's OCPP frames: the newest `limit`, or the first `limit` after `after`."""
        entries = await self.store.message_log(ref.identity, limit=limit, after_id=after)
        last = entries[-1].id if entries else after
        return {
            "identity": ref.identity,
            "entries": [log_entry(e) for e in entries],
            "last": last,
        }

    # --- parts -------------------------------------------------------------------------------

    async def _all_refs(self, scope: Scope, location: str | None) -> list[ChargerRef]:
        fleet = self.fleet
        records = {r.identity.lower(): r for r in await self.store.chargers()}
        refs: list[ChargerRef] = []
        declared_identities: set[str] = set()
        for charger in sorted(fleet.chargers.values(), key=lambda c: c.name):
            declared_identities.add(charger.resource.identity.lower())
            at = charger.resource.spec.location
            if not scope.sees_location(at) or (location is not None and at != location):
                continue
            identity = charger.resource.identity
            record = records.get(identity.lower())
            refs.append(ChargerRef(record.identity if record else identity, charger, record))
        for lowered, record in sorted(records.items()):
            if not record.pending or lowered in declared_identities:
                continue
            came = record.pending_location
            if scope.sees_location(came) and (location is None or came == location):
                refs.append(ChargerRef(record.identity, None, record))
        return refs

    async def _pending_at(self, location: str, scope: Scope) -> list[ChargerRef]:
        """The pending chargers that came through `location`'s URL, not declared since."""
        if not scope.sees_location(location):
            return []
        fleet = self.fleet
        return [
            ChargerRef(record.identity, None, record)
            for record in sorted(await self.store.pending_chargers(), key=lambda r: r.identity)
            if record.pending_location == location
            and fleet.charger_by_identity(record.identity) is None
        ]

    async def _records(self, identities: Sequence[str]) -> dict[str, ChargerRecord]:
        """Records by lower-cased identity (a charger may connect with another case)."""
        found = await self.store.chargers(identities=list(identities))
        by_lower = {r.identity.lower(): r for r in found}
        missing = [i for i in identities if i.lower() not in by_lower]
        for identity in missing:
            live = self.live_identity(identity)
            if live is not None and live != identity:
                record = await self.store.charger(live)
                if record is not None:
                    by_lower[identity.lower()] = record
        return by_lower

    async def _open_transactions(self, refs: Sequence[ChargerRef]) -> dict[str, list[Transaction]]:
        """Open transactions by identity, oldest first, of the chargers the store has seen:
        one query however many chargers are listed."""
        seen = [ref.identity for ref in refs if ref.record is not None]
        by_identity: dict[str, list[Transaction]] = {identity: [] for identity in seen}
        for transaction in await self.store.open_transactions_of(seen) if seen else ():
            by_identity[transaction.identity].append(transaction)
        return by_identity

    async def _liveness(self) -> Liveness:
        """Which recorded connections are live (one reading of the replicas' locks)."""
        return await liveness(coordination_of(self.central))

    def _summary(
        self, ref: ChargerRef, open_transactions: Sequence[Transaction], live: Liveness
    ) -> Document:
        """`connected`: here, or recorded so by a replica that still holds the charger's lock
        (a replica that died could not record the end of its connections)."""
        record, declared = ref.record, ref.declared
        spec = declared.resource.spec if declared is not None else None
        here = ref.identity in self.central.connections  # a record has the identity as connected
        recorded = bool(record is not None and record.connected)
        gone = not here and record is not None and live.gone(record.identity, recorded)
        boot = record.boot if record is not None else None
        return {
            "identity": ref.identity,
            "name": declared.name if declared is not None else None,
            "location": ref.location,
            "declared": declared is not None,
            "pending": bool(record is not None and record.pending and declared is None),
            "ocppVersion": spec.ocpp_version.value if spec is not None else None,
            "reportedOcppVersion": record.ocpp_version if record is not None else None,
            "connected": here or (recorded and not gone),
            "connectedHere": here,
            "connectedAt": _time(record.connected_at if record else None),
            "disconnectedAt": _time(record.disconnected_at if record else None),
            "disconnectReason": GONE if gone else record.disconnect_reason if record else None,
            "remoteAddress": record.remote_address if record else None,
            "lastHeartbeat": _time(record.last_heartbeat if record else None),
            "bootedAt": _time(record.booted_at if record else None),
            "boot": boot_document(boot) if boot is not None else None,
            "connectors": connector_documents(declared, record.connectors if record else ()),
            "openTransactions": [_transaction(t) for t in open_transactions],
        }


# --- pieces of documents -----------------------------------------------------------------------


def _time(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def _transaction(transaction: Transaction) -> Document:
    return {
        "id": transaction.id,
        "chargerTransactionId": transaction.charger_transaction_id,
        "connector": transaction.connector_id,
        "idTag": transaction.id_tag,
        "startedAt": _time(transaction.started_at),
        "meterStartWh": transaction.meter_start_wh,
        "meterLastWh": transaction.meter_last_wh,
        "updatedAt": _time(transaction.updated_at),
        "stoppedAt": _time(transaction.stopped_at),
        "meterStopWh": transaction.meter_stop_wh,
        "stopReason": transaction.stop_reason,
        "energyWh": transaction.energy_wh,
        "open": transaction.is_open,
    }


def _event(event: Event) -> Document:
    return {
        "id": event.id,
        "at": _time(event.at),
        "kind": event.kind,
        "message": event.message,
        "data": dict(event.data),
    }


def log_entry(entry: LogEntry) -> Document:
    """One frame of the message log, as `GET /api/chargers/{id}/log` and `logs` show it."""
    return {
        "id": entry.id,
        "at": _time(entry.at),
        "direction": entry.direction.value,
        "messageType": entry.message_type,
        "uniqueId": entry.unique_id,
        "action": entry.action,
        "frame": entry.frame,
    }


def _declared_configuration(fleet: Fleet, declared: Loaded[Charger] | None) -> list[Document]:
    if declared is None:
        return []
    desired = fleet.desired(declared)
    items: list[Document] = []
    for values, vendor in ((desired.configuration, False), (desired.vendor_configuration, True)):
        for key in sorted(values):
            value = values[key]
            items.append(
                {
                    "key": key,
                    "value": value.value,
                    "layer": value.origin.layer.value,
                    "file": value.origin.source.file if value.origin.source else None,
                    "vendor": vendor,
                }
            )
    return items


def _location(location: Location) -> Document:
    spec = location.spec
    return {
        "name": location.metadata.name,
        "displayName": spec.display_name,
        "team": spec.team,
        "timezone": spec.timezone,
        "tariff": spec.tariff,
        "address": (
            spec.address.model_dump(mode="json", by_alias=True, exclude_none=True)
            if spec.address is not None
            else None
        ),
        "members": [{"team": m.team, "role": m.role.value} for m in spec.members],
    }


def _record_identity(records: Mapping[str, ChargerRecord], identity: str) -> str:
    record = records.get(identity.lower())
    return record.identity if record is not None else identity


# --- power -------------------------------------------------------------------------------------


def _draw(
    open_transactions: Iterable[Transaction], newest: Mapping[int, Sequence[MeterSample]]
) -> _Draw:
    """What a charger draws now, from the newest samples of its open transactions (read for
    all of a location's at once: `Store.newest_meter_values`)."""
    draw = _Draw()
    for transaction in open_transactions:
        draw.add(newest.get(transaction.id, ()))
    return draw


class _Draw:
    """A charger's present draw: watts, and amperes per phase (imported and offered)."""

    def __init__(self) -> None:
        self.watts: float | None = None
        self.amperes: dict[str, float] = {}
        self.offered: float | None = None

    def add(self, samples: Sequence[MeterSample]) -> None:
        """Add one transaction's newest readings (a charger may run several sessions)."""
        watts = _newest(samples, POWER)
        if watts is not None:
            self.watts = (self.watts or 0.0) + sum(watts.values())
        current = _newest(samples, CURRENT)
        for phase, amperes in (current or {}).items():
            self.amperes[phase] = self.amperes.get(phase, 0.0) + amperes
        offered = _newest(samples, CURRENT_OFFERED)
        if offered is not None:
            self.offered = (self.offered or 0.0) + max(offered.values())

    def document(self) -> Document:
        return {
            "watts": _round(self.watts),
            "amperes": {phase: _round(a) for phase, a in sorted(self.amperes.items())},
            "offeredAmperes": _round(self.offered),
        }


def _newest(samples: Sequence[MeterSample], measurand: str) -> dict[str, float] | None:
    """The readings of `measurand` at the newest time it was sampled, by phase ("" for none),
    in W or A. Per-phase readings are kept apart; a total without phase wins for power."""
    chosen = [s for s in samples if s.measurand == measurand]
    if not chosen:
        return None
    newest = max(s.timestamp for s in chosen)
    readings: dict[str, float] = {}
    for sample in chosen:
        if sample.timestamp != newest:
            continue
        value = _number(sample)
        if value is not None:
            readings[_phase(sample.phase)] = value
    if not readings:
        return None
    if measurand == POWER and "" in readings:
        return {"": readings[""]}
    return readings


def _number(sample: MeterSample) -> float | None:
    try:
        value = Decimal(sample.value)
    except InvalidOperation:
        return None
    if sample.unit in ("kW", "kVA", "kvar"):
        value *= 1000
    return float(value)


def _phase(phase: str | None) -> str:
    """`L1`, `L1-N` → `L1`; no phase → ``."""
    if not phase:
        return ""
    return phase.split("-", 1)[0]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _total(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _round(sum(known)) if known else None


def _circuit(limit: Loaded[PowerLimit], fleet: Fleet, draws: Mapping[str, _Draw]) -> Document:
    spec = limit.resource.spec
    fed = sorted(c.name for c in fleet.chargers_fed_by(limit.name))
    per_phase: dict[str, float] = {}
    for name in fed:
        draw = draws.get(name)
        for phase, amperes in (draw.amperes if draw else {}).items():
            if phase:
                per_phase[phase] = per_phase.get(phase, 0.0) + amperes
    return {
        "name": limit.name,
        "parent": spec.parent,
        "limit": spec.limit.model_dump(mode="json", by_alias=True, exclude_none=True),
        "amperesPerPhase": spec.amperes_per_phase(),
        "phases": spec.phases,
        "voltage": spec.voltage,
        "scheduled": bool(spec.schedule),
        "chargers": fed,
        "watts": _total(draws[n].watts if n in draws else None for n in fed),
        "amperes": {phase: _round(a) for phase, a in sorted(per_phase.items())},
    }
