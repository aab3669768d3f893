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
    cel,
    validations,
)

DEFAULT_PHASES: Literal[1, 3] = 3
DEFAULT_VOLTAGE = 230
MAX_SCHEDULE_WINDOWS = 100
"""A bound the API server needs to estimate the cost of the CEL rule over the schedule."""


def _cel_amperes(limit: str) -> str:
    """CEL for a limit in whole amperes per phase, as `Limit.amperes_per_phase` computes it
    (a power limit divided by phases x voltage, rounded down); 0 when it gives neither."""
    phases = f"(has(self.phases) ? self.phases : {DEFAULT_PHASES})"
    voltage = f"(has(self.voltage) ? self.voltage : {DEFAULT_VOLTAGE})"
    return (
        f"(has({limit}.currentPerPhase) ? {limit}.currentPerPhase : "
        f"(has({limit}.power) ? {limit}.power / ({phases} * {voltage}) : 0))"
    )


_OWN = _cel_amperes("self.limit")
_SCHEDULED = _cel_amperes("w.limit")
_SCHEDULE_UNDER_LIMIT = cel(
    "!has(self.schedule) || !(has(self.limit.currentPerPhase) || has(self.limit.power)) "
    f"|| self.schedule.all(w, {_SCHEDULED} <= {_OWN})",
    "a scheduled limit is above the circuit's own limit; a schedule can only lower the limit",
    message_expression="'scheduled limit of ' + "
    f"string(self.schedule.map(w, {_SCHEDULED}).filter(a, a > {_OWN})[0]) + "
    f'" A per phase is above the circuit\'s own " + string({_OWN}) + '
    "' A per phase; a schedule can only lower the limit'",
    field_path=".schedule",
)
"""`chargectl validate`'s schedule-over-limit, for the first window above the limit."""

_NOT_ITS_OWN_PARENT = cel(
    "!has(self.spec.parent) || self.spec.parent != self.metadata.name",
    "a circuit cannot hang under itself: circuits form a loop",
    message_expression="'circuits form a loop: ' + self.metadata.name + ' → ' + self.metadata.name",
    field_path=".spec.parent",
)
"""`chargectl validate`'s circuit-cycle, for the loop one object can make on its own."""


class Limit(Model):
    """A limit as current per phase or as total power. Exactly one of the two."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": ["currentPerPhase"]}, {"required": ["power"]}],
            **validations(
                cel(
                    "has(self.currentPerPhase) != has(self.power)",
                    "give exactly one of currentPerPhase or power",
                )
            ),
        }
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

    model_config = ConfigDict(json_schema_extra=validations(_SCHEDULE_UNDER_LIMIT))

    location: ResourceName = Field(description="Name of the Location the circuit belongs to.")
    parent: ResourceName | None = Field(
        default=None, description="Name of the PowerLimit this circuit hangs under."
    )
    chargers: ChargerSelection | None = Field(
        default=None,
        description="Chargers fed by this circuit; every charger of the location when left out.",
    )
    limit: Limit = Field(description="The static limit of the circuit.")
    phases: Literal[1, 3] = Field(
        default=DEFAULT_PHASES, description="Phases of the circuit: 1 or 3."
    )
    voltage: int = Field(
        default=DEFAULT_VOLTAGE,
        ge=100,
        le=1000,
        description="Phase-to-neutral voltage, for power limits.",
    )
    schedule: list[ScheduledLimit] = Field(
        default_factory=list,
        max_length=MAX_SCHEDULE_WINDOWS,
        description="Lower limits during weekly windows; each at most the static limit.",
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

    model_config = ConfigDict(json_schema_extra=validations(_NOT_ITS_OWN_PARENT))

    kind: Literal["PowerLimit"] = Field(description="Always PowerLimit.")
    spec: PowerLimitSpec = Field(description="The circuit's declaration.")
