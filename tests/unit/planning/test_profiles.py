"""Charging profiles on one charger as values: which changes are raises, who holds raises up,
how a composite limit compares with ours, and whether a charger does smart charging at all
(read from the capability keys of its OCPP version). Pure: no charger, no step."""

from __future__ import annotations

import math

import pytest

from controller.planning.power import PowerPlan
from controller.planning.profiles import (
    ChargerProfiles,
    drifted,
    exceeds,
    holding_up,
    in_force,
    plan_changes,
    record_accepted,
    without_smart_charging,
)
from controller.resources.capabilities import CAPABILITIES, capabilities
from controller.resources.settings import OcppVersion
from controller.resources.versions import CATALOGUES
from controller.values.commands import (
    ChargingLimit,
    CompositeSchedule,
    LimitPeriod,
    LimitPurpose,
    Status,
)
from controller.values.records import ChargerRecord, ReportedKey


def limit(amperes: float, purpose: LimitPurpose = LimitPurpose.TX_DEFAULT) -> ChargingLimit:
    connector = 0 if purpose is LimitPurpose.STATION_MAX else 1
    pid = {LimitPurpose.STATION_MAX: 1, LimitPurpose.TX_DEFAULT: 101, LimitPurpose.TX: 201}
    return ChargingLimit(pid[purpose], purpose, (LimitPeriod(0, amperes),), connector)


def test_an_unknown_profile_is_a_raise_and_a_lower_one_is_not() -> None:
    state = ChargerProfiles("CP-1", "cp-1", "depot")
    changes, refused = plan_changes(state, {101: limit(16.0)})
    assert [(c.profile_id, c.raises) for c in changes] == [(101, True)] and refused == []
    record_accepted(state, limit(16.0), None)
    assert state.unverified == {1}
    changes, _ = plan_changes(state, {101: limit(6.0)})
    assert [(c.profile_id, c.raises) for c in changes] == [(101, False)]
    assert not state.raises(limit(6.0)) and state.raises(limit(20.0))


def test_an_accepted_decrease_holds_raises_up_until_seen_in_force() -> None:
    state = ChargerProfiles("CP-1", "cp-1", "depot")
    record_accepted(state, limit(32.0), None)
    record_accepted(state, limit(20.0), 32.0)
    assert state.previous == {1: 32.0}
    assert state.lowers(limit(20.0))
    assert holding_up(PowerPlan({}, {}), [state]) == []  # the plan gives it no profiles


@pytest.mark.parametrize(
    ("seen", "expected", "above"),
    [(6.1, 6.0, False), (6.2, 6.0, True), (0.0, 6.0, False), (math.inf, 6.0, True)],
)
def test_a_composite_limit_may_be_below_ours_and_rounding_above(
    seen: float, expected: float, above: bool
) -> None:
    assert exceeds(seen, expected) is above


def test_the_limit_in_force_is_read_a_few_seconds_in() -> None:
    lagging = CompositeSchedule(Status.ACCEPTED, (LimitPeriod(0, 32.0), LimitPeriod(2, 6.0)))
    assert in_force(lagging) == 6.0
    assert in_force(CompositeSchedule(Status.ACCEPTED)) == math.inf


def test_a_drift_forgets_the_profiles_it_exceeds_and_is_new_once() -> None:
    state = ChargerProfiles("CP-1", "cp-1", "depot")
    record_accepted(state, limit(6.0), None)
    assert drifted(state, 1, 32.0) is True
    assert state.sent == {} and state.observed == {1: 32.0}
    assert drifted(state, 1, 32.0) is False


def record(*keys: tuple[str, str]) -> ChargerRecord:
    return ChargerRecord("CP-1", pending=False, configuration=tuple(ReportedKey(*k) for k in keys))


@pytest.mark.parametrize(
    ("version", "keys", "why"),
    [
        (OcppVersion.V16, [("SupportedFeatureProfiles", "Core,SmartCharging")], None),
        (
            OcppVersion.V16,
            [("SupportedFeatureProfiles", "Core,RemoteTrigger")],
            "SupportedFeatureProfiles without SmartCharging",
        ),
        (OcppVersion.V201, [("SmartChargingCtrlr.Available", "true")], None),
        (
            OcppVersion.V201,
            [("SmartChargingCtrlr.Enabled", "false")],
            "SmartChargingCtrlr.Enabled false",
        ),
        (OcppVersion.V16, [], None),
    ],
)
def test_smart_charging_is_read_from_the_keys_of_the_charger_version(
    version: OcppVersion, keys: list[tuple[str, str]], why: str | None
) -> None:
    assert without_smart_charging(record(*keys), capabilities(version)) == why


def test_every_version_has_capabilities_and_every_key_is_in_the_catalogue() -> None:
    assert set(CAPABILITIES) == set(OcppVersion)
    for version, keys in CAPABILITIES.items():
        named = [
            *keys.local_list_keys(),
            *keys.smart_charging_switches,
            *(k for k in (keys.feature_profiles,) if k is not None),
        ]
        assert named and all(key in CATALOGUES[version].specs for key in named), version
