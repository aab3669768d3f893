"""Simulated chargers for a declared fleet, or for a number of anonymous ones.

For a fleet each charger is built as declared: identity, OCPP version, connectors, expected
vendor/model/serial, the Basic auth password its credential reference points at, the cards
its location accepts, and a configuration table that starts at the declared values (a charger
that was configured before), minus whatever the profile's drift moves away.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from ssl import SSLContext
from typing import Any

from controller.fleet.credentials import SecretResolver, SecretUnavailable
from controller.fleet.model import Fleet
from controller.resources.catalogue import format_value
from controller.resources.settings import ConfigValue, OcppVersion
from controller.resources.versions import CATALOGUES
from controller.simulator.charger import SimulatedCharger
from controller.simulator.clock import SimClock
from controller.simulator.profile import DEFAULT_PROFILE, SimProfile
from controller.simulator.state import ConnectorSpec, Identification
from controller.simulator.v16 import Charger16
from controller.simulator.v201 import Charger201

log = logging.getLogger("controller.simulator")

VERSIONS: dict[str, type[SimulatedCharger]] = {"1.6": Charger16, "2.0.1": Charger201}


def make_charger(ocpp_version: str, identity: str, url: str, **options: Any) -> SimulatedCharger:
    """A simulated charger of the given OCPP version ("1.6" or "2.0.1"); `options` are the
    keyword arguments of `SimulatedCharger`."""
    try:
        cls = VERSIONS[ocpp_version]
    except KeyError:
        raise ValueError(f"OCPP version {ocpp_version!r}: expected 1.6 or 2.0.1") from None
    return cls(identity, url, **options)


def anonymous_chargers(
    count: int,
    url: str,
    *,
    ocpp_version: str = "1.6",
    prefix: str = "SIM-",
    connectors: Sequence[ConnectorSpec] = (ConnectorSpec(),),
    profile: SimProfile = DEFAULT_PROFILE,
    clock: SimClock | None = None,
    password: str | None = None,
    ssl: SSLContext | None = None,
) -> list[SimulatedCharger]:
    """`count` chargers named `<prefix>00001` and up, not tied to any fleet."""
    clock = clock or SimClock()
    width = max(5, len(str(count)))
    return [
        make_charger(
            ocpp_version,
            f"{prefix}{n:0{width}d}",
            url,
            connectors=connectors,
            profile=profile,
            clock=clock,
            password=password,
            security_profile=1 if password else 0,
            ssl=ssl,
        )
        for n in range(1, count + 1)
    ]


def chargers_from_fleet(
    fleet: Fleet,
    url: str,
    *,
    profile: SimProfile = DEFAULT_PROFILE,
    resolver: SecretResolver | None = None,
    clock: SimClock | None = None,
    ssl: SSLContext | None = None,
) -> list[SimulatedCharger]:
    """One simulated charger per declared charger, connecting to `<url>/<identity>`."""
    resolver = resolver or SecretResolver()
    clock = clock or SimClock()
    chargers: list[SimulatedCharger] = []
    for loaded in sorted(fleet.chargers.values(), key=lambda c: c.name):
        charger = loaded.resource
        spec = charger.spec
        desired = fleet.desired(loaded)
        password: str | None = None
        security = spec.security
        if security.profile in (1, 2) and security.basic_auth_password is not None:
            try:
                password = resolver.resolve(security.basic_auth_password)
            except SecretUnavailable as exc:
                log.warning("%s: connecting without a password: %s", charger.identity, exc)
        expected = spec.expected
        identification = Identification(
            vendor=(expected.vendor if expected and expected.vendor else profile.vendor),
            model=(expected.model if expected and expected.model else profile.model),
            serial_number=(
                expected.serial_number if expected and expected.serial_number else charger.identity
            ),
            firmware_version=profile.firmware_version,
        )
        declared = {
            key: _wire(desired.version.value, key, item.value)
            for key, item in desired.configuration.items()
        }
        vendor = {key: _plain(item.value) for key, item in desired.vendor_configuration.items()}
        tags = tuple(c.resource.spec.id_tag for c in fleet.active_cards_accepted_at(spec.location))
        chargers.append(
            make_charger(
                spec.ocpp_version.value,
                charger.identity,
                url,
                connectors=[ConnectorSpec(c.id, c.max_current, c.phases) for c in spec.connectors],
                profile=profile,
                clock=clock,
                password=password,
                security_profile=security.profile,
                identification=identification,
                id_tags=tags,
                declared=declared,
                vendor_configuration=vendor,
                ssl=ssl,
            )
        )
    return chargers


def _wire(version: str, key: str, value: ConfigValue) -> str:
    """A declared value as a charger would hold it after being configured with it."""
    spec = CATALOGUES[OcppVersion(version)].spec(key)
    if spec is None:
        return _plain(value)
    try:
        return format_value(spec, tuple(value) if isinstance(value, list) else value)
    except ValueError:
        return _plain(value)


def _plain(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)
