"""Custom resources → the fleet in force, one resource at a time: the last good version of each.

The directory source refuses a bad edit as a whole. Here every custom resource is its own
edit: a resource that breaks a rule is refused alone, the rest of the fleet takes effect, and
the last good version of the refused resource stays in force (a new resource that is bad is
simply absent). The rules are the same as `chargectl validate`'s, run by the same code:
`loading.parse_document` for each object's schema, then `Fleet.build` and
`validation.check_fleet` for the fleet as a whole; every problem keeps validate's message.

`settle` decides, purely, from the versions in force and the latest version of every object:

1. An object whose latest version fails the schema keeps its version in force.
2. The fleet of every latest version is checked. A changed (or new) object with an error of
   its own is refused: back to its version in force (or absent). Repeated until no changed
   object has an error of its own.
3. An unchanged object may still break a rule because of another's change (a circuit lowered
   below a charger's connector, a location deleted under its chargers). Then the change that
   broke it is found, newest first, by taking one change back at a time; it is refused with
   the problems its taking back cleared. A deletion is taken back by keeping the deleted
   object's last version in force, which Kubernetes cannot show (the object is gone), so its
   problems are reported on the objects they are about (the chargers naming the location).
   A deleted Charger always leaves the fleet: deleting one is how a user stops managing it.
4. What is left (no single change explains it) stays in force, with its problems reported.

Names: the fleet keys resources by kind and name, Kubernetes by kind, namespace and name.
The watched namespaces form one fleet with one set of names, so a Charger in one namespace
may name a Location in another; a second resource of the same kind and name in another
namespace is refused as a duplicate (`duplicate-name`, validate's message), and the one in
force (else the one first seen) keeps the name and is told so with a warning.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from controller.fleet.loading import parse_document
from controller.fleet.model import Fleet, Loaded
from controller.fleet.problems import Problem, Severity, Source, format_path
from controller.fleet.validation import check_fleet
from controller.resources import API_VERSION, KINDS, Charger, Resource

PLURALS: Mapping[str, str] = {kind: model.PLURAL for kind, model in KINDS.items()}
"""Each kind's plural, as its API path and CRD name spell it."""

DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
"""Annotations that are a copy of the object itself (kubectl's), not declared state."""


class ObjectKey(NamedTuple):
    """One custom resource, as Kubernetes names it."""

    kind: str
    namespace: str
    name: str

    @property
    def plural(self) -> str:
        return PLURALS[self.kind]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.plural}/{self.name}"


def source_of(key: ObjectKey) -> Source:
    """The "file" a resource's problems name: `namespace/plural/name`, where `kubectl get`
    finds it (a custom resource has no lines, so its problems have no line either)."""
    return Source(str(key))


