"""A Kubernetes API for tests: kmock's emulator over real HTTP on loopback, with our CRDs.

No kube-apiserver can be installed on these machines, so the operator is tested against
`kmock.KubernetesEmulator` (made for testing kopf operators): a real aiohttp server that lists,
watches, creates, patches and deletes objects it keeps in memory. `cluster()` starts one on
127.0.0.1 with the six kinds of `charts/chargectl/crds/` registered for discovery (and the
core kinds the operator and kopf touch: namespaces, Secrets, Events), so kopf's discovery and
watches work as against a real cluster. The `kube` fixture yields it for one test.

A test changes objects through `Cluster`'s helpers, which go over HTTP as `kubectl` would, so
every watch stream sees the change:

    async def test_something(kube: Cluster) -> None:
        await kube.apply(CHARGER)                     # create, or update like kubectl apply
        await kube.apply_path(EXAMPLES / "fleet")     # every document of a file or directory
        await kube.delete("Charger", "cp-1")
        await kube.wait_for(lambda: kube.status("Charger", "cp-1").get("conditions"), "status")

and reads what the operator wrote from the emulator's memory: `get`, `status`, `events`,
`status_patches`, `requests`. `wait_for` re-checks its condition after every request the
emulator serves (no polling, no sleeps), failing with a message past its deadline.

What kmock does not do, and how this fixture stands in for it:

- **No bookkeeping of metadata.** The emulator stores what it is sent. The helpers here set
  `uid`, `namespace`, `creationTimestamp`, `generation` (1, then +1 on every change of `spec`)
  and `resourceVersion` (+1 on every change through the helpers) themselves. A status patch
  written by the operator bumps neither, so a test cannot see `resourceVersion` move on a
  status write, and the operator's own writes never conflict.
- **No conflicts, no optimistic concurrency.** A write with a stale `resourceVersion` is
  accepted, so the retry-on-409 path of a real API server is not exercised here.
- **No server-side apply**, and no strategic merge: a PATCH is a JSON merge patch (nested
  mappings merged, `None` deletes a key, lists replaced). `apply` therefore sends the merge
  patch from the stored object to the new document, which is what `kubectl apply` amounts to
  for custom resources (that have no strategic merge keys). Managed fields and field managers
  are not recorded: `fieldManager=chargectl` is only visible in the request's query.
- **No selectors, no generateName, no PUT.** Label and field selectors are ignored (a LIST
  returns everything); an object must be created with a `metadata.name`.
- **No subresource separation.** A PATCH to `/status` merges into the whole object, and a
  PATCH to the object may change `status`: a test cannot show that a spec update leaves the
  status alone, or that a status patch cannot touch the spec.
- **No validation or pruning.** The CRDs' OpenAPI schemas and CEL rules are not applied:
  anything is stored. (`tests/unit/resources` check the schemas themselves.)
- **Watches start over.** Every watch request first streams every stored object as ADDED,
  whatever `resourceVersion` it asks from, and a deleted object's history stays in memory.
- **No finalizers beyond the basics, no garbage collection, no namespaces of its own**: a
  namespace need not exist for objects in it to be created.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import kmock
import pytest
import pytest_asyncio
from ruamel.yaml import YAML

from controller.fleet.loading import discover

REPO = Path(__file__).resolve().parents[1]
CRDS = REPO / "charts" / "chargectl" / "crds"
DEADLINE = 20.0
"""Seconds `wait_for` waits by default before it fails the test."""


@dataclass(frozen=True)
class Kind:
    """One kind the emulated API serves, as discovery describes it."""

    kind: str
    plural: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True

    @property
    def resource(self) -> str:
        """`group/version/plural` (`v1/plural` for the core group), kmock's key."""
        return f"{self.group}/{self.version}/{self.plural}" if self.group else f"v1/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The API path of the collection (or of one object, with `name`)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"
        where = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{root}{where}/{self.plural}" + (f"/{name}" if name else "")


CORE_KINDS = (
    Kind("Namespace", "namespaces", namespaced=False),
    Kind("Secret", "secrets"),
    Kind("Event", "events"),
)
"""Core kinds kopf discovers (namespaces) or the operator reads and writes (Secrets, Events)."""


def crd_kinds(directory: Path = CRDS) -> dict[str, tuple[Kind, dict[str, Any]]]:
    """Our kinds by `kind:`, each with its CustomResourceDefinition as a dict."""
    yaml = YAML(typ="safe")
    kinds: dict[str, tuple[Kind, dict[str, Any]]] = {}
    for file in sorted(directory.glob("*.yaml")):
        crd = yaml.load(file.read_text(encoding="utf-8"))
        spec = crd["spec"]
        names = spec["names"]
        version = next(v["name"] for v in spec["versions"] if v.get("storage", True))
        kind = Kind(
            names["kind"],
            names["plural"],
            spec["group"],
            version,
            namespaced=spec["scope"] == "Namespaced",
        )
        kinds[kind.kind] = (kind, crd)
    return kinds


