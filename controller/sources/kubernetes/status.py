"""The `.status` of the custom resources: computed from the running central system, written
only when it changes, batched, coalesced and rate-limited.

The Kubernetes source (the rest of this package) watches the objects and implements the two
small protocols this module defines: `StatusSink`, which writes (a JSON merge patch of the
status subresource with field manager `chargectl`, and Events), and `ObjectView`, which says
what the watch knows of each object beyond the fleet in force (its generation, the problems
`chargectl validate` finds in it, its status as last seen). `StatusWriter` does the rest: it
hears the central system (as an `Observer`), is told by the source when an object changed
(`notify`), and writes.

What the status holds, per kind (every field is declared in the CRDs):

- every kind: `observedGeneration`, and `conditions` (a list-map keyed by `type`; a
  condition's `lastTransitionTime` changes only when its `status` does). `Ready=False` with
  reason `Invalid` and exactly validate's message when the source refuses the object (one
  Warning Event per new problem as well); the last good version stays in force.
- Charger: conditions `Connected`, `Synced` (the reconciler's own), `Ready`; `reported` (boot
  information, connector statuses, the last heartbeat, coarsely); `firmware` (the update under
  way or failed); `differences` (the keys that still differ, with their status: what
  `chargectl plan` shows for the charger).
- Location: `chargers` (total, connected, charging) and `circuits` (each PowerLimit's limit in
  force and the current allocated under it).
- Team: the `locations` and `chargers` it owns.
- Card, Tariff, PowerLimit: conditions only.

Who writes what, with no coordination between replicas:

- A charger connected to this process is written by this process only.
- A charger connected to no replica (the store says so: it disconnected, or never connected)
  is written by any replica, from what the shared store and the fleet say, and only when that
  differs from the object's status as watched; so one write per change in practice, and in a
  race the same content twice.
- Every other object (Location, Team, Card, Tariff, PowerLimit) likewise: computed by every
  replica from shared data, written only when it differs from what the object shows.
- A replica that dies holding chargers leaves them recorded as connected until they connect
  again; the locks tell them apart (`coordination.Liveness`, one reading of `pg_locks` per
  sweep and per batch of objects): a charger recorded as connected whose lock no replica
  holds is connected to no replica (Connected=False, "its replica is gone"), is written by
  any replica, and counts as disconnected in its Location's and Team's counts.

Nothing of kopf's lands in status: the source's handlers only watch, and keep no progress.

How often: a change is written `StatusOptions.delay` (2 s) after it is first noticed (later
changes within that window join the same patch), an object is patched at most once per
`min_interval` (15 s; a Location or Team, whose counts move with every session under it, once
per `summary_interval`, 60 s), and all objects together at most `max_patches_per_second` (50).
Only what differs from what the object shows is written. Nothing that moves with routine
traffic is: heartbeats write nothing (`reported.lastHeartbeat`, to the minute, goes with
whatever else changes, and on its own at most once per `heartbeat_refresh`, 6 hours), the
times of connector statuses are left out, and while Synced stays True it keeps the words it
became True with (what an in-sync pass notes, such as a power profile sent, is the
reconciler's log). So a charger converges in three patches at most (connected and booted; the
first pass; converged; fewer when they come within the delay), and a steady one is patched
about once every 6 hours.

What is read when: the central system's observer calls (connection, boot, transactions,
notifications such as firmware progress) and the source's `notify` mark objects at once; a
sweep every `sweep_interval` (15 s) reads every charger's record and conditions from the
store (two queries) and marks the chargers whose reported state or reconciler conditions
changed. Marked objects are computed from the store (a charger: its record, conditions and
key statuses; a location: its chargers' records and open transactions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol, cast

from controller.fleet.model import Fleet, Loaded
from controller.ocpp.central import CentralSystem, Observer
from controller.planning.document import shown_desired
from controller.planning.keys import (
    FIRMWARE_KEY,
    ChargerPlan,
    PlannedAction,
    desired_extras,
    plan_charger,
)
from controller.planning.power import allocate, next_change
from controller.planning.profiles import sessions_from
from controller.planning.reported import boot_document, connector_documents
from controller.resources import KINDS, Charger, Location, Resource, Team
from controller.resources.charger import ChargerStatus
from controller.resources.common import ResourceStatus
from controller.resources.location import LocationStatus
from controller.resources.team import TeamStatus
from controller.store.coordination import Liveness, coordination_of, liveness
from controller.values.commands import ChargerCommands
from controller.values.records import (
    ChargerCondition,
    ChargerRecord,
    KeyStatus,
    Transaction,
)
from controller.values.timestamps import iso_seconds

log = logging.getLogger("chargectl.status")

Status = dict[str, Any]
"""A `.status` document as JSON data, camelCase like the resources."""

MAX_DIFFERENCES: Final = 50
"""Differences listed in a charger's status at most (`differencesTotal` counts them all)."""

