"""The keys chargectl reads to learn what a charger can do, per OCPP version.

The steps above the `ocpp` package ask a charger's limits before they act: how many cards one
SendLocalList may carry, how many its list keeps, whether it has a list or does smart charging
at all. Each version names those keys differently (1.6 configuration keys, 2.0.1 component
variables), and some exist in one version only. This table is the one place that knows which
key answers which question, so the steps say "the local list's items per message" and never
"SendLocalListMaxLength". Every key named here is a key of the catalogue
(`controller.resources.catalogue`), where its type and meaning are.

The settings map (`controller.resources.settings`) covers keys a fleet declares and chargectl
changes; the keys here are read-only ones chargectl only reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from controller.resources.settings import OcppVersion


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The keys that say what a charger of one OCPP version can do; None (or empty): that
    version has no such key, and the question is not asked."""

    local_list_per_message: str
    """How many entries one SendLocalList may carry."""
    local_list_capacity: str | None = None
    """How many entries the local list keeps at most."""
    local_list_available: str | None = None
    """Whether the charger has a local list at all (false: it has none)."""
    feature_profiles: str | None = None
    """The list of feature profiles the charger supports."""
    smart_charging_profile: str | None = None
    """The feature profile, in `feature_profiles`, without which it does no smart charging."""
    smart_charging_switches: tuple[str, ...] = ()
    """Keys that, reported false, say the charger does no smart charging."""

    def local_list_keys(self) -> tuple[str, ...]:
        """The keys the local list step reads, in this order: per message, capacity,
        available (those the version has)."""
        keys = (self.local_list_per_message, self.local_list_capacity, self.local_list_available)
        return tuple(key for key in keys if key is not None)


CAPABILITIES: Final[Mapping[OcppVersion, Capabilities]] = {
    OcppVersion.V16: Capabilities(
        local_list_per_message="SendLocalListMaxLength",
        local_list_capacity="LocalAuthListMaxLength",
        feature_profiles="SupportedFeatureProfiles",
        smart_charging_profile="SmartCharging",
    ),
    OcppVersion.V201: Capabilities(
        local_list_per_message="LocalAuthListCtrlr.ItemsPerMessage",
        local_list_available="LocalAuthListCtrlr.Available",
        smart_charging_switches=("SmartChargingCtrlr.Available", "SmartChargingCtrlr.Enabled"),
    ),
}
"""Capabilities by OCPP version: every version chargectl speaks has an entry."""


def capabilities(version: OcppVersion) -> Capabilities:
    """The capability keys of `version`."""
    return CAPABILITIES[version]
