"""`PowerLimit`: a circuit with a current or power limit, shared among the chargers it feeds."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from controller.resources.common import (
    LabelSelector,
    Model,
    Resource,
    ResourceName,
    WeeklyTimeRange,
)


class Limit(Model):
    """A limit as current per phase or as total power. Exactly one of the two."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["currentPerPhase"]}, {"required": ["power"]}]}
    )

    current_per_phase: int | None = Field(
        default=None, ge=0, le=10000, description="Amperes per phase."
    )
    power: int | None = Field(default=None, ge=0, description="Total power in watts.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Limit:
        if (self.current_per_phase is None) == (self.power is None):
            raise ValueError("give exactly one of currentPerPhase or power")
        return self

    def amperes_per_phase(self, phases: int, voltage: int) -> int:
        """The limit in whole amperes per phase, rounding a power limit down (never over)."""
        if self.current_per_phase is not None:
            return self.current_per_phase
        assert self.power is not None
        return self.power // (phases * voltage)


class ScheduledLimit(WeeklyTimeRange):
    """A lower limit during a weekly time window, e.g. at peak hours."""

    limit: Limit = Field(description="The limit during this window.")


class ChargerSelection(Model):
    """Which chargers a circuit feeds: by name, by labels, or both."""

    names: list[ResourceName] = Field(default_factory=list, description="Chargers by name.")
    selector: LabelSelector | None = Field(default=None, description="Chargers by labels.")


class AllocationStrategy(StrEnum):
    EQUAL_SHARE = "EqualShare"


class PowerLimitSpec(Model):
    """A circuit: the grid connection of a location, or a group of chargers behind it."""

    location: ResourceName = Field(description="Name of the Location the circuit belongs to.")
    parent: ResourceName | None = Field(
        default=None, description="Name of the PowerLimit this circuit hangs under."
    )
    chargers: ChargerSelection | None = Field(
        default=None,
        description="Chargers fed by this circuit; every charger of the location when left out.",
    )
    limit: Limit = Field(description="The static limit of the circuit.")
    phases: Literal[1, 3] = Field(default=3, description="Phases of the circuit: 1 or 3.")
    voltage: int = Field(
        default=230, ge=100, le=1000, description="Phase-to-neutral voltage, for power limits."
    )
    schedule: list[ScheduledLimit] = Field(
        default_factory=list, description="Lower limits during weekly windows."
    )
    strategy: AllocationStrategy = Field(
        default=AllocationStrategy.EQUAL_SHARE,
        description="How the limit is divided: EqualShare among active sessions.",
    )
    minimum_current: int = Field(
        default=6,
        ge=0,
        le=32,
        description="Least current per phase worth offering a session (IEC 61851: 6 A).",
    )

    def amperes_per_phase(self) -> int:
        return self.limit.amperes_per_phase(self.phases, self.voltage)


class PowerLimit(Resource):
    """A circuit's current or power limit, divided among the chargers it feeds."""

    KIND = "PowerLimit"
    PLURAL = "powerlimits"
    SHORT_NAMES = ("pl",)

    kind: Literal["PowerLimit"] = Field(description="Always PowerLimit.")
    spec: PowerLimitSpec = Field(description="The circuit's declaration.")
