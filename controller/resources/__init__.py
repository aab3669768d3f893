"""The fleet's resource kinds, one pydantic model each, and the registry of kinds.

These models are the single source of truth: file validation, JSON Schemas and CRDs are all
derived from them.
"""

from __future__ import annotations

from controller.resources.card import Card
from controller.resources.charger import Charger
from controller.resources.common import API_GROUP, API_VERSION, API_VERSION_NAME, Resource
from controller.resources.location import Location
from controller.resources.powerlimit import PowerLimit
from controller.resources.tariff import Tariff
from controller.resources.team import Team

KINDS: dict[str, type[Resource]] = {
    cls.KIND: cls for cls in (Team, Location, Charger, Card, Tariff, PowerLimit)
}
"""Every kind by its `kind:` string, in the order dependencies usually run."""

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "API_VERSION_NAME",
    "KINDS",
    "Card",
    "Charger",
    "Location",
    "PowerLimit",
    "Resource",
    "Tariff",
    "Team",
]
