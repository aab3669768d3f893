"""Power end to end: `serve` with the power step, simulated chargers, one circuit shared.

Four chargers of one 32 A connector each (two OCPP 1.6, two 2.0.1) behind a 40 A three-phase
grid connection. Sessions start one by one and stop again; after each, every charging
connector must offer its equal share (the simulated chargers honour the profiles they are
sent), and a sampler checks every ~50 ms, for the whole test, that the connectors with a
transaction never offer more than the circuit together — also while shares move, which is
what the step's safe order is for. Real sockets, the real store; deadlines, never timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.runtime.serve import Running
from controller.simulator import SimulatedCharger
from controller.simulator.smart import ChargingProfile, ChargingProfiles, Limits, Purpose
from controller.values.commands import limit_amperes
from controller.values.records import Direction
from tests.e2e.rig import DEADLINE, OPS_TEAM, serving, until, write_fleet

SENT = Direction.SENT

CIRCUIT_AMPERES = 40
CONNECTOR_AMPERES = 32
ID_TAG = "04E2E0000001"
CHARGERS = ("CP-A", "CP-B", "CP-C", "CP-D")
SAMPLE_SECONDS = 0.05

HEAD = f"""{OPS_TEAM}---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {{name: depot}}
spec:
  team: ops
  displayName: Depot
  timezone: Europe/Amsterdam
  acceptedCards: {{names: [driver]}}
---
apiVersion: chargectl.io/v1alpha1
kind: Card
metadata: {{name: driver}}
spec: {{idTag: "{ID_TAG}", team: ops}}
---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata: {{name: depot-grid}}
spec:
  location: depot
  limit: {{currentPerPhase: {CIRCUIT_AMPERES}}}
  phases: 3
"""

CHARGER = """---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: {name}}}
spec:
  ocppIdentity: {identity}
  location: depot
  ocppVersion: "{version}"
  connectors: [{{id: 1, type: Type2, maxCurrent: {amperes}, phases: 3}}]
"""


FLEET = HEAD + "".join(
    CHARGER.format(
        name=identity.lower(),
        identity=identity,
        version="1.6" if index % 2 == 0 else "2.0.1",
        amperes=CONNECTOR_AMPERES,
    )
    for index, identity in enumerate(CHARGERS)
)


@dataclass
class Sampler:
    """Sums what the connectors with a transaction offer: every `SAMPLE_SECONDS`, and each
    time a charger installs a profile (`Watched`), so no step of a change goes unseen."""

    chargers: dict[str, SimulatedCharger]
    samples: int = 0
    highest: int = 0
    over: list[dict[str, int]] = field(default_factory=list)

    def sample(self) -> None:
        offered = {
            identity: sim.offered_current(1)
            for identity, sim in self.chargers.items()
            if sim.connectors[1].transaction is not None
        }
        total = sum(offered.values())
        self.samples += 1
        self.highest = max(self.highest, total)
        if total > CIRCUIT_AMPERES:
            self.over.append(offered)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)


class Watched(ChargingProfiles):
    """A simulated charger's profiles that call `after` once a new one is in place."""

    def __init__(self, after: Callable[[], None]) -> None:
        super().__init__()
        self.after = after

    def install(self, profile: ChargingProfile, limits: Limits) -> bool:
        accepted = super().install(profile, limits)
        self.after()
        return accepted


@dataclass
class PowerRig:
    server: Running
    chargers: dict[str, SimulatedCharger]
    sampler: Sampler


@contextlib.asynccontextmanager
async def power_rig(
    fleet: Path, quirks: Mapping[str, Mapping[str, bool]] | None = None
) -> AsyncIterator[PowerRig]:
    """`serve` and the fleet's chargers, simulated; `quirks` are SimProfile fields by charger."""
    async with serving(fleet, start=False) as rig:
        sampler = Sampler(rig.chargers)
        for sim in rig.chargers.values():
            sim.profiles = Watched(sampler.sample)
            sim.profile = replace(sim.profile, **(quirks or {}).get(sim.identity, {}))
        rig.start(rig.chargers)
        sampling = asyncio.create_task(sampler.run())
        try:
            yield PowerRig(rig.server, rig.chargers, sampler)
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling


