"""Who may charge where: the answer to Authorize, StartTransaction and TransactionEvent.

Decided from the fleet alone (pure, no I/O): a card is Accepted at a charger when the charger's
location accepts it (by name, label or team), it is not Blocked and has not expired. Free
charging at a charger accepts every id tag — on OCPP 1.6, which has no standard key for it, this
answer is how free charging works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from controller.fleet.model import Fleet
from controller.resources.card import CardStatus


class AuthStatus(StrEnum):
    """The statuses OCPP 1.6 AuthorizationStatus and 2.0.1 AuthorizationStatusEnumType share."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


@dataclass(frozen=True, slots=True)
class AuthDecision:
    status: AuthStatus
    reason: str
    card: str | None = None
    expires_at: datetime | None = None
    parent_id_tag: str | None = None


def authorize(fleet: Fleet, identity: str, id_tag: str, now: datetime) -> AuthDecision:
    """The decision for `id_tag` presented at the charger connected as `identity`."""
    charger = fleet.charger_by_identity(identity)
    if charger is None:
        return AuthDecision(AuthStatus.INVALID, "the charger is not in the fleet")
    card = fleet.card_by_id_tag(id_tag)
    if fleet.desired(charger).free_charging:
        return AuthDecision(
            AuthStatus.ACCEPTED, "free charging", card.name if card is not None else None
        )
    if card is None:
        return AuthDecision(AuthStatus.INVALID, "no card has this id tag")
    location = charger.resource.spec.location
    if not fleet.accepts_card_at(location, card.name):
        return AuthDecision(
            AuthStatus.INVALID, f"card {card.name} is not accepted at {location}", card.name
        )
    spec = card.resource.spec
    if spec.status is CardStatus.BLOCKED:
        return AuthDecision(AuthStatus.BLOCKED, f"card {card.name} is blocked", card.name)
    if spec.expires_at is not None and spec.expires_at <= now:
        return AuthDecision(
            AuthStatus.EXPIRED, f"card {card.name} expired", card.name, spec.expires_at
        )
    return AuthDecision(
        AuthStatus.ACCEPTED, "accepted", card.name, spec.expires_at, spec.parent_id_tag
    )
