"""Kubernetes custom resources as the source of desired state (`chargectl operator`).

`open_source` lists the six kinds in the watched namespaces (one, several, or all) through
the API, so the endpoint starts with the whole fleet, then runs kopf in the same event loop
to follow every change. Each change lands in an `ObjectBook`; after a short quiet spell the
book is settled (`objects.settle`, in a worker thread: it is pure) into the fleet in force,
which reaches the central system through the listener like the directory source's does.

A resource that breaks a rule is refused alone; the per-resource outcome (`ResourceState`:
in force or not, and validate's problems) is what the status writer shows as `Ready` and
Events. Deleting a Charger takes it out of the fleet: from then on the endpoint refuses its
handshake as it refuses any identity the fleet does not declare. Nothing is written to the
objects here, and no finalizer is added.

The Secrets chargers name (`secretKeyRef`) are read through the same API session from the
controller's namespace and watched (`api.SecretCache`): a changed Secret is the password
from the next handshake on, and wakes the chargers naming it (`PasswordBook.announce`), whose
reconciler sets it on them (`converge.credentials`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from controller.fleet.model import Fleet, Loaded
from controller.fleet.reporting import plural
from controller.resources import KINDS, Charger, Resource
from controller.sources.base import FleetListener, SourceUnavailable
from controller.sources.kubernetes.api import (
    ApiError,
    ApiOrigin,
    ApiStatusSink,
    Credentials,
    KubeApi,
    SecretCache,
    resource_path,
)
from controller.sources.kubernetes.objects import (
    ObjectBook,
    ObjectKey,
    ResourceState,
    Settlement,
    describe,
    key_of,
    settle,
)

if TYPE_CHECKING:
    from controller.ocpp.central import CentralSystem
    from controller.sources.kubernetes.admission import AdmissionOptions, WebhookServer
    from controller.sources.kubernetes.annotations import AnnotationCommands, CommandChannel
    from controller.sources.kubernetes.status import ObjectRef, StatusWriter

log = logging.getLogger("chargectl.kubernetes")


@dataclass(frozen=True)
class KubernetesOptions:
    """Which custom resources are the fleet, and how to reach them."""

    origin: ApiOrigin = field(default_factory=ApiOrigin)
    namespaces: Sequence[str] = ()
    """Watched namespaces; none (and not `all_namespaces`): the context's or pod's own."""
    all_namespaces: bool = False
    secrets_namespace: str | None = None
    """Where `secretKeyRef` Secrets are read; None: the controller's own namespace (the pod's
    or the context's), else the first watched one."""
    watch_secrets: bool = True
    write_status: bool = True
    """Keep the objects' `.status` and Events (`status.StatusWriter`); off: only read."""
    relist: float | None = 600.0
    """Seconds without a change between full listings, which catch what a watch cannot tell:
    an object deleted while a watch reconnected, or between our first listing and kopf's.
    None: never."""
    quiet: float = 0.2
    """Seconds without a change before the book is settled: a `kubectl apply -f fleet/`
    arrives as one settlement, not one per object."""
    commands: Callable[[CentralSystem], CommandChannel] | None = None
    """How commands asked through annotations are sent (`annotations`; the runtime gives
    `web.commands`'); None: annotations ask nothing."""
    admission: AdmissionOptions | None = None
    """Serve the validating admission webhook (`admission`); None: no webhook."""


