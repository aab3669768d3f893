"""Version-neutral charger settings: one vocabulary for a mixed OCPP 1.6 / 2.0.1 fleet.

A fleet engineer writes `heartbeatInterval: 300` once; chargectl knows that means the
`HeartbeatInterval` key on an OCPP 1.6 charger and `OCPPCommCtrlr.HeartbeatInterval` on an
OCPP 2.0.1 one. Raw keys (`configuration`) stay available for everything not covered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final

from pydantic import Field
from pydantic.alias_generators import to_camel

from controller.resources.common import Model

ConfigValue = bool | int | str | list[str]
"""A raw configuration value as declared: YAML bool, integer, string or list of strings."""

ConfigurationMap = dict[
    Annotated[str, Field(min_length=1, max_length=200)],
    ConfigValue,
]


class Availability(StrEnum):
    OPERATIVE = "Operative"
    INOPERATIVE = "Inoperative"


class OcppVersion(StrEnum):
    V16 = "1.6"
    V201 = "2.0.1"


Seconds = Annotated[int, Field(ge=0, json_schema_extra={"x-unit": "seconds"})]


class ChargerSettings(Model):
    """Typed settings most fleets need; each maps to a key of every OCPP version.

    A setting left out is not managed: chargectl neither reads nor changes it.
    """

    heartbeat_interval: Seconds | None = Field(
        default=None, description="Seconds between Heartbeats when the charger is idle."
    )
    meter_value_sample_interval: Seconds | None = Field(
        default=None, description="Seconds between sampled meter values during a transaction."
    )
    clock_aligned_data_interval: Seconds | None = Field(
        default=None, description="Seconds between clock-aligned meter values; 0 turns them off."
    )
    meter_values_sampled_data: list[str] | None = Field(
        default=None, description="Measurands sampled during a transaction."
    )
    meter_values_aligned_data: list[str] | None = Field(
        default=None, description="Measurands sent at each clock-aligned interval."
    )
    stop_txn_sampled_data: list[str] | None = Field(
        default=None, description="Sampled measurands included when a transaction ends."
    )
    connection_timeout: Seconds | None = Field(
        default=None,
        description="Seconds between authorisation and plugging in before the session lapses.",
    )
    local_authorize_offline: bool | None = Field(
        default=None, description="Start transactions for locally known cards while offline."
    )
    local_pre_authorize: bool | None = Field(
        default=None, description="Start at once for locally known cards, before asking us."
    )
    authorization_cache_enabled: bool | None = Field(
        default=None, description="Keep a cache of recently authorised cards on the charger."
    )
    local_auth_list_enabled: bool | None = Field(
        default=None, description="Use the local authorisation list chargectl sends."
    )
    allow_offline_tx_for_unknown_id: bool | None = Field(
        default=None, description="While offline, let unknown cards charge."
    )
    authorize_remote_tx_requests: bool | None = Field(
        default=None, description="Authorise the id tag of a remote start before starting."
    )
    stop_transaction_on_invalid_id: bool | None = Field(
        default=None, description="Stop a transaction whose card turns out to be invalid."
    )
    stop_transaction_on_ev_side_disconnect: bool | None = Field(
        default=None,
        alias="stopTransactionOnEVSideDisconnect",
        description="Stop the transaction when the cable is unplugged at the car.",
    )
    web_socket_ping_interval: Seconds | None = Field(
        default=None, description="Seconds between websocket pings; 0 turns them off."
    )
    transaction_message_attempts: int | None = Field(
        default=None, ge=0, description="How often a transaction message is retried."
    )
    transaction_message_retry_interval: Seconds | None = Field(
        default=None, description="Seconds to wait before retrying a transaction message."
    )
    reset_retries: int | None = Field(
        default=None, ge=0, description="How often the charger retries a failed reset."
    )
    free_charging: bool | None = Field(
        default=None,
        description="Charge without a card. OCPP 2.0.1: AuthCtrlr.Enabled is set to false; "
        "OCPP 1.6 has no standard key, so chargectl answers every Authorize with Accepted.",
    )
    availability: Availability | None = Field(
        default=None,
        description="Operative or Inoperative; applied with ChangeAvailability, not a key.",
    )


DEFAULT_HEARTBEAT_INTERVAL: Final = 300
"""Seconds between Heartbeats when nothing declares otherwise: the built-in layer of every
charger's settings, and what BootNotification answers a charger the fleet does not know."""


