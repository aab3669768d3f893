"""The simulated configuration table: plausible values, and what a change does."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from controller.resources.catalogue import OCPP16_KEYS, OCPP201_VARIABLES, parse_value
from controller.simulator.config_table import (
    Behaviour,
    ChangeOutcome,
    Facts,
    build_table,
    default_values,
    drift,
    other_value,
)
from controller.simulator.profile import DEFAULT_PROFILE, SimProfile

FACTS = Facts("CP-1", connectors=2, phases=3, vendor="ACME", model="Fast", password="p" * 16)


@pytest.mark.parametrize(
    ("version", "catalogue"), [("1.6", OCPP16_KEYS), ("2.0.1", OCPP201_VARIABLES)]
)
def test_every_catalogue_key_has_a_value_of_its_type(version: str, catalogue: dict) -> None:
    values = default_values(version, FACTS)
    assert set(catalogue) <= set(values)
    for key, spec in catalogue.items():
        if values[key] == "" and key not in ("AuthorizationKey",):
            continue  # an empty list or an unset string is a plausible value
        parse_value(spec, values[key])


def test_read_only_values_describe_the_hardware() -> None:
    v16 = default_values("1.6", FACTS)
    assert v16["NumberOfConnectors"] == "2"
    assert v16["ConnectorPhaseRotation"] == "0.RST,1.RST,2.RST"
    v201 = default_values("2.0.1", FACTS)
    assert v201["ChargingStation.VendorName"] == "ACME"
    assert v201["SecurityCtrlr.Identity"] == "CP-1"


def test_change_outcomes() -> None:
    profile = SimProfile(
        read_only=frozenset({"LightIntensity"}),
        reboot_required=frozenset({"WebSocketPingInterval"}),
        ignored=frozenset({"ResetRetries"}),
        unsupported=frozenset({"BlinkRepeat"}),
    )
    table = build_table("1.6", profile, FACTS)
    assert table.change("NumberOfConnectors", "3") is ChangeOutcome.REJECTED
    assert table.change("LightIntensity", "10") is ChangeOutcome.REJECTED
    assert table.change("LightIntensity".lower(), "10") is ChangeOutcome.REJECTED
    assert table.change("HeartbeatInterval", "-5") is ChangeOutcome.REJECTED
    assert table.change("BlinkRepeat", "1") is ChangeOutcome.NOT_SUPPORTED
    assert table.change("Whatever", "1") is ChangeOutcome.NOT_SUPPORTED
    assert table.change("ResetRetries", "9") is ChangeOutcome.ACCEPTED
    assert table.get("ResetRetries") == "3"
    assert table.change("WebSocketPingInterval", "15") is ChangeOutcome.REBOOT_REQUIRED
    assert table.get("WebSocketPingInterval") == "60"
    assert table.reboot() == ["WebSocketPingInterval"]
    assert table.get("WebSocketPingInterval") == "15"
    assert table.change("heartbeatinterval", "120") is ChangeOutcome.ACCEPTED
    assert table.values["HeartbeatInterval"] == "120"


def test_default_profile_quirks_exist_in_the_catalogue() -> None:
    known = set(OCPP16_KEYS) | set(OCPP201_VARIABLES)
    for keys in (
        DEFAULT_PROFILE.reboot_required,
        DEFAULT_PROFILE.unsupported,
        DEFAULT_PROFILE.ignored,
    ):
        assert keys <= known


def test_declared_values_vendor_keys_and_overrides() -> None:
    profile = replace(DEFAULT_PROFILE, overrides={"LightIntensity": "5"})
    table = build_table(
        "1.6",
        profile,
        FACTS,
        declared={
            "MeterValueSampleInterval": "30",
            "NumberOfConnectors": "9",
            "LightIntensity": "50",
        },
        vendor={"Alfen-DisplayLanguage": "nl", "Ctrl.Vendor": "x"},
    )
    assert table.get("MeterValueSampleInterval") == "30"
    assert table.get("NumberOfConnectors") == "2"  # the hardware wins over a declaration
    assert table.get("LightIntensity") == "5"
    assert table.get("Alfen-DisplayLanguage") == "nl"
    assert table.get("Ctrl.Vendor") is None  # a 2.0.1-style name is not a 1.6 key
    rule = table.rule("Alfen-DisplayLanguage")
    assert rule is not None and rule.behaviour is Behaviour.NORMAL
    assert table.change("Alfen-DisplayLanguage", "de") is ChangeOutcome.ACCEPTED


def test_drift_moves_values_to_other_valid_ones() -> None:
    table = build_table("2.0.1", DEFAULT_PROFILE, FACTS)
    keys = [
        "OCPPCommCtrlr.HeartbeatInterval",
        "AuthCtrlr.LocalPreAuthorize",
        "SampledDataCtrlr.TxUpdatedMeasurands",
        "AuthCacheCtrlr.Policy",
        "TxCtrlr.TxStartPoint",
        "ClockCtrlr.TimeZone",
    ]
    before = {k: table.get(k) for k in keys}
    moved = drift(table, keys, 1.0, random.Random(1))
    assert sorted(moved) == sorted(keys)
    for key in keys:
        assert table.get(key) != before[key]
        parse_value(OCPP201_VARIABLES[key], table.get(key))


def test_drift_is_repeatable_per_identity() -> None:
    declared = {"HeartbeatInterval": "300", "LocalPreAuthorize": "true", "LightIntensity": "40"}
    profile = replace(DEFAULT_PROFILE, drift=0.5)
    one = build_table("1.6", profile, FACTS, declared=declared)
    two = build_table("1.6", profile, FACTS, declared=declared)
    assert one.values == two.values
    assert sum(one.get(k) != v for k, v in declared.items()) == 2


def test_other_value_respects_bounds() -> None:
    spec = OCPP16_KEYS["LightIntensity"]
    assert other_value(spec, "100", random.Random(0)) == "50"
    assert other_value(OCPP16_KEYS["HeartbeatInterval"], "0", random.Random(0)) == "30"
