"""Building blocks shared by every kind: the resource envelope, metadata, and value types.

Every kind is one pydantic model, and that model is the only source of truth: the JSON Schemas
in `schemas/`, the CRDs in `charts/chargectl/crds/` and the validation of files all derive from
it. Hence the conventions kept here for all kinds:

- camelCase field names on the wire (Kubernetes API convention), snake_case in Python;
- unknown fields are refused, so a typo is an error rather than a silently ignored setting;
- no floats: currents in whole amperes, power in watts, money and coordinates as decimal
  strings (floats do not survive a round trip through YAML, JSON and Go unchanged);
- every field has a description, which becomes `kubectl explain` text and editor hover text.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic.alias_generators import to_camel

from controller.resources.codes import COUNTRY_CODES

API_GROUP = "chargectl.io"
API_VERSION_NAME = "v1alpha1"
API_VERSION = f"{API_GROUP}/{API_VERSION_NAME}"

T = TypeVar("T")


class Model(BaseModel):
    """Base of every spec fragment: camelCase aliases, frozen, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        str_strip_whitespace=False,
    )


# --- CEL rules for the API server ----------------------------------------------------------------


def cel(
    rule: str,
    message: str,
    *,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: str | None = None,
) -> dict[str, str]:
    """One `x-kubernetes-validations` rule: a CEL expression the API server checks at
    `kubectl apply`, with the message it refuses the object with (`message_expression`, a CEL
    string expression, words it with the object's values; `message` is the fallback).

    Only rules within one object fit here; the fleet-wide ones are `chargectl validate`'s
    (and the admission webhook's). Each one says what a model validator already refuses, so
    Kubernetes refuses nothing that `chargectl validate` accepts."""
    entry = {"rule": rule, "message": message}
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """`json_schema_extra` carrying CEL rules (see `cel`), for a model or a field."""
    return {"x-kubernetes-validations": list(rules)}


# --- scalar value types ------------------------------------------------------------------------

_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")


def _decimal_from_string(value: object) -> object:
    """Accept money only as a string, so `0.30` never passes through a binary float."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a decimal number written as a string, e.g. "0.35"')
    text = str(value).strip()
    if not _DECIMAL_RE.match(text):
        raise ValueError(f'{text!r} is not a decimal number such as "0.35"')
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules this out
        raise ValueError(f"{text!r} is not a decimal number") from exc


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


DecimalString = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string),
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]
"""A decimal number written as a string, e.g. `"0.35"`."""

Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string),
    AfterValidator(_non_negative),
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
]
"""A non-negative amount of money in the tariff's currency, as a decimal string."""


def _latitude(value: Decimal) -> Decimal:
    if not Decimal(-90) <= value <= Decimal(90):
        raise ValueError("latitude must be between -90 and 90")
    return value


def _longitude(value: Decimal) -> Decimal:
    if not Decimal(-180) <= value <= Decimal(180):
        raise ValueError("longitude must be between -180 and 180")
    return value


def _between(low: int, high: int, message: str) -> dict[str, Any]:
    """A CEL rule bounding a decimal string (its pattern already says it is a number)."""
    return validations(
        cel(f"double(self) >= {float(low)} && double(self) <= {float(high)}", message)
    )


Latitude = Annotated[
    DecimalString,
    AfterValidator(_latitude),
    Field(json_schema_extra=_between(-90, 90, "latitude must be between -90 and 90")),
]
Longitude = Annotated[
    DecimalString,
    AfterValidator(_longitude),
    Field(json_schema_extra=_between(-180, 180, "longitude must be between -180 and 180")),
]

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _time_of_day(value: object) -> object:
    """Times of day are written "HH:MM"; "24:00" means the end of the day."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 readers turn an unquoted 07:30 into the sexagesimal integer 450.
        raise ValueError('write times of day as quoted "HH:MM" strings, e.g. "07:30"')
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise ValueError(f'{value!r} is not a time of day "HH:MM" (00:00 to 24:00)')
    return value


TimeOfDay = Annotated[
    str,
    BeforeValidator(_time_of_day),
    WithJsonSchema({"type": "string", "pattern": _TIME_RE.pattern}),
]


def minutes_of_day(value: str) -> int:
    """Minutes since midnight of an "HH:MM" value; "24:00" is 1440."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code, e.g. NL, DE")
    return value


