"""`Charger`: the reconciled object — one charging station and everything declared about it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from controller.resources.common import (
    Model,
    Resource,
    ResourceName,
    ResourceStatus,
    StatusModel,
    StatusOf,
    cel,
    validations,
)
from controller.resources.identity import IDENTITY_PATTERN, MAX_IDENTITY_LENGTH, identity_problem
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
            ],
            **validations(
                cel(
                    "(has(self.secretKeyRef) ? 1 : 0) + (has(self.env) ? 1 : 0)"
                    " + (has(self.file) ? 1 : 0) == 1",
                    "give exactly one of secretKeyRef, env or file",
                )
            ),
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

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.profile) || !(self.profile in [1, 2]) || has(self.basicAuthPassword)",
                "security profiles 1 and 2 need basicAuthPassword (a reference)",
                message_expression="'security profile ' + string(self.profile)"
                " + ' needs basicAuthPassword (a reference)'",
            )
        )
    )

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
        json_schema_extra=validations(
            cel(
                "!self.matches('^[.]+$')",
                "dots alone name a directory in a URL, not a charger",
                message_expression='"\'" + self + "\' is not an OCPP identity '
                '(identifierString): \'" + self + "\' names a directory in a URL, not a charger"',
            )
        ),
    )
    location: ResourceName = Field(description="Name of the Location the charger stands at.")
    ocpp_version: OcppVersion = Field(description='OCPP version spoken: "1.6" or "2.0.1".')
    expected: ExpectedIdentity | None = Field(
        default=None, description="Vendor, model and serial the charger should report."
    )
    connectors: list[Connector] = Field(
        min_length=1,
        description="The charger's connectors, each id once.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
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


# --- status ----------------------------------------------------------------------------------


class ReportedBoot(StatusModel):
    """What the charger said about itself in its last BootNotification."""

    vendor: str = Field(description="Vendor name.")
    model: str = Field(description="Model name.")
    serial_number: str | None = Field(default=None, description="Serial number.")
    firmware_version: str | None = Field(default=None, description="Firmware version.")
    iccid: str | None = Field(default=None, description="ICCID of the modem's SIM card.")
    imsi: str | None = Field(default=None, description="IMSI of the modem's SIM card.")
    meter_type: str | None = Field(default=None, description="Type of the main meter.")
    meter_serial_number: str | None = Field(
        default=None, description="Serial number of the main meter."
    )


class ReportedConnector(StatusModel):
    """The last status a charger reported for one connector (0: the charger as a whole; on
    OCPP 2.0.1, the EVSE)."""

    id: int = Field(ge=0, description="Connector id (EVSE id on OCPP 2.0.1).")
    status: str | None = Field(
        default=None, description="Available, Preparing, Charging, Faulted, ... as reported."
    )
    error_code: str | None = Field(default=None, description="Error code, as reported.")
    info: str | None = Field(default=None, description="Free-form information, as reported.")
    vendor_error_code: str | None = Field(default=None, description="Vendor's error code.")


class ReportedState(StatusModel):
    """What the charger reported, as the central system recorded it."""

    ocpp_version: str | None = Field(
        default=None, description="OCPP version it connects with (its websocket subprotocol)."
    )
    boot: ReportedBoot | None = Field(default=None, description="Its last BootNotification.")
    booted_at: datetime | None = Field(default=None, description="When it last booted.")
    connected_at: datetime | None = Field(
        default=None, description="When it connected (while connected)."
    )
    disconnected_at: datetime | None = Field(
        default=None, description="When it disconnected (while disconnected)."
    )
    disconnect_reason: str | None = Field(
        default=None, description="Why it disconnected (while disconnected)."
    )
    last_heartbeat: datetime | None = Field(
        default=None,
        description="Its last sign of life, to the minute, as of the last time this status was "
        "written for another reason; refreshed on its own only every few hours, so that "
        "heartbeats do not rewrite the status. Connected says whether it is alive now.",
    )
    connectors: list[ReportedConnector] = Field(
        default_factory=list,
        description="Connector statuses by id.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )


class FirmwareProgress(StatusModel):
    """The firmware the charger runs, and the update towards the declared one."""

    version: str | None = Field(
        default=None, description="The version the charger reports (BootNotification)."
    )
    desired: str | None = Field(default=None, description="The version the spec declares.")
    state: str | None = Field(
        default=None,
        description="Of the last update: Pending (under way), Applied (installed), Failed or "
        "Rejected (not retried until the declared firmware changes).",
    )
    detail: str | None = Field(
        default=None, description="The charger's last FirmwareStatusNotification, or why it failed."
    )
    since: datetime | None = Field(default=None, description="When the state last changed.")


class KeyDifference(StatusModel):
    """A declared value the charger does not have yet, as `chargectl plan` shows it."""

    key: str = Field(description="Configuration key, or availability, firmware, ocppVersion.")
    action: str = Field(
        description="SetKey, AddKey, ChangeAvailability, Firmware, or Cannot (a difference that "
        "cannot be applied: read-only, rejected, not supported)."
    )
    reported: str | None = Field(default=None, description="What the charger reports.")
    desired: str | None = Field(default=None, description="What the fleet declares.")
    reason: str = Field(default="", description="Why it differs, and where it stands.")
    state: str | None = Field(
        default=None,
        description="The reconciler's status of the value: Pending, Applied, RebootRequired, "
        "Rejected, NotSupported or Failed; none before it was tried.",
    )
    drift: bool = Field(
        default=False, description="Applied before and changed on the charger since."
    )
    layer: str | None = Field(
        default=None,
        description="Where the declared value comes from: built-in default, location default "
        "or charger spec.",
    )


class CommandRecord(StatusModel):
    """An imperative command asked through an annotation of the Charger (`chargectl.io/reset`
    and the like), as the replica holding the charger's session ran it. Its `value` is the
    record: an annotation whose value equals it is never run again."""

    value: str = Field(description="The annotation's value the command was run (or refused) for.")
    outcome: str = Field(
        description="The charger's answer (Accepted, Rejected, ...), the failure (Timeout, "
        "Disconnected, ...), Sending while it is on its way (Unknown when the operator stopped "
        "before the answer; never sent again), or Invalid for a value that cannot be read."
    )
    at: str = Field(description="When the outcome was recorded (RFC 3339, UTC).")
    message: str | None = Field(default=None, description="What was asked, and by whom.")


class ChargerStatus(ResourceStatus):
    """A charger's status: conditions Connected, Synced and Ready; what it reported; what
    still differs from its declaration."""

    reported: ReportedState | None = Field(
        default=None, description="What the charger reported; none before it first connected."
    )
    firmware: FirmwareProgress | None = Field(
        default=None, description="Firmware reported, declared, and the update's progress."
    )
    plan: str | None = Field(
        default=None,
        description="Where its configuration stands, as `chargectl plan` says: InSync, Changes, "
        "Blocked, NotReported or NeverConnected.",
    )
    differences: list[KeyDifference] = Field(
        default_factory=list,
        description="The declared values the charger does not have yet (the first 50).",
    )
    differences_total: int | None = Field(
        default=None, ge=0, description="How many values differ in all."
    )
    commands: dict[str, CommandRecord] | None = Field(
        default=None,
        description="Commands asked through annotations, by command (reset, unlock, trigger, "
        "clear-cache): the last value seen of each and what became of it.",
    )


class Charger(Resource):
    """A charging station: identity, connectors, settings, configuration, firmware."""

    KIND = "Charger"
    PLURAL = "chargers"
    SHORT_NAMES = ("cp", "chg")

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"has(self.spec.ocppIdentity) || size(self.metadata.name) <= {MAX_IDENTITY_LENGTH}",
                "the charger's OCPP identity defaults to metadata.name, which is too long for "
                "one: set spec.ocppIdentity",
                message_expression="\"the charger's OCPP identity defaults to metadata.name, "
                'which OCPP refuses (the identity is " + string(size(self.metadata.name)) + '
                f'" characters long; at most {MAX_IDENTITY_LENGTH}): set spec.ocppIdentity"',
            )
        )
    )

    kind: Literal["Charger"] = Field(description="Always Charger.")
    spec: ChargerSpec = Field(description="The charger's declaration.")
    status: StatusOf[ChargerStatus] = Field(
        default=None, description="Written by the controller; ignored when declared."
    )

    @property
    def identity(self) -> str:
        return self.spec.ocpp_identity or self.metadata.name