@attrs.define(kw_only=True)
class _Emulator(kmock.KubernetesEmulator):
    """kmock's emulator that tells waiters when it has served a request."""

    served: asyncio.Condition = attrs.field(factory=asyncio.Condition, init=False)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            return await super()._handle(request)
        finally:
            async with self.served:
                self.served.notify_all()


class Cluster:
    """The emulated API server and what a test does with it.

    Objects are created, changed and deleted over HTTP (so watches see it); what is stored
    is read from the emulator's memory. `namespace` is where a document without one goes.
    """

    def __init__(self, emulator: _Emulator, server: kmock.Server, namespace: str) -> None:
        self.emulator = emulator
        self.server = server
        self.namespace = namespace
        self.kinds: dict[str, Kind] = {k.kind: k for k in CORE_KINDS}
        self.crds: dict[str, dict[str, Any]] = {}
        self._revision = 0

    @property
    def url(self) -> str:
        """The API server's URL, for `chargectl operator --kube-url`."""
        return str(self.server.url).rstrip("/")

    # --- registration ----------------------------------------------------------------------

    def register(self, kind: Kind, *, subresources: Iterable[str] = ()) -> None:
        """Serve `kind` in discovery (list, watch, get, create, patch, delete)."""
        self.kinds[kind.kind] = kind
        self.emulator.resources[kind.resource] = kmock.ResourceInfo(
            kind=kind.kind,
            singular=kind.kind.lower(),
            namespaced=kind.namespaced,
            verbs={"list", "watch", "get", "create", "patch", "update", "delete"},
            subresources=set(subresources),
        )

    def register_crds(self, directory: Path = CRDS) -> None:
        """Our six kinds, from the generated CRDs, each with its status subresource."""
        crd_kind = Kind("CustomResourceDefinition", "customresourcedefinitions", namespaced=False)
        self.register(
            Kind(crd_kind.kind, crd_kind.plural, "apiextensions.k8s.io", "v1", namespaced=False)
        )
        for kind, crd in crd_kinds(directory).values():
            subresources = next(
                v.get("subresources", {})
                for v in crd["spec"]["versions"]
                if v["name"] == kind.version
            )
            self.register(kind, subresources=subresources)
            self.crds[kind.kind] = crd
            crds = "apiextensions.k8s.io/v1/customresourcedefinitions"
            self.emulator.objects[crds, None, crd["metadata"]["name"]] = crd

    # --- writing, over HTTP ----------------------------------------------------------------

    async def apply(
        self, document: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Create the object, or change it to `document` (labels, annotations, spec): what
        `kubectl apply` does. The stored object is returned."""
        kind = self.kinds[document["kind"]]
        ns = self._namespace_of(kind, document, namespace)
        name = document["metadata"]["name"]
        existing = self.get(kind.kind, name, ns)
        if existing is None:
            return await self.create(document, ns)
        desired = copy.deepcopy(dict(document))
        desired.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "generation", "resourceVersion", "namespace"):
            if field in existing.get("metadata", {}):
                desired["metadata"][field] = existing["metadata"][field]
        if "status" in existing:
            desired["status"] = existing["status"]
        patch = merge_patch(existing, desired)
        if not patch:
            return existing
        return await self.patch(kind.kind, name, patch, ns)

    async def apply_path(self, path: Path, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every document in a YAML file or under a directory (as `kubectl apply -f -R`)."""
        files, problems = discover([path])
        assert not problems, problems
        yaml = YAML(typ="safe")
        applied = []
        for file in files:
            for document in yaml.load_all(file.read_text(encoding="utf-8")):
                if document:
                    applied.append(await self.apply(_json_ready(document), namespace))
        return applied

    async def create(
        self, document: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """POST the object, with the metadata a real API server would give it."""
        kind = self.kinds[document["kind"]]
        ns = self._namespace_of(kind, document, namespace)
        body = copy.deepcopy(dict(document))
        body.setdefault("apiVersion", kind.api_version)
        meta = body.setdefault("metadata", {})
        if kind.namespaced:
            meta["namespace"] = ns
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = self._next_revision()
        return await self._request("POST", kind.path(ns), body)

    async def patch(
        self, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """A JSON merge patch of the object (`generation` bumped when `spec` changes)."""
        the_kind = self.kinds[kind]
        ns = namespace or self.namespace
        body = copy.deepcopy(dict(patch))
        meta = body.setdefault("metadata", {})
        existing = self.get(kind, name, ns) or {}
        if "spec" in body:
            meta["generation"] = int(existing.get("metadata", {}).get("generation", 0)) + 1
        meta["resourceVersion"] = self._next_revision()
        return await self._request(
            "PATCH",
            the_kind.path(ns, name),
            body,
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        the_kind = self.kinds[kind]
        await self._request("DELETE", the_kind.path(namespace or self.namespace, name), None)

    async def create_secret(
        self, name: str, data: Mapping[str, str], namespace: str | None = None
    ) -> dict[str, Any]:
        """A Secret with `data` given as text (stored base64-encoded, as the API does)."""
        import base64

        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return await self.apply(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded},
            namespace,
        )

    # --- reading, from the emulator's memory -----------------------------------------------

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The stored object, or None (never created, or deleted)."""
        the_kind = self.kinds[kind]
        ns = (namespace or self.namespace) if the_kind.namespaced else None
        key = (kmock.resource(the_kind.resource), ns, name)
        if key not in self.emulator.objects:
            return None
        stored = self.emulator.objects[key]
        return None if stored.deleted else copy.deepcopy(stored.raw)

    def status(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object's `.status` ({} when it has none, or the object is gone)."""
        found = self.get(kind, name, namespace)
        return dict(found.get("status") or {}) if found else {}

    def condition(
        self, kind: str, name: str, type: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The status condition of this `type`, if written."""
        conditions = self.status(kind, name, namespace).get("conditions") or []
        return next((c for c in conditions if c.get("type") == type), None)

    def events(
        self, kind: str | None = None, name: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Events posted (about `kind`/`name`, when given), oldest first."""
        found = []
        for (resource, ns, _), stored in self.emulator.objects.items():
            if resource != self.kinds["Event"].resource or stored.deleted:
                continue
            if namespace is not None and ns != namespace:
                continue
            event = stored.raw
            involved = event.get("involvedObject") or event.get("regarding") or {}
            if kind is not None and involved.get("kind") != kind:
                continue
            if name is not None and involved.get("name") != name:
                continue
            found.append(copy.deepcopy(event))
        return found

    def requests(self, method: str | None = None, path_contains: str = "") -> list[kmock.Request]:
        """Requests the emulator served (of `method`, whose path contains the text)."""
        return [
            r
            for r in list(self.emulator)  # the emulator iterates over what it served
            if (method is None or r.method.upper() == method.upper())
            and path_contains in r.url.path
        ]

    def status_patches(
        self, kind: str, name: str, namespace: str | None = None
    ) -> list[kmock.Request]:
        """PATCH requests to this object's `/status`, in the order they came."""
        path = self.kinds[kind].path(namespace or self.namespace, name) + "/status"
        return [r for r in self.requests("PATCH") if r.url.path == path]

    # --- waiting ---------------------------------------------------------------------------

    async def wait_for(
        self,
        condition: Callable[[], object],
        what: str | Callable[[], str],
        deadline: float = DEADLINE,
    ) -> None:
        """Until `condition()` is true: checked now and after every request the emulator
        serves. Past the deadline, the test fails saying `what` (a callable: to describe the
        state it gave up in)."""

        async def satisfied() -> None:
            async with self.emulator.served:
                await self.emulator.served.wait_for(lambda: bool(condition()))

        try:
            await asyncio.wait_for(satisfied(), deadline)
        except TimeoutError:
            pytest.fail(f"gave up waiting: {what if isinstance(what, str) else what()}")

    # --- internals -------------------------------------------------------------------------

    def _namespace_of(
        self, kind: Kind, document: Mapping[str, Any], namespace: str | None
    ) -> str | None:
        if not kind.namespaced:
            return None
        return namespace or (document.get("metadata") or {}).get("namespace") or self.namespace

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        async with self.server.client.request(method, path, json=body, headers=headers) as reply:
            answer: dict[str, Any] = await reply.json(content_type=None)
            assert reply.status < 400, f"{method} {path}: {reply.status} {answer}"
            return answer


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`: keys gone are None."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            inner = merge_patch(before, value)
            if inner:
                patch[key] = inner
        elif key not in old or before != value:
            patch[key] = copy.deepcopy(value)
    return patch


def _json_ready(value: Any) -> Any:
    """YAML timestamps as RFC 3339 text, as `kubectl` sends them."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextlib.asynccontextmanager
async def cluster(namespace: str = "default") -> AsyncIterator[Cluster]:
    """An emulated API server on 127.0.0.1 (a free port) with our CRDs registered."""
    async with _Emulator() as emulator, kmock.Server(emulator, host="127.0.0.1") as server:
        emulated = Cluster(emulator, server, namespace)
        for kind in CORE_KINDS:
            emulated.register(kind)
        emulated.register_crds()
        yield emulated


@pytest_asyncio.fixture
async def kube() -> AsyncIterator[Cluster]:
    """An emulated Kubernetes API for one test (see the module's docstring)."""
    async with cluster() as emulated:
        yield emulated