CountryCode = Annotated[
    str,
    AfterValidator(_country),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{2}$"}),
]

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
Domain = Annotated[str, Field(pattern=DOMAIN_PATTERN, max_length=253)]
URL_PATTERN = r"^https?://[^\s]+$"
HttpUrl = Annotated[str, Field(pattern=URL_PATTERN, max_length=2048)]

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ResourceName = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        min_length=1,
        max_length=253,
        description="Name of another resource in the same fleet (namespace).",
    ),
]
"""A Kubernetes object name: lower-case RFC 1123 subdomain."""


class Weekday(StrEnum):
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    SUNDAY = "Sunday"


ALL_WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)


class WeeklyTimeRange(Model):
    """A time range repeated on some days of the week, in the location's timezone."""

    days: list[Weekday] = Field(
        default_factory=lambda: list(ALL_WEEKDAYS),
        description="Days of the week this range applies to; every day when left out.",
    )
    start: TimeOfDay = Field(description='Start time of day, "HH:MM", inclusive.')
    end: TimeOfDay = Field(
        description='End time of day, "HH:MM", exclusive; "24:00" for midnight. An end before '
        "the start wraps past midnight into the next day."
    )

    def intervals(self) -> list[tuple[int, int]]:
        """Minute-of-week intervals [start, end) covered by this range (midnight wraps)."""
        start, end = minutes_of_day(self.start), minutes_of_day(self.end)
        week = 7 * 24 * 60
        spans: list[tuple[int, int]] = []
        for day in self.days:
            base = ALL_WEEKDAYS.index(day) * 24 * 60
            if end > start:
                spans.append((base + start, base + end))
            elif end < start:
                spans.append((base + start, base + 24 * 60))
                nxt = (base + 24 * 60) % week
                spans.append((nxt, nxt + end))
            else:
                spans.append((base, base + 24 * 60))
        return spans


class Address(Model):
    """A postal address."""

    street: str = Field(min_length=1, description="Street and house number.")
    postal_code: str | None = Field(default=None, description="Postal or ZIP code.")
    city: str = Field(min_length=1, description="City or town.")
    region: str | None = Field(default=None, description="State, province or region.")
    country: CountryCode = Field(description="Country as an ISO 3166-1 alpha-2 code, e.g. NL.")


# --- firmware rollouts ------------------------------------------------------------------------


_PERCENTAGE = re.compile(r"^(100|[1-9][0-9]?)%$")