def key_of(kind: str, raw: Mapping[str, Any]) -> ObjectKey:
    meta = raw.get("metadata") or {}
    return ObjectKey(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def declared(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """What a custom resource declares, as a fleet file would: apiVersion, kind, the user's
    metadata (name, namespace, labels, annotations) and the rest but `status`.

    What the API server adds (uid, resourceVersion, generation, managedFields, ...) and what
    the controller writes (status) are left out: they are not desired state, and a status
    write must not look like an edit."""
    document: dict[str, Any] = {
        key: copy.deepcopy(value)
        for key, value in raw.items()
        if key not in ("metadata", "status", "apiVersion", "kind")
    }
    document["apiVersion"] = raw.get("apiVersion", API_VERSION)
    document["kind"] = raw.get("kind", kind)
    meta = raw.get("metadata") or {}
    kept: dict[str, Any] = {"name": meta.get("name")}
    if meta.get("namespace"):
        kept["namespace"] = meta["namespace"]
    if meta.get("labels"):
        kept["labels"] = dict(meta["labels"])
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in DROPPED_ANNOTATIONS
    }
    if annotations:
        kept["annotations"] = annotations
    return {"apiVersion": document.pop("apiVersion"), "kind": document.pop("kind"),
            "metadata": kept, **document}  # fmt: skip


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """The latest version of one object as the API holds it, schema-checked on first use."""

    key: ObjectKey
    document: Mapping[str, Any]
    """What it declares (`declared`)."""
    generation: int | None = None
    uid: str | None = None
    checked: tuple[Loaded[Resource] | None, tuple[Problem, ...]] | None = None
    """The schema check's outcome once made: the resource (None: refused) and its problems."""

    def check(self) -> Version:
        """This version with its schema checked (itself, when it already is)."""
        if self.checked is not None:
            return self
        source = source_of(self.key)
        resource, problems = parse_document(dict(self.document), source)
        loaded = Loaded(resource, source) if resource is not None else None
        return replace(self, checked=(loaded, tuple(problems)))


@dataclass(frozen=True)
class ResourceState:
    """What became of one custom resource: what the status writer shows on it.

    `in_force`: its latest version is the one in force (False: refused, an older version or
    nothing stands in its place). `problems`: errors and warnings about it, each with
    validate's code and message (see `describe`); errors mean Ready=False."""

    key: ObjectKey
    generation: int | None
    uid: str | None
    in_force: bool
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def ready(self) -> bool:
        """In force as declared, and breaking no rule."""
        return self.in_force and not self.errors


def describe(problems: Iterable[Problem], about: ObjectKey | None = None) -> str:
    """Problems one a line, in validate's words: `error[code]: message`, then where — the
    resource, when it is another than `about` (the one whose status shows them), and the
    path in it: `error[unresolved-reference]: Location 'depot' is not declared in this fleet
    (did you mean 'dépôt'?) (at spec.location)`."""
    itself = f"{about.kind}/{about.name}" if about is not None else None
    lines = []
    for problem in problems:
        where = []
        if problem.resource and problem.resource != itself:
            where.append(f"in {problem.resource}")
        if problem.path:
            where.append(f"at {format_path(problem.path)}")
        context = f" ({' '.join(where)})" if where else ""
        lines.append(f"{problem.severity.value}[{problem.code}]: {problem.message}{context}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Settlement:
    """The outcome of `settle`: the fleet in force and what became of every object."""

    fleet: Fleet
    in_force: Mapping[ObjectKey, Loaded[Resource]]
    states: Mapping[ObjectKey, ResourceState]
    versions: Mapping[ObjectKey, Version]
    """The latest versions given, with their schema checked (to keep for the next time)."""
    refused: tuple[ObjectKey, ...] = ()
    """Objects whose latest version is not in force (schema or fleet-wide rule)."""
    held: tuple[ObjectKey, ...] = ()
    """Deleted objects kept in force because others still need them."""


# --- deciding ----------------------------------------------------------------------------------


def settle(
    in_force: Mapping[ObjectKey, Loaded[Resource]],
    latest: Mapping[ObjectKey, Version],
    order: Mapping[ObjectKey, int] | None = None,
) -> Settlement:
    """The fleet in force after the latest versions, one object at a time (module docstring).

    `in_force`: each object's version in force (deleted objects included while held);
    `latest`: each existing object's latest version; `order`: when each was first seen, for
    who keeps a name or an identity two claim (the one in force, else the first seen).
    Pure: no I/O, nothing shared is changed, so it may run in a worker thread."""
    rank = order or {}
    versions = {key: version.check() for key, version in latest.items()}
    schema: dict[ObjectKey, tuple[Problem, ...]] = {}
    candidates: dict[ObjectKey, Loaded[Resource] | None] = {}
    for key, version in versions.items():
        assert version.checked is not None
        loaded, found = version.checked
        if found:
            schema[key] = found
        candidates[key] = loaded if loaded is not None else in_force.get(key)
    for key in in_force.keys() - versions.keys():
        candidates[key] = None  # deleted
    changed = sorted(
        (key for key, loaded in candidates.items() if loaded is not in_force.get(key)),
        key=lambda key: (rank.get(key, len(rank)), key),
    )
    refusals: dict[ObjectKey, list[Problem]] = {}
    notes: dict[ObjectKey, list[Problem]] = {}

    def check(chosen: Mapping[ObjectKey, Loaded[Resource] | None]) -> tuple[Fleet, list[Problem]]:
        present = [(key, loaded) for key, loaded in chosen.items() if loaded is not None]
        present.sort(key=lambda item: (item[0] not in in_force, rank.get(item[0], 0), item[0]))
        fleet, duplicates = Fleet.build([loaded for _, loaded in present])
        return fleet, [*duplicates, *check_fleet(fleet)]

    files = {str(key): key for key in candidates}

    def errors_by_key(problems: Iterable[Problem]) -> dict[ObjectKey, list[Problem]]:
        found: dict[ObjectKey, list[Problem]] = {}
        for problem in problems:
            if problem.severity is Severity.ERROR and problem.file in files:
                found.setdefault(files[problem.file], []).append(problem)
        return found

    fleet, problems = check(candidates)
    while True:
        errors = errors_by_key(problems)
        own = [key for key in changed if key in errors]
        if own:  # 2. a change that breaks a rule itself is refused
            for key in own:
                refusals.setdefault(key, []).extend(errors[key])
                candidates[key] = in_force.get(key)
                changed.remove(key)
            fleet, problems = check(candidates)
            continue
        residual = {p for key, found in errors.items() for p in found}
        if not residual:
            break
        culprit = None
        related = _related(residual, files, candidates, in_force)
        for key in reversed(changed):  # 3. the newest change whose taking back helps
            if key.kind == Charger.KIND and key not in versions:
                continue  # a deleted charger leaves, whatever it leaves behind
            if not _names_in(candidates.get(key), in_force.get(key), key) & related:
                continue  # it names nothing the problems' objects name: it cannot clear them
            trial = {**candidates, key: in_force.get(key)}
            trial_fleet, trial_problems = check(trial)
            left = {p for found in errors_by_key(trial_problems).values() for p in found}
            cleared = residual - left
            if cleared and len(left) < len(residual):
                culprit = key
                candidates, fleet, problems = trial, trial_fleet, trial_problems
                changed.remove(key)
                ordered = sorted(cleared, key=Problem.sort_key)
                if key in versions:
                    refusals.setdefault(key, []).extend(ordered)
                else:  # a held deletion: tell the objects that still need it
                    for problem in ordered:
                        assert problem.file is not None
                        notes.setdefault(files[problem.file], []).append(problem)
                break
        if culprit is None:
            break  # 4. no single change explains it: keep it, and say so

    final = {key: loaded for key, loaded in candidates.items() if loaded is not None}
    by_key: dict[ObjectKey, list[Problem]] = {}
    for problem in problems:
        if problem.file in files:
            by_key.setdefault(files[problem.file], []).append(problem)
    refused = [
        key
        for key in versions
        if _latest_loaded(versions[key]) is None
        or final.get(key) is not _latest_loaded(versions[key])
    ]
    _note_duplicates(refusals, final, notes)
    states: dict[ObjectKey, ResourceState] = {}
    for key, version in versions.items():
        latest_in_force = key not in refused
        told = [*schema.get(key, ()), *refusals.get(key, ())]
        if latest_in_force:
            told.extend(by_key.get(key, ()))
        told.extend(notes.get(key, ()))
        states[key] = ResourceState(
            key,
            version.generation,
            version.uid,
            latest_in_force,
            tuple(dict.fromkeys(told)),
        )
    held = tuple(sorted(key for key in final if key not in versions))
    return Settlement(fleet, final, states, versions, tuple(sorted(refused)), held)


def _strings(value: object, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, found)


def _names_in(*about: Loaded[Resource] | ObjectKey | None) -> set[str]:
    """Every text in these versions (and a key's name): the names they declare and point at."""
    found: set[str] = set()
    for item in about:
        if isinstance(item, ObjectKey):
            found.add(item.name)
        elif item is not None:
            _strings(item.resource.model_dump(mode="json", by_alias=True), found)
            found.add(item.name)
    return found


def _related(
    residual: Iterable[Problem],
    files: Mapping[str, ObjectKey],
    candidates: Mapping[ObjectKey, Loaded[Resource] | None],
    in_force: Mapping[ObjectKey, Loaded[Resource]],
) -> set[str]:
    """The texts a change must mention to touch the residual problems.

    A rule joins resources only by what they name: a charger its location, a limit the
    location, two chargers one identity, two cards one idTag. So: the texts in the objects the
    problems are about, and in the objects those name, keeping only the names of objects and
    the texts few objects share (a charger's "Type2" or "1.6" joins nothing)."""
    texts = {key: _names_in(candidates.get(key), in_force.get(key), key) for key in candidates}
    names = {key.name for key in candidates}
    counts: dict[str, int] = {}
    for found in texts.values():
        for text in found:
            counts[text] = counts.get(text, 0) + 1
    common = {text for text, count in counts.items() if 2 * count > len(texts)} - names
    about = {files[p.file] for p in residual if p.file is not None and p.file in files}
    near: set[str] = set().union(*(texts[key] for key in about if key in texts))
    hops = near & names
    for key, found in texts.items():
        if key.name in hops:
            near |= found
    return near - common


def _latest_loaded(version: Version) -> Loaded[Resource] | None:
    assert version.checked is not None
    return version.checked[0]


def _note_duplicates(
    refusals: Mapping[ObjectKey, Sequence[Problem]],
    final: Mapping[ObjectKey, Loaded[Resource]],
    notes: dict[ObjectKey, list[Problem]],
) -> None:
    """The resource that keeps a name another namespace also declares is told so."""
    holders = {(key.kind, key.name): key for key in final}
    for key, problems in refusals.items():
        if not any(p.code == "duplicate-name" for p in problems):
            continue
        holder = holders.get((key.kind, key.name))
        if holder is None or holder == key:
            continue
        notes.setdefault(holder, []).append(
            Problem(
                "duplicate-name",
                f"{key.kind} {key.name!r} is also declared in {key}; that one is refused "
                "while this one is in force",
                source_of(holder),
                ("metadata", "name"),
                Severity.WARNING,
                resource=f"{key.kind}/{key.name}",
            )
        )


# --- keeping -----------------------------------------------------------------------------------


@dataclass
class ObjectBook:
    """The latest version of every watched object, and what is in force: the state `settle`
    works on, changed only from the event loop (events in, settlements applied)."""

    latest: dict[ObjectKey, Version] = field(default_factory=dict)
    in_force: dict[ObjectKey, Loaded[Resource]] = field(default_factory=dict)
    states: dict[ObjectKey, ResourceState] = field(default_factory=dict)
    order: dict[ObjectKey, int] = field(default_factory=dict)
    dirty: bool = False
    """Something changed since the last settlement."""

    def observe(self, kind: str, raw: Mapping[str, Any]) -> bool:
        """An object as the API shows it now (listed, added or modified); True when what it
        declares changed (a status write, say, changes nothing)."""
        key = key_of(kind, raw)
        document = declared(kind, raw)
        meta = raw.get("metadata") or {}
        generation = meta.get("generation")
        uid = meta.get("uid")
        known = self.latest.get(key)
        if known is not None and known.document == document:
            if known.generation != generation or known.uid != uid:
                self.latest[key] = replace(known, generation=generation, uid=uid)
                self.dirty = True  # observedGeneration follows, though nothing else does
            return False
        self.order.setdefault(key, len(self.order))
        self.latest[key] = Version(
            key, document, generation if isinstance(generation, int) else None, uid
        )
        self.dirty = True
        return True

    def forget(self, kind: str, raw: Mapping[str, Any]) -> bool:
        """The object was deleted; True when it was known."""
        key = key_of(kind, raw)
        if self.latest.pop(key, None) is None:
            return False
        self.dirty = True
        return True

    def apply(self, settlement: Settlement, latest: Mapping[ObjectKey, Version]) -> None:
        """Take a settlement made from `latest` (a snapshot of `self.latest`): what is in
        force, and the schema checks made, for versions that did not change meanwhile."""
        self.in_force = dict(settlement.in_force)
        self.states = dict(settlement.states)
        for key, checked in settlement.versions.items():
            if self.latest.get(key) is latest.get(key):
                self.latest[key] = checked
        for key in list(self.order):
            if key not in self.latest and key not in self.in_force:
                del self.order[key]
