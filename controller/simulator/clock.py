"""Simulated time: the same behaviour at wall-clock speed or sped up for demos and tests.

Every interval the simulator knows (heartbeats, meter values, reboots, firmware steps, driver
sessions) is written in simulated seconds; `time_scale` says how many simulated seconds pass
per real second. Timestamps on the wire use simulated time too, so energy, power and time stay
consistent for whoever reads the meter values.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """One clock shared by every charger of a simulation, so their timestamps agree."""

    __slots__ = ("_origin", "_origin_real", "time_scale")

    def __init__(self, time_scale: float = 1.0, start: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._origin_real = time.monotonic()
        self._origin = start or datetime.now(UTC)

    def seconds(self) -> float:
        """Simulated seconds since the clock started (monotonic)."""
        return (time.monotonic() - self._origin_real) * self.time_scale

    def now(self) -> datetime:
        """The simulated date and time, in UTC."""
        return self._origin + timedelta(seconds=self.seconds())

    def real(self, simulated: float) -> float:
        """Real seconds that `simulated` seconds take."""
        return max(0.0, simulated / self.time_scale)

    async def sleep(self, simulated: float) -> None:
        await asyncio.sleep(self.real(simulated))


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a `Z`, as OCPP messages carry it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """A timestamp from the central system; one without an offset is read as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