MAX_MESSAGE: Final = 32768
"""The longest condition message written (Kubernetes' own conditions allow as much)."""

OPEN_TRANSACTION_QUERIES: Final = 8
"""Open-transaction queries in flight at once for one location's status."""

BATCH: Final = 200
"""Objects computed together, their chargers' records read in one query."""

PREFETCH_FROM: Final = 16
"""Chargers in a batch from which their records and conditions are read all at once."""

INVALID: Final = "Invalid"
"""The reason of Ready=False for an object the source refuses, and of its Events."""

_SUMMARIES: Final = frozenset({"Location", "Team"})
"""Kinds whose status sums up many chargers (`StatusOptions.summary_interval`)."""

_STATUS_MODELS: Final[Mapping[str, type[ResourceStatus]]] = {
    "Charger": ChargerStatus,
    "Location": LocationStatus,
    "Team": TeamStatus,
}


WRITTEN_ELSEWHERE: Final = frozenset({"commands"})
"""Status fields the writer leaves alone: a Charger's `commands` is the annotation commands'
record (`annotations.AnnotationCommands`), written through the same sink."""


def managed_fields(kind: str) -> tuple[str, ...]:
    """The top-level status fields the writer owns for a kind, as they are spelled."""
    model = _STATUS_MODELS.get(kind, ResourceStatus)
    spelled = (info.alias or name for name, info in model.model_fields.items())
    return tuple(name for name in spelled if name not in WRITTEN_ELSEWHERE)


# --- the protocols the Kubernetes source implements ---------------------------------------------


