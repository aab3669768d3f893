"""What differs between OCPP versions in how keys are named, looked up and checked.

OCPP 1.6 configuration keys are a closed list of flat names that chargers compare without
regard to case; OCPP 2.0.1 variables are `Component.Variable` pairs, spelled exactly, from a
catalogue chargectl knows only in part. Everything above the resources that needs to tell the
two apart (resolution, validation, planning) asks the `VersionCatalogue` of the charger's
version from `CATALOGUES` instead of branching on the version itself, so adding a version is
adding a row here (and a sibling under `controller.ocpp`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from controller.resources.card import OCPP16_ID_TAG_MAX, OCPP201_ID_TOKEN_MAX
from controller.resources.catalogue import (
    OCPP16_KEYS,
    OCPP201_VARIABLES,
    KeySpec,
    Mutability,
    Spec,
    ValueType,
    VariableSpec,
    parse_variable_key,
)
from controller.resources.settings import OcppVersion


def _vendor_key(key: str, kind: ValueType, ordered: bool) -> Spec:
    return KeySpec(key, "vendor", kind, Mutability.READ_WRITE, False, "", ordered=ordered)


def _vendor_variable(key: str, kind: ValueType, ordered: bool) -> Spec:
    component, _, variable = key.partition(".")
    return VariableSpec(
        component, variable or key, None, kind, Mutability.READ_WRITE, "", ordered=ordered
    )


def _any_name(key: str) -> None:
    """1.6 key names have no structure to check."""


def _variable_name(key: str) -> None:
    parse_variable_key(key)


@dataclass(frozen=True)
class VersionCatalogue:
    """One OCPP version's standard keys and the rules its key names follow."""

    version: OcppVersion
    specs: Mapping[str, Spec]
    label: str
    """How a message names one of its keys: "OCPP 1.6 key", "OCPP 2.0.1 variable"."""
    exact_names: bool
    """Names compare exactly first (2.0.1), or only case-insensitively (1.6)."""
    complete: bool
    """The catalogue lists every standard key (1.6), so an unknown key is a mistake; or only
    part of them (2.0.1), so only the charger can say whether an unknown one exists."""
    check_name: Callable[[str], None]
    """Raises ValueError naming what is wrong with a key's spelling."""
    vendor_spec: Callable[[str, ValueType, bool], Spec]
    """The spec of a key the catalogue does not list, typed by its declared value."""
    id_tag_max_length: int
    """The longest id tag (1.6 IdToken, 2.0.1 IdTokenType.idToken) a charger accepts."""
    _by_lower: Mapping[str, Spec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        folded = {name.lower(): spec for name, spec in self.specs.items()}
        object.__setattr__(self, "_by_lower", MappingProxyType(folded))

    def spec(self, key: str) -> Spec | None:
        """The catalogue entry of a key, as this version compares names."""
        if self.exact_names:
            return self.specs.get(key)
        return self._by_lower.get(key.lower())

    def canonical(self, key: str) -> str:
        """The catalogue's spelling of a key; an unknown key as written."""
        spec = self.spec(key)
        if isinstance(spec, KeySpec):
            return spec.name
        if isinstance(spec, VariableSpec):
            return spec.key
        return key

    def writable(self) -> list[str]:
        return [k for k, spec in self.specs.items() if spec.mutability is not Mutability.READ_ONLY]


CATALOGUES: Final[Mapping[OcppVersion, VersionCatalogue]] = MappingProxyType(
    {
        OcppVersion.V16: VersionCatalogue(
            OcppVersion.V16,
            OCPP16_KEYS,
            "OCPP 1.6 key",
            exact_names=False,
            complete=True,
            check_name=_any_name,
            vendor_spec=_vendor_key,
            id_tag_max_length=OCPP16_ID_TAG_MAX,
        ),
        OcppVersion.V201: VersionCatalogue(
            OcppVersion.V201,
            OCPP201_VARIABLES,
            "OCPP 2.0.1 variable",
            exact_names=True,
            complete=False,
            check_name=_variable_name,
            vendor_spec=_vendor_variable,
            id_tag_max_length=OCPP201_ID_TOKEN_MAX,
        ),
    }
)


def version_of_key(key: str) -> OcppVersion:
    """Which OCPP version a raw key belongs to: 2.0.1 keys are `Component.Variable`."""
    return OcppVersion.V201 if "." in key else OcppVersion.V16
