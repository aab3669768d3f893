"""Replicas of one fleet, coordinated by PostgreSQL itself: locks, NOTIFY, and shared rows.

Several `chargectl serve` (or `operator`) processes may share one PostgreSQL store. What they
must agree on is decided by the database, never by a protocol of ours (no membership, no
heartbeats between replicas, no leader):

- **Who holds a charger.** The replica holding a charger's websocket holds a *session*
  advisory lock on it (`charger_key`), taken with `pg_try_advisory_lock` on one dedicated
  connection per replica. PostgreSQL frees every lock of that connection when it ends, so a
  replica that dies (or loses its database) holds nothing. `owner` reads `pg_locks`: the lock
  table is the one list of which replica holds which charger, and it cannot go stale.
- **Takeover.** A charger connecting to replica B while replica A holds it (it reconnected
  after a network split and A still has the old, half-open socket): B asks A to let go
  (`NOTIFY`, topic `takeover`); A stops listening to the old socket, writes what it buffered,
  unlocks and says so (`released`); B takes the lock. The newest connection wins, as it does
  within one process. If A is alive but does not let go within `claim`'s timeout, B refuses;
  if A is gone, PostgreSQL has already freed its locks (at once for a crashed process; within
  `KEEPALIVE` seconds for a replica cut off from the database, whose connection the server's
  TCP keepalives end).
- **Commands** for a charger held elsewhere are a row of `forwarded_commands` and a `NOTIFY`
  (`forward`); the holder claims the row, runs the command (`CommandRunner`), writes the
  outcome back and notifies the asker, who waits at most its timeout.
- **Decisions spanning chargers** (a location's power shares, a rollout's free places) are
  taken in a transaction holding transaction-scoped advisory locks on their scopes
  (`decision`, `scope_key`), from shared tables read inside it.
- **News** (`publish`, `subscribe`): a transaction began at a location, a charger lowered its
  limits, an update ended. Only wakes: whoever hears acts on what the tables say.

All notifications travel on one channel, `chargectl`, as JSON `{"t": topic, "p": payload,
"r": replica}`; a replica ignores its own. The dedicated connection both holds the locks and
listens, so losing it loses both at once: the replica then reconnects, takes its chargers'
locks again, and hands over those another replica took meanwhile.

With SQLite there is one process, and `LOCAL` coordinates nothing: every claim succeeds, nothing
is forwarded or published, and the steps decide as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from controller.values.records import ChargerRecord, KeyStatus, Transaction

CLAIM_TIMEOUT = 5.0
"""Seconds a new connection waits for the replica holding its charger to let go."""


def _key(kind: str, name: str) -> int:
    digest = hashlib.blake2b(f"{kind}\0{name}".encode(), digest_size=8, person=b"chargectl")
    return int.from_bytes(digest.digest(), "big", signed=True)


def charger_key(identity: str) -> int:
    """The advisory lock of a charger: 64 bits of a hash of its identity (OCPP identities
    compare without case). 64 bits, so that ten thousand chargers do not share one."""
    return _key("charger", identity.lower())


def scope_key(scope: str) -> int:
    """The advisory lock of a shared decision's scope, such as `location:depot`."""
    return _key("scope", scope)


def lock_halves(key: int) -> tuple[int, int]:
    """A bigint advisory lock as `pg_locks` shows it: (classid, objid), with objsubid 1."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


@dataclass(eq=False)
class Claim:
    """One connection's hold on its charger; `valid` until released, or until the charger was
    handed over to another replica (then nothing more is recorded from that connection)."""

    identity: str
    key: int
    valid: bool = True


@dataclass(frozen=True)
class SharedProfiles:
    """What another replica published of one of its chargers' profiles (`power_profiles`)."""

    identity: str
    state: Mapping[str, Any]


class NotHeld(Exception):
    """No replica holds the charger: it is not connected."""


class ForwardTimeout(Exception):
    """The replica holding the charger did not answer in time."""


class CommandRunner(Protocol):
    """Runs commands forwarded by other replicas (`controller.web.commands` is one)."""

    def holds(self, identity: str) -> bool:
        """Whether the charger is connected here."""
        ...

    async def run(
        self, identity: str, body: Mapping[str, Any], requester: str | None
    ) -> dict[str, Any]:
        """Run the command and return its outcome document."""
        ...


Takeover = Callable[[str, str], Awaitable[None]]
"""Lets go of a charger here (identity, why): stop recording from its connection, close it
and write what is buffered; the coordination then unlocks it."""

Listener = Callable[[str], None]
"""Hears one topic's payloads; only notes and wakes (never awaits)."""


class Decision(ABC):
    """Reads and writes of one shared decision, inside the transaction holding its locks."""

    @abstractmethod
    async def open_transactions(self, identities: Sequence[str]) -> list[list[Transaction]]:
        """The open transactions of each of these chargers, in their order, oldest first."""

    @abstractmethod
    async def key_statuses(
        self, key: str, identities: Collection[str], states: Collection[str]
    ) -> list[KeyStatus]:
        """The stored statuses of `key` in these states, of these chargers."""

    @abstractmethod
    async def shared_profiles(self, location: str) -> list[SharedProfiles]:
        """What the other replicas published of their chargers at `location`, of the chargers
        they still hold."""

    @abstractmethod
    async def put_profiles(self, identity: str, location: str, state: Mapping[str, Any]) -> None:
        """Publish what this replica knows of a charger's profiles, committed with the
        decision."""