def share(sessions: int) -> float:
    """The equal share as sent: rounded down to 0.1 A, at most the connector's maximum."""
    return min(float(CONNECTOR_AMPERES), limit_amperes(CIRCUIT_AMPERES / sessions))


def installed(sim: SimulatedCharger, purpose: Purpose) -> float | None:
    """The limit of the charger's profile for connector 1 with this purpose, in amperes."""
    for profile in sim.profiles.installed:
        if profile.purpose is purpose and profile.connector == 1:
            return profile.schedule.periods[0].limit
    return None


def tx_limit(sim: SimulatedCharger) -> float | None:
    return installed(sim, Purpose.TX)


async def idle_offers(rig: PowerRig) -> None:
    """Every connector holds a default profile at the minimum, 6 A, for the next session.

    (An idle 1.6 connector's offer does not show it: a profile without a start time counts
    from the start of charging, as OCPP 1.6 says.)
    """

    def defaults() -> dict[str, float | None]:
        return {i: installed(sim, Purpose.TX_DEFAULT) for i, sim in rig.chargers.items()}

    await until(
        lambda: all(value == 6.0 for value in defaults().values()),
        lambda: f"every idle connector's default at 6 A: {defaults()}",
    )


async def converged_to_share(rig: PowerRig, active: list[str]) -> None:
    """Every active connector offers the equal share (the simulator offers whole amperes)."""
    expected = share(len(active))

    def done() -> bool:
        return all(
            rig.chargers[i].offered_current(1) == math.floor(expected)
            and tx_limit(rig.chargers[i]) == expected
            for i in active
        )

    def state() -> str:
        seen = {i: (rig.chargers[i].offered_current(1), tx_limit(rig.chargers[i])) for i in active}
        return f"{len(active)} sessions at {expected} A each; (offered, Tx profile): {seen}"

    await until(done, state)


async def test_sessions_share_the_circuit_and_never_overload_it(tmp_path: Path) -> None:
    async with power_rig(write_fleet(tmp_path, FLEET)) as rig:
        for sim in rig.chargers.values():
            await asyncio.wait_for(sim.booted.wait(), DEADLINE)
        await idle_offers(rig)

        active: list[str] = []
        for identity in CHARGERS:
            await rig.chargers[identity].plug_in(1, ID_TAG)
            active.append(identity)
            await converged_to_share(rig, active)

        assert [share(n) for n in (1, 2, 3, 4)] == [32.0, 20.0, 13.3, 10.0]

        while len(active) > 1:
            await rig.chargers[active.pop()].unplug(1)
            await converged_to_share(rig, active)

        await rig.chargers[active.pop()].unplug(1)
        await idle_offers(rig)

        sampler = rig.sampler
        assert not sampler.over, f"the circuit was overloaded: {sampler.over[:5]}"
        assert sampler.samples > 10, "the sampler ran throughout"
        assert sampler.highest == CIRCUIT_AMPERES, "two sessions at 20 A were seen"


# --- verification: what the chargers' composite schedules show -----------------------------------


async def calls_to(rig: PowerRig, identity: str, action: str) -> int:
    """How many `action` CALLs the central system sent the charger (from the message log)."""
    store = rig.server.central.store
    await store.flush()
    log = await store.message_log(identity, limit=10_000)
    return sum(1 for e in log if e.action == action and e.message_type == 2 and e.direction is SENT)


async def synced_message(rig: PowerRig, identity: str) -> tuple[str, str]:
    """The charger's Synced condition: its status and message."""
    store = rig.server.central.store
    await store.flush()
    for condition in await store.conditions(identity):
        if condition.type == "Synced":
            return condition.status, condition.message
    return "Unknown", ""


