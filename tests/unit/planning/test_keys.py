"""Planning: desired against reported, and what `chargectl plan` shows for it.

Every test builds a real fleet from YAML (so values come through the same layering as in
production) and a `ChargerRecord` as the store returns it, and looks at the plan.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from controller.cli.planview import format_plan_human, summary_line
from controller.fleet.loading import load_paths
from controller.fleet.model import DesiredCharger, Fleet, Layer, resolve_charger
from controller.planning.document import PlanFormatError, plan_from_json, plan_to_json
from controller.planning.keys import (
    ActionKind,
    ChargerPlan,
    FleetPlan,
    PlanStatus,
    desired_extras,
    plan_charger,
    plan_fleet,
)
from controller.values.records import (
    BootInfo,
    ChargerRecord,
    ConnectorStatus,
    KeyState,
    KeyStatus,
    ReportedKey,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HEADER = "apiVersion: chargectl.io/v1alpha1\n"

Build = Callable[..., Fleet]


def doc(kind: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n"


TEAM = doc("Team", "ops", "displayName: Ops\nhandle: ops")


def location(defaults: str = "") -> str:
    spec = "team: ops\ndisplayName: Garage\n"
    if defaults:
        spec += "chargerDefaults:\n" + textwrap.indent(textwrap.dedent(defaults), "  ")
    return doc("Location", "garage", spec)


def charger(name: str = "bay-1", extra: str = "", version: str = "1.6") -> str:
    spec = (
        f'location: garage\nocppVersion: "{version}"\nocppIdentity: {name.upper()}\n'
        "connectors: [{id: 1, type: Type2, maxCurrent: 32}]\n" + textwrap.dedent(extra)
    )
    return doc("Charger", name, spec)


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """A fleet from YAML documents, one file each, that must be free of loading problems."""

    def build(*documents: str) -> Fleet:
        for i, text in enumerate(documents):
            (tmp_path / f"{i:02d}.yaml").write_text(text, encoding="utf-8")
        loaded = load_paths([tmp_path])
        assert loaded.problems == ()
        fleet, problems = Fleet.build(loaded.resources)
        assert problems == []
        return fleet

    return build


def record(
    identity: str = "BAY-1",
    keys: Mapping[str, str] | Sequence[ReportedKey] = (),
    *,
    version: str = "1.6",
    firmware: str | None = None,
    connectors: Sequence[tuple[int, str]] = (),
) -> ChargerRecord:
    reported: tuple[ReportedKey, ...] = (
        tuple(ReportedKey(k, v) for k, v in keys.items())
        if isinstance(keys, Mapping)
        else tuple(keys)
    )
    return ChargerRecord(
        identity=identity,
        pending=False,
        ocpp_version=version,
        boot=BootInfo("Alfen BV", "NG910", firmware_version=firmware),
        booted_at=T0,
        connected=True,
        connected_at=T0,
        connectors=tuple(ConnectorStatus(identity, c, s, T0) for c, s in connectors),
        configuration=reported,
        configuration_at=T0,
    )


def plan_of(
    fleet: Fleet,
    reported: ChargerRecord | None,
    name: str = "bay-1",
    terminal: dict[str, KeyStatus] | None = None,
) -> ChargerPlan:
    loaded = fleet.chargers[name]
    return plan_charger(
        resolve_charger(fleet, loaded),
        reported,
        terminal=terminal or {},
        extras=desired_extras(fleet, loaded),
    )


def only(plan: ChargerPlan, key: str) -> list[tuple[ActionKind, str | None, str | None]]:
    return [(a.kind, a.reported, a.wire_value) for a in plan.actions if a.key == key]


# --- normalised comparison ---------------------------------------------------------------------


@pytest.mark.parametrize("reported", ["60", "060", " 60", "+60"])
@pytest.mark.parametrize("declared", ["60", '"060"', '"60"'])
def test_integers_compare_by_value(build: Build, declared: str, reported: str) -> None:
    fleet = build(
        TEAM, location(), charger(extra=f"configuration:\n  HeartbeatInterval: {declared}\n")
    )
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": reported}))
    assert plan.status is PlanStatus.IN_SYNC
    assert plan.actions == ()


@pytest.mark.parametrize("reported", ["True", "true", "TRUE", "1", " 1 "])
def test_booleans_compare_case_insensitively_and_one_is_true(build: Build, reported: str) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  localPreAuthorize: true\n"))
    keys = {"HeartbeatInterval": "300", "LocalPreAuthorize": reported}
    assert plan_of(fleet, record(keys=keys)).status is PlanStatus.IN_SYNC


def test_a_false_boolean_is_a_change_to_the_wire_spelling(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  localPreAuthorize: true\n"))
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "300", "LocalPreAuthorize": "0"}))
    assert only(plan, "LocalPreAuthorize") == [(ActionKind.SET_KEY, "0", "true")]
    assert plan.status is PlanStatus.CHANGES


MEASURANDS = """\
settings:
  meterValuesSampledData: [Energy.Active.Import.Register, SoC, Voltage]