class KubernetesSource:
    """The custom resources in the watched namespaces; a `DesiredStateSource`.

    `current` is the fleet in force; `states` says, per custom resource, what became of its
    latest version (see `objects.ResourceState`). It is the status writer's `ObjectView`
    (`objects`, `generation_of`, `problems_of`, `status_of`), tells the writer of every
    change (`notify`), and `sink` writes status and Events through the same API session."""

    def __init__(self, api: KubeApi, options: KubernetesOptions, listener: FleetListener) -> None:
        self.api = api
        self.options = options
        self.listener = listener
        self.book = ObjectBook()
        self.current = Fleet()
        self.reloaded = 0
        self.refused = 0
        self.settlements = 0
        """How many times the book was settled (tests wait on it through `settled`)."""
        self.settled = asyncio.Condition()
        """Notified after every settlement."""
        self.sink = ApiStatusSink(api, uid_of=self._uid_of)
        self.secrets: SecretCache | None = None
        self.central: CentralSystem | None = None
        self.writer: StatusWriter | None = None
        self.commands: AnnotationCommands | None = None
        self.webhook: WebhookServer | None = None
        """The admission webhook's server, when it is served (`admission`)."""
        self._modifiers: dict[ObjectKey, str | None] = {}
        self._statuses: dict[ObjectKey, Mapping[str, Any] | None] = {}
        self._changed = asyncio.Event()
        self._seen: dict[ObjectKey, int] = {}
        self._events = 0
        self._stop = asyncio.Event()
        self._kopf: list[asyncio.Task[Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._lock = asyncio.Lock()

    # --- what others read --------------------------------------------------------------------

    @property
    def states(self) -> Mapping[ObjectKey, ResourceState]:
        return self.book.states

    # The status writer's view of the objects (`status.ObjectView`).

    def objects(self) -> list[ObjectRef]:
        """Every object watched now, in force or refused."""
        from controller.sources.kubernetes.status import ObjectRef

        return [ObjectRef(*key) for key in self.book.latest]

    def generation_of(self, kind: str, namespace: str, name: str) -> int | None:
        version = self.book.latest.get(ObjectKey(kind, namespace, name))
        return version.generation if version is not None else None

    def problems_of(self, kind: str, namespace: str, name: str) -> list[str]:
        """The errors that refuse the object's present version (or that it breaks where it
        stays in force, as a charger whose location was deleted under it), one line each as
        validate words it: `error[code]: message (at path)`; empty when it is fine."""
        key = ObjectKey(kind, namespace, name)
        state = self.book.states.get(key)
        if state is None:
            return []
        return [describe([problem], key) for problem in state.errors]

    def status_of(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._statuses.get(ObjectKey(kind, namespace, name))

    def annotations_of(self, kind: str, namespace: str, name: str) -> Mapping[str, str]:
        """The object's annotations as its latest version declares them."""
        version = self.book.latest.get(ObjectKey(kind, namespace, name))
        found = (version.document.get("metadata") or {}).get("annotations") if version else None
        return {str(k): str(v) for k, v in (found or {}).items()}

    def modifier_of(self, kind: str, namespace: str, name: str) -> str | None:
        return self._modifiers.get(ObjectKey(kind, namespace, name))

    def _uid_of(self, key: ObjectKey) -> str | None:
        version = self.book.latest.get(key)
        return version.uid if version is not None else None

    @property
    def watched(self) -> tuple[str, ...] | None:
        """The watched namespaces; None: all of them."""
        if self.options.all_namespaces:
            return None
        if self.options.namespaces:
            return tuple(dict.fromkeys(self.options.namespaces))
        return (self.api.credentials.namespace or "default",)

    async def wait_until(self, condition: Callable[[], object], timeout: float = 20.0) -> None:
        """Until `condition()` holds: checked now and after every settlement (for tests)."""

        async def satisfied() -> None:
            async with self.settled:
                await self.settled.wait_for(lambda: bool(condition()))

        await asyncio.wait_for(satisfied(), timeout)

    # --- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """List every watched object, settle the first fleet, read the Secrets it names, and
        start kopf and the Secret watch. The listener is not called: there is nothing yet to
        tell (the caller builds the central system from `current`)."""
        await self._list_all()
        await self._settle(tell=False)
        found = self.api.credentials
        namespace = (
            self.options.secrets_namespace
            or found.namespace
            or (self.watched[0] if self.watched else None)
            or "default"
        )
        self.secrets = SecretCache(self.api, namespace)
        await self.secrets.want(secret_names(self.current))
        if self.options.watch_secrets:
            self._tasks.append(asyncio.create_task(self.secrets.follow(), name="secret watch"))
        await self._start_kopf()

    async def attach(self, central: CentralSystem) -> None:
        """The central system now serves this fleet: start writing the objects' status from
        what it knows (`status.StatusWriter`, through `sink`, with this source as its view)."""
        self.central = central
        if self.secrets is not None:  # a changed Secret rotates the passwords naming it
            self.secrets.on_change = lambda name: central.passwords.announce(
                chargers_naming(self.current, name)
            )
        if self.options.commands is not None:
            from controller.sources.kubernetes.annotations import AnnotationCommands

            self.commands = AnnotationCommands(
                central,
                self.sink,
                self,
                self.options.commands(central),
                default_namespace=self.watched[0] if self.watched else "default",
            )
            self.commands.consider_all()
        if not self.options.write_status:
            return
        from controller.sources.kubernetes.status import StatusOptions, StatusWriter

        namespace = self.watched[0] if self.watched else "default"
        self.writer = StatusWriter(
            central, self.sink, self, options=StatusOptions(default_namespace=namespace)
        )
        self._tasks.append(asyncio.create_task(self._write_status(), name="status writer"))

    async def _write_status(self) -> None:
        assert self.writer is not None
        try:
            await self.writer.run()
        except NotImplementedError:  # the writer's interface landed before its body
            log.warning("status writing is not implemented yet: no .status is written")
            self.writer = None

    def _notify(self, key: ObjectKey) -> None:
        if self.writer is not None:
            with contextlib.suppress(NotImplementedError):
                self.writer.notify(*key)

    async def stop(self) -> None:
        self._stop.set()
        if self.commands is not None:
            await self.commands.stop()
        for task in [*self._tasks, *self._kopf]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._kopf, return_exceptions=True)
        self._tasks.clear()
        self._kopf.clear()
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):  # kopf's, pointing at what is gone
                with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def run(self) -> None:
        """Settle the book whenever it changed, until cancelled; fails if kopf stops."""
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), self.options.relist)
            except TimeoutError:
                await self.reload()
                continue
            if self._stop.is_set():
                return
            failed = [t for t in self._kopf if t.done()]
            if failed:
                raise RuntimeError(f"kopf stopped watching the custom resources: {failed[0]!r}")
            await asyncio.sleep(self.options.quiet)  # let a burst of changes arrive whole
            self._changed.clear()
            await self._settle()

    async def reload(self) -> bool:
        """List every watched object again now (forgetting what is no longer there) and
        settle; True when a new fleet took effect."""
        mark = self._events
        listed = await self._list_all()
        for key in [k for k in self.book.latest if k not in listed]:
            if self._seen.get(key, 0) <= mark:  # no event told of it since the list began
                raw = {"metadata": {"namespace": key.namespace, "name": key.name}}
                self.book.forget(key.kind, raw)
        return await self._settle()

    # --- events ---------------------------------------------------------------------------

    def observe(self, kind: str, type: str | None, raw: Mapping[str, Any]) -> None:
        """One watch event (kopf's handlers call this): the book takes it, the loop settles."""
        self._events += 1
        key = key_of(kind, raw)
        self._seen[key] = self._events
        if type == "DELETED":
            self._statuses.pop(key, None)
            changed = self.book.forget(kind, raw)
        else:
            status = raw.get("status")
            if self._statuses.get(key, ...) != status:
                self._statuses[key] = status
                self._notify(key)  # someone wrote its status: the writer compares
            changed = self.book.observe(kind, raw)
        self._command(key, type, raw)
        if changed or self.book.dirty:
            self._changed.set()

    def _command(self, key: ObjectKey, type: str | None, raw: Mapping[str, Any]) -> None:
        """Tell the annotation commands of a Charger's change (`annotations`)."""
        if key.kind != Charger.KIND:
            return
        from controller.sources.kubernetes.annotations import last_modifier
        from controller.sources.kubernetes.status import ObjectRef

        if type == "DELETED":
            self._modifiers.pop(key, None)
            if self.commands is not None:
                self.commands.forget(ObjectRef(*key))
            return
        self._modifiers[key] = last_modifier(raw)
        if self.commands is not None:
            self.commands.consider(ObjectRef(*key))

    # --- internals --------------------------------------------------------------------------

    async def _list_all(self) -> set[ObjectKey]:
        namespaces: Sequence[str | None] = self.watched or (None,)
        jobs = [
            (kind, self.api.list(resource_path(model.PLURAL, namespace)))
            for kind, model in KINDS.items()
            for namespace in namespaces
        ]
        results = await asyncio.gather(*(job for _, job in jobs))
        listed: set[ObjectKey] = set()
        for (kind, _), (items, _version) in zip(jobs, results, strict=True):
            for raw in items:
                self.book.observe(kind, raw)
                key = key_of(kind, raw)
                self._statuses[key] = raw.get("status")
                listed.add(key)
        return listed

    async def _start_kopf(self) -> None:
        import kopf

        from controller.sources.kubernetes import handlers

        async def login() -> Credentials:
            return (
                await self.api.reconnect() if self.api.origin.url is None else self.api.credentials
            )

        watched = self.watched
        registry, settings = handlers.registry(self.observe, login), handlers.settings()
        if self.options.admission is not None:
            from controller.sources.kubernetes import admission

            default_namespace = watched[0] if watched else "default"
            admission.register(registry, admission.judge_from(self.book, default_namespace))
            self.webhook = admission.configure(settings, self.options.admission)
        self._kopf = list(
            await kopf.spawn_tasks(
                registry=registry,
                settings=settings,
                standalone=True,
                clusterwide=watched is None,
                namespaces=list(watched or ()),
                stop_flag=self._stop,
            )
        )
        for task in self._kopf:
            task.add_done_callback(lambda _: self._changed.set())
        where = "all namespaces" if watched is None else "namespace " + ", ".join(watched)
        log.info("watching %s custom resources in %s", ", ".join(KINDS), where)

    async def _settle(self, *, tell: bool = True) -> bool:
        """Settle the book; tell the listener of a new fleet in force. True when there is."""
        async with self._lock:
            self.book.dirty = False
            latest = dict(self.book.latest)
            in_force = dict(self.book.in_force)
            order = dict(self.book.order)
            settlement = await asyncio.to_thread(settle, in_force, latest, order)
            before = dict(self.book.states)
            self.book.apply(settlement, latest)
            changed_fleet = _differs(in_force, settlement.in_force)
            old, self.current = self.current, settlement.fleet
            self._log(before, settlement)
            if changed_fleet:
                self.reloaded += 1
                if tell:
                    await self.listener(old, settlement.fleet)
                if self.secrets is not None:
                    await self.secrets.want(secret_names(settlement.fleet))
            for key, state in settlement.states.items():
                if before.get(key) != state:
                    self._notify(key)
            for key in before.keys() - settlement.states.keys():
                self._notify(key)
            self.settlements += 1
        async with self.settled:
            self.settled.notify_all()
        return changed_fleet

    def _log(self, before: Mapping[ObjectKey, ResourceState], settlement: Settlement) -> None:
        for key, state in settlement.states.items():
            previous = before.get(key)
            if state.errors and (previous is None or previous.problems != state.problems):
                if previous is None or previous.generation != state.generation:
                    self.refused += 1
                kept = "its last good version stays in force" if key in settlement.in_force else (
                    "it is not in force"
                )  # fmt: skip
                log.error("%s refused (%s):\n%s", key, kept, describe(state.errors, key))
            elif previous is not None and previous.errors and not state.errors:
                log.info("%s is in force again", key)
        for key in settlement.held:
            log.warning("%s was deleted but others still name it: it stays in force", key)
        fleet = settlement.fleet
        log.info(
            "fleet from custom resources: %s (%s), %s refused",
            plural(len(fleet), "resource"),
            plural(len(fleet.chargers), "charger"),
            len(settlement.refused),
        )


def _differs(
    before: Mapping[ObjectKey, Loaded[Resource]], after: Mapping[ObjectKey, Loaded[Resource]]
) -> bool:
    return before.keys() != after.keys() or any(after[k] is not v for k, v in before.items())


def secret_names(fleet: Fleet) -> set[str]:
    """The Kubernetes Secrets the fleet's chargers name for their passwords."""
    names = set()
    for charger in fleet.chargers.values():
        resource: Charger = charger.resource
        ref = resource.spec.security.basic_auth_password
        if ref is not None and ref.secret_key_ref is not None:
            names.add(ref.secret_key_ref.name)
    return names


def chargers_naming(fleet: Fleet, secret: str) -> list[str]:
    """The identities of the fleet's chargers whose password is in Secret `secret`."""
    found = []
    for charger in fleet.chargers.values():
        resource: Charger = charger.resource
        ref = resource.spec.security.basic_auth_password
        if ref is not None and ref.secret_key_ref is not None and ref.secret_key_ref.name == secret:
            found.append(resource.identity)
    return found


@contextlib.asynccontextmanager
async def open_source(
    options: KubernetesOptions, listener: FleetListener
) -> AsyncIterator[KubernetesSource]:
    """Connect, list, settle and start watching; stop watching and disconnect on exit.
    `SourceUnavailable` when the API cannot be reached or refuses to list the resources."""
    api = KubeApi(options.origin)
    source = KubernetesSource(api, options, listener)
    try:
        try:
            await api.reconnect()
            await source.start()
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise SourceUnavailable(f"cannot read the custom resources: {error}") from error
        except Exception as error:
            if type(error).__name__ != "ConfigException":  # kubernetes.config's, no kubeconfig
                raise
            raise SourceUnavailable(
                f"cannot find the Kubernetes API ({error}); give --kube-url or --kubeconfig"
            ) from error
        yield source
    finally:
        await source.stop()
        await api.close()
