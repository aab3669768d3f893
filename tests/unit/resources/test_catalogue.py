"""The configuration key catalogue: what a fleet engineer sees when values are compared."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v16 import enums as v16_enums
from ocpp.v201 import enums as v201_enums

from controller.resources.catalogue import (
    MEASURANDS_16,
    MEASURANDS_201,
    OCPP16_KEYS,
    OCPP201_VARIABLES,
    KeySpec,
    MemberError,
    Members,
    Mutability,
    ValueType,
    VariableSpec,
    format_value,
    parse_value,
    parse_variable_key,
)

HEARTBEAT = OCPP16_KEYS["HeartbeatInterval"]
SAMPLED = OCPP16_KEYS["MeterValuesSampledData"]
TX_UPDATED = OCPP201_VARIABLES["SampledDataCtrlr.TxUpdatedMeasurands"]
TIME_SOURCE = OCPP201_VARIABLES["ClockCtrlr.TimeSource"]

# OCPP 1.6 edition 2, section 9.1: the Core keys whose "Required/optional" reads "required".
CORE_REQUIRED_16 = {
    "AuthorizeRemoteTxRequests",
    "ClockAlignedDataInterval",
    "ConnectionTimeOut",
    "ConnectorPhaseRotation",
    "GetConfigurationMaxKeys",
    "HeartbeatInterval",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "MeterValuesAlignedData",
    "MeterValuesSampledData",
    "MeterValueSampleInterval",
    "NumberOfConnectors",
    "ResetRetries",
    "StopTransactionOnEVSideDisconnect",
    "StopTransactionOnInvalidId",
    "StopTxnAlignedData",
    "StopTxnSampledData",
    "SupportedFeatureProfiles",
    "TransactionMessageAttempts",
    "TransactionMessageRetryInterval",
    "UnlockConnectorOnEVSideDisconnect",
}

# The 2.0.1 variables version-neutral settings are written to.
SETTING_VARIABLES_201 = {
    "OCPPCommCtrlr.HeartbeatInterval",
    "OCPPCommCtrlr.WebSocketPingInterval",
    "OCPPCommCtrlr.ResetRetries",
    "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
    "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]",
    "SampledDataCtrlr.TxUpdatedInterval",
    "SampledDataCtrlr.TxUpdatedMeasurands",
    "SampledDataCtrlr.TxEndedMeasurands",
    "SampledDataCtrlr.TxEndedInterval",
    "SampledDataCtrlr.TxStartedMeasurands",
    "AlignedDataCtrlr.Interval",
    "AlignedDataCtrlr.Measurands",
    "AlignedDataCtrlr.TxEndedMeasurands",
    "AuthCtrlr.Enabled",
    "AuthCtrlr.LocalAuthorizeOffline",
    "AuthCtrlr.LocalPreAuthorize",
    "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    "AuthCtrlr.AuthorizeRemoteStart",
    "AuthCacheCtrlr.Enabled",
    "LocalAuthListCtrlr.Enabled",
    "TxCtrlr.EVConnectionTimeOut",
    "TxCtrlr.StopTxOnInvalidId",
    "TxCtrlr.StopTxOnEVSideDisconnect",
    "SecurityCtrlr.BasicAuthPassword",
    "SecurityCtrlr.SecurityProfile",
    "SmartChargingCtrlr.Enabled",
    "ClockCtrlr.TimeZone",
}


# --- Values that mean the same compare equal -------------------------------------------------


@pytest.mark.parametrize("raw", ["60", "060", 60, " 60 ", "+60"])
def test_integer_spellings_normalise_to_the_same_number(raw: object) -> None:
    assert parse_value(HEARTBEAT, raw) == 60


@pytest.mark.parametrize("raw", [True, "true", "True", "TRUE", "1", 1])
def test_true_spellings_chargers_report_are_true(raw: object) -> None:
    assert parse_value(OCPP16_KEYS["LocalPreAuthorize"], raw) is True


@pytest.mark.parametrize("raw", [False, "false", "False", "0", 0])
def test_false_spellings_chargers_report_are_false(raw: object) -> None:
    assert parse_value(OCPP16_KEYS["LocalPreAuthorize"], raw) is False


def test_measurand_lists_compare_as_sets_whatever_the_order_and_spacing() -> None:
    declared = parse_value(SAMPLED, ["Energy.Active.Import.Register", "Voltage", "SoC"])
    reported = parse_value(SAMPLED, "SoC, Voltage ,Energy.Active.Import.Register")
    assert declared == reported == frozenset({"Energy.Active.Import.Register", "Voltage", "SoC"})


def test_measurand_spelling_and_phase_suffix_are_canonicalised() -> None:
    assert parse_value(SAMPLED, "voltage.l1,SOC") == frozenset({"Voltage.L1", "SoC"})


@pytest.mark.parametrize("raw", ["", " ", [], ","])
def test_an_empty_measurand_list_means_no_measurands(raw: object) -> None:
    assert parse_value(OCPP16_KEYS["MeterValuesAlignedData"], raw) == frozenset()


def test_an_ordered_list_keeps_its_order() -> None:
    assert parse_value(TIME_SOURCE, "NTP, Heartbeat") == ("NTP", "Heartbeat")
    assert parse_value(TIME_SOURCE, "NTP,Heartbeat") != parse_value(TIME_SOURCE, "Heartbeat,NTP")


def test_connector_phase_rotation_is_normalised_per_connector() -> None:
    rotation = OCPP16_KEYS["ConnectorPhaseRotation"]
    assert parse_value(rotation, "0.RST, 1.rts,02.Unknown") == frozenset(
        {"0.RST", "1.RTS", "2.Unknown"}
    )


def test_an_option_list_value_takes_the_spec_spelling() -> None:
    policy = OCPP201_VARIABLES["OCPPCommCtrlr.PublicKeyWithSignedMeterValue"]
    assert parse_value(policy, "everymetervalue") == "EveryMeterValue"


# --- Values that do not fit are refused, saying why ------------------------------------------


def test_text_where_a_number_belongs_is_refused() -> None:
    with pytest.raises(ValueError, match="expected an integer, got 'abc'"):
        parse_value(HEARTBEAT, "abc")


def test_a_yaml_boolean_is_not_taken_for_a_number() -> None:
    with pytest.raises(ValueError, match="expected an integer, got True"):
        parse_value(HEARTBEAT, True)


def test_a_word_other_than_true_or_false_is_refused_for_a_boolean() -> None:
    with pytest.raises(ValueError, match="expected a boolean.*got 'yes'"):
        parse_value(OCPP16_KEYS["LocalPreAuthorize"], "yes")


def test_a_negative_heartbeat_interval_is_refused_naming_the_bound() -> None:
    with pytest.raises(ValueError, match="-1 is below the minimum 0 seconds"):
        parse_value(HEARTBEAT, -1)


def test_a_light_intensity_over_100_percent_is_refused_naming_the_bound() -> None:
    with pytest.raises(ValueError, match="101 is above the maximum 100 percent"):
        parse_value(OCPP16_KEYS["LightIntensity"], "101")


def test_an_unknown_measurand_is_refused_listing_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"'Foo' is not a measurand \(allowed: .*Voltage"):
        parse_value(SAMPLED, "Voltage,Foo")


def test_measurands_follow_the_charger_s_ocpp_version() -> None:
    assert parse_value(SAMPLED, "Temperature") == frozenset({"Temperature"})
    with pytest.raises(ValueError, match="'Temperature' is not a measurand"):
        parse_value(TX_UPDATED, "Temperature")
    assert parse_value(TX_UPDATED, "Energy.Active.Net") == frozenset({"Energy.Active.Net"})
    with pytest.raises(ValueError, match="'Energy.Active.Net' is not a measurand"):
        parse_value(SAMPLED, "Energy.Active.Net")


def test_a_2_0_1_measurand_list_names_measurands_without_a_phase() -> None:
    """2.0.1's measurand variables are MemberLists of MeasurandEnumType: `Current.Import.L1`
    is not a member (a station reports each phase itself), where 1.6 allows the suffix."""
    assert parse_value(SAMPLED, "Current.Import.L1") == frozenset({"Current.Import.L1"})
    with pytest.raises(ValueError, match="without a phase .*; write 'Current.Import'"):
        parse_value(TX_UPDATED, "SoC,Current.Import.L1")


def test_a_1_6_measurand_takes_only_a_phase_as_its_suffix() -> None:
    assert parse_value(SAMPLED, "Voltage.L1-N") == frozenset({"Voltage.L1-N"})
    with pytest.raises(ValueError, match="'Voltage.L4': 'L4' is not a phase"):
        parse_value(SAMPLED, "Voltage.L4")


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Voltge", "did you mean 'Voltage'?"),
        (
            "Energy.Active.Import",
            "'Energy.Active.Import.Interval' or 'Energy.Active.Import.Register'",
        ),
    ],
)
def test_a_misspelt_measurand_is_refused_with_what_was_meant(text: str, hint: str) -> None:
    with pytest.raises(ValueError, match=f"'{text}' is not a measurand; ") as refused:
        parse_value(TX_UPDATED, text)
    assert hint in str(refused.value)


def test_a_wrong_member_says_which_one_it_is() -> None:
    """Validation points at the member: its index in a YAML list, its offset in a text."""
    with pytest.raises(MemberError) as in_list:
        parse_value(SAMPLED, ["SoC", "", "Voltge"])
    assert (in_list.value.index, in_list.value.offset) == (2, 0)
    with pytest.raises(MemberError) as in_text:
        parse_value(SAMPLED, "SoC,  Voltge")
    assert (in_text.value.index, in_text.value.offset) == (1, 6)
    with pytest.raises(MemberError) as repeated:
        parse_value(TIME_SOURCE, "NTP,GPS,NTP")
    assert (repeated.value.index, repeated.value.offset) == (2, 8)


def test_a_value_outside_an_option_list_is_refused_listing_the_options() -> None:
    with pytest.raises(ValueError, match="'Sometimes' is not one of: EveryMeterValue, Never"):
        parse_value(OCPP201_VARIABLES["OCPPCommCtrlr.PublicKeyWithSignedMeterValue"], "Sometimes")


def test_a_malformed_phase_rotation_is_refused() -> None:
    with pytest.raises(ValueError, match="'1.XYZ' is not a phase rotation"):
        parse_value(OCPP16_KEYS["ConnectorPhaseRotation"], "1.XYZ")


def test_an_ordered_list_refuses_repeats_and_unordered_sets() -> None:
    with pytest.raises(ValueError, match="'NTP' is listed more than once"):
        parse_value(TIME_SOURCE, "NTP,Heartbeat,NTP")
    with pytest.raises(ValueError, match="expected an ordered list"):
        parse_value(TIME_SOURCE, {"NTP"})


def test_a_too_short_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="below the minimum 16 characters") as refused:
        parse_value(OCPP16_KEYS["AuthorizationKey"], "hunter2")
    assert "hunter2" not in str(refused.value)


def test_a_value_longer_than_change_configuration_carries_is_refused() -> None:
    cpo_name = OCPP16_KEYS["CpoName"]
    assert parse_value(cpo_name, "x" * 500) == "x" * 500
    with pytest.raises(ValueError, match="at most 500"):
        parse_value(cpo_name, "x" * 501)


def test_set_variables_carries_longer_values_than_change_configuration() -> None:
    organization = OCPP201_VARIABLES["SecurityCtrlr.OrganizationName"]
    assert parse_value(organization, "x" * 1000) == "x" * 1000
    with pytest.raises(ValueError, match="at most 1000"):
        parse_value(organization, "x" * 1001)


# --- Wire form -------------------------------------------------------------------------------


def test_wire_form_is_what_change_configuration_expects() -> None:
    assert format_value(OCPP16_KEYS["LocalPreAuthorize"], True) == "true"
    assert format_value(OCPP16_KEYS["LocalPreAuthorize"], False) == "false"
    assert format_value(HEARTBEAT, 60) == "60"
    assert format_value(SAMPLED, frozenset({"Voltage", "SoC"})) == "SoC,Voltage"
    assert format_value(TIME_SOURCE, ("NTP", "Heartbeat")) == "NTP,Heartbeat"


_BOOLEAN_SPELLINGS = st.sampled_from([True, False, "true", "True", "1", "0", "false", "FALSE"])
_SPACE = st.sampled_from(["", " ", "  "])


@st.composite
def _measurand_text(draw: st.DrawFn) -> str:
    """A CSL of 1.6 measurands as a charger might report it: any order, case and spacing."""
    chosen = draw(st.lists(st.sampled_from(sorted(MEASURANDS_16)), unique=True))
    spelled = [
        draw(_SPACE) + draw(st.sampled_from([m, m.lower(), m.upper()])) + draw(_SPACE)
        for m in chosen
    ]
    return ",".join(spelled)


_CASES: st.SearchStrategy[tuple[KeySpec | VariableSpec, object]] = st.one_of(
    st.tuples(st.just(HEARTBEAT), st.integers(min_value=0)),
    st.tuples(st.just(HEARTBEAT), st.integers(min_value=0).map(lambda n: f" 00{n}")),
    st.tuples(st.just(OCPP16_KEYS["StopTransactionOnInvalidId"]), _BOOLEAN_SPELLINGS),
    st.tuples(st.just(SAMPLED), _measurand_text()),
    st.tuples(st.just(OCPP16_KEYS["CpoName"]), st.text(max_size=500)),
    st.tuples(
        st.just(TIME_SOURCE),
        st.permutations(["Heartbeat", "NTP", "GPS", "RealTimeClock"]).map(",".join),
    ),
)


@given(_CASES)
def test_format_of_parse_is_stable(case: tuple[KeySpec | VariableSpec, object]) -> None:
    spec, raw = case
    wire = format_value(spec, parse_value(spec, raw))
    assert parse_value(spec, wire) == parse_value(spec, raw)
    assert format_value(spec, parse_value(spec, wire)) == wire


# --- The table itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["GetConfigurationMaxKeys", "NumberOfConnectors", "SupportedFeatureProfiles"]
)
def test_keys_the_charger_owns_are_read_only(name: str) -> None:
    assert OCPP16_KEYS[name].mutability is Mutability.READ_ONLY


def test_passwords_are_write_only() -> None:
    assert OCPP16_KEYS["AuthorizationKey"].mutability is Mutability.WRITE_ONLY
    assert OCPP201_VARIABLES["SecurityCtrlr.BasicAuthPassword"].mutability is Mutability.WRITE_ONLY


def test_every_required_core_key_of_the_spec_is_present_and_required() -> None:
    core = {name for name, spec in OCPP16_KEYS.items() if spec.profile == "Core"}
    assert CORE_REQUIRED_16 - core == set()
    required = {name for name in core if OCPP16_KEYS[name].required}
    assert required == CORE_REQUIRED_16


@pytest.mark.parametrize(
    ("name", "profile", "mutability", "required"),
    [
        ("LocalAuthListEnabled", "LocalAuthListManagement", Mutability.READ_WRITE, True),
        ("LocalAuthListMaxLength", "LocalAuthListManagement", Mutability.READ_ONLY, True),
        ("SendLocalListMaxLength", "LocalAuthListManagement", Mutability.READ_ONLY, True),
        ("ReserveConnectorZeroSupported", "Reservation", Mutability.READ_ONLY, False),
        ("ChargeProfileMaxStackLevel", "SmartCharging", Mutability.READ_ONLY, True),
        ("ChargingScheduleAllowedChargingRateUnit", "SmartCharging", Mutability.READ_ONLY, True),
        ("ChargingScheduleMaxPeriods", "SmartCharging", Mutability.READ_ONLY, True),
        ("ConnectorSwitch3to1PhaseSupported", "SmartCharging", Mutability.READ_ONLY, False),
        ("MaxChargingProfilesInstalled", "SmartCharging", Mutability.READ_ONLY, True),
        ("AdditionalRootCertificateCheck", "Security", Mutability.READ_ONLY, False),
        ("CertificateSignedMaxChainSize", "Security", Mutability.READ_ONLY, False),
        ("CertificateStoreMaxLength", "Security", Mutability.READ_ONLY, False),
        ("CpoName", "Security", Mutability.READ_WRITE, False),
        ("SecurityProfile", "Security", Mutability.READ_WRITE, False),
    ],
)
def test_profile_keys_have_the_spec_accessibility(
    name: str, profile: str, mutability: Mutability, required: bool
) -> None:
    spec = OCPP16_KEYS[name]
    assert (spec.profile, spec.mutability, spec.required) == (profile, mutability, required)


def test_every_list_length_bound_names_a_read_only_integer_key() -> None:
    for spec in OCPP16_KEYS.values():
        if spec.max_items_key is not None:
            bound = OCPP16_KEYS[spec.max_items_key]
            assert spec.type is ValueType.LIST
            assert (bound.type, bound.mutability) == (ValueType.INTEGER, Mutability.READ_ONLY)


def test_1_6_key_names_are_those_the_ocpp_library_knows() -> None:
    library = {key.value for key in v16_enums.ConfigurationKey}
    # The library predates the 1.6 errata sheet v4.0, which added SupportedFileTransferProtocols.
    assert set(OCPP16_KEYS) - library == {"SupportedFileTransferProtocols"}


def test_every_variable_a_setting_is_written_to_is_present() -> None:
    assert SETTING_VARIABLES_201 - set(OCPP201_VARIABLES) == set()


def test_2_0_1_variable_names_are_those_the_ocpp_library_knows() -> None:
    for spec in OCPP201_VARIABLES.values():
        names = getattr(v201_enums, f"{spec.component}VariableName")
        assert spec.variable in {name.value for name in names}, spec.key


def test_measurand_tables_match_the_ocpp_library() -> None:
    assert {m.value for m in v16_enums.Measurand} == MEASURANDS_16
    assert {m.value for m in v201_enums.MeasurandEnumType} == MEASURANDS_201


def test_measurand_tables_match_the_specifications_json_schemas() -> None:
    """The OCA's JSON schemas (OCPP 1.6 and "OCPP 2.0.1 FINAL", as the `ocpp` library ships
    them) are part of the specifications: their measurand enums are the tables."""
    schemas = files("ocpp")
    v16 = json.loads(schemas.joinpath("v16/schemas/MeterValues.json").read_text("utf-8"))
    sampled = v16["properties"]["meterValue"]["items"]["properties"]["sampledValue"]
    assert set(sampled["items"]["properties"]["measurand"]["enum"]) == MEASURANDS_16
    v201 = json.loads(schemas.joinpath("v201/schemas/MeterValuesRequest.json").read_text("utf-8"))
    assert v201["comment"] == "OCPP 2.0.1 FINAL"
    assert set(v201["definitions"]["MeasurandEnumType"]["enum"]) == MEASURANDS_201


MEASURAND_LISTS = {
    "MeterValuesAlignedData": Members.PHASED_MEASURANDS,
    "MeterValuesSampledData": Members.PHASED_MEASURANDS,
    "StopTxnAlignedData": Members.PHASED_MEASURANDS,
    "StopTxnSampledData": Members.PHASED_MEASURANDS,
    "SampledDataCtrlr.TxStartedMeasurands": Members.MEASURANDS,
    "SampledDataCtrlr.TxUpdatedMeasurands": Members.MEASURANDS,
    "SampledDataCtrlr.TxEndedMeasurands": Members.MEASURANDS,
    "AlignedDataCtrlr.Measurands": Members.MEASURANDS,
    "AlignedDataCtrlr.TxEndedMeasurands": Members.MEASURANDS,
}
"""The measurand lists of OCPP 1.6 (section 9.1) and 2.0.1 (SampledDataCtrlr, AlignedDataCtrlr)."""


def test_the_measurand_lists_are_checked_as_measurands_of_their_version() -> None:
    specs: dict[str, KeySpec | VariableSpec] = {**OCPP16_KEYS, **OCPP201_VARIABLES}
    found = {
        name: spec.members
        for name, spec in specs.items()
        if spec.members in (Members.MEASURANDS, Members.PHASED_MEASURANDS)
    }
    assert found == MEASURAND_LISTS
    for name in MEASURAND_LISTS:
        spec = specs[name]
        assert spec.type is ValueType.LIST and not spec.ordered, name
        assert spec.choices == (MEASURANDS_16 if name in OCPP16_KEYS else MEASURANDS_201), name
    assert not [
        name
        for name, spec in specs.items()
        if spec.choices in (MEASURANDS_16, MEASURANDS_201) and name not in MEASURAND_LISTS
    ]


# --- Variable keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", OCPP201_VARIABLES.values(), ids=list(OCPP201_VARIABLES))
def test_variable_keys_parse_back_into_their_parts(spec: VariableSpec) -> None:
    assert parse_variable_key(spec.key) == (spec.component, None, spec.variable, spec.instance)


def test_a_component_instance_and_a_dotted_variable_instance_are_understood() -> None:
    key = "OCPPCommCtrlr[main].FieldLength[BootNotificationRequest.reason]"
    assert parse_variable_key(key) == (
        "OCPPCommCtrlr",
        "main",
        "FieldLength",
        "BootNotificationRequest.reason",
    )


_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,20}", fullmatch=True)


@given(_NAMES, _NAMES, st.one_of(st.none(), _NAMES))
def test_any_well_formed_key_round_trips(
    component: str, variable: str, instance: str | None
) -> None:
    spec = VariableSpec(component, variable, instance, ValueType.STRING, Mutability.READ_WRITE, "")
    assert parse_variable_key(spec.key) == (component, None, variable, instance)


@pytest.mark.parametrize(
    "key",
    ["HeartbeatInterval", "OCPPCommCtrlr.", ".HeartbeatInterval", "A..B", "A.B[]", "A B.C", "A.B["],
)
def test_malformed_variable_keys_are_refused_with_the_expected_form(key: str) -> None:
    with pytest.raises(ValueError, match="expected Component.Variable"):
        parse_variable_key(key)


def test_a_name_longer_than_ocpp_allows_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than the 50 characters"):
        parse_variable_key(f"OCPPCommCtrlr.{'X' * 51}")
