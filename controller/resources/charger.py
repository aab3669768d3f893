"""`Charger`: the reconciled object — one charging station and everything declared about it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from controller.resources.common import Model, Resource, ResourceName
from controller.resources.identity import IDENTITY_PATTERN, identity_problem
from controller.resources.settings import ChargerSettings, ConfigurationMap, OcppVersion


class PlugType(StrEnum):
    TYPE1 = "Type1"
    TYPE2 = "Type2"
    CCS1 = "CCS1"
    CCS2 = "CCS2"
    CHADEMO = "CHAdeMO"
    SCHUKO = "Schuko"
    GBT_AC = "GBT-AC"
    GBT_DC = "GBT-DC"
    NACS = "NACS"


class ConnectorFormat(StrEnum):
    SOCKET = "Socket"
    CABLE = "Cable"


class CurrentType(StrEnum):
    AC = "AC"
    DC = "DC"


class Connector(Model):
    """One connector (OCPP connectorId; on 2.0.1 one EVSE with one connector)."""

    id: int = Field(ge=1, le=99, description="OCPP connector id, from 1.")
    type: PlugType = Field(description="Plug type, e.g. Type2, CCS2.")
    format: ConnectorFormat = Field(
        default=ConnectorFormat.SOCKET, description="Socket or tethered Cable."
    )
    current_type: CurrentType = Field(default=CurrentType.AC, description="AC or DC.")
    max_current: int = Field(
        ge=1, le=1000, description="Maximum current in whole amperes (per phase for AC)."
    )
    phases: Literal[1, 3] = Field(default=3, description="Number of phases wired: 1 or 3.")


class SecretKeyRef(Model):
    """A key of a Kubernetes Secret in the controller's namespace."""

    name: str = Field(min_length=1, description="Name of the Secret.")
    key: str = Field(min_length=1, description="Key inside the Secret.")


class SecretReference(Model):
    """Where a secret is kept. Exactly one of the three; never the secret itself."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["secretKeyRef"]},
                {"required": ["env"]},
                {"required": ["file"]},
            ]
        }
    )

    secret_key_ref: SecretKeyRef | None = Field(default=None, description="A Kubernetes Secret.")
    env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of an environment variable of the controller.",
    )
    file: str | None = Field(
        default=None, min_length=1, description="Path of a file readable by the controller."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretReference:
        given = [x for x in (self.secret_key_ref, self.env, self.file) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of secretKeyRef, env or file")
        return self


class Security(Model):
    """OCPP security profile and where the charger's credentials are kept."""

    profile: int = Field(
        default=0,
        ge=0,
        le=3,
        description="0: no authentication; 1: HTTP Basic auth; 2: Basic auth over TLS; "
        "3: TLS with client certificates.",
    )
    basic_auth_password: SecretReference | None = Field(
        default=None, description="Reference to the Basic auth password (profiles 1 and 2)."
    )

    @model_validator(mode="after")
    def _password_when_needed(self) -> Security:
        if self.profile in (1, 2) and self.basic_auth_password is None:
            raise ValueError(
                f"security profile {self.profile} needs basicAuthPassword (a reference)"
            )
        return self


class Firmware(Model):
    """The firmware the charger should run."""

    version: str = Field(min_length=1, description="Version as the charger reports it.")
    url: str = Field(
        pattern=r"^(https?|ftps?)://\S+$",
        description="Where the charger downloads the image (http, https, ftp or ftps).",
    )


class RebootPolicy(StrEnum):
    NEVER = "Never"
    WHEN_IDLE = "WhenIdle"
    MAINTENANCE_WINDOW = "MaintenanceWindow"


class ExpectedIdentity(Model):
    """What the charger is expected to report in its BootNotification."""

    vendor: str | None = Field(default=None, description="Vendor name.")
    model: str | None = Field(default=None, description="Model name.")
    serial_number: str | None = Field(default=None, description="Serial number.")


class ChargerSpec(Model):
    """One charging station."""

    ocpp_identity: str | None = Field(
        default=None,
        pattern=IDENTITY_PATTERN,
        description="Identity in the charger's websocket URL; defaults to metadata.name.",
    )
    location: ResourceName = Field(description="Name of the Location the charger stands at.")
    ocpp_version: OcppVersion = Field(description='OCPP version spoken: "1.6" or "2.0.1".')
    expected: ExpectedIdentity | None = Field(
        default=None, description="Vendor, model and serial the charger should report."
    )
    connectors: list[Connector] = Field(min_length=1, description="The charger's connectors.")
    security: Security = Field(
        default_factory=Security, description="Security profile and credentials."
    )
    settings: ChargerSettings = Field(
        default_factory=ChargerSettings, description="Version-neutral settings."
    )
    configuration: ConfigurationMap = Field(
        default_factory=dict,
        description="Raw standard OCPP keys: 1.6 key names, or 2.0.1 'Component.Variable'.",
    )
    vendor_configuration: ConfigurationMap = Field(
        default_factory=dict, description="Vendor-specific keys, passed through unchecked."
    )
    firmware: Firmware | None = Field(default=None, description="Firmware to run.")
    reboot_policy: RebootPolicy = Field(
        default=RebootPolicy.WHEN_IDLE,
        description="When a change that needs a reboot may reboot the charger: Never, WhenIdle, "
        "or MaintenanceWindow (idle and inside the location's window).",
    )
    unmanaged_keys: list[str] = Field(
        default_factory=list,
        description="Keys managed by hand: chargectl never changes them, even when declared "
        "at the location.",
    )

    @field_validator("ocpp_identity")
    @classmethod
    def _identity_a_url_takes_as_a_name(cls, value: str | None) -> str | None:
        """What the pattern cannot say: `.` and `..` pass it, and name directories in a URL."""
        problem = identity_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(f"{value!r} is not an OCPP identity: {problem}")
        return value

    @field_validator("ocpp_version", mode="before")
    @classmethod
    def _version_is_text(cls, value: object) -> object:
        if isinstance(value, float | int) and not isinstance(value, bool):
            raise ValueError(f'write the version as a quoted string: ocppVersion: "{value}"')
        return value

    @model_validator(mode="after")
    def _unique_connectors(self) -> ChargerSpec:
        ids = [c.id for c in self.connectors]
        if len(ids) != len(set(ids)):
            raise ValueError("connector ids must be unique")
        return self


class Charger(Resource):
    """A charging station: identity, connectors, settings, configuration, firmware."""

    KIND = "Charger"
    PLURAL = "chargers"
    SHORT_NAMES = ("cp", "chg")

    kind: Literal["Charger"] = Field(description="Always Charger.")
    spec: ChargerSpec = Field(description="The charger's declaration.")

    @property
    def identity(self) -> str:
        return self.spec.ocpp_identity or self.metadata.name
