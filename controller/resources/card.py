"""`Card`: an RFID card (OCPP id tag) that may start charging where its location accepts it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from controller.resources.common import Email, Model, Resource, ResourceName

ID_TAG_PATTERN = r"^[\x21-\x7e]+$"
"""Printable ASCII without spaces: what readers put on the wire as an id tag."""

OCPP16_ID_TAG_MAX = 20
"""OCPP 1.6 IdToken is CiString20Type."""

OCPP201_ID_TOKEN_MAX = 36
"""OCPP 2.0.1 IdTokenType.idToken is identifierString[0..36]."""


class CardStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"


class TokenType(StrEnum):
    """OCPP 2.0.1 IdTokenEnumType; OCPP 1.6 has no type and ignores it."""

    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    EMAID = "eMAID"
    CENTRAL = "Central"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"


class Holder(Model):
    """The person or vehicle the card belongs to."""

    name: str = Field(min_length=1, description="Name of the holder.")
    email: Email | None = Field(default=None, description="E-mail of the holder.")


class CardSpec(Model):
    """An RFID card or other id token."""

    id_tag: str = Field(
        min_length=1,
        max_length=OCPP201_ID_TOKEN_MAX,
        pattern=ID_TAG_PATTERN,
        description="The id tag the charger reports, e.g. the card UID in hex. At most 20 "
        "characters where OCPP 1.6 chargers accept the card, 36 for OCPP 2.0.1. Compared "
        "case-insensitively, as OCPP requires.",
    )
    token_type: TokenType = Field(
        default=TokenType.ISO14443, description="OCPP 2.0.1 id token type."
    )
    holder: Holder | None = Field(default=None, description="Who the card belongs to.")
    team: ResourceName = Field(description="Name of the Team that owns the card.")
    status: CardStatus = Field(
        default=CardStatus.ACCEPTED, description="Accepted, or Blocked to refuse it everywhere."
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the card stops being accepted (RFC 3339 with a timezone offset).",
    )
    parent_id_tag: str | None = Field(
        default=None,
        max_length=OCPP201_ID_TOKEN_MAX,
        pattern=ID_TAG_PATTERN,
        description="Group id tag: cards sharing a parent may stop each other's transactions.",
    )

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expiresAt needs a timezone offset, e.g. 2027-01-01T00:00:00Z")
        return value


class Card(Resource):
    """An RFID card (id tag) and who it belongs to."""

    KIND = "Card"
    PLURAL = "cards"
    SHORT_NAMES = ("rfid",)

    kind: Literal["Card"] = Field(description="Always Card.")
    spec: CardSpec = Field(description="The card's declaration.")
