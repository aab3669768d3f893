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

How often: a change is written `StatusOptions.delay` after it is first noticed (later changes
within that window join the same patch), an object is patched at most once per
`min_interval`, and all objects together at most `max_patches_per_second`. Nothing written
changes with a heartbeat: `reported.lastHeartbeat` is written with whatever else changes, and
on its own at most once per `heartbeat_refresh` (6 hours); times of connector statuses are left
out. So a charger converges in two or three patches (connected and booted; the first pass;
converged), and a steady one is patched less than once an hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from controller.ocpp.central import CentralSystem, Observer

Status = dict[str, Any]
"""A `.status` document as JSON data, camelCase like the resources."""


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
    max_patches_per_second: float = 50.0
    """Patches at most per second, all objects together."""
    sweep_interval: float = 15.0
    """Seconds between reads of what no event announces (connector statuses, the
    reconciler's conditions, key statuses), for the chargers that changed."""
    heartbeat_refresh: timedelta = timedelta(hours=6)
    """How stale `reported.lastHeartbeat` may grow before it is written on its own."""
    default_namespace: str = "default"
    """The namespace of fleet resources whose metadata names none."""


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
        central.observers.append(self)

    async def run(self) -> None:
        """Write changes as they come, until cancelled; the first pass covers every object."""
        raise NotImplementedError

    def notify(self, kind: str, namespace: str, name: str) -> None:
        """The source saw the object change: added, edited (generation), refused or accepted
        (problems), its status written, or deleted. Cheap, never blocks: the object is only
        marked; `run` computes and writes it."""
        raise NotImplementedError

    def notify_all(self) -> None:
        """Look at every object again (after the watch restarted, say)."""
        raise NotImplementedError

    async def flush(self) -> int:
        """Compute and write every change noticed so far now, waiting neither for the delay nor
        for the interval; the number of patches written. For shutdown and tests."""
        raise NotImplementedError