async def test_profiles_accepted_but_not_applied_are_resent_and_hold_up_raises(
    tmp_path: Path,
) -> None:
    """CP-A says Accepted to every profile and applies none: it may draw its whole 32 A."""
    quirks = {"CP-A": {"accepts_profiles_without_applying": True}}
    async with power_rig(write_fleet(tmp_path, FLEET), quirks) as rig:
        cp_a, cp_b = rig.chargers["CP-A"], rig.chargers["CP-B"]
        drift = "composite schedule of connector 1 is 32 A, expected at most 6 A"

        async def drifted() -> bool:
            status, message = await synced_message(rig, "CP-A")
            return status == "False" and drift in message

        await until(drifted, lambda: f"CP-A not synced: {drift}")
        await until(
            lambda: _sent_at_least(rig, "CP-A", "SetChargingProfile", 3),
            lambda: "CP-A's station maximum and default, and the default again after the drift",
        )
        assert cp_a.profiles.installed == []
        events = await rig.server.central.store.events(identity="CP-A")
        assert [e.kind for e in events].count("ChargingLimitNotInForce") == 1

        # A session at CP-B may not rise to its share while CP-A may draw 32 A.
        await cp_b.plug_in(1, ID_TAG)

        async def b_waits() -> bool:
            status, message = await synced_message(rig, "CP-B")
            # (cp-a first: the others' defaults fall for the session too, and may be named)
            return status == "False" and "Tx 32 A on connector 1 waits until cp-a" in message

        await until(b_waits, lambda: "CP-B's raise waits for CP-A")
        assert cp_b.offered_current(1) == 6, "CP-B's session stays on its 6 A default"
        assert tx_limit(cp_b) is None
        assert installed(cp_b, Purpose.TX_DEFAULT) == 6.0, (
            "CP-B got its default all the same: it lowers what CP-B may draw"
        )

        # The charger applies profiles again (say, after a firmware fix): all converge.
        cp_a.profile = replace(cp_a.profile, accepts_profiles_without_applying=False)
        assert rig.server.reconciler is not None
        rig.server.reconciler.wake("CP-A")
        await converged_to_share(rig, ["CP-B"])
        await until(
            lambda: installed(cp_a, Purpose.TX_DEFAULT) is not None,
            lambda: "CP-A's default installed",
        )
        await until(lambda: _status_is(rig, "CP-A", "True"), lambda: "CP-A Synced once in force")
        assert not rig.sampler.over, f"the circuit was overloaded: {rig.sampler.over[:5]}"


async def test_a_charger_refusing_composite_schedules_converges_and_is_asked_once_a_connection(
    tmp_path: Path,
) -> None:
    quirks = {"CP-A": {"rejects_composite_schedule": True}}
    async with power_rig(write_fleet(tmp_path, FLEET), quirks) as rig:
        cp_a = rig.chargers["CP-A"]
        await asyncio.wait_for(cp_a.booted.wait(), DEADLINE)
        await idle_offers(rig)
        await cp_a.plug_in(1, ID_TAG)
        await converged_to_share(rig, ["CP-A"])
        await until(lambda: _status_is(rig, "CP-A", "True"), lambda: "CP-A Synced")

        assert await calls_to(rig, "CP-A", "GetCompositeSchedule") == 1
        assert await calls_to(rig, "CP-B", "GetCompositeSchedule") >= 2, (
            "a charger that answers is asked: the charger and its connector"
        )
        await _more_passes(rig, "CP-A")
        assert await calls_to(rig, "CP-A", "GetCompositeSchedule") == 1, "not asked each pass"

        sent = await calls_to(rig, "CP-A", "SetChargingProfile")
        await cp_a.drop()  # it reconnects: everything is sent again, and it is asked again
        await until(
            lambda: _sent_at_least(rig, "CP-A", "SetChargingProfile", sent + 3),
            lambda: "CP-A's station maximum, default and Tx profile sent again",
        )
        await until(lambda: _status_is(rig, "CP-A", "True"), lambda: "CP-A Synced again")
        await _more_passes(rig, "CP-A")
        assert await calls_to(rig, "CP-A", "GetCompositeSchedule") == 2
        assert cp_a.offered_current(1) == CONNECTOR_AMPERES


async def _sent_at_least(rig: PowerRig, identity: str, action: str, count: int) -> bool:
    return await calls_to(rig, identity, action) >= count


async def _status_is(rig: PowerRig, identity: str, status: str) -> bool:
    return (await synced_message(rig, identity))[0] == status


async def _more_passes(rig: PowerRig, identity: str, passes: int = 2) -> None:
    """Wake the charger's reconcile worker and wait for `passes` more passes to end."""
    reconciler = rig.server.reconciler
    assert reconciler is not None
    for _ in range(passes):
        before = reconciler.stats.passes
        reconciler.wake(identity)
        await until(
            lambda before=before: reconciler.stats.passes > before,
            lambda: f"a pass over {identity}",
        )
