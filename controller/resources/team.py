"""`Team`: who operates or uses chargers, and therefore who may see what in the web view; and
how firmware rolls out across all the locations a team owns."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from controller.resources.common import (
    Address,
    ChargerCounts,
    Domain,
    Email,
    FirmwareRollout,
    Model,
    Resource,
    ResourceStatus,
    StatusOf,
)


class TeamRole(StrEnum):
    OWNER = "Owner"
    ADMIN = "Admin"
    VIEWER = "Viewer"


class Teammate(Model):
    """A person in the team, identified by the e-mail the identity proxy reports."""

    email: Email = Field(description="E-mail address, as the identity proxy reports it.")
    role: TeamRole = Field(description="Owner, Admin or Viewer.")


class AutoEnroll(Model):
    """Everyone who signs in with an address in this domain joins the team with this role."""

    domain: Domain = Field(description="E-mail domain, e.g. example.com.")
    role: TeamRole = Field(default=TeamRole.VIEWER, description="Role given on enrolment.")


class Billing(Model):
    """Who receives invoices for this team's charging."""

    company: str = Field(min_length=1, description="Legal company name.")
    vat_id: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}[0-9A-Za-z+*.]{2,13}$",
        description="VAT identification number with its country prefix, e.g. NL123456789B01.",
    )
    address: Address | None = Field(default=None, description="Invoice address.")
    email: Email | None = Field(default=None, description="Where invoices are sent.")


_COLOUR = r"^#[0-9a-fA-F]{6}$"

LOGO_PATTERN = (
    r"^(https://[^\s]+|data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2})$"
)
"""A logo the view's Content-Security-Policy lets a page show (`img-src 'self' data:
https:`): over https, or inline as a base64 image (an SVG in an <img> runs no script)."""
LOGO_MAX_LENGTH = 32768
"""An inline logo's size limit: it is sent in every page's header and kept in the resource."""


class Branding(Model):
    """How the web view presents itself to this team."""

    product_name: str | None = Field(default=None, description="Name shown in the header.")
    logo_url: str | None = Field(
        default=None,
        pattern=LOGO_PATTERN,
        max_length=LOGO_MAX_LENGTH,
        description=(
            "Logo image: an https URL, or a data:image/...;base64 URI, which carries the image "
            "in the fleet itself so the view loads nothing from elsewhere."
        ),
    )
    primary_color: str | None = Field(
        default=None, pattern=_COLOUR, description="Main colour, #rrggbb."
    )
    accent_color: str | None = Field(
        default=None, pattern=_COLOUR, description="Accent colour, #rrggbb."
    )
    custom_domain: Domain | None = Field(
        default=None, description="Host name under which the team's view is served."
    )


class TeamSpec(Model):
    """A team: an operator, a customer, an installer."""

    display_name: str = Field(min_length=1, max_length=100, description="Name shown to people.")
    handle: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$",
        description="Short URL-safe handle, used in web view addresses.",
    )
    teammates: list[Teammate] = Field(default_factory=list, description="Members of the team.")
    auto_enroll: list[AutoEnroll] = Field(
        default_factory=list, description="E-mail domains whose users join automatically."
    )
    billing: Billing | None = Field(default=None, description="Billing details.")
    branding: Branding | None = Field(default=None, description="Branding of the web view.")
    firmware_rollout: FirmwareRollout | None = Field(
        default=None,
        description="How firmware updates roll out across every location the team owns, on "
        "top of each location's own firmwareRollout: a charger starts an update only when "
        "both allow it. maxUnavailable counts (or is a percentage of) all the team's chargers "
        "that declare firmware, maxFailures the failures at all its locations; once reached, "
        "no update starts anywhere in the team. Left out: no limit across locations.",
    )


class TeamStatus(ResourceStatus):
    """A team's status: the locations and chargers it owns."""

    locations: list[str] = Field(
        default_factory=list, description="Names of the Locations the team owns."
    )
    chargers: ChargerCounts | None = Field(
        default=None, description="The chargers at its locations: how many, how many connected."
    )


class Team(Resource):
    """A team of people that owns locations or is a member of them."""

    KIND = "Team"
    PLURAL = "teams"
    SHORT_NAMES = ("tm",)

    kind: Literal["Team"] = Field(description="Always Team.")
    spec: TeamSpec = Field(description="The team's declaration.")
    status: StatusOf[TeamStatus] = Field(
        default=None, description="Written by the controller; ignored when declared."
    )
