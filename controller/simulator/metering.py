"""What the meter says: one reading of a connector, rendered as OCPP sampled values.

The measurands reported are those the charger is configured for (MeterValuesSampledData on
1.6, SampledDataCtrlr.TxUpdatedMeasurands on 2.0.1); measurands a simple AC meter cannot
produce are left out, as real meters do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: int
    current: float
    """Amperes drawn per phase."""
    offered: int
    phases: int
    voltage: float
    soc: int

    @property
    def power_w(self) -> int:
        return round(self.current * self.voltage * self.phases)

    @property
    def power_offered_w(self) -> int:
        return round(self.offered * self.voltage * self.phases)


_PHASES = ("L1", "L2", "L3")


def sampled_values(
    reading: Reading, measurands: Iterable[str], context: str, *, v16: bool
) -> list[dict[str, Any]]:
    """Sampled values in the library's snake_case form for OCPP 1.6 (`v16`) or 2.0.1."""
    values: list[dict[str, Any]] = []

    def add(measurand: str, value: float, unit: str, phase: str | None = None) -> None:
        entry: dict[str, Any] = {"context": context, "measurand": measurand}
        number = round(value, 1) if value != int(value) else int(value)
        if v16:
            entry["value"] = str(number)
            entry["unit"] = unit
        else:
            entry["value"] = number
            entry["unit_of_measure"] = {"unit": unit}
        if phase is not None:
            entry["phase"] = phase
        if measurand == "SoC":
            entry["location"] = "EV"
        values.append(entry)

    phases = _PHASES[: reading.phases]
    for item in measurands:
        measurand, phase = _split(item)
        wanted = phases if phase is None else tuple(p for p in phases if p == phase)
        if measurand == "Energy.Active.Import.Register":
            add(measurand, reading.energy_wh, "Wh")
        elif measurand == "Current.Import":
            for p in wanted:
                add(measurand, round(reading.current, 1), "A", p)
        elif measurand == "Current.Offered":
            add(measurand, reading.offered, "A")
        elif measurand == "Power.Active.Import":
            add(measurand, reading.power_w, "W")
        elif measurand == "Power.Offered":
            add(measurand, reading.power_offered_w, "W")
        elif measurand == "Voltage":
            for p in wanted:
                add(measurand, reading.voltage, "V", f"{p}-N")
        elif measurand == "SoC":
            add(measurand, reading.soc, "Percent")
    return values


def _split(item: str) -> tuple[str, str | None]:
    """`Current.Import.L1` → (`Current.Import`, `L1`); a bare measurand has no phase."""
    base, _, last = item.rpartition(".")
    if base and last in ("L1", "L2", "L3", "N"):
        return base, last
    return item, None