"""


def test_measurand_lists_in_another_order_are_in_sync(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra=MEASURANDS))
    keys = {
        "HeartbeatInterval": "300",
        "MeterValuesSampledData": "Voltage, soc,Energy.Active.Import.Register",
    }
    assert plan_of(fleet, record(keys=keys)).status is PlanStatus.IN_SYNC


def test_a_list_difference_says_which_members_change(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra=MEASURANDS))
    keys = {"HeartbeatInterval": "300", "MeterValuesSampledData": "Voltage,Current.Import"}
    (action,) = plan_of(fleet, record(keys=keys)).actions
    assert action.kind is ActionKind.SET_KEY
    assert action.wire_value == "Energy.Active.Import.Register,SoC,Voltage"
    assert action.reason == "adds Energy.Active.Import.Register, SoC; removes Current.Import"


def test_order_counts_where_the_spec_says_it_does(build: Build) -> None:
    fleet = build(
        TEAM,
        location(),
        charger(
            extra="configuration:\n  ClockCtrlr.TimeSource: [NTP, Heartbeat]\n", version="2.0.1"
        ),
    )
    keys = {"OCPPCommCtrlr.HeartbeatInterval": "300", "ClockCtrlr.TimeSource": "Heartbeat,NTP"}
    plan = plan_of(fleet, record(keys=keys, version="2.0.1"))
    assert only(plan, "ClockCtrlr.TimeSource") == [
        (ActionKind.SET_KEY, "Heartbeat,NTP", "NTP,Heartbeat")
    ]


def test_a_reported_value_that_does_not_parse_is_a_change(build: Build) -> None:
    fleet = build(TEAM, location(), charger())
    (action,) = plan_of(fleet, record(keys={"HeartbeatInterval": "five minutes"})).actions
    assert (action.kind, action.reported, action.wire_value) == (
        ActionKind.SET_KEY,
        "five minutes",
        "300",
    )
    assert "not valid" in action.reason


def test_key_names_compare_case_insensitively_on_16(build: Build) -> None:
    fleet = build(TEAM, location(), charger())
    plan = plan_of(fleet, record(keys={"heartbeatinterval": "300"}))
    assert plan.status is PlanStatus.IN_SYNC
    assert plan.info == ()


def test_vendor_keys_take_their_type_from_the_declaration(build: Build) -> None:
    extra = "vendorConfiguration:\n  Alfen-MaxStationCurrent: 32\n  Alfen-Display: 'nl'\n"
    fleet = build(TEAM, location(), charger(extra=extra))
    keys = {"HeartbeatInterval": "300", "Alfen-MaxStationCurrent": "032", "Alfen-Display": "en"}
    plan = plan_of(fleet, record(keys=keys))
    assert [(a.kind, a.key, a.wire_value) for a in plan.actions] == [
        (ActionKind.SET_KEY, "Alfen-Display", "nl")
    ]


# --- what is compared ----------------------------------------------------------------------------


def test_extra_reported_keys_are_information_not_drift(build: Build) -> None:
    fleet = build(TEAM, location(), charger())
    keys = {"HeartbeatInterval": "300", "GetConfigurationMaxKeys": "50", "VendorThing": "x"}
    plan = plan_of(fleet, record(keys=keys))
    assert plan.status is PlanStatus.IN_SYNC
    assert plan.actions == ()
    assert [k.key for k in plan.info] == ["GetConfigurationMaxKeys", "VendorThing"]


def test_unmanaged_keys_are_left_alone(build: Build) -> None:
    fleet = build(
        TEAM,
        location("configuration:\n  LightIntensity: 60\n"),
        charger(extra="unmanagedKeys: [LightIntensity, heartbeatInterval]\n"),
    )
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "10", "LightIntensity": "20"}))
    assert plan.status is PlanStatus.IN_SYNC
    assert {k.key for k in plan.info} == {"HeartbeatInterval", "LightIntensity"}


def test_unmanaged_keys_are_left_alone_even_when_handed_in_as_desired(build: Build) -> None:
    fleet = build(TEAM, location("configuration:\n  LightIntensity: 60\n"), charger())
    desired: DesiredCharger = resolve_charger(fleet, fleet.chargers["bay-1"])
    desired = dataclasses.replace(desired, unmanaged=frozenset({"lightintensity"}))
    plan = plan_charger(desired, record(keys={"HeartbeatInterval": "300", "LightIntensity": "1"}))
    assert plan.status is PlanStatus.IN_SYNC


def test_a_key_read_only_on_the_charger_cannot_be_applied(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  connectionTimeout: 60\n"))
    keys = [ReportedKey("HeartbeatInterval", "300"), ReportedKey("ConnectionTimeOut", "30", True)]
    plan = plan_of(fleet, record(keys=keys))
    (action,) = plan.actions
    assert (action.kind, action.kind.symbol, action.reason) == (
        ActionKind.CANNOT,
        "!",
        "read-only on the charger",
    )
    assert (action.reported, action.wire_value) == ("30", "60")
    assert plan.status is PlanStatus.BLOCKED


def test_a_read_only_key_that_already_matches_is_in_sync(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  connectionTimeout: 60\n"))
    keys = [ReportedKey("HeartbeatInterval", "300"), ReportedKey("ConnectionTimeOut", "60", True)]
    assert plan_of(fleet, record(keys=keys)).status is PlanStatus.IN_SYNC


def test_a_key_not_reported_is_added(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  localAuthListEnabled: true\n"))
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "300"}))
    (action,) = plan.actions
    assert (action.kind, action.kind.symbol, action.key) == (
        ActionKind.ADD_KEY,
        "+",
        "LocalAuthListEnabled",
    )
    assert (action.reported, action.wire_value) == (None, "true")


def test_a_charger_that_reported_almost_nothing_gets_every_key(build: Build) -> None:
    """DeepDiff would call two dicts with few keys in common one replaced root."""
    extra = "settings:\n  connectionTimeout: 60\n  localPreAuthorize: true\n  resetRetries: 2\n"
    fleet = build(TEAM, location(), charger(extra=extra))
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "600", "Other": "1"}))
    assert [(a.kind, a.key) for a in plan.actions] == [
        (ActionKind.SET_KEY, "HeartbeatInterval"),
        (ActionKind.ADD_KEY, "ConnectionTimeOut"),
        (ActionKind.ADD_KEY, "LocalPreAuthorize"),
        (ActionKind.ADD_KEY, "ResetRetries"),
    ]


def test_each_action_names_its_layer(build: Build) -> None:
    fleet = build(
        TEAM,
        location("settings:\n  connectionTimeout: 90\n"),
        charger(extra="settings:\n  resetRetries: 2\n"),
    )
    plan = plan_of(fleet, record(keys={}))
    layers = {a.key: (a.layer, a.desired and a.desired.origin.source) for a in plan.actions}
    assert layers == {
        "HeartbeatInterval": (Layer.BUILTIN, None),
        "ConnectionTimeOut": (Layer.LOCATION, fleet.locations["garage"].source),
        "ResetRetries": (Layer.CHARGER, fleet.chargers["bay-1"].source),
    }
    for action in plan.actions:
        assert action.desired is not None and action.layer is action.desired.origin.layer


# --- what the reconciler learnt ------------------------------------------------------------------


def status(
    key: str, state: KeyState, value: str, at: datetime = T0, identity: str = "BAY-1"
) -> KeyStatus:
    return KeyStatus(identity, key, state, value, at, "the charger said no")


def rejected(key: str, value: str, state: KeyState = KeyState.REJECTED) -> KeyStatus:
    return status(key, state, value)


def test_a_rejected_value_is_not_planned_again(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 600\n"))
    plan = plan_of(
        fleet,
        record(keys={"HeartbeatInterval": "300"}),
        terminal={"HeartbeatInterval": rejected("HeartbeatInterval", "600")},
    )
    (action,) = plan.actions
    assert action.kind is ActionKind.CANNOT
    assert action.reason.startswith("rejected by the charger at 2025-03-01T12:00:00Z")
    assert "the charger said no" in action.reason
    assert plan.status is PlanStatus.BLOCKED


def test_a_rejected_key_is_planned_again_when_the_desired_value_changes(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 900\n"))
    plan = plan_of(
        fleet,
        record(keys={"HeartbeatInterval": "300"}),
        terminal={"HeartbeatInterval": rejected("HeartbeatInterval", "600")},
    )
    assert only(plan, "HeartbeatInterval") == [(ActionKind.SET_KEY, "300", "900")]


def test_a_rejection_is_matched_by_normalised_value(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 600\n"))
    plan = plan_of(
        fleet,
        record(keys={"HeartbeatInterval": "300"}),
        terminal={"heartbeatinterval": rejected("heartbeatinterval", "0600")},
    )
    assert [a.kind for a in plan.actions] == [ActionKind.CANNOT]


def test_a_key_the_charger_does_not_support_cannot_be_applied(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  resetRetries: 3\n"))
    plan = plan_of(
        fleet,
        record(keys={"HeartbeatInterval": "300"}),
        terminal={"ResetRetries": rejected("ResetRetries", "3", KeyState.NOT_SUPPORTED)},
    )
    (action,) = plan.actions
    assert (action.kind, action.reported) == (ActionKind.CANNOT, None)
    assert action.reason.startswith("not supported by the charger")


def test_a_rejected_value_set_by_hand_since_is_in_sync(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 600\n"))
    plan = plan_of(
        fleet,
        record(keys={"HeartbeatInterval": "600"}),
        terminal={"HeartbeatInterval": rejected("HeartbeatInterval", "600")},
    )
    assert plan.status is PlanStatus.IN_SYNC


def test_drift_is_a_change_since_an_applied_value(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 600\n"))
    applied = status("HeartbeatInterval", KeyState.APPLIED, "600", T0 - timedelta(days=1))
    plan = plan_of(
        fleet, record(keys={"HeartbeatInterval": "60"}), terminal={"HeartbeatInterval": applied}
    )
    (action,) = plan.actions
    assert action.drift and action.kind is ActionKind.SET_KEY
    assert action.reason == "drifted since applied at 2025-02-28T12:00:00Z"
    assert (plan.drift, plan.changes) == ((action,), ())
    assert plan.status is PlanStatus.CHANGES


def test_a_value_applied_before_the_fleet_changed_is_a_change_not_drift(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 900\n"))
    applied = status("HeartbeatInterval", KeyState.APPLIED, "600")
    plan = plan_of(
        fleet, record(keys={"HeartbeatInterval": "600"}), terminal={"HeartbeatInterval": applied}
    )
    (action,) = plan.actions
    assert not action.drift
    assert plan.changes == (action,) and plan.drift == ()


def test_a_change_awaiting_a_reboot_says_so(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  heartbeatInterval: 600\n"))
    waiting = status("HeartbeatInterval", KeyState.REBOOT_REQUIRED, "600")
    plan = plan_of(
        fleet, record(keys={"HeartbeatInterval": "300"}), terminal={"HeartbeatInterval": waiting}
    )
    (action,) = plan.actions
    assert action.kind is ActionKind.SET_KEY
    assert "takes effect after a reboot" in action.reason


def test_a_value_the_charger_keeps_to_itself_is_trusted_once_applied(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra="settings:\n  resetRetries: 3\n"))
    keys = [ReportedKey("HeartbeatInterval", "300"), ReportedKey("ResetRetries", None)]
    unknown = plan_of(fleet, record(keys=keys))
    assert [(a.kind, a.key) for a in unknown.actions] == [(ActionKind.SET_KEY, "ResetRetries")]
    applied = {"ResetRetries": status("ResetRetries", KeyState.APPLIED, "3")}
    assert plan_of(fleet, record(keys=keys), terminal=applied).status is PlanStatus.IN_SYNC


# --- the charger as a whole ----------------------------------------------------------------------


def test_a_charger_that_never_connected(build: Build) -> None:
    fleet = build(TEAM, location(), charger())
    plan = plan_of(fleet, None)
    assert (plan.status, plan.actions) == (PlanStatus.NEVER_CONNECTED, ())
    known_only = ChargerRecord("BAY-1", pending=False)
    assert plan_of(fleet, known_only).status is PlanStatus.NEVER_CONNECTED


def test_a_charger_that_has_not_reported_its_configuration(build: Build) -> None:
    fleet = build(TEAM, location(), charger())
    fresh = dataclasses.replace(record(), configuration=(), configuration_at=None)
    assert plan_of(fleet, fresh).status is PlanStatus.NOT_REPORTED


def test_a_record_loaded_without_configuration_is_refused(build: Build) -> None:
    fleet = build(TEAM, location(), charger())
    with pytest.raises(ValueError, match="configuration=True"):
        plan_of(fleet, dataclasses.replace(record(), configuration=None))


FIRMWARE = """\
firmware:
  version: "6.4.0-4205"
  url: https://firmware.example.com/6.4.0-4205.img