def _count_or_percentage(value: object) -> int | str:
    """A count (an integer of at least 1) or a percentage ("1%" to "100%"), as Kubernetes'
    IntOrString: a count written as a string ("2") is refused, as the Deployment controller
    refuses it, rather than guessed at."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{value} is less than 1: at least one charger must be updatable")
        return value
    if isinstance(value, str) and _PERCENTAGE.match(value):
        return value
    raise ValueError(
        f"{value!r} is neither a count (an integer of at least 1, e.g. 2) nor a percentage "
        'from "1%" to "100%" (e.g. "25%")'
    )


CountOrPercentage = Annotated[
    int | str,
    PlainValidator(_count_or_percentage),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "minimum": 1,
            "pattern": _PERCENTAGE.pattern,
        }
    ),
]
"""An integer of at least 1 or a percentage string, as Kubernetes' IntOrString. `minimum`
applies only to the integer and `pattern` only to the string, in JSON Schema as in the API
server, so the one schema serves editors and the CRD alike."""


class FirmwareRollout(Model):
    """How firmware updates roll out across a set of chargers (a location's, or all of a
    team's), as a Kubernetes Deployment's rolling update: a few at a time, stopping when too
    many fail."""

    max_unavailable: CountOrPercentage = Field(
        default=1,
        description="How many of the chargers the rollout covers (the location's, or all of "
        "the team's) may be updating firmware at once (from UpdateFirmware until the charger "
        'is back reporting the new version): a count, or a percentage such as "25%" of those '
        "that declare firmware, rounded down as a Deployment's maxUnavailable is, but at "
        "least 1.",
    )
    max_failures: int = Field(
        default=1,
        ge=1,
        description="The rollout stops when this many of the chargers it covers failed to "
        "install the firmware they declare (download or installation failed, refused, or no "
        "progress); chargers already updating finish, no other starts until the declared "
        "firmware changes or this is raised.",
    )

    def max_unavailable_of(self, chargers: int) -> int:
        """`max_unavailable` as a number of chargers, out of `chargers` declaring firmware:
        a percentage rounds down, and is at least 1 so that a rollout always progresses."""
        if isinstance(self.max_unavailable, int):
            return self.max_unavailable
        percent = int(self.max_unavailable.removesuffix("%"))
        return max(1, chargers * percent // 100)


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(Model):
    """One requirement of a label selector, as in Kubernetes."""

    key: str = Field(min_length=1, description="The label key the requirement applies to.")
    operator: LabelSelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[str] = Field(
        default_factory=list,
        description="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
    )


class LabelSelector(Model):
    """Selects resources by their labels, with the semantics of a Kubernetes label selector."""

    match_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels that must all be present with these values."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Requirements that must all hold."
    )

    def matches(self, labels: dict[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator is LabelSelectorOperator.IN:
                ok = present and labels[req.key] in req.values
            elif req.operator is LabelSelectorOperator.NOT_IN:
                ok = not present or labels[req.key] not in req.values
            elif req.operator is LabelSelectorOperator.EXISTS:
                ok = present
            else:
                ok = not present
            if not ok:
                return False
        return True

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


# --- the resource envelope ---------------------------------------------------------------------


class ObjectMeta(Model):
    """The part of Kubernetes object metadata a fleet file declares."""

    name: str = Field(
        pattern=NAME_PATTERN,
        min_length=1,
        max_length=253,
        description="Unique name of the resource within its kind: lower-case letters, digits, "
        "'-' and '.'.",
    )
    namespace: str | None = Field(
        default=None, description="Kubernetes namespace; ignored for fleet directories."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels, used by selectors (cards, power limits)."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Free-form annotations; chargectl.io/* ones are read."
    )


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# --- status: written by the controller ---------------------------------------------------------


class StatusModel(BaseModel):
    """Base of every part of a `.status`: camelCase, frozen, and lenient about fields it does
    not know (a status written by another version of chargectl is read, not refused). The
    CRDs declare every field, so the API server keeps each one the controller writes."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class Condition(StatusModel):
    """A Kubernetes-style condition on a resource's status."""

    type: str = Field(description="Condition type, e.g. Connected, Synced, Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One-word CamelCase reason for the status.")
    message: str = Field(default="", description="Human-readable detail.")
    last_transition_time: datetime | None = Field(
        default=None, description="When the status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this condition was computed for."
    )


class ResourceStatus(StatusModel):
    """Status written by the controller; never declared in files."""

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the controller last acted on."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Current conditions of the resource. Ready is False, with the message "
        "`chargectl validate` gives, when the resource is refused; the last version that was "
        "accepted stays in force then.",
    )


class ChargerCounts(StatusModel):
    """How many chargers, and how many of them are connected."""

    total: int = Field(ge=0, description="Chargers declared.")
    connected: int = Field(ge=0, description="Of those, connected to the central system now.")


def _status_unless_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A status is the controller's, never part of the declaration: one that does not read
    as this version's status is ignored rather than refusing the resource."""
    try:
        return handler(value)
    except ValidationError:
        return None


StatusOf = Annotated[T | None, WrapValidator(_status_unless_invalid)]
"""The type of a kind's `status` field: its status model, or None when left out or
unreadable."""


class Resource(Model):
    """The envelope every kind shares: apiVersion, kind, metadata, spec."""

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()

    api_version: Literal["chargectl.io/v1alpha1"] = Field(
        alias="apiVersion", description="Always chargectl.io/v1alpha1."
    )
    metadata: ObjectMeta = Field(description="Name, labels and annotations.")
    status: StatusOf[ResourceStatus] = Field(
        default=None, description="Written by the controller; ignored when declared."
    )

    @property
    def name(self) -> str:
        return self.metadata.name


def json_schema_extra_for_kind(kind: str) -> dict[str, Any]:
    """Schema hints that make editors offer the right apiVersion/kind pair."""
    return {
        "x-kubernetes-group-version-kind": [
            {"group": API_GROUP, "kind": kind, "version": API_VERSION_NAME}
        ]
    }