class Coordination(ABC):
    """How this process agrees with the other replicas; see the module."""

    shared = False
    """Whether other processes may share the store (PostgreSQL)."""
    replica = "local"
    """This process, as logs and rows name it."""
    epoch = 0
    """How many times the lock connection was (re)made: what was published before the last
    time counts no more (its rows name a backend that is gone)."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # --- chargers ------------------------------------------------------------------------------

    def on_takeover(self, takeover: Takeover) -> None:
        """How to let go of a charger another replica takes over."""
        return None

    @abstractmethod
    async def claim(self, identity: str, timeout: float = CLAIM_TIMEOUT) -> Claim | None:
        """Hold `identity` for a new connection, taking it over from the replica holding it;
        None when that replica does not let go within `timeout` (or the lock connection is
        down)."""

    async def release(self, claim: Claim) -> None:
        """The connection ended: let go of the charger unless another connection here holds
        it too."""
        claim.valid = False

    async def owner(self, identity: str) -> int | None:
        """The database backend (pid) of the replica holding the charger, if any."""
        return None

    def holds_here(self, identity: str) -> bool:
        """Whether this replica holds the charger's lock (one process: every charger)."""
        return True

    async def held(self) -> frozenset[int] | None:
        """The lock keys (`charger_key`) some replica holds now; None: one process, where the
        store's own record of connections is the truth."""
        return None

    # --- commands ------------------------------------------------------------------------------

    def serve_commands(self, runner: CommandRunner) -> None:
        """Run the commands other replicas forward for chargers connected here."""
        return None

    async def forward(
        self, identity: str, body: Mapping[str, Any], requester: str | None, timeout: float
    ) -> dict[str, Any]:
        """Have the replica holding `identity` run a command; its outcome document. Raises
        `NotHeld` when no replica holds it, `ForwardTimeout` without an answer in time."""
        raise NotHeld(identity)

    # --- news and decisions --------------------------------------------------------------------

    def publish(self, topic: str, payload: str) -> None:
        """Tell the other replicas (later, in order; never blocks)."""
        return None

    def subscribe(self, topic: str, listener: Listener) -> None:
        """Hear what the other replicas publish on `topic`."""
        return None

    def decision(self, *scopes: str) -> contextlib.AbstractAsyncContextManager[Decision]:
        """A transaction holding the locks of `scopes`, in the order given (callers give a
        location before its team, so that no two decisions wait for each other)."""
        raise NotImplementedError("one process decides alone")

    async def put_profiles(self, identity: str, location: str, state: Mapping[str, Any]) -> None:
        """Publish what this replica knows of a charger's profiles (see `Decision`)."""
        return None

    def forget_profiles(self, identity: str) -> None:
        """The charger left this replica: what was published of it means nothing any more
        (done later; never blocks)."""
        return None


class _Local(Coordination):
    async def claim(self, identity: str, timeout: float = CLAIM_TIMEOUT) -> Claim | None:
        return Claim(identity, charger_key(identity))


LOCAL: Coordination = _Local()
"""One process, one store (SQLite): nothing to agree on."""


GONE = "its replica is gone"
"""Why a charger recorded as connected is not: no replica holds its lock (the one that had it
died, or lost its database, without recording the end of the connection)."""


class Liveness:
    """Which of the store's recorded connections are live, from one reading of the locks.

    With several replicas (PostgreSQL), a record says `connected` until its replica records
    the end of the connection, which a replica that dies never does; the charger's lock says
    whether some replica holds it. One process (`held` None): the record is the truth.
    """

    __slots__ = ("held",)

    def __init__(self, held: frozenset[int] | None) -> None:
        self.held = held

    def connected(self, identity: str, recorded: bool) -> bool:
        """Whether a charger recorded as `recorded` (its stored `connected`) is connected to
        some replica now."""
        if not recorded:
            return False
        return self.held is None or charger_key(identity) in self.held

    def gone(self, identity: str, recorded: bool) -> bool:
        """Recorded as connected, but no replica holds it: its replica is gone."""
        return recorded and not self.connected(identity, recorded)

    def record(self, record: ChargerRecord) -> ChargerRecord:
        """The record as the locks say: one of a connection no replica holds reads as the
        connection's end would have left it (not connected, `GONE`). The one correction every
        reader of `connected` makes (status API, plan, admin channel, Kubernetes status and
        annotation commands), so none of them calls a dead replica's charger connected."""
        if not self.gone(record.identity, record.connected):
            return record
        return dataclasses.replace(record, connected=False, disconnect_reason=GONE)

    def records(self, records: Sequence[ChargerRecord]) -> list[ChargerRecord]:
        """`record` of each."""
        return [self.record(r) for r in records]


ONE_PROCESS = Liveness(None)
"""The store's record is the truth (SQLite)."""


async def liveness(coordination: Coordination) -> Liveness:
    """The locks as they are now: one query (of `pg_locks`) for every charger."""
    held = await coordination.held()
    return ONE_PROCESS if held is None else Liveness(held)


def coordination_of(holder: object) -> Coordination:
    """The coordination of a central system or store; `LOCAL` for what has none (the fakes of
    unit tests, one process)."""
    found = getattr(holder, "coordination", None)
    return found if isinstance(found, Coordination) else LOCAL