@dataclass(frozen=True, slots=True)
class SettingMapping:
    """Where one setting lives on each OCPP version; None when that version has no key."""

    setting: str
    ocpp16: str | None
    ocpp201: str | None
    invert_201: bool = False

    def key(self, version: OcppVersion) -> str | None:
        """The configuration key this setting is written to on a charger of `version`."""
        return self.ocpp16 if version is OcppVersion.V16 else self.ocpp201

    def wire_value(self, version: OcppVersion, value: object) -> object:
        """The key's value for the setting's value (free charging is `AuthCtrlr.Enabled=false`)."""
        if version is OcppVersion.V201 and self.invert_201 and isinstance(value, bool):
            return not value
        return value


SETTING_MAPPINGS: tuple[SettingMapping, ...] = (
    SettingMapping("heartbeat_interval", "HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval"),
    SettingMapping(
        "meter_value_sample_interval",
        "MeterValueSampleInterval",
        "SampledDataCtrlr.TxUpdatedInterval",
    ),
    SettingMapping(
        "clock_aligned_data_interval", "ClockAlignedDataInterval", "AlignedDataCtrlr.Interval"
    ),
    SettingMapping(
        "meter_values_sampled_data",
        "MeterValuesSampledData",
        "SampledDataCtrlr.TxUpdatedMeasurands",
    ),
    SettingMapping(
        "meter_values_aligned_data", "MeterValuesAlignedData", "AlignedDataCtrlr.Measurands"
    ),
    SettingMapping(
        "stop_txn_sampled_data", "StopTxnSampledData", "SampledDataCtrlr.TxEndedMeasurands"
    ),
    SettingMapping("connection_timeout", "ConnectionTimeOut", "TxCtrlr.EVConnectionTimeOut"),
    SettingMapping(
        "local_authorize_offline", "LocalAuthorizeOffline", "AuthCtrlr.LocalAuthorizeOffline"
    ),
    SettingMapping("local_pre_authorize", "LocalPreAuthorize", "AuthCtrlr.LocalPreAuthorize"),
    SettingMapping(
        "authorization_cache_enabled", "AuthorizationCacheEnabled", "AuthCacheCtrlr.Enabled"
    ),
    SettingMapping("local_auth_list_enabled", "LocalAuthListEnabled", "LocalAuthListCtrlr.Enabled"),
    SettingMapping(
        "allow_offline_tx_for_unknown_id",
        "AllowOfflineTxForUnknownId",
        "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    ),
    SettingMapping(
        "authorize_remote_tx_requests",
        "AuthorizeRemoteTxRequests",
        "AuthCtrlr.AuthorizeRemoteStart",
    ),
    SettingMapping(
        "stop_transaction_on_invalid_id", "StopTransactionOnInvalidId", "TxCtrlr.StopTxOnInvalidId"
    ),
    SettingMapping(
        "stop_transaction_on_ev_side_disconnect",
        "StopTransactionOnEVSideDisconnect",
        "TxCtrlr.StopTxOnEVSideDisconnect",
    ),
    SettingMapping(
        "web_socket_ping_interval", "WebSocketPingInterval", "OCPPCommCtrlr.WebSocketPingInterval"
    ),
    SettingMapping(
        "transaction_message_attempts",
        "TransactionMessageAttempts",
        "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
    ),
    SettingMapping(
        "transaction_message_retry_interval",
        "TransactionMessageRetryInterval",
        "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]",
    ),
    SettingMapping("reset_retries", "ResetRetries", "OCPPCommCtrlr.ResetRetries"),
    SettingMapping("free_charging", None, "AuthCtrlr.Enabled", invert_201=True),
    SettingMapping("availability", None, None),
)

SETTINGS_BY_NAME: dict[str, SettingMapping] = {m.setting: m for m in SETTING_MAPPINGS}


def setting_key(setting: str, version: OcppVersion) -> str | None:
    """The configuration key a setting is written to on a charger of this OCPP version."""
    return SETTINGS_BY_NAME[setting].key(version)


def setting_wire_value(setting: str, version: OcppVersion, value: object) -> object:
    """The key's value for a setting's value (free charging is `AuthCtrlr.Enabled = false`)."""
    return SETTINGS_BY_NAME[setting].wire_value(version, value)


def camel(setting: str) -> str:
    """The YAML spelling of a setting's Python name (OCPP's own capitals where it has them)."""
    field = ChargerSettings.model_fields.get(setting)
    return field.alias if field is not None and field.alias else to_camel(setting)