class StatusSink(Protocol):
    """Where statuses and Events go: the API server, or a fake in tests."""

    async def patch_status(
        self, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        """Merge-patch the object's status subresource with `status` (field manager
        `chargectl`). `status` holds every top-level field the writer manages; a field whose
        value is None is to be removed (JSON merge patch semantics). Lists (`conditions`) are
        replaced as a whole. Raising leaves the change pending: it is tried again later."""
        ...

    async def event(
        self, kind: str, namespace: str, name: str, type: str, reason: str, message: str
    ) -> None:
        """Record a Kubernetes Event about the object (`type` is Normal or Warning)."""
        ...


class ObjectView(Protocol):
    """What the source's watch knows of the objects, beyond the fleet in force."""

    def objects(self) -> Iterable[ObjectRef]:
        """Every object watched now, whether the fleet took it or refused it."""
        ...

    def generation_of(self, kind: str, namespace: str, name: str) -> int | None:
        """The object's `metadata.generation`; None when it is not (or no longer) watched."""
        ...

    def problems_of(self, kind: str, namespace: str, name: str) -> Sequence[str]:
        """Why the source refuses the object's present version, each as `chargectl validate`
        words it; empty when it is part of the fleet in force."""
        ...

    def status_of(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The object's `.status` as last watched (whoever wrote it); None when unknown."""
        ...


class ObjectRef(NamedTuple):
    """One custom resource: its kind, namespace and name."""

    kind: str
    namespace: str
    name: str


# --- the writer ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusOptions:
    """How often statuses are read and written; see the module."""

    delay: float = 2.0
    """Seconds between noticing a change and writing it: changes within it share a patch."""
    min_interval: float = 15.0
    """Seconds at least between two patches of one object."""
    summary_interval: float = 60.0
    """Seconds at least between two patches of a Location or a Team, whose counts move with
    every session and connection under them."""
    max_patches_per_second: float = 50.0
    """Patches at most per second, all objects together."""
    sweep_interval: float = 15.0
    """Seconds between reads of what no event announces (connector statuses, the
    reconciler's conditions, key statuses), for the chargers that changed; longer when a
    sweep takes more than a tenth of it (10,000 chargers on SQLite: about 1.5 s)."""
    heartbeat_refresh: timedelta = timedelta(hours=6)
    """How stale `reported.lastHeartbeat` may grow before it is written on its own."""
    default_namespace: str = "default"
    """The namespace of fleet resources whose metadata names none."""


@dataclass
class StatusStats:
    """What the writer did since it started (for /metrics and the benchmark)."""

    patches: int = 0
    events: int = 0
    computed: int = 0
    """Statuses computed, written or not."""
    failures: int = 0
    """Patches the sink refused (tried again later)."""
    by_object: dict[ObjectRef, int] = field(default_factory=dict)
    """Patches per object."""


@dataclass(frozen=True)
class _Cache:
    """What `_prefetch` read for a batch of chargers, by lower-cased identity."""

    asked: frozenset[str]
    records: Mapping[str, ChargerRecord]
    conditions: Mapping[str, list[ChargerCondition]]


@dataclass
class _Written:
    status: Status
    at: float
    """Loop time of the write (or of the failed attempt)."""


def _now() -> datetime:
    return datetime.now(UTC)


class StatusWriter(Observer):
    """Keeps the objects' `.status` up to date; see the module for what, who and how often."""

    def __init__(
        self,
        central: CentralSystem,
        sink: StatusSink,
        view: ObjectView,
        *,
        options: StatusOptions | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        """Hear `central` (the writer adds itself to its observers), write through `sink`,
        learn of objects from `view`. Nothing is written before `run` starts."""
        self.central = central
        self.sink = sink
        self.view = view
        self.options = options or StatusOptions()
        self._clock = clock
        self.stats = StatusStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._dirty: dict[ObjectRef, float] = {}
        """Objects to compute again, with the loop time their first change was noticed."""
        self._written: dict[ObjectRef, _Written] = {}
        self._seen: dict[str, tuple[Any, ...]] = {}
        """Per charger identity (lower case), what the last sweep read of it."""
        self._tokens = self._capacity
        self._tokens_at = 0.0
        self._power_change: datetime | None = None
        self._power_fleet: Fleet | None = None
        self._started = False
        self._cache: _Cache | None = None
        self._conditions: Mapping[str, list[ChargerCondition]] = {}
        """Every charger's conditions as the last sweep read them, by lower-cased identity."""
        self._locks: Liveness | None = None
        """The replicas' locks as read for the batch being written (None: read when asked)."""
        central.observers.append(self)

    # --- being told --------------------------------------------------------------------------

    def notify(self, kind: str, namespace: str, name: str) -> None:
        """The source saw the object change: added, edited (generation), refused or accepted
        (problems), its status written, or deleted. Cheap, never blocks: the object is only
        marked; `run` computes and writes it."""
        self._mark(ObjectRef(kind, namespace, name))

    def notify_all(self) -> None:
        """Look at every object again (after the watch restarted, say)."""
        for ref in self.view.objects():
            self._mark(ref)
        for loaded in self.central.fleet.all():
            self._mark(self._ref(loaded))

    async def charger_connected(self, identity: str, commands: ChargerCommands) -> None:
        loaded = self.central.fleet.charger_by_identity(identity)
        if loaded is not None:
            # What this process wrote while another one had the charger says nothing now.
            self._written.pop(self._ref(loaded), None)
        self._mark_charger(identity, around=True)

    async def charger_booted(self, identity: str) -> None:
        self._mark_charger(identity)

    async def charger_disconnected(self, identity: str) -> None:
        self._mark_charger(identity, around=True)

    async def transaction_changed(self, identity: str, transaction: Transaction) -> None:
        self._mark_charger(identity, location=True)

    async def charger_reported(self, identity: str, kind: str, data: dict[str, Any]) -> None:
        self._mark_charger(identity)

    async def fleet_changed(self, old: Fleet, new: Fleet) -> None:
        """What changed between the fleets, and what shows it: a charger's location and team
        count it, a location's chargers take its defaults, a circuit is its location's."""
        changed_locations: set[str] = set()
        changed_teams: set[str] = set()
        for kind, before, after in _kinds(old, new):
            for name in sorted(set(before) | set(after)):
                was, now = before.get(name), after.get(name)
                if was is not None and now is not None and was.resource == now.resource:
                    continue
                for loaded in (was, now):
                    if loaded is None:
                        continue
                    self._mark(self._ref(loaded))
                    resource = loaded.resource
                    if isinstance(resource, Charger):
                        changed_locations.add(resource.spec.location)
                    elif isinstance(resource, Location):
                        changed_locations.add(resource.metadata.name)
                        changed_teams.add(resource.spec.team)
                    elif kind == "PowerLimit":
                        changed_locations.add(getattr(resource.spec, "location", ""))
        for fleet in (old, new):
            for location in changed_locations:
                if location in fleet.locations:
                    self._mark(self._ref(fleet.locations[location]))
                    changed_teams.add(fleet.locations[location].resource.spec.team)
                for charger in fleet.chargers_at(location):
                    self._mark(self._ref(charger))
            for team in changed_teams:
                if team in fleet.teams:
                    self._mark(self._ref(fleet.teams[team]))

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Write changes as they come, until cancelled; the first pass covers every object."""
        loop = self._loop = asyncio.get_running_loop()
        self._tokens_at = loop.time()
        self._started = True
        self.notify_all()
        next_sweep = loop.time()
        while True:
            self._wake.clear()
            now = loop.time()
            if now >= next_sweep:
                await self._guarded(self._sweep())
                took = loop.time() - now
                # A fleet so large that a sweep takes long is swept less often: at most a
                # tenth of the time goes to sweeping.
                next_sweep = loop.time() + max(self.options.sweep_interval, 10 * took)
            next_write = await self._write_due(loop.time())
            timeout = max(0.0, min(next_sweep, next_write) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def flush(self) -> int:
        """Compute and write every change noticed so far now, waiting neither for the delay nor
        for the interval; the number of patches written. For shutdown and tests."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not self._started:
            self._started = True
            self.notify_all()
        await self._sweep()
        before = self.stats.patches
        while self._dirty:
            batch = sorted(self._dirty)[:BATCH]
            for ref in batch:
                del self._dirty[ref]
            await self._prefetch(batch)
            try:
                for ref in batch:
                    await self._write(ref)
            finally:
                self._cache = None
                self._locks = None
        return self.stats.patches - before

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("status: reading the central system's state failed; trying again")

    # --- when -------------------------------------------------------------------------------

    def _mark(self, ref: ObjectRef) -> None:
        if ref not in self._dirty:
            self._dirty[ref] = self._loop.time() if self._loop is not None else 0.0
            self._wake.set()

    def _mark_charger(self, identity: str, *, around: bool = False, location: bool = False) -> None:
        """The charger; with `location` its location too; `around`: its location and team."""
        fleet = self.central.fleet
        loaded = fleet.charger_by_identity(identity)
        if loaded is None:
            return
        self._mark(self._ref(loaded))
        if around or location:
            place = fleet.locations.get(loaded.resource.spec.location)
            if place is not None:
                self._mark(self._ref(place))
                team = fleet.teams.get(place.resource.spec.team)
                if around and team is not None:
                    self._mark(self._ref(team))

    def _due_at(self, ref: ObjectRef, noticed: float) -> float:
        written = self._written.get(ref)
        interval = (
            self.options.summary_interval if ref.kind in _SUMMARIES else self.options.min_interval
        )
        after = written.at + interval if written is not None else -math.inf
        return max(noticed + self.options.delay, after)

    @property
    def _capacity(self) -> float:
        return max(1.0, self.options.max_patches_per_second)

    def _token_ready(self, now: float) -> float:
        """When a patch may go out: now, or when the bucket has a token again."""
        rate = self.options.max_patches_per_second
        self._tokens = min(self._capacity, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        return now if self._tokens >= 1.0 else now + (1.0 - self._tokens) / rate

    async def _write_due(self, now: float) -> float:
        """Write the objects that are due, as the rate allows; when the next one is due."""
        times = ((self._due_at(ref, noticed), ref) for ref, noticed in self._dirty.items())
        due = sorted((at, ref) for at, ref in times if at <= now)
        batch = [ref for _, ref in due[:BATCH]]
        noticed = {ref: self._dirty.pop(ref) for ref in batch}
        # Marked again while the batch is written: computed again, from what is new then.
        await self._guarded(self._prefetch(batch))
        try:
            for i, ref in enumerate(batch):
                ready = self._token_ready(now)
                if ready > now:
                    for left in batch[i:]:
                        self._dirty.setdefault(left, noticed[left])
                    return ready
                if await self._write(ref):
                    self._tokens -= 1.0
                now = self._loop.time() if self._loop is not None else now
        finally:
            self._cache = None
            self._locks = None
        pending = [self._due_at(ref, noticed) for ref, noticed in self._dirty.items()]
        return min(pending, default=math.inf)

    # --- the sweep: what no event announces -----------------------------------------------------

    async def _sweep(self) -> None:
        """Read every charger's record and conditions; mark the chargers (and their locations,
        when their connection changed) whose reported state changed since the last sweep, and
        those whose last heartbeat in status grew stale. Scheduled limits that begin or end
        mark their locations."""
        fleet = self.central.fleet
        store = self.central.store
        records = {r.identity.lower(): r for r in await store.chargers()}
        live = await self._liveness(fresh=True)
        conditions: dict[str, list[ChargerCondition]] = {}
        for condition in await store.conditions():
            conditions.setdefault(condition.identity.lower(), []).append(condition)
        self._conditions = conditions
        now = self._clock()
        for loaded in fleet.chargers.values():
            identity = loaded.resource.identity.lower()
            record = records.get(identity)
            seen = _fingerprint(record, conditions.get(identity, []), live)
            before = self._seen.get(identity)
            if seen != before:
                self._seen[identity] = seen
                connection_changed = before is None or before[0] != seen[0]
                self._mark_charger(identity, around=connection_changed)
            elif record is not None and self._heartbeat_stale(loaded, record):
                self._mark(self._ref(loaded))
        if self._power_fleet is not fleet:
            self._power_fleet, self._power_change = fleet, next_change(fleet, now)
        if self._power_change is not None and now >= self._power_change:
            for limit in fleet.power_limits.values():
                if limit.resource.spec.schedule and limit.resource.spec.location in fleet.locations:
                    self._mark(self._ref(fleet.locations[limit.resource.spec.location]))
            self._power_change = next_change(fleet, now)

    def _heartbeat_stale(self, loaded: Loaded[Charger], record: ChargerRecord) -> bool:
        if record.last_heartbeat is None or self._live(loaded.resource.identity) is None:
            return False
        written = self._written.get(self._ref(loaded))
        shown = _last_sign_of_life(written.status if written is not None else None)
        return shown is None or record.last_heartbeat - shown >= self.options.heartbeat_refresh

    # --- writing one object -------------------------------------------------------------------

    async def _write(self, ref: ObjectRef) -> bool:
        """Compute the object's status and patch it if it differs; whether it was patched."""
        try:
            status = await self._compute(ref)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("status of %s/%s %s: not computed; trying again", *ref)
            self._retry(ref)
            return False
        self.stats.computed += 1
        if status is None:
            if self.view.generation_of(*ref) is None:
                self._written.pop(ref, None)  # gone: nothing to remember
            return False
        previous = self._previous(ref)
        status = self._settled(ref.kind, previous, status)
        managed = managed_fields(ref.kind)
        shown = _pruned({k: v for k, v in (previous or {}).items() if k in managed})
        written = self._written.get(ref)
        if status == shown or (written is not None and status == written.status):
            if status == shown:
                self._written[ref] = _Written(status, written.at if written else -math.inf)
            return False
        patch = _merge_patch(shown, status)
        try:
            await self.sink.patch_status(ref.kind, ref.namespace, ref.name, patch)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("status of %s/%s %s: not written (%s); trying again", *ref, error)
            self.stats.failures += 1
            self._retry(ref)
            return False
        at = self._loop.time() if self._loop is not None else 0.0
        self._written[ref] = _Written(status, at)
        self.stats.patches += 1
        self.stats.by_object[ref] = self.stats.by_object.get(ref, 0) + 1
        await self._announce(ref, shown, status)
        return True

    def _retry(self, ref: ObjectRef) -> None:
        """Try again after the interval (a failing API server is not asked in a loop)."""
        at = self._loop.time() if self._loop is not None else 0.0
        written = self._written.get(ref)
        self._written[ref] = _Written(written.status if written else {}, at)
        self._mark(ref)

    def _previous(self, ref: ObjectRef) -> Mapping[str, Any] | None:
        """The status the object shows (as watched), else the one this process last wrote."""
        watched = self.view.status_of(*ref)
        if watched is not None:
            return watched
        written = self._written.get(ref)
        return written.status if written is not None else None

    def _settled(self, kind: str, previous: Mapping[str, Any] | None, status: Status) -> Status:
        """Times that must not move when nothing else does: a condition's transition time
        while its status stays; the last heartbeat, unless something else changes or it grew
        older than `heartbeat_refresh`."""
        before = {
            c.get("type"): c for c in (previous or {}).get("conditions", []) if isinstance(c, dict)
        }
        for condition in status.get("conditions", []):
            old = before.get(condition["type"])
            if old is None or old.get("status") != condition["status"]:
                continue
            if old.get("lastTransitionTime"):
                condition["lastTransitionTime"] = old["lastTransitionTime"]
            if condition["type"] == "Synced" and condition["status"] == "True":
                # What an in-sync pass notes (a power profile sent as sessions come and go)
                # is the reconciler's log; Synced=True keeps the words it became True with.
                condition["reason"] = old.get("reason", condition["reason"])
                condition["message"] = old.get("message", condition["message"])
        if kind != "Charger" or previous is None:
            return _pruned(status)
        shown = _last_sign_of_life(previous)
        now = _parse_time(_at(status, "reported", "lastHeartbeat"))
        if shown is not None and now is not None and now - shown < self.options.heartbeat_refresh:
            quiet = _pruned(_with_heartbeat(status, _at(previous, "reported", "lastHeartbeat")))
            managed = managed_fields(kind)
            if quiet == _pruned({k: v for k, v in previous.items() if k in managed}):
                return quiet
        return _pruned(status)

    async def _announce(self, ref: ObjectRef, shown: Mapping[str, Any], status: Status) -> None:
        """A Warning Event for each problem the object did not show before."""
        old = set(_ready_problems(shown))
        for problem in _ready_problems(status):
            if problem in old:
                continue
            try:
                await self.sink.event(
                    ref.kind, ref.namespace, ref.name, "Warning", INVALID, problem
                )
                self.stats.events += 1
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("event on %s/%s %s not recorded: %s", *ref, error)

    # --- what the status says ---------------------------------------------------------------

    def _ref(self, loaded: Loaded[Resource]) -> ObjectRef:
        meta = loaded.resource.metadata
        return ObjectRef(loaded.kind, meta.namespace or self.options.default_namespace, meta.name)

    def _in_force(self, ref: ObjectRef) -> Loaded[Resource] | None:
        """The version in force of the object, if the fleet has it (in that namespace)."""
        by_name: Mapping[str, Loaded[Any]] = _by_kind(self.central.fleet).get(ref.kind, {})
        loaded = by_name.get(ref.name)
        if loaded is None or self._ref(loaded) != ref:
            return None
        return loaded

    def _live(self, identity: str) -> str | None:
        """The identity a charger connected to this process used (case-insensitively)."""
        connections = self.central.connections
        if identity in connections:
            return identity
        lowered = identity.lower()
        return next((c for c in connections if c.lower() == lowered), None)

    async def _compute(self, ref: ObjectRef) -> Status | None:
        """The object's status, or None when this process is not to write it."""
        generation = self.view.generation_of(*ref)
        if generation is None:
            return None  # not watched (deleted, or another namespace)
        problems = [str(p) for p in self.view.problems_of(*ref)]
        loaded = self._in_force(ref)
        base: Status = {"observedGeneration": generation}
        if ref.kind == "Charger" and loaded is not None:
            charger = cast(Loaded[Charger], loaded)
            return await self._charger(base, charger, problems, generation)
        ready = _ready(problems, generation, self._clock())
        if loaded is None:
            return {**base, "conditions": [ready]} if problems else None
        if isinstance(loaded.resource, Location):
            base.update(await self._location(loaded.resource))
        elif isinstance(loaded.resource, Team):
            base.update(await self._team(loaded.resource))
        return {**base, "conditions": [ready]}

    async def _charger(
        self, base: Status, loaded: Loaded[Charger], problems: list[str], generation: int
    ) -> Status | None:
        store = self.central.store
        declared = loaded.resource.identity
        live = self._live(declared)
        cache = self._cache
        if cache is not None and (
            declared.lower() not in cache.asked or live not in (None, declared)
        ):
            cache = None  # connected with its identity in another case: asked by that one
        if cache is not None:
            record = cache.records.get(declared.lower())
        else:
            record = await store.charger(live or declared)
        if live is None and record is not None and record.connected:
            locks = await self._liveness()
            if locks.connected(record.identity, True):
                return None  # connected to another replica, which writes it
            record = locks.record(record)  # recorded by a replica that died: connected nowhere
        identity = record.identity if record is not None else declared
        if cache is not None:
            found = cache.conditions.get(declared.lower(), [])
        else:
            found = await store.conditions(identity)
        recorded = {c.type: c for c in found}
        statuses = {s.key: s for s in await store.key_statuses(identity)}
        fleet = self.central.fleet
        plan = plan_charger(
            fleet.desired(loaded), record, terminal=statuses, extras=desired_extras(fleet, loaded)
        )
        connected = live is not None
        now = self._clock()
        link = _connected(record, connected, generation, now)
        synced = _synced(recorded.get("Synced"), record, generation, now)
        conditions = [link, synced, _charger_ready(problems, link, synced, generation, now)]
        status: Status = {**base, "conditions": conditions}
        reported = _reported(record, connected)
        if reported:
            status["reported"] = reported
        firmware = _firmware(loaded.resource, record, statuses.get(FIRMWARE_KEY))
        if firmware:
            status["firmware"] = firmware
        status.update(_differences(plan, statuses))
        return status

    async def _location(self, location: Location) -> Status:
        fleet = self.central.fleet
        name = location.metadata.name
        chargers = sorted(fleet.chargers_at(name), key=lambda c: c.name)
        records = await self._records([c.resource.identity for c in chargers])
        slots = asyncio.Semaphore(OPEN_TRANSACTION_QUERIES)

        async def open_of(loaded: Loaded[Charger]) -> list[Transaction]:
            record = records.get(loaded.resource.identity.lower())
            if record is None:
                return []
            async with slots:
                return await self.central.store.open_transactions(record.identity)

        found = await asyncio.gather(*(open_of(c) for c in chargers))
        status: Status = {
            "chargers": {
                "total": len(chargers),
                "connected": await self._connected_count(records.values()),
                "charging": sum(len(transactions) for transactions in found),
            }
        }
        limits = sorted(
            (p for p in fleet.power_limits.values() if p.resource.spec.location == name),
            key=lambda p: p.name,
        )
        if limits:
            sessions = sessions_from(zip(chargers, found, strict=True))
            power = allocate(fleet, sessions, self._clock(), name)
            status["circuits"] = [
                _circuit(load.circuit, load, limit.resource.spec.amperes_per_phase())
                for limit in limits
                if (load := power.circuits.get(limit.name)) is not None
            ]
        return status

    async def _team(self, team: Team) -> Status:
        fleet = self.central.fleet
        name = team.metadata.name
        chargers = fleet.chargers_of_team(name)
        records = await self._records([c.resource.identity for c in chargers])
        return {
            "locations": sorted(
                loc.name for loc in fleet.locations.values() if loc.resource.spec.team == name
            ),
            "chargers": {
                "total": len(chargers),
                "connected": await self._connected_count(records.values()),
            },
        }

    async def _liveness(self, *, fresh: bool = False) -> Liveness:
        """The replicas' locks: read once per batch of objects (and per sweep)."""
        if self._locks is None or fresh:
            self._locks = await liveness(coordination_of(self.central))
        return self._locks

    async def _connected_count(self, records: Iterable[ChargerRecord]) -> int:
        connected = [r for r in records if r.connected]
        if not connected:
            return 0
        live = await self._liveness()
        return sum(1 for r in connected if live.connected(r.identity, True))

    async def _prefetch(self, refs: Sequence[ObjectRef]) -> None:
        """For a batch of many chargers, their records (with the configuration) in one query,
        and the conditions the last sweep read, rather than two queries a charger. (A
        condition recorded since is seen by the next sweep, which marks the charger again.)
        The replicas' locks are read again for the batch."""
        self._cache = None
        self._locks = None
        chargers = [
            loaded.resource
            for ref in refs
            if ref.kind == "Charger" and (loaded := self._in_force(ref)) is not None
        ]
        if len(chargers) < PREFETCH_FROM:
            return
        identities = [cast(Charger, charger).identity for charger in chargers]
        store = self.central.store
        records = await store.chargers(identities=identities, configuration=True)
        self._cache = _Cache(
            frozenset(i.lower() for i in identities),
            {r.identity.lower(): r for r in records},
            self._conditions,
        )

    async def _records(self, identities: Sequence[str]) -> dict[str, ChargerRecord]:
        """The store's records of these chargers, by lower-cased identity."""
        if not identities:
            return {}
        found = await self.central.store.chargers(identities=list(identities))
        return {r.identity.lower(): r for r in found}


# --- pieces of a status ---------------------------------------------------------------------------


def _kinds(
    old: Fleet, new: Fleet
) -> Iterable[tuple[str, Mapping[str, Loaded[Any]], Mapping[str, Loaded[Any]]]]:
    before, after = _by_kind(old), _by_kind(new)
    for kind in KINDS:
        yield kind, before.get(kind, {}), after.get(kind, {})


def _by_kind(fleet: Fleet) -> dict[str, Mapping[str, Loaded[Any]]]:
    return {
        "Team": fleet.teams,
        "Location": fleet.locations,
        "Charger": fleet.chargers,
        "Card": fleet.cards,
        "Tariff": fleet.tariffs,
        "PowerLimit": fleet.power_limits,
    }


def _fingerprint(
    record: ChargerRecord | None, conditions: Sequence[ChargerCondition], live: Liveness
) -> tuple[Any, ...]:
    """What a sweep compares of a charger: all a status shows but the heartbeat. Connection
    first (a change there changes its location's and team's counts too): as the locks say."""
    if record is None:
        return (None,)
    return (
        live.connected(record.identity, record.connected),
        record.ocpp_version,
        record.boot,
        record.booted_at,
        record.connected_at,
        record.disconnected_at,
        tuple(
            (c.connector_id, c.status, c.error_code, c.info, c.vendor_error_code)
            for c in record.connectors
        ),
        record.configuration_at,
        tuple(sorted((c.type, c.status, c.reason, c.message) for c in conditions)),
    )


def _condition(
    type: str, status: str, reason: str, message: str, generation: int, at: datetime
) -> Status:
    """A condition changed (to `status`) at `at`; `_settled` keeps the transition time the
    object shows when its status is the same."""
    return {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "lastTransitionTime": iso_seconds(at),
        "observedGeneration": generation,
    }


def _ready(problems: Sequence[str], generation: int, now: datetime) -> Status:
    if problems:
        return _condition("Ready", "False", INVALID, "\n".join(problems), generation, now)
    return _condition("Ready", "True", "Accepted", "", generation, now)


def _connected(record: ChargerRecord | None, here: bool, generation: int, now: datetime) -> Status:
    if here:
        version = record.ocpp_version if record is not None else None
        words = f"connected with OCPP {version}" if version else "connected"
        return _condition("Connected", "True", "Connected", words, generation, now)
    if record is None or record.connected_at is None and record.disconnected_at is None:
        return _condition(
            "Connected", "False", "NeverConnected", "has never connected", generation, now
        )
    why = record.disconnect_reason or "the connection closed"
    return _condition("Connected", "False", "Disconnected", why, generation, now)


def _synced(
    recorded: ChargerCondition | None,
    record: ChargerRecord | None,
    generation: int,
    now: datetime,
) -> Status:
    """The reconciler's Synced condition, as it recorded it."""
    if recorded is None:
        never = record is None or record.connected_at is None
        return _condition(
            "Synced",
            "Unknown",
            "NeverConnected" if never else "NotReconciled",
            "has never connected" if never else "not reconciled yet",
            generation,
            now,
        )
    return _condition(
        "Synced",
        recorded.status,
        recorded.reason or "Unknown",
        recorded.message,
        generation,
        recorded.last_transition_time,
    )


def _charger_ready(
    problems: Sequence[str], connected: Status, synced: Status, generation: int, now: datetime
) -> Status:
    if problems:
        return _ready(problems, generation, now)
    if connected["status"] != "True":
        reason, message = connected["reason"], connected["message"]
        return _condition("Ready", "False", reason, message, generation, now)
    if synced["status"] != "True":
        return _condition("Ready", "False", "NotSynced", synced["message"], generation, now)
    return _condition("Ready", "True", "Ready", "", generation, now)


def _reported(record: ChargerRecord | None, here: bool) -> Status:
    """What the charger reported, without what changes with every message."""
    if record is None or (record.connected_at is None and record.booted_at is None):
        return {}
    reported: Status = {
        "ocppVersion": record.ocpp_version,
        "boot": boot_document(record.boot) if record.boot is not None else None,
        "bootedAt": _time(record.booted_at),
        "lastHeartbeat": _time(_minute(record.last_heartbeat)),
        "connectors": connector_documents(None, record.connectors, times=False),
    }
    if here or record.connected:
        reported["connectedAt"] = _time(record.connected_at)
    else:
        reported["disconnectedAt"] = _time(record.disconnected_at)
        reported["disconnectReason"] = record.disconnect_reason
    return reported


def _firmware(charger: Charger, record: ChargerRecord | None, status: KeyStatus | None) -> Status:
    declared = charger.spec.firmware
    if declared is None and status is None:
        return {}
    boot = record.boot if record is not None else None
    firmware: Status = {
        "version": boot.firmware_version if boot is not None else None,
        "desired": declared.version if declared is not None else None,
    }
    if status is not None:
        firmware.update(state=status.state.value, detail=status.detail, since=_time(status.at))
    return firmware


def _differences(plan: ChargerPlan, statuses: Mapping[str, KeyStatus]) -> Status:
    by_key = {key.lower(): status for key, status in statuses.items()}
    actions = plan.actions
    return {
        "plan": plan.status.value,
        "differences": [
            _difference(a, by_key.get(a.key.lower())) for a in actions[:MAX_DIFFERENCES]
        ],
        "differencesTotal": len(actions) if actions else None,
    }


def _difference(action: PlannedAction, status: KeyStatus | None) -> Status:
    return {
        "key": action.key,
        "action": action.kind.value,
        "reported": action.reported,
        "desired": shown_desired(action),
        "reason": action.reason,
        "state": status.state.value if status is not None else None,
        "drift": action.drift or None,
        "layer": action.layer.value if action.layer is not None else None,
    }


def _circuit(name: str, load: Any, static: int) -> Status:
    return {
        "name": name,
        "parent": load.parent,
        "limitAmperes": load.limit_amperes,
        "staticAmperes": static,
        "allocatedAmperes": f"{load.allocated:.1f}",
        "reservedAmperes": f"{load.reserved:.1f}",
        "sessions": load.sessions,
        "waiting": load.waiting,
    }


def _merge_patch(shown: Mapping[str, Any], status: Status) -> Status:
    """The merge patch that turns what the object shows into `status`: every field of
    `status`, and None for each one `shown` has and `status` has not, at every level of
    objects (lists are replaced whole, as a merge patch does)."""
    patch: Status = {}
    for key, value in status.items():
        before = shown.get(key)
        if isinstance(value, dict) and isinstance(before, Mapping):
            patch[key] = _merge_patch(before, value)
        else:
            patch[key] = value
    for key in shown:
        if key not in status:
            patch[key] = None
    return patch


def _ready_problems(status: Mapping[str, Any]) -> list[str]:
    for condition in status.get("conditions") or []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "Ready"
            and condition.get("reason") == INVALID
        ):
            return [line for line in str(condition.get("message", "")).split("\n") if line]
    return []


def _pruned(node: Status) -> Status:
    """`_without_nothing` of a status."""
    result: Status = _without_nothing(node)
    return result


def _without_nothing(node: Any) -> Any:
    """Without None, empty lists and empty objects, at every level: what is not there is not
    written, and compares equal to what the API server shows."""
    if isinstance(node, Mapping):
        result = {}
        for key, value in node.items():
            pruned = _without_nothing(value)
            if pruned is None or pruned == [] or pruned == {}:
                continue
            result[key] = pruned
        return result
    if isinstance(node, list):
        return [_without_nothing(item) for item in node]
    return node


def _at(status: Mapping[str, Any] | None, *path: str) -> Any:
    node: Any = status
    for step in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(step)
    return node


def _with_heartbeat(status: Status, heartbeat: Any) -> Status:
    """`status` with the last heartbeat another status showed (None: none)."""
    reported = dict(status.get("reported") or {})
    reported["lastHeartbeat"] = heartbeat
    return {**status, "reported": reported}


def _last_sign_of_life(status: Mapping[str, Any] | None) -> datetime | None:
    """The latest of the heartbeat, connection and boot times a status shows: how old what
    it says of the charger's life is (a status written before the first heartbeat has the
    connection's time)."""
    times = [
        _parse_time(_at(status, "reported", field))
        for field in ("lastHeartbeat", "connectedAt", "bootedAt")
    ]
    known = [at for at in times if at is not None]
    return max(known, default=None)


def _time(at: datetime | None) -> str | None:
    return None if at is None else iso_seconds(at)


def _minute(at: datetime | None) -> datetime | None:
    return None if at is None else at.replace(second=0, microsecond=0)


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