"""


def test_a_firmware_difference_is_planned_with_its_url(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra=FIRMWARE))
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "300"}, firmware="6.3.0"))
    (action,) = plan.actions
    assert (action.kind, action.key, action.reported) == (ActionKind.FIRMWARE, "firmware", "6.3.0")
    assert action.wire_value == "https://firmware.example.com/6.4.0-4205.img"
    assert action.desired is not None and action.desired.value == "6.4.0-4205"
    assert action.layer is Layer.CHARGER


def test_the_declared_firmware_is_in_sync(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra=FIRMWARE))
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "300"}, firmware="6.4.0-4205"))
    assert plan.status is PlanStatus.IN_SYNC


def test_a_rejected_firmware_update_is_not_planned_again(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra=FIRMWARE))
    plan = plan_of(
        fleet,
        record(keys={"HeartbeatInterval": "300"}, firmware="6.3.0"),
        terminal={"firmware": rejected("firmware", "6.4.0-4205")},
    )
    assert [a.kind for a in plan.actions] == [ActionKind.CANNOT]


@pytest.mark.parametrize(
    ("connectors", "expected"),
    [
        ([(0, "Available"), (1, "Charging")], [ActionKind.CHANGE_AVAILABILITY]),
        ([(0, "Unavailable"), (1, "Unavailable")], []),
        ([(1, "Unavailable"), (2, "Unavailable")], []),
        ([(1, "Unavailable"), (2, "Available")], [ActionKind.CHANGE_AVAILABILITY]),
        ([], [ActionKind.CHANGE_AVAILABILITY]),
    ],
)
def test_availability_from_connector_statuses(
    build: Build, connectors: list[tuple[int, str]], expected: list[ActionKind]
) -> None:
    fleet = build(TEAM, location("settings:\n  availability: Inoperative\n"), charger())
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "300"}, connectors=connectors))
    assert [a.kind for a in plan.actions] == expected
    for action in plan.actions:
        assert (action.wire_value, action.layer) == ("Inoperative", Layer.LOCATION)


def test_a_charger_speaking_another_version_is_blocked(build: Build) -> None:
    fleet = build(TEAM, location(), charger(version="2.0.1"))
    plan = plan_of(fleet, record(keys={"HeartbeatInterval": "300"}, version="1.6"))
    assert plan.status is PlanStatus.BLOCKED
    (action,) = plan.actions
    assert (action.kind, action.key, action.reported) == (ActionKind.CANNOT, "ocppVersion", "1.6")


# --- OCPP 2.0.1 ----------------------------------------------------------------------------------


V201 = """\
settings:
  heartbeatInterval: 60
  transactionMessageAttempts: 5
  meterValuesSampledData: [Energy.Active.Import.Register, SoC]
