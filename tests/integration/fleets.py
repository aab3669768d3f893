"""Small fleets written to a temporary directory, for tests that run the central system."""

from __future__ import annotations

from pathlib import Path

HEADER = "apiVersion: chargectl.io/v1alpha1\n"

BASE = """
kind: Team
metadata: {name: ops}
spec:
  displayName: Ops
  handle: ops
  teammates:
    - {email: ann@example.com, role: Viewer}
    - {email: someone@example.com, role: Viewer}
---
apiVersion: chargectl.io/v1alpha1
kind: Tariff
metadata: {name: standard}
spec:
  currency: EUR
  energyPrice: "0.30"
  startFee: "0.50"
  vatRate: "21"
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: depot}
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
  tariff: standard
  acceptedCards: {teams: [ops]}
  chargerDefaults:
    settings: {heartbeatInterval: 120}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: good}
spec: {idTag: "04AABBCC", team: ops}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: blocked}
spec: {idTag: "04BLOCKED", team: ops, status: Blocked}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: expired}
spec: {idTag: "04EXPIRED", team: ops, expiresAt: "2020-01-01T00:00:00Z"}
---
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: others}
spec: {displayName: Others, handle: others}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {name: foreign}
spec: {idTag: "04FOREIGN", team: others}
"""

CHARGER = """---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: {name}}}
spec:
  ocppIdentity: {identity}
  location: depot
  ocppVersion: "{version}"
  connectors:
    - {{id: 1, type: Type2, maxCurrent: 32}}
    - {{id: 2, type: Type2, maxCurrent: 32}}
{security}"""

PASSWORD_ENV = "CHARGECTL_TEST_CP_PASSWORD"


def write_fleet(root: Path, *, protected: bool = True) -> Path:
    """A depot with CP-16 (OCPP 1.6), CP-201 (OCPP 2.0.1) and, when `protected`, CP-AUTH
    (OCPP 1.6, security profile 1, password in the environment variable PASSWORD_ENV)."""
    docs = [HEADER + BASE]
    docs.append(CHARGER.format(name="cp-16", identity="CP-16", version="1.6", security=""))
    docs.append(CHARGER.format(name="cp-201", identity="CP-201", version="2.0.1", security=""))
    if protected:
        security = f"  security:\n    profile: 1\n    basicAuthPassword: {{env: {PASSWORD_ENV}}}\n"
        docs.append(
            CHARGER.format(name="cp-auth", identity="CP-AUTH", version="1.6", security=security)
        )
    fleet = root / "fleet"
    fleet.mkdir()
    (fleet / "fleet.yaml").write_text("".join(docs))
    return fleet
