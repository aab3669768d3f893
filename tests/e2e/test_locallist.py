"""The local authorisation list end to end: `serve` with the local list step, simulated chargers.

Both OCPP versions: the chargers connect with no list, and must end up holding the cards the
depot accepts, in the statuses `authorize` gives them; an edit that blocks a card must reach
them as a Differential update. Conditions are waited for with a deadline, never timed.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from controller.converge.locallist import LocalListStep
from controller.fleet.checking import check_paths
from controller.planning.locallist import DesiredList
from controller.simulator import SimulatedCharger
from controller.values.records import Direction
from tests.e2e.rig import OPS_TEAM, Rig, serving, until, write_fleet

IDENTITIES = ("CP-16", "CP-201")

FLEET = (
    OPS_TEAM
    + """---
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {{name: guests}}
spec: {{displayName: Guests, handle: guests}}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: depot}}
spec:
  team: ops
  displayName: Depot
  acceptedCards: {{teams: [ops]}}
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-16}}
spec:
  ocppIdentity: CP-16
  location: depot
  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-201}}
spec:
  ocppIdentity: CP-201
  location: depot
  ocppVersion: "2.0.1"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {{name: alice}}
spec: {{idTag: AA01, team: ops, parentIdTag: FLEET, expiresAt: "2099-01-01T00:00:00Z"{alice}}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {{name: bob}}
spec: {{idTag: BB02, team: ops{bob}}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {{name: carol}}
spec: {{idTag: CC03, team: ops, status: Blocked}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {{name: dave}}
spec: {{idTag: DD04, team: ops, expiresAt: "2024-01-01T00:00:00Z"{dave}}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {{name: guest}}
spec: {{idTag: EE05, team: guests}}
"""
)

BLOCKED = ", status: Blocked"


def write(root: Path, blocked: str | None = None, folder: str = "fleet") -> Path:
    """The fleet, with the card named `blocked` blocked."""
    cards = {name: BLOCKED if name == blocked else "" for name in ("alice", "bob", "dave")}
    return write_fleet(root, FLEET.format(**cards), folder)


def desired(root: Path, blocked: str | None = None) -> DesiredList:
    """The depot's list in that fleet, as the step computes it."""
    fleet = check_paths([write(root, blocked, folder=f"probe-{blocked}")]).fleet
    return LocalListStep().desired(fleet, "depot")


def holds(sim: SimulatedCharger, wanted: DesiredList) -> bool:
    expected = {e.id_tag.casefold(): e.status.value for e in wanted.entries if e.status}
    return sim.local_list.version == wanted.version and sim.local_list.entries == expected


async def sent_lists(r: Rig, identity: str) -> list[dict[str, Any]]:
    """The SendLocalList payloads sent to a charger, oldest first."""
    await r.server.central.store.flush()
    log = await r.server.central.store.message_log(identity, limit=1000)
    return [
        json.loads(e.frame)[3]
        for e in log
        if e.action == "SendLocalList" and e.message_type == 2 and e.direction is Direction.SENT
    ]


def version_of(payload: dict[str, Any]) -> int:
    return int(payload.get("listVersion", payload.get("versionNumber", -1)))


def tags_of(payload: dict[str, Any]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for item in payload.get("localAuthorizationList", []):
        tag = item["idTag"] if "idTag" in item else item["idToken"]["idToken"]
        info = item.get("idTagInfo") or item.get("idTokenInfo")
        found[tag] = info["status"] if info else None
    return found


async def test_chargers_of_both_versions_get_the_cards_the_location_accepts(
    tmp_path: Path,
) -> None:
    wanted = desired(tmp_path)
    assert [(e.id_tag, e.status and e.status.value) for e in wanted.entries] == [
        ("AA01", "Accepted"),
        ("BB02", "Accepted"),
        ("CC03", "Blocked"),
        ("DD04", "Expired"),
    ]
    async with serving(write(tmp_path)) as r:
        for identity in IDENTITIES:
            sim = r.chargers[identity]
            await until(partial(holds, sim, wanted), f"{identity} holds the list")
            [payload] = await sent_lists(r, identity)
            assert payload["updateType"] == "Full"


async def test_a_blocked_card_reaches_the_chargers_as_a_differential_update(
    tmp_path: Path,
) -> None:
    before = desired(tmp_path)
    # The new version must exceed the old one for a Differential update (the charger refuses
    # a lower one); versions are content hashes, so pick a card whose blocking raises it.
    name, after = next(
        (name, wanted)
        for name in ("alice", "bob", "dave")
        if (wanted := desired(tmp_path, name)).version > before.version
    )
    tag = {"alice": "AA01", "bob": "BB02", "dave": "DD04"}[name]
    # Until the reconciler wakes chargers on card edits, the resync brings the edit.
    async with serving(write(tmp_path), resync=1.0) as r:
        for identity in IDENTITIES:
            sim = r.chargers[identity]
            await until(partial(holds, sim, before), f"{identity} holds the first list")
        write(tmp_path, blocked=name)
        assert await r.server.source.reload()
        for identity in IDENTITIES:
            sim = r.chargers[identity]
            await until(partial(holds, sim, after), f"{identity} holds the edited list")
            *_, payload = await sent_lists(r, identity)
            assert payload["updateType"] == "Differential"
            assert version_of(payload) == after.version
            assert tags_of(payload) == {tag: "Blocked"}
            assert sim.local_list.status(tag) == "Blocked"
