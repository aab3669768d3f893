"""Firmware: each charger brought to the firmware version it declares, a few at a time.

A charger whose BootNotification reports another version than `spec.firmware.version` is sent
UpdateFirmware with the declared URL, when three things allow it:

- its reboot policy (`maintenance.may_reboot`): installing firmware reboots the charger, so it
  must be idle, and inside its location's maintenance window when the policy says so;
- the rollout at its location: no more than `firmwareRollout.maxUnavailable` chargers there
  may be updating at once (a count, or a percentage of the chargers there that declare
  firmware, as a Kubernetes Deployment's rolling update), counted from UpdateFirmware until
  the charger is back reporting the new version, since a charger is out of service while it
  installs and reboots;
- failures: once `firmwareRollout.maxFailures` chargers there failed the firmware they declare,
  the rollout at that location stops; updates already under way finish, no other starts until
  the declared firmware changes or the threshold is raised.

The team that owns the location may declare a `firmwareRollout` as well, with the same fields
over all its locations at once: then a charger starts an update only when both its location's
rollout and its team's allow it. The team's maxUnavailable counts (or is a percentage of) every
charger of the team that declares firmware, and its maxFailures counts failures at any of its
locations; once reached, no update starts at any location of the team. A team that declares
none sets no limit across its locations.

Progress comes from FirmwareStatusNotification (Downloading ... Installed) and is kept per
charger in the store as the key status `firmware`, whose value is the image URL the attempt
was about. The version decides: a charger that reboots and reports the declared version is done,
whether or not it said Installed (OCPP 1.6 chargers may not), and one that said Installed and
still reports the old version after rebooting has failed. A failure (DownloadFailed,
InstallationFailed, InvalidSignature, a refused UpdateFirmware, no news for `progress_deadline`)
is shown in the charger's Synced condition and in events, and that image is not sent to that
charger again until the declared firmware changes, as Rejected configuration values are not.

The step owns the firmware statuses of every charger it has seen: the gate of a location needs
those of chargers that are offline too (rebooting into the new firmware, for instance). They
are read from the store once per location (and per team with a rollout) and fleet version;
the chargers that count (under way or failed) are indexed apart, so that counting a rollout
costs what is under way, not the size of a team of thousands of chargers. Chargers held back
by their team's maxUnavailable alone queue, and as places free, that many are woken, rather
than the whole team.

The arithmetic (the census of a rollout, its gate, a charger's phase in it, when an update under
way has failed) is pure, in `controller.planning.firmware`; this step keeps the statuses, reads
and writes them in the store, sends UpdateFirmware and wakes the chargers a freed place lets go.

With several replicas (PostgreSQL, `controller.store.coordination`) the statuses this step
keeps in memory are only its own chargers' for sure: the others' change on other replicas. So
a place in a rollout is taken under the advisory locks of the charger's location and, when its
team declares a rollout, of the team (in that order), in a transaction: inside it, every
status that counts in those censuses (under way or failed) is read again from the store, the
gates are asked again, and the update's `Sent` status is committed before the locks go;
UpdateFirmware is sent after. The counts thus hold across the whole location or team, as
within one process. A place that frees up (an update done or failed) is published (topic
`firmware`, by location), and the other replicas wake their chargers there and in the team's
queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from controller.converge.base import PassContext, Step, StepResult
from controller.fleet.model import Fleet, Loaded
from controller.ocpp.central import CentralSystem
from controller.planning.firmware import (
    FAILURES,
    INSTALLED,
    PROGRESS,
    TERMINAL,
    Census,
    counts,
    declaring,
    free_places,
    in_flight_failure,
    listed,
    location_settings,
    refusal,
    request_id,
    rollout_gate,
    sent_status,
    stopped,
    take_census,
    team_rollout,
)
from controller.planning.keys import FIRMWARE_KEY
from controller.planning.maintenance import may_reboot
from controller.resources import Charger
from controller.resources.charger import Firmware
from controller.resources.common import FirmwareRollout
from controller.store.coordination import Coordination, Decision, coordination_of
from controller.values.records import KeyState, KeyStatus
from controller.values.timestamps import iso_seconds

log = logging.getLogger("chargectl.firmware")


def _now() -> datetime:
    return datetime.now(UTC)


class FirmwareStep(Step):
    """UpdateFirmware where the declared version differs, gated per location and per team;
    see the module."""

    name = "firmware"

    def __init__(
        self,
        central: CentralSystem,
        *,
        wake: Callable[[str], None] | None = None,
        progress_deadline: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        """`wake` reconciles a charger again (the reconciler's `wake`): chargers waiting for
        the rollout are woken when a place frees up. `progress_deadline` is how long an
        update may go without a FirmwareStatusNotification before it counts as failed."""
        self.central = central
        self.progress_deadline = progress_deadline
        self._wake = wake or (lambda identity: None)
        self._clock = clock
        self._statuses: dict[str, KeyStatus] = {}
        self._counted: set[str] = set()
        """Identities whose status counts in a census (under way, or failed): a subset of
        `_statuses`, which after a rollout holds thousands of settled ones."""
        self._loaded: set[str] = set()
        self._request_ids: dict[str, int] = {}
        self._stopped: set[tuple[str, str]] = set()
        """Locations and teams whose stopped rollout was announced (an event once, not every
        pass), as `Census.scope`."""
        self._queued: dict[str, dict[str, None]] = {}
        """Per team, chargers whose last pass was held back by the team's maxUnavailable
        alone, oldest first."""
        self._fleet: Fleet | None = None
        """The fleet the caches below are of; a new fleet empties them."""
        self._declaring: dict[tuple[str, str], int] = {}
        self._scopes_loaded: set[tuple[str, str]] = set()
        self._scope_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._shared: Coordination | None = None
        """The other replicas, once a pass found the store shared (PostgreSQL)."""

    def bind(self, wake: Callable[[str], None]) -> None:
        super().bind(wake)
        self._wake = wake

    # --- a pass --------------------------------------------------------------------------------

    async def run(self, ctx: PassContext) -> StepResult:
        self._unqueue(ctx.identity)  # queued again below if the team's gate still holds it
        spec = ctx.charger.resource.spec
        firmware = spec.firmware
        if firmware is None:
            await self._forget_settled(ctx.identity)
            return StepResult(True)
        location = spec.location
        await self._load_around(ctx.fleet, location, ctx.identity)
        now = self._clock()
        version = firmware.version.strip()
        boot = ctx.record.boot
        reported = boot.firmware_version if boot is not None else None
        status = self._statuses.get(ctx.identity)

        if reported is not None and reported.strip() == version:
            return await self._done(ctx, firmware, status, reported, now)

        if status is not None and status.state is KeyState.PENDING:
            failure = in_flight_failure(
                status, reported, ctx.record.booted_at, now, self.progress_deadline
            )
            if failure is None:
                if status.value == firmware.url:
                    since = iso_seconds(status.at)
                    return StepResult(
                        False, f"firmware {version}: updating ({status.detail} since {since})"
                    )
                return StepResult(
                    False,
                    f"firmware {version}: waiting for the update from {status.value} under way "
                    f"({status.detail})",
                )
            status = await self._fail(ctx.fleet, ctx.identity, status, failure, now)
            self._wake_others(ctx.fleet, location, ctx.identity)

        if status is not None and status.state in TERMINAL and status.value == firmware.url:
            return StepResult(
                False,
                f"firmware {version}: failed at {iso_seconds(status.at)}: {status.detail}; "
                "not retried until the declared firmware changes",
            )
        if reported is None:
            return StepResult(
                False,
                f"firmware {version}: the charger reports no firmware version in its "
                "BootNotification, so an update could not be verified; not updated",
            )
        return await self._maybe_update(ctx, firmware, reported, status)

    async def _done(
        self,
        ctx: PassContext,
        firmware: Firmware,
        status: KeyStatus | None,
        reported: str,
        now: datetime,
    ) -> StepResult:
        """The charger reports the declared version: whatever was under way succeeded."""
        if status is None or (status.state is KeyState.APPLIED and status.value == firmware.url):
            return StepResult(True)
        location = ctx.charger.resource.spec.location
        done = replace(
            status, state=KeyState.APPLIED, value=firmware.url, at=now, detail=f"reports {reported}"
        )
        await self._record(done)
        await self.central.event(
            ctx.identity,
            "FirmwareInstalled",
            f"firmware {reported} installed from {firmware.url}",
            {"version": reported, "url": firmware.url},
        )
        self._wake_others(ctx.fleet, location, ctx.identity)
        return StepResult(True, f"firmware {reported} installed")

    async def _maybe_update(
        self, ctx: PassContext, firmware: Firmware, reported: str, previous: KeyStatus | None
    ) -> StepResult:
        shared = self._bind()
        if shared is None:
            admitted = await self._admit(ctx, firmware, previous)
            if isinstance(admitted, StepResult):
                return admitted
            return await self._send(ctx, firmware, reported, admitted, previous, shared)
        location = ctx.charger.resource.spec.location
        team = ctx.fleet.team_of(location)
        scopes = [f"location:{location}"]
        if team is not None and team_rollout(ctx.fleet, team) is not None:
            scopes.append(f"team:{team}")
        async with shared.decision(*scopes) as decision:
            await self._refresh(decision, ctx.fleet, location)
            admitted = await self._admit(ctx, firmware, previous)
            if isinstance(admitted, StepResult):
                return admitted
            await self._record(admitted)  # the place is taken for every replica
        return await self._send(ctx, firmware, reported, admitted, previous, shared)

    async def _admit(
        self, ctx: PassContext, firmware: Firmware, previous: KeyStatus | None
    ) -> StepResult | KeyStatus:
        """The status of the update to send, its place in the rollouts taken; or why the
        charger waits."""
        version = firmware.version.strip()
        location = ctx.charger.resource.spec.location
        _, windows, timezone = location_settings(ctx.fleet, location)
        idle = not await ctx.central.open_transactions(ctx.identity)
        now = self._clock()
        rollouts = self._rollouts(ctx.fleet, location, now)
        for rollout, census in rollouts:  # the location's, then the team's
            if stopped(rollout, census):
                await self._announce_stop(rollout, census)
                reason = rollout_gate(rollout, census).reason
                return StepResult(False, f"firmware {version}: not updated, {reason}")
            self._stopped.discard(census.scope)
        decision = may_reboot(
            ctx.charger.resource.spec.reboot_policy,
            idle=idle,
            windows=windows,
            timezone=timezone,
            at=now,
        )
        if not decision.allowed:
            return StepResult(False, f"firmware {version}: waiting, {decision.reason}")
        for rollout, census in rollouts:
            gate = rollout_gate(rollout, census)
            if not gate.allowed:
                if census.team:
                    self._queued.setdefault(census.name, {})[ctx.identity] = None
                return StepResult(False, f"firmware {version}: waiting, {gate.reason}")

        # Taken before the first await, so that no other pass at this location or in this team
        # sees the place free in the meantime.
        sent = sent_status(ctx.identity, firmware, now, previous)
        self._put(sent)
        return sent

    async def _send(
        self,
        ctx: PassContext,
        firmware: Firmware,
        reported: str,
        sent: KeyStatus,
        previous: KeyStatus | None,
        shared: Coordination | None,
    ) -> StepResult:
        version = firmware.version.strip()
        location = ctx.charger.resource.spec.location
        now = sent.at
        request = request_id(now)
        self._request_ids[ctx.identity] = request
        try:
            answer = await ctx.call(ctx.commands.update_firmware(firmware.url, now, request))
        except BaseException as error:
            if self._statuses.get(ctx.identity) is sent:  # nothing was heard: try again later
                self._restore(ctx.identity, previous)
                if shared is not None and isinstance(error, Exception):
                    await self._unrecord(ctx.identity, previous)  # the place is free again
            raise
        await self.central.event(
            ctx.identity,
            "FirmwareUpdate",
            f"UpdateFirmware {firmware.url} ({reported} -> {version}): {answer}",
            {"url": firmware.url, "from": reported, "to": version, "requestId": request},
        )
        refused = refusal(answer)
        if refused is not None:
            state, detail = refused
            failed = await self._fail(ctx.fleet, ctx.identity, sent, detail, now, state)
            self._wake_others(ctx.fleet, location, ctx.identity)
            return StepResult(False, f"firmware {version}: failed: {failed.detail}")
        if shared is None and self._statuses.get(ctx.identity) is sent:  # nothing overtook it
            await self._record(sent)
        return StepResult(False, f"firmware {version}: UpdateFirmware sent (from {reported})")

    # --- several replicas ------------------------------------------------------------------------

    def _bind(self) -> Coordination | None:
        """The other replicas sharing the store, if any; heard from the first pass on."""
        coordination = coordination_of(self.central)
        if not coordination.shared:
            return None
        if self._shared is not coordination:
            self._shared = coordination
            coordination.subscribe("firmware", self._heard)
        return coordination

    def _heard(self, location: str) -> None:
        """An update ended at `location` on another replica: a place may be free there."""
        fleet = self._fleet
        if fleet is None:
            return
        for identity in [*self._members(fleet, location), *self._next_queued(fleet, location)]:
            self._wake(identity)

    async def _refresh(self, decision: Decision, fleet: Fleet, location: str) -> None:
        """Read again, inside the decision, every status that counts in the censuses of the
        charger's location and of its team's rollout (the other replicas write them)."""
        identities = self._members(fleet, location)
        team = fleet.team_of(location)
        if team is not None and team_rollout(fleet, team) is not None:
            identities += [c.resource.identity for c in fleet.chargers_of_team(team)]
        await self.central.store.flush()  # what this replica buffered counts too
        counting = [str(state) for state in (KeyState.PENDING, *TERMINAL)]
        found = {
            status.identity: status
            for status in await decision.key_statuses(FIRMWARE_KEY, identities, counting)
        }
        for identity in dict.fromkeys(identities):
            status = found.get(identity)
            if status is not None:
                self._loaded.add(identity)
                self._put(status)
            elif identity in self._counted:  # settled elsewhere: read again when needed
                self._drop(identity)
                self._loaded.discard(identity)

    async def _unrecord(self, identity: str, previous: KeyStatus | None) -> None:
        if previous is None:
            await self.central.store.forget_key_statuses(identity, [FIRMWARE_KEY])
        else:
            await self._record(previous)

    def wake_on_fleet_change(self, old: Fleet, new: Fleet) -> Collection[str]:
        """Chargers declaring firmware where a rollout's limits changed: a raised
        maxUnavailable frees places and a raised maxFailures restarts a stopped rollout now,
        not at the next resync (their own desired state did not change, so nothing else
        wakes them)."""
        changed: list[Loaded[Charger]] = []
        for name, location in new.locations.items():
            before = old.locations.get(name)
            rollout = location.resource.spec.firmware_rollout
            if before is None or before.resource.spec.firmware_rollout != rollout:
                changed.extend(new.chargers_at(name))
        for name, team in new.teams.items():
            before_team = old.teams.get(name)
            rollout_of_team = team.resource.spec.firmware_rollout
            if before_team is None or before_team.resource.spec.firmware_rollout != rollout_of_team:
                changed.extend(new.chargers_of_team(name))
        return {c.resource.identity for c in changed if c.resource.spec.firmware is not None}

    # --- notifications -------------------------------------------------------------------------

    async def charger_reported(
        self, fleet: Fleet, identity: str, kind: str, data: dict[str, Any]
    ) -> Collection[str]:
        if kind != "FirmwareStatus":
            return ()
        loaded = fleet.charger_by_identity(identity)
        if loaded is None:
            return ()
        await self._load([identity])
        status = self._statuses.get(identity)
        if status is None or status.state is not KeyState.PENDING:
            return ()  # not an update of ours (a manual one), or one already settled
        request_id, ours = data.get("requestId"), self._request_ids.get(identity)
        if request_id is not None and ours is not None and request_id != ours:
            return ()
        text = str(data.get("status", ""))
        now = self._clock()
        location = loaded.resource.spec.location
        if text in FAILURES:
            await self._fail(fleet, identity, status, text, now)
            self._tell_others(location)
            return {identity, *self._members(fleet, location), *self._next_queued(fleet, location)}
        if text not in PROGRESS:
            return ()  # Idle: says nothing about our update
        await self._record(replace(status, at=now, detail=text))
        if text == INSTALLED:  # 2.0.1 says it once back; 1.6 before its reboot (still counted)
            self._tell_others(location)
            return {identity, *self._members(fleet, location), *self._next_queued(fleet, location)}
        return (identity,)

    def forget(self, identity: str) -> None:
        """A charger disconnects to install firmware, and its update stays counted; only its
        place in a team's queue goes (a woken charger that is not connected takes no place)."""
        self._unqueue(identity)

    # --- the rollouts at a location and across a team ------------------------------------------

    def census(self, fleet: Fleet, location: str, now: datetime | None = None) -> Census:
        """The rollout at `location` as this step knows it (statuses loaded by a pass there)."""
        return self._census(fleet, location, team=False, now=now)

    def team_census(self, fleet: Fleet, team: str, now: datetime | None = None) -> Census:
        """The rollout across every location `team` owns, as this step knows it."""
        return self._census(fleet, team, team=True, now=now)

    def _census(self, fleet: Fleet, name: str, *, team: bool, now: datetime | None) -> Census:
        return take_census(
            fleet,
            name,
            team=team,
            statuses=(self._statuses[i] for i in self._counted),  # not every charger
            declaring=self._declaring_in(fleet, name, team=team),
            now=now or self._clock(),
            deadline=self.progress_deadline,
        )

    def _declaring_in(self, fleet: Fleet, name: str, *, team: bool) -> int:
        """Chargers of a location or team that declare firmware, counted once per fleet."""
        self._caches_of(fleet)
        key = ("Team" if team else "Location", name)
        count = self._declaring.get(key)
        if count is None:
            chargers = fleet.chargers_of_team(name) if team else fleet.chargers_at(name)
            count = declaring(chargers)
            self._declaring[key] = count
        return count

    def _rollouts(
        self, fleet: Fleet, location: str, now: datetime
    ) -> list[tuple[FirmwareRollout, Census]]:
        """The rollouts a charger at `location` takes part in: its location's, and its team's
        when the team declares one."""
        rollout, _, _ = location_settings(fleet, location)
        found = [(rollout, self.census(fleet, location, now))]
        team = fleet.team_of(location)
        across = team_rollout(fleet, team)
        if team is not None and across is not None:
            found.append((across, self.team_census(fleet, team, now)))
        return found

    async def _announce_stop(self, rollout: FirmwareRollout, census: Census) -> None:
        if census.scope in self._stopped or not stopped(rollout, census):
            return
        self._stopped.add(census.scope)
        await self.central.event(
            None,
            "FirmwareRolloutStopped",
            f"firmware rollout {census.where} stopped: {len(census.failed)} charger(s) failed "
            f"({listed(census.failed)}; maxFailures {rollout.max_failures})",
            {"team" if census.team else "location": census.name, "failed": list(census.failed)},
        )

    async def _fail(
        self,
        fleet: Fleet,
        identity: str,
        status: KeyStatus,
        detail: str,
        now: datetime,
        state: KeyState = KeyState.FAILED,
    ) -> KeyStatus:
        failed = replace(status, state=state, at=now, detail=detail)
        await self._record(failed)
        loaded = fleet.charger_by_identity(identity)
        location = loaded.resource.spec.location if loaded is not None else None
        rollouts = self._rollouts(fleet, location, now) if location is not None else []
        counted = "".join(
            f"; {len(census.failed)} failed {census.where} (maxFailures {rollout.max_failures})"
            for rollout, census in rollouts
        )
        await self.central.event(
            identity,
            "FirmwareFailed",
            f"firmware from {status.value} failed: {detail}{counted}",
            {"url": status.value, "detail": detail},
        )
        log.warning("%s: firmware from %s failed: %s", identity, status.value, detail)
        for rollout, census in rollouts:
            await self._announce_stop(rollout, census)
        return failed

    # --- state ---------------------------------------------------------------------------------

    async def _load_around(self, fleet: Fleet, location: str, identity: str) -> None:
        """Statuses a pass at `location` counts: the charger's, its location's, and its
        team's when the team declares a rollout; each scope is listed once per fleet."""
        await self._load([identity])
        await self._load_scope(
            fleet, ("Location", location), lambda: self._members(fleet, location)
        )
        team = fleet.team_of(location)
        if team is not None and team_rollout(fleet, team) is not None:
            await self._load_scope(
                fleet,
                ("Team", team),
                lambda: [c.resource.identity for c in fleet.chargers_of_team(team)],
            )

    async def _load_scope(
        self, fleet: Fleet, scope: tuple[str, str], identities: Callable[[], list[str]]
    ) -> None:
        self._caches_of(fleet)
        if scope in self._scopes_loaded:
            return
        # One pass loads a scope while the others at the same place wait for it, rather than
        # each read the same thousands of statuses; none counts before they are in.
        lock = self._scope_locks.setdefault(scope, asyncio.Lock())
        async with lock:
            if scope not in self._scopes_loaded:
                await self._load(identities())
                if self._fleet is fleet:
                    self._scopes_loaded.add(scope)

    def _caches_of(self, fleet: Fleet) -> None:
        """Empties what is cached per fleet when the fleet is another one."""
        if fleet is not self._fleet:
            self._fleet = fleet
            self._declaring = {}
            self._scopes_loaded = set()
            self._scope_locks = {}

    async def _load(self, identities: Iterable[str]) -> None:
        """Read the stored statuses of chargers this step has not seen yet, once each."""
        missing = [i for i in dict.fromkeys(identities) if i not in self._loaded]
        # Asked at once, the store fetches them in a few batched reads (a location of
        # thousands of chargers is loaded by the first pass of a rollout).
        found = await asyncio.gather(*(self.central.store.key_statuses(i) for i in missing))
        for identity, stored in zip(missing, found, strict=True):
            if identity in self._loaded:
                continue  # a notification got here first, and what it knows is newer
            self._loaded.add(identity)
            for status in stored:
                if status.key == FIRMWARE_KEY:
                    self._put(status)

    async def _forget_settled(self, identity: str) -> None:
        """Firmware no longer declared: what happened to the last one declared means nothing
        any more, unless an update is still under way (it still takes the charger down)."""
        await self._load([identity])
        status = self._statuses.get(identity)
        if status is not None and status.state is not KeyState.PENDING:
            self._drop(identity)
            await self.central.store.forget_key_statuses(identity, [FIRMWARE_KEY])

    async def _record(self, status: KeyStatus) -> None:
        self._loaded.add(status.identity)
        self._put(status)
        await self.central.store.record_key_statuses([status])
        # Key statuses are written behind; a rollout's "update sent" must survive a crash, or
        # a restarted controller sends the image again and miscounts maxUnavailable.
        await self.central.store.flush()

    def _restore(self, identity: str, previous: KeyStatus | None) -> None:
        if previous is None:
            self._drop(identity)
        else:
            self._put(previous)

    def _put(self, status: KeyStatus) -> None:
        self._statuses[status.identity] = status
        if counts(status):
            self._counted.add(status.identity)
        else:
            self._counted.discard(status.identity)

    def _drop(self, identity: str) -> None:
        self._statuses.pop(identity, None)
        self._counted.discard(identity)

    def _members(self, fleet: Fleet, location: str) -> list[str]:
        return [c.resource.identity for c in fleet.chargers_at(location)]

    def _tell_others(self, location: str) -> None:
        """The other replicas may have chargers waiting for a place at `location`."""
        if self._shared is not None:
            self._shared.publish("firmware", location)

    def _wake_others(self, fleet: Fleet, location: str, identity: str) -> None:
        self._tell_others(location)
        for other in [*self._members(fleet, location), *self._next_queued(fleet, location)]:
            if other != identity:
                self._wake(other)

    def _next_queued(self, fleet: Fleet, location: str) -> list[str]:
        """Chargers of the team of `location` to wake, as many as its rollout has free places:
        the first in its queue, who leave it (a pass held back again queues them again)."""
        team = fleet.team_of(location)
        rollout = team_rollout(fleet, team)
        queue = self._queued.get(team) if team is not None else None
        if team is None or rollout is None or not queue:
            return []
        woken = list(islice(queue, free_places(rollout, self.team_census(fleet, team))))
        for identity in woken:
            del queue[identity]
        return woken

    def _unqueue(self, identity: str) -> None:
        for queue in self._queued.values():
            queue.pop(identity, None)
