"""`Location`: a site with chargers, its grid connection, tariff, accepted cards and defaults."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PlainValidator, WithJsonSchema, field_validator

from controller.resources.common import (
    Address,
    LabelSelector,
    Latitude,
    Longitude,
    Model,
    Resource,
    ResourceName,
    WeeklyTimeRange,
)
from controller.resources.settings import ChargerSettings, ConfigurationMap


class MemberRole(StrEnum):
    ADMIN = "Admin"
    OPERATOR = "Operator"
    VIEWER = "Viewer"


class LocationMember(Model):
    """Another team with access to this location."""

    team: ResourceName = Field(description="Name of the member Team.")
    role: MemberRole = Field(default=MemberRole.VIEWER, description="Admin, Operator or Viewer.")


class Coordinates(Model):
    """WGS 84 position, written as decimal strings."""

    latitude: Latitude = Field(description='Latitude in degrees, e.g. "52.3676".')
    longitude: Longitude = Field(description='Longitude in degrees, e.g. "4.9041".')


class AcceptedCards(Model):
    """Which cards may charge here. A card is accepted when any of the three ways names it."""

    names: list[ResourceName] = Field(
        default_factory=list, description="Card resources accepted by name."
    )
    selector: LabelSelector | None = Field(
        default=None, description="Cards accepted by their labels."
    )
    teams: list[ResourceName] = Field(
        default_factory=list, description="Every card owned by one of these teams is accepted."
    )


class ChargerDefaults(Model):
    """Defaults for the chargers at this location; a charger's own spec overrides them."""

    settings: ChargerSettings = Field(
        default_factory=ChargerSettings, description="Default version-neutral settings."
    )
    configuration: ConfigurationMap = Field(
        default_factory=dict,
        description="Default raw OCPP keys. Applied only to chargers whose OCPP version knows "
        "the key (1.6 key names, 2.0.1 'Component.Variable' names).",
    )
    vendor_configuration: ConfigurationMap = Field(
        default_factory=dict, description="Default vendor-specific keys, passed through unchecked."
    )


_PERCENTAGE = re.compile(r"^(100|[1-9][0-9]?)%$")


def _count_or_percentage(value: object) -> int | str:
    """A count (an integer of at least 1) or a percentage ("1%" to "100%"), as Kubernetes'
    IntOrString: a count written as a string ("2") is refused, as the Deployment controller
    refuses it, rather than guessed at."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{value} is less than 1: at least one charger must be updatable")
        return value
    if isinstance(value, str) and _PERCENTAGE.match(value):
        return value
    raise ValueError(
        f"{value!r} is neither a count (an integer of at least 1, e.g. 2) nor a percentage "
        'from "1%" to "100%" (e.g. "25%")'
    )


CountOrPercentage = Annotated[
    int | str,
    PlainValidator(_count_or_percentage),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "minimum": 1,
            "pattern": _PERCENTAGE.pattern,
        }
    ),
]
"""An integer of at least 1 or a percentage string, as Kubernetes' IntOrString. `minimum`
applies only to the integer and `pattern` only to the string, in JSON Schema as in the API
server, so the one schema serves editors and the CRD alike."""


class FirmwareRollout(Model):
    """How firmware updates roll out across this location's chargers, as a Kubernetes
    Deployment's rolling update: a few at a time, stopping when too many fail."""

    max_unavailable: CountOrPercentage = Field(
        default=1,
        description="How many chargers of this location may be updating firmware at once "
        "(from UpdateFirmware until the charger is back reporting the new version): a count, "
        'or a percentage such as "25%" of the chargers here that declare firmware, rounded '
        "down as a Deployment's maxUnavailable is, but at least 1.",
    )
    max_failures: int = Field(
        default=1,
        ge=1,
        description="The rollout here stops when this many chargers failed to install the "
        "firmware they declare (download or installation failed, refused, or no progress); "
        "chargers already updating finish, no other starts until the declared firmware "
        "changes or this is raised.",
    )

    def max_unavailable_of(self, chargers: int) -> int:
        """`max_unavailable` as a number of chargers, out of `chargers` declaring firmware:
        a percentage rounds down, and is at least 1 so that a rollout always progresses."""
        if isinstance(self.max_unavailable, int):
            return self.max_unavailable
        percent = int(self.max_unavailable.removesuffix("%"))
        return max(1, chargers * percent // 100)


class LocationSpec(Model):
    """A site where chargers stand."""

    team: ResourceName = Field(description="Name of the Team that owns this location.")
    display_name: str = Field(min_length=1, max_length=100, description="Name shown to people.")
    address: Address | None = Field(default=None, description="Postal address of the site.")
    coordinates: Coordinates | None = Field(default=None, description="Position on the map.")
    timezone: str = Field(
        default="UTC",
        description="IANA timezone, e.g. Europe/Amsterdam; used for tariffs, schedules and "
        "maintenance windows.",
    )
    members: list[LocationMember] = Field(
        default_factory=list, description="Other teams with access to this location."
    )
    tariff: ResourceName | None = Field(
        default=None, description="Name of the Tariff that prices charging here."
    )
    accepted_cards: AcceptedCards = Field(
        default_factory=AcceptedCards, description="Cards that may charge here."
    )
    charger_defaults: ChargerDefaults = Field(
        default_factory=ChargerDefaults, description="Defaults for this location's chargers."
    )
    maintenance_window: list[WeeklyTimeRange] = Field(
        default_factory=list,
        description="When reboots and firmware updates may happen (location time). Empty: "
        "chargers with rebootPolicy MaintenanceWindow are never rebooted automatically.",
    )
    firmware_rollout: FirmwareRollout = Field(
        default_factory=FirmwareRollout,
        description="How firmware updates roll out across this location's chargers: how many "
        "at once, and after how many failures the rollout stops.",
    )
    allow_unknown_chargers: bool = Field(
        default=False,
        description="Record chargers that connect with an identity not in the fleet as pending "
        "(they are shown, not accepted) instead of refusing them.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"{value!r} is not an IANA timezone, e.g. Europe/Amsterdam") from exc
        return value


class Location(Resource):
    """A site: address, grid connection, tariff, accepted cards, charger defaults."""

    KIND = "Location"
    PLURAL = "locations"
    SHORT_NAMES = ("loc",)

    kind: Literal["Location"] = Field(description="Always Location.")
    spec: LocationSpec = Field(description="The location's declaration.")