configuration:
  TxCtrlr.TxStartPoint: [Authorized, EVConnected]
"""


def test_201_keys_are_component_variables(build: Build) -> None:
    fleet = build(TEAM, location(), charger(extra=V201, version="2.0.1"))
    keys = {
        "OCPPCommCtrlr.HeartbeatInterval": "060",
        "SampledDataCtrlr.TxUpdatedMeasurands": "SoC,Energy.Active.Import.Register",
        "TxCtrlr.TxStartPoint": "Authorized",
        "OCPPCommCtrlr.NetworkConfigurationPriority": "0",
    }
    plan = plan_of(fleet, record(keys=keys, version="2.0.1"))
    assert [(a.kind, a.key, a.reported, a.wire_value) for a in plan.actions] == [
        (ActionKind.ADD_KEY, "OCPPCommCtrlr.MessageAttempts[TransactionEvent]", None, "5"),
        (ActionKind.SET_KEY, "TxCtrlr.TxStartPoint", "Authorized", "Authorized,EVConnected"),
    ]
    assert [k.key for k in plan.info] == ["OCPPCommCtrlr.NetworkConfigurationPriority"]


# --- the fleet -----------------------------------------------------------------------------------


def fleet_of_three(build: Build) -> Fleet:
    return build(
        TEAM,
        location(),
        charger("bay-1", "settings:\n  heartbeatInterval: 600\n"),
        charger("bay-2"),
        charger("bay-3"),
    )


def test_plan_fleet_matches_identities_case_insensitively_and_counts(build: Build) -> None:
    fleet = fleet_of_three(build)
    records = [
        record("bay-1", keys={"HeartbeatInterval": "300"}),
        record("Bay-2", keys={"HeartbeatInterval": "300"}),
        record("stranger", keys={}),
    ]
    applied = [status("HeartbeatInterval", KeyState.APPLIED, "600", identity="bay-1")]
    plan = plan_fleet(fleet, records, applied)
    assert [(c.name, c.status) for c in plan.chargers] == [
        ("bay-1", PlanStatus.CHANGES),
        ("bay-2", PlanStatus.IN_SYNC),
        ("bay-3", PlanStatus.NEVER_CONNECTED),
    ]
    assert plan.chargers[0].drift
    summary = plan.summary
    assert (summary.to_change, summary.in_sync, summary.never_connected, summary.drifted) == (
        1,
        1,
        1,
        1,
    )
    assert plan.has_changes
    assert summary_line(plan) == (
        "Plan: 1 charger to change (1 drifted), 1 in sync, 1 never connected."
    )


def test_a_fleet_in_sync_has_no_changes(build: Build) -> None:
    fleet = build(TEAM, location(), charger("bay-1"))
    plan = plan_fleet(fleet, [record(keys={"HeartbeatInterval": "300"})])
    assert not plan.has_changes
    assert summary_line(plan) == "Plan: 0 chargers to change, 1 in sync, 0 never connected."


# --- rendering -----------------------------------------------------------------------------------


def test_human_output_is_terraform_like(build: Build, tmp_path: Path) -> None:
    fleet = build(
        TEAM,
        location("settings:\n  heartbeatInterval: 600\n  meterValuesSampledData: [SoC]\n"),
        charger(extra="settings:\n  connectionTimeout: 60\n"),
    )
    keys = [
        ReportedKey("HeartbeatInterval", "300"),
        ReportedKey("ConnectionTimeOut", "30", readonly=True),
        ReportedKey("GetConfigurationMaxKeys", "50", readonly=True),
    ]
    text = format_plan_human(plan_fleet(fleet, [record(keys=keys)]), base=tmp_path)
    lines = click.unstyle(text).splitlines()
    assert lines[0] == "  # charger bay-1 (BAY-1, OCPP 1.6) will be updated"
    assert lines[1].split() == [
        "~",
        "HeartbeatInterval",
        '"300"',
        "->",
        '"600"',
        "(location",
        "default:",
        "01.yaml)",
    ]
    assert lines[2].split()[:4] == ["+", "MeterValuesSampledData", "(not", "reported)"]
    assert lines[3].split()[:6] == ["!", "ConnectionTimeOut", "read-only", "on", "the", "charger"]
    assert '(reports "30"; declared "60"; charger spec: 02.yaml)' in lines[3]
    assert lines[4] == "    (1 more key reported and not declared)"
    assert lines[-1] == "Plan: 1 charger to change, 0 in sync, 0 never connected."


def test_json_round_trips(build: Build) -> None:
    fleet = fleet_of_three(build)
    applied = [status("HeartbeatInterval", KeyState.APPLIED, "600")]
    keys = [
        ReportedKey("HeartbeatInterval", "300"),
        ReportedKey("GetConfigurationMaxKeys", "50", True),
    ]
    plan = plan_fleet(fleet, [record(keys=keys), record("BAY-2", keys={})], applied)
    document = json.loads(json.dumps(plan_to_json(plan)))
    assert document["formatVersion"] == 1
    bay1 = document["chargers"][0]
    assert (bay1["changes"], [d["key"] for d in bay1["drift"]]) == ([], ["HeartbeatInterval"])
    assert bay1["undeclared"] == [
        {"key": "GetConfigurationMaxKeys", "value": "50", "readonly": True}
    ]
    assert plan_from_json(document) == plan


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"formatVersion": 2, "chargers": []}, "version 2 is not supported"),
        ({"formatVersion": 1}, "chargers: expected list"),
        ({"formatVersion": 1, "chargers": [{"name": "x"}]}, r"chargers\[0\].changes"),
        ([], "expected an object"),
    ],
)
def test_a_plan_document_that_does_not_fit_is_refused(document: object, message: str) -> None:
    with pytest.raises(PlanFormatError, match=message):
        plan_from_json(document)


def test_an_empty_fleet_plans_nothing() -> None:
    plan = FleetPlan(())
    assert not plan.has_changes
    assert format_plan_human(plan) == "Plan: 0 chargers to change, 0 in sync, 0 never connected."
