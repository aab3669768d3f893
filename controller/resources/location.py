"""`Location`: a site with chargers, its grid connection, tariff, accepted cards and defaults."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from controller.resources.common import (
    Address,
    ChargerCounts,
    DecimalString,
    FirmwareRollout,
    LabelSelector,
    Latitude,
    Longitude,
    Model,
    Resource,
    ResourceName,
    ResourceStatus,
    StatusModel,
    StatusOf,
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
        "at once, and after how many failures the rollout stops. The owning team's "
        "firmwareRollout, if it declares one, applies as well.",
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


# --- status ----------------------------------------------------------------------------------


class LocationChargers(ChargerCounts):
    """The location's chargers: declared, connected, charging."""

    charging: int = Field(ge=0, description="Charging sessions (open transactions) now.")


class CircuitStatus(StatusModel):
    """A circuit (PowerLimit) of the location and the current allocated under it now."""

    name: str = Field(description="Name of the PowerLimit.")
    parent: str | None = Field(default=None, description="The circuit it hangs under.")
    limit_amperes: int = Field(
        ge=0, description="Its limit in force now, amperes per phase (a schedule may lower it)."
    )
    static_amperes: int = Field(ge=0, description="Its static limit, amperes per phase.")
    allocated_amperes: DecimalString = Field(
        description="Amperes per phase given to the charging sessions it feeds, directly or "
        'through its children, e.g. "31.8".'
    )
    reserved_amperes: DecimalString = Field(
        description="Amperes per phase offered to idle connectors, so a new session starts at "
        "once; allocated plus reserved never exceed the limit in force."
    )
    sessions: int = Field(ge=0, description="Charging sessions it feeds.")
    waiting: int = Field(
        ge=0, description="Of those, sessions offered nothing now: the circuit is full."
    )


class LocationStatus(ResourceStatus):
    """A location's status: its chargers and its circuits."""

    chargers: LocationChargers | None = Field(
        default=None, description="How many chargers, connected and charging."
    )
    circuits: list[CircuitStatus] = Field(
        default_factory=list,
        description="Each circuit at the location, by name, with its allocation now.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )


class Location(Resource):
    """A site: address, grid connection, tariff, accepted cards, charger defaults."""

    KIND = "Location"
    PLURAL = "locations"
    SHORT_NAMES = ("loc",)

    kind: Literal["Location"] = Field(description="Always Location.")
    spec: LocationSpec = Field(description="The location's declaration.")
    status: StatusOf[LocationStatus] = Field(
        default=None, description="Written by the controller; ignored when declared."
    )
