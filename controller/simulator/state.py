"""The mutable state of one simulated charger: connectors, transactions, the local list.

Kept in small slotted objects owned by the charger; the OCPP version modules read and change
them and say on the wire what changed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """One connector as built: OCPP connector id (2.0.1: EVSE id), current and phases."""

    id: int = 1
    max_current: int = 32
    phases: int = 3


@dataclass(frozen=True, slots=True)
class Identification:
    """What the charger says about itself in BootNotification."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


class State(StrEnum):
    """A connector's state in neutral terms; 1.6 names them directly, 2.0.1 splits them into
    a connector status (Available/Occupied/Unavailable) and a transaction's charging state."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    UNAVAILABLE = "Unavailable"


@dataclass(slots=True)
class Transaction:
    id: str
    """As the API returns it: 1.6 the central system's number, 2.0.1 our own UUID."""
    id_tag: str
    started_at: datetime
    meter_start: int
    soc_start: float
    seq_no: int = 0
    remote_start_id: int | None = None
    charging_state: str | None = None
    """2.0.1: the charging state last reported in a TransactionEvent."""


@dataclass(slots=True)
class Connector:
    id: int
    max_current: int
    phases: int
    energy_wh: float = 0.0
    """The meter's lifetime register."""
    state: State = State.AVAILABLE
    operative: bool = True
    scheduled_operative: bool | None = None
    """An availability change waiting for the running transaction to end."""
    plugged: bool = False
    finished: bool = False
    """A transaction ended while the car is still plugged in (1.6 Finishing)."""
    transaction: Transaction | None = None
    offered: int = 0
    drawn: float = 0.0
    updated_at: float = 0.0
    """Simulated seconds when energy was last integrated."""
    next_sample: float = 0.0


@dataclass(slots=True)
class LocalList:
    """The local authorization list: a version and id tag statuses (tags compare
    case-insensitively, as OCPP requires)."""

    version: int = 0
    entries: dict[str, str] = field(default_factory=dict)

    def status(self, id_tag: str) -> str | None:
        return self.entries.get(id_tag.casefold())

    def update(
        self, version: int, full: bool, items: list[tuple[str, str | None]], max_items: int
    ) -> str:
        """Apply a SendLocalList; returns Accepted, Failed or VersionMismatch."""
        if len(items) > max_items:
            return "Failed"
        if not full and version <= self.version:
            return "VersionMismatch"
        entries = {} if full else dict(self.entries)
        for tag, status in items:
            if status is None:
                entries.pop(tag.casefold(), None)
            else:
                entries[tag.casefold()] = status
        self.entries = entries
        self.version = version
        return "Accepted"


def soc_start(identity: str, connector: int, meter: int) -> float:
    """Where a car's battery starts: varied but repeatable, between 10 % and 70 %."""
    return 10.0 + zlib.crc32(f"{identity}/{connector}/{meter}".encode()) % 600 / 10.0
