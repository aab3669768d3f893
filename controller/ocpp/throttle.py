"""Wrong passwords at the handshake: how long to hold back each refusal, and who is failing.

A password guesser must not be able to lock the real charger out. So nothing here ever delays
an attempt or a right password: the endpoint checks the password first, admits a right one at
once, and only a refusal is held back, for at most `max_delay` seconds (well below the 10 s in
which websockets must complete a handshake). Holding a refusal costs the server no more than a
client that sends its request slowly, which the open timeout already allows anyone.

Failures are scored per (source, identity): each one adds 1, and the score decays
exponentially with `half_life`, so a charger that once had a wrong password, or an attacker who
stopped, is forgotten within minutes rather than held against it for as long as the server
runs. The first `free_failures` within a half-life or so are refused at once (a password just
rotated on one side); after that each refusal is held `base_delay`, doubling with each further
point of score, up to `max_delay`.

The source is the client's address; an IPv6 address counts as its /64, which one host can fill
with addresses of its own. Behind a proxy every charger shares the proxy's address: then the
score is the identity's alone, which still only slows refusals. Forwarded headers are not
believed: whoever sends the request writes them.

The table is bounded: at most `capacity` (source, identity) pairs, the least recently failed
forgotten first, so neither many identities nor many addresses can grow it without limit.

Pure bookkeeping on an injected clock: the endpoint does the waiting, and the unit tests need
no sleeps.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_DELAY = 3.0
"""Seconds; the longest a refusal is held, well below websockets' 10 s open timeout."""

BASE_DELAY = 0.25
"""Seconds; the hold of the first refusal past the free ones."""

FREE_FAILURES = 2
"""Failures of one (source, identity) refused at once before refusals are held."""

HALF_LIFE = 60.0
"""Seconds in which a failure's weight halves."""

CAPACITY = 4096
"""(source, identity) pairs remembered; about 200 bytes each."""


@dataclass
class _Score:
    value: float
    at: float


def source_key(host: str) -> str:
    """Whom a failure is held against: an IPv4 address as it is, an IPv6 address by its /64
    (an IPv4-mapped one as the IPv4 address), anything else (a Unix socket's name) as given."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class FailureThrottle:
    """Recent wrong passwords by (source, identity), decaying, in a bounded table."""

    def __init__(
        self,
        *,
        max_delay: float = MAX_DELAY,
        base_delay: float = BASE_DELAY,
        free_failures: int = FREE_FAILURES,
        half_life: float = HALF_LIFE,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if half_life <= 0 or capacity < 1:
            raise ValueError("half_life must be positive and capacity at least 1")
        self.max_delay = max_delay
        self.base_delay = base_delay
        self.free_failures = free_failures
        self.half_life = half_life
        self.capacity = capacity
        self._clock = clock
        self._scores: OrderedDict[tuple[str, str], _Score] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scores)

    def failed(self, source: str, identity: str) -> float:
        """Record one wrong password of `identity` from `source`; the seconds to hold its
        refusal."""
        now = self._clock()
        key = (source_key(source), identity)
        score = self._scores.pop(key, None)
        value = 1.0 if score is None else self._decayed(score, now) + 1.0
        self._scores[key] = _Score(value, now)
        while len(self._scores) > self.capacity:
            self._scores.popitem(last=False)
        return self.delay_for(value)

    def delay_for(self, score: float) -> float:
        """The hold of a refusal at `score` recent failures (this one included)."""
        excess = score - self.free_failures - 1
        if excess < 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2**excess)

    def recent(self, source: str, identity: str) -> float:
        """Recent failures of `identity` from `source`, decayed to now."""
        score = self._scores.get((source_key(source), identity))
        return 0.0 if score is None else self._decayed(score, self._clock())

    def top_sources(self, n: int, *, at_least: float = 0.5) -> list[tuple[str, float]]:
        """The `n` sources with the most recent failures over all identities (at least
        `at_least` of them), most first: who is guessing now."""
        now = self._clock()
        by_source: dict[str, float] = {}
        for (source, _identity), score in self._scores.items():
            by_source[source] = by_source.get(source, 0.0) + self._decayed(score, now)
        ranked = sorted(
            ((s, v) for s, v in by_source.items() if v >= at_least), key=lambda sv: (-sv[1], sv[0])
        )
        return ranked[:n]

    def _decayed(self, score: _Score, now: float) -> float:
        elapsed = max(0.0, now - score.at)
        return score.value * math.exp2(-elapsed / self.half_life)
