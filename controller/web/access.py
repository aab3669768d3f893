"""Who is asking, and what they may see: the seam where teams and location members will apply.

The web view sits behind a proxy that authenticates people (e.g. oauth2-proxy) and passes who
they are in a trusted header. Every API handler turns that header into a `Scope` with
`scope_for` and asks the `StatusService` for documents filtered by it, so that enforcing teams
later changes this module only.

NOT ENFORCED YET: `scope_for` gives everyone a scope that sees everything. Until teams and
location members are enforced (a later issue), the API must only be reachable by people who may
see the whole fleet (bind it to an internal address, or put it behind the proxy anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.fleet.model import Fleet

IDENTITY_HEADER = "X-Forwarded-Email"
"""The header oauth2-proxy sets (with `--pass-user-headers`) to the signed-in person's e-mail."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one requester may see: every location, or the named ones.

    `locations` None means all of them, and pending chargers (which belong to no location);
    a set means those locations' chargers only.
    """

    requester: str | None
    locations: frozenset[str] | None = None

    def sees_location(self, location: str | None) -> bool:
        if self.locations is None:
            return True
        return location is not None and location in self.locations

    @property
    def sees_everything(self) -> bool:
        return self.locations is None


def scope_for(requester: str | None, fleet: Fleet) -> Scope:
    """The scope of the person named by the identity header (None when the header is absent).

    Not enforced yet: returns a scope that sees every location and every pending charger,
    whoever asks. When access is enforced, this is where the requester's teams (by teammate
    e-mail and auto-enroll domains) and the locations they own or are members of are looked up
    in `fleet`, and where a missing header stops meaning "everything".
    """
    return Scope(requester=requester or None)
