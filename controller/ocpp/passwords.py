"""Which HTTP Basic auth passwords each charger may connect with while its password rotates.

A charger's declared password (its credential reference: a Kubernetes Secret, a file, an
environment variable) can change while the charger runs with the old one. The central system
then sets the new one on the charger (`converge.credentials`: AuthorizationKey in OCPP 1.6,
SecurityCtrlr.BasicAuthPassword in 2.0.1), which uses it from its next connection on. Between
the change and that reconnection the charger still holds only the old password, so refusing it
would lock the charger out: until a charger has connected with the declared password, the one
it was last admitted with stays accepted for it, and so does one it accepted from us but has
not connected with yet (the declared password may have changed again meanwhile). Once it
connects with the declared password, the others stop being accepted.

Nothing here keeps a password: only keyed digests (HMAC-SHA256 under a key drawn when the
process starts), compared in constant time. The book is this process's memory: a replica that
never admitted a charger knows no previous password of it, and a restart forgets them (see the
README's Security section).

It also carries the news that declared passwords changed (`announce`, from the source that
watches them) to whoever sets them on the chargers (`subscribe`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from controller.fleet.credentials import SecretResolver


class Admission(StrEnum):
    """Which password a handshake presented."""

    DECLARED = "declared"
    """The one the fleet declares now."""
    SET = "set"
    """One the charger accepted from us (ChangeConfiguration / SetVariables) but the fleet
    has declared another since."""
    PREVIOUS = "previous"
    """The one it was last admitted with: the declared one changed since, and the charger
    has not connected with it yet."""


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a charger stands with its declared password, as `PasswordBook.standing` says."""

    in_use: bool
    """Its last admission presented the declared password."""
    accepted: bool
    """It accepted the declared password from us and has not reconnected with it yet."""
    refused: bool
    """It refused (or failed to take up) the declared password already: not sent again."""
    reverted: bool
    """It accepted a new password from us, then connected again with the one before."""


class PasswordBook:
    """The passwords each charger may connect with; see the module."""

    def __init__(self, resolver: SecretResolver | None = None) -> None:
        self.resolver = resolver or SecretResolver()
        """Where declared passwords are read; the endpoint puts its own here."""
        self._key = secrets.token_bytes(32)
        self._used: dict[str, bytes] = {}
        """By identity (lower case): the password of its last admission."""
        self._accepted: dict[str, bytes] = {}
        """By identity: a password it accepted from us and has not connected with yet."""
        self._refused: dict[str, bytes] = {}
        """By identity: a declared password it refused, or accepted and did not take up."""
        self._reverted: set[str] = set()
        self._listeners: list[Callable[[Iterable[str]], None]] = []

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

    def _is(self, found: bytes | None, digest: bytes) -> bool:
        return found is not None and hmac.compare_digest(found, digest)

    # --- the handshake -------------------------------------------------------------------------

    def admit(self, identity: str, presented: str, declared: str) -> Admission | None:
        """Whether `presented` lets the charger in, and as which password; None: refused.
        An admission with the declared password ends the rotation: only it is accepted
        from then on."""
        charger = identity.lower()
        given = self._digest(presented)
        if hmac.compare_digest(given, self._digest(declared)):
            self._used[charger] = given
            self._accepted.pop(charger, None)
            self._reverted.discard(charger)
            return Admission.DECLARED
        if self._is(self._accepted.get(charger), given):
            self._used[charger] = self._accepted.pop(charger)
            return Admission.SET
        if self._is(self._used.get(charger), given):
            if charger in self._accepted:  # it took a new one and came back with the old one
                self._refused[charger] = self._accepted.pop(charger)
                self._reverted.add(charger)
            return Admission.PREVIOUS
        return None

    # --- rotation ------------------------------------------------------------------------------

    def standing(self, identity: str, declared: str) -> Standing:
        charger = identity.lower()
        digest = self._digest(declared)
        return Standing(
            in_use=self._is(self._used.get(charger), digest),
            accepted=self._is(self._accepted.get(charger), digest),
            refused=self._is(self._refused.get(charger), digest),
            reverted=charger in self._reverted and self._is(self._refused.get(charger), digest),
        )

    def accepted(self, identity: str, declared: str) -> None:
        """The charger accepted `declared` for its next connection."""
        self._accepted[identity.lower()] = self._digest(declared)

    def refused(self, identity: str, declared: str) -> None:
        """The charger refused `declared`: it is not sent again while it stays declared."""
        self._refused[identity.lower()] = self._digest(declared)

    def forget(self, identity: str) -> None:
        """The charger left the fleet: nothing of it is accepted any more."""
        charger = identity.lower()
        for book in (self._used, self._accepted, self._refused):
            book.pop(charger, None)
        self._reverted.discard(charger)

    # --- news ----------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Iterable[str]], None]) -> None:
        """`listener(identities)` is called when those chargers' declared passwords changed."""
        self._listeners.append(listener)

    def announce(self, identities: Iterable[str]) -> None:
        """The declared passwords of these chargers changed (a watched Secret did)."""
        chosen = list(identities)
        if chosen:
            for listener in self._listeners:
                listener(chosen)
