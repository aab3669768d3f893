"""`SimProfile`: how a simulated charger behaves where real chargers differ from one another.

The OCPP specifications leave much to the implementation, and real chargers use that
freedom: some keys are read-only, some only take effect after a reboot, some are missing,
and some are accepted and then silently ignored. A central system has to cope with all of
these, so the simulator can play each of them, per key, per charger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class FirmwareFailure(StrEnum):
    """Where an UpdateFirmware goes wrong, if anywhere."""

    NONE = "none"
    DOWNLOAD = "download"
    INSTALL = "install"


DEFAULT_REBOOT_REQUIRED: frozenset[str] = frozenset(
    {
        "WebSocketPingInterval",
        "ConnectorPhaseRotation",
        "OCPPCommCtrlr.WebSocketPingInterval",
        "OCPPCommCtrlr.NetworkConfigurationPriority",
    }
)
"""Keys that answer RebootRequired: network settings and wiring, as on most hardware."""

DEFAULT_UNSUPPORTED: frozenset[str] = frozenset(
    {
        "BlinkRepeat",
        "MaxEnergyOnInvalidId",
        "ConnectorSwitch3to1PhaseSupported",
        "ReserveConnectorZeroSupported",
        "AuthCacheCtrlr.DisablePostAuthorize",
        "LocalAuthListCtrlr.DisablePostAuthorize",
        "SmartChargingCtrlr.NotifyChargingLimitWithSchedules",
        "OCPPCommCtrlr.PublicKeyWithSignedMeterValue",
    }
)
"""Optional keys the default charger does not have (NotSupported / UnknownVariable)."""

DEFAULT_IGNORED: frozenset[str] = frozenset({"ResetRetries", "OCPPCommCtrlr.ResetRetries"})
"""Keys the default charger accepts and then ignores, a classic firmware bug."""


@dataclass(frozen=True)
class SimProfile:
    """Behaviour knobs of a simulated charger. Key names are 1.6 keys or 2.0.1
    `Component.Variable[instance]` keys; each charger uses those of its own version."""

    read_only: frozenset[str] = frozenset()
    """Keys the catalogue marks writable that this charger refuses to change (Rejected)."""
    refused: frozenset[str] = frozenset()
    """Keys reported as writable whose every change is Rejected, as locked keys are."""
    reboot_required: frozenset[str] = DEFAULT_REBOOT_REQUIRED
    """Keys whose change answers RebootRequired and is applied at the next reboot."""
    unsupported: frozenset[str] = DEFAULT_UNSUPPORTED
    """Standard keys this charger does not have."""
    ignored: frozenset[str] = DEFAULT_IGNORED
    """Keys whose change answers Accepted but leaves the value as it was."""
    overrides: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Initial values that replace the plausible defaults (and declared values)."""
    drift: float = 0.0
    """Fraction (0 to 1) of the declared writable keys that start at another value."""

    vendor: str = "chargectl"
    model: str = "Simulator"
    firmware_version: str = "1.0.0"

    car_max_current: int | None = None
    """What the simulated car draws at most per phase; None: whatever is offered."""
    car_battery_wh: int = 60_000
    """Battery size: the car stops drawing when full (SuspendedEV)."""
    voltage: float = 230.0

    firmware_failure: FirmwareFailure = FirmwareFailure.NONE
    diagnostics_failure: bool = False
    firmware_step_seconds: float = 10.0
    """Simulated seconds each firmware step (download, install) takes."""
    upload_seconds: float = 5.0
    reboot_seconds: float = 10.0
    """Simulated seconds between closing the websocket for a reboot and reconnecting."""
    boot_retry_seconds: float = 30.0
    """Retry interval for a Pending/Rejected boot whose reply gives interval 0."""
    reconnect_min_seconds: float = 2.0
    reconnect_max_seconds: float = 120.0
    """Reconnection back-off bounds (simulated seconds), doubled per failed attempt."""
    boot_on_reconnect: bool = False
    """Send BootNotification after a dropped connection too, not only after a reboot."""

    accepts_profiles_without_applying: bool = False
    """SetChargingProfile answers Accepted and installs nothing: a firmware bug that only
    GetCompositeSchedule shows (it answers the limit really in force)."""
    rejects_composite_schedule: bool = False
    """GetCompositeSchedule is Rejected, as by chargers that do not compute it."""

    known_vendors: frozenset[str] = frozenset()
    """DataTransfer vendor ids this charger understands; others get UnknownVendorId."""

    response_timeout: float = 30.0
    """Real seconds to wait for the central system's answer to a call."""
    open_timeout: float = 10.0
    validate_messages: bool = True
    """Check our own calls and the central system's answers against the OCPP schemas; the
    benchmarks turn this off to spend the CPU on the central system instead."""
    websocket_ping: bool = False
    """Send websocket pings at WebSocketPingInterval (costs a task per connection)."""
    max_frame_bytes: int = 1 << 20
    """Largest frame accepted from the central system."""


DEFAULT_PROFILE = SimProfile()
