"""Transactions as accounting sees them: one row each, priced by its location's tariff.

Pure: a stored transaction and its meter samples in, an `ExportRow` out, with where and who,
energy, duration, and the cost components of `tariffs.price` (energy, time, start and idle
fees, net, VAT, total) in the tariff's currency, as decimal text. A transaction still running,
at a charger no longer in the fleet, or at a location without a tariff has no cost. Reading
the store is the caller's (`chargectl export transactions`, the web view); so is writing the
CSV or JSON text these functions return.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from controller.fleet.model import Fleet
from controller.planning.tariffs import Usage, price
from controller.values.records import ENERGY_REGISTER, MeterSample, Transaction

COLUMNS = (
    "transaction_id",
    "charger",
    "identity",
    "location",
    "connector",
    "id_tag",
    "card",
    "team",
    "started",
    "stopped",
    "duration_minutes",
    "energy_kwh",
    "currency",
    "energy_cost",
    "time_cost",
    "start_fee",
    "idle_fee",
    "net",
    "vat",
    "total",
    "stop_reason",
    "note",
)


@dataclass(frozen=True)
class ExportRow:
    """One transaction, every field as text (or a number) ready for a CSV cell or JSON."""

    transaction_id: int
    charger: str | None
    identity: str
    location: str | None
    connector: int
    id_tag: str | None
    card: str | None
    team: str | None
    started: str
    stopped: str | None
    duration_minutes: str | None
    energy_kwh: str | None
    currency: str | None
    energy_cost: str | None
    time_cost: str | None
    start_fee: str | None
    idle_fee: str | None
    net: str | None
    vat: str | None
    total: str | None
    stop_reason: str | None
    note: str | None = None
    """Why the cost is missing or was computed without the meter samples."""


def register_samples(samples: Sequence[MeterSample]) -> tuple[tuple[datetime, int], ...]:
    """The energy register readings in Wh (kWh readings converted), for splitting by period."""
    readings = []
    for sample in samples:
        if sample.measurand != ENERGY_REGISTER or sample.phase is not None:
            continue
        value = sample.decimal
        if (sample.unit or "Wh") == "kWh":
            value *= 1000
        readings.append((sample.timestamp, int(value.to_integral_value())))
    return tuple(sorted(readings))


def charging_ended(readings: Sequence[tuple[datetime, int]]) -> datetime | None:
    """When the register last increased: after it the car stood idle at the charger."""
    last_increase = None
    for (_, before), (at, after) in zip(readings, readings[1:], strict=False):
        if after > before:
            last_increase = at
    return last_increase


def row_for(fleet: Fleet, transaction: Transaction, samples: Sequence[MeterSample]) -> ExportRow:
    """The row of `transaction`, priced from its `samples` when the fleet has a tariff for it."""
    charger = fleet.charger_by_identity(transaction.identity)
    location = fleet.locations.get(charger.resource.spec.location) if charger else None
    card = fleet.card_by_id_tag(transaction.id_tag) if transaction.id_tag else None
    tariff_name = location.resource.spec.tariff if location else None
    tariff = fleet.tariffs.get(tariff_name) if tariff_name else None
    cost = None
    problem: str | None = None
    duration = None
    if transaction.stopped_at is not None:
        seconds = Decimal((transaction.stopped_at - transaction.started_at).total_seconds())
        duration = str((seconds / 60).quantize(Decimal("0.1")))
    if (
        tariff is not None
        and location is not None
        and transaction.stopped_at is not None
        and transaction.energy_wh is not None
    ):
        readings = register_samples(samples)
        usage = Usage(
            started=transaction.started_at,
            stopped=transaction.stopped_at,
            energy_wh=transaction.energy_wh,
            meter_samples=readings,
            charging_ended=_within(charging_ended(readings), transaction),
        )
        try:
            cost = price(tariff.resource.spec, location.resource.spec.timezone, usage)
        except ValueError as exc:
            # One bad reading (a meter replaced mid-session) must not stop the whole export;
            # the row goes out without cost and says why.
            problem = str(exc)
            try:
                cost = price(
                    tariff.resource.spec,
                    location.resource.spec.timezone,
                    Usage(usage.started, usage.stopped, usage.energy_wh),
                )
            except ValueError:
                cost = None
    energy = (
        str(Decimal(transaction.energy_wh) / 1000) if transaction.energy_wh is not None else None
    )
    return ExportRow(
        transaction_id=transaction.id,
        charger=charger.name if charger else None,
        identity=transaction.identity,
        location=location.name if location else None,
        connector=transaction.connector_id,
        id_tag=transaction.id_tag,
        card=card.name if card else None,
        team=card.resource.spec.team if card else None,
        started=transaction.started_at.isoformat(),
        stopped=transaction.stopped_at.isoformat() if transaction.stopped_at else None,
        duration_minutes=duration,
        energy_kwh=energy,
        currency=cost.currency if cost else None,
        energy_cost=str(cost.energy) if cost else None,
        time_cost=str(cost.time) if cost else None,
        start_fee=str(cost.start_fee) if cost else None,
        idle_fee=str(cost.idle) if cost else None,
        net=str(cost.net) if cost else None,
        vat=str(cost.vat) if cost else None,
        total=str(cost.total) if cost else None,
        stop_reason=transaction.stop_reason,
        note=problem,
    )


def _within(at: datetime | None, transaction: Transaction) -> datetime | None:
    if at is None or transaction.stopped_at is None:
        return None
    return min(max(at, transaction.started_at), transaction.stopped_at)


def to_csv(rows: Sequence[ExportRow]) -> str:
    """A header line of `COLUMNS`, then one line per row; a missing value is an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    return buffer.getvalue()


def to_json(rows: Sequence[ExportRow]) -> str:
    """`{"formatVersion": 1, "transactions": [...]}`, a missing value as null."""
    return json.dumps({"formatVersion": 1, "transactions": [asdict(r) for r in rows]}, indent=2)
