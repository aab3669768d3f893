"""Prometheus metrics of one central system, served at `/metrics`.

Built on prometheus-client, the reference client the Prometheus project maintains: its text
exposition is what every scraper expects, and it needs no running thread or server of its own
(the web server renders `generate_latest` in its handler).

Each `Metrics` has a registry of its own rather than the process-global one, so tests and
benchmarks that start several central systems in one process never share counters.

Two kinds of number, fed two ways:

- *state* (chargers connected here, chargers declared, pending chargers and how many were
  forgotten to keep them within bounds, handshake auth failures) is read from
  the central system and the endpoint when Prometheus scrapes, so it can never drift from
  what it describes;
- *events* (OCPP frames by action and direction, CALLERRORs we sent by code, transactions
  started and stopped, commands, reconciles) are counted as they happen: `attach` wires the
  OCPP side, and the reconciler calls `reconcile()` and `drifted()` itself (`Metrics` is the
  reconciler's `Reporter`; the serving process hands it over, so the reconciler needs nothing
  of this layer).

Label values are bounded: an action is a label only if one of the OCPP specifications defines
it (a charger sending made-up action names must not grow the series without limit), and no
metric is labelled by charger; per-charger detail is what the JSON API is for. The one
label taken from the network, the source address of failed logins, shows only the
`TOP_FAILING_SOURCES` addresses failing most at the time of the scrape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.ocpp import schemas
from controller.ocpp.central import Observer
from controller.ocpp.versions import VERSIONS
from controller.values.records import Direction, LogEntry, MessageType, Transaction

if TYPE_CHECKING:
    from controller.ocpp.central import CentralSystem
    from controller.ocpp.server import Endpoint

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format's content type."""

UNKNOWN_ACTION = "unknown"
"""The `action` label of frames whose action is unknown or not an OCPP action."""

TOP_FAILING_SOURCES = 5
"""Source addresses shown in `chargectl_auth_failures_recent`: few, so the series stay few."""

RECONCILE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds; one reconcile is a few round trips to a charger, up to a read-back after a reboot."""

_MESSAGE_TYPES: dict[int, str] = {
    MessageType.CALL: "call",
    MessageType.CALL_RESULT: "result",
    MessageType.CALL_ERROR: "error",
}


class Metrics:
    """The counters and histograms of one central system, and their registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._actions = frozenset().union(
            *(schemas.known_actions(binding.rpc) for binding in VERSIONS.values())
        )
        self._live: _Live | None = None
        self.messages = _FrameCounts(self._actions)
        self.registry.register(self.messages)
        self.callerrors_sent = Counter(
            "chargectl_ocpp_callerrors_sent",
            "CALLERRORs sent to chargers, by OCPP error code.",
            ("code",),
            registry=self.registry,
        )
        self.transactions_started = Counter(
            "chargectl_transactions_started",
            "Charging transactions started.",
            registry=self.registry,
        )
        self.transactions_stopped = Counter(
            "chargectl_transactions_stopped",
            "Charging transactions stopped.",
            registry=self.registry,
        )
        self.commands = Counter(
            "chargectl_commands",
            "Imperative commands sent through the admin channel, by command, outcome and the "
            "name of the token that asked (token names come from the token file: bounded).",
            ("command", "outcome", "requester"),
            registry=self.registry,
        )
        self.admin_refused = Counter(
            "chargectl_admin_requests_refused",
            "Requests to the admin channel refused before anything was done, by reason "
            "(no-token, wrong-token).",
            ("reason",),
            registry=self.registry,
        )
        self.reconciles = Counter(
            "chargectl_reconciles",
            "Reconciles of one charger, by outcome.",
            ("outcome",),
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "chargectl_reconcile_duration_seconds",
            "How long reconciling one charger took, by outcome.",
            ("outcome",),
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.drifted_keys = Counter(
            "chargectl_drifted_keys",
            "Configuration keys found changed from their declared value after they had been "
            "applied (drift), and set back.",
            registry=self.registry,
        )

    # --- for the reconciler (its `Reporter`) ------------------------------------------------

    def reconcile(self, outcome: str, seconds: float) -> None:
        """One charger reconciled: `outcome` is a small fixed vocabulary (e.g. "synced",
        "changed", "rejected", "failed"), never a charger id or free text."""
        self.reconciles.labels(outcome).inc()
        self.reconcile_seconds.labels(outcome).observe(seconds)

    def drifted(self, keys: int) -> None:
        """`keys` configuration keys were found drifted (and are being set back)."""
        if keys > 0:
            self.drifted_keys.inc(keys)

    # --- fed by the OCPP side (see `attach`) -------------------------------------------------

    def frame(self, entry: LogEntry) -> None:
        """Count one OCPP frame; CALLERRORs we sent are counted by their code too."""
        self.messages.count(entry)
        if entry.direction is Direction.SENT and entry.message_type == MessageType.CALL_ERROR:
            self.callerrors_sent.labels(_error_code(entry.frame)).inc()

    def transaction(self, transaction: Transaction) -> None:
        if transaction.is_open:
            self.transactions_started.inc()
        else:
            self.transactions_stopped.inc()

    def command(self, command: str, outcome: str, requester: str) -> None:
        self.commands.labels(command, outcome, requester).inc()

    def refused_admin_request(self, reason: str) -> None:
        self.admin_refused.labels(reason).inc()

    # --- wiring and exposition ---------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self._live is not None

    def attach(self, central: CentralSystem, endpoint: Endpoint | None = None) -> None:
        """Count what `central` sees from now on, and read its state at each scrape.

        Call once, before chargers connect; a second call is refused.
        """
        if self._live is not None:
            raise RuntimeError("these metrics are already attached to a central system")
        self._live = _Live(central, endpoint)
        self.registry.register(self._live)
        central.observers.append(_MetricsObserver(self))
        _tap_frames(central, self)

    def exposition(self) -> bytes:
        """The text Prometheus scrapes."""
        return generate_latest(self.registry)


class _MetricsObserver(Observer):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def transaction_changed(self, identity: str, transaction: Transaction) -> None:
        self.metrics.transaction(transaction)


class _FrameCounts(Collector):
    """OCPP frames by action, direction and type, counted in a plain dict and turned into a
    counter family at scrape time.

    Every frame of every charger passes here, tens of thousands a second in a reconnect
    storm; a prometheus_client Counter child takes a lock and a label lookup per increment,
    which profiling put at 3% of the server's time. Actions not in the OCPP schemas are
    counted as "unknown", so a charger sending garbage cannot grow the label set.
    """

    def __init__(self, actions: frozenset[str]) -> None:
        self._actions = actions
        self._counts: dict[tuple[str, str, str], int] = {}

    def count(self, entry: LogEntry) -> None:
        action = entry.action if entry.action in self._actions else UNKNOWN_ACTION
        kind = _MESSAGE_TYPES.get(entry.message_type, "invalid")
        key = (action or UNKNOWN_ACTION, entry.direction.value, kind)
        self._counts[key] = self._counts.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "chargectl_ocpp_messages",
            "OCPP frames by action, direction (received from or sent to chargers) and type.",
            labels=("action", "direction", "type"),
        )
        for labels, n in sorted(self._counts.items()):
            family.add_metric(list(labels), n)
        yield family


class _Live(Collector):
    """State read at scrape time from the central system and its endpoint."""

    def __init__(self, central: CentralSystem, endpoint: Endpoint | None) -> None:
        self.central = central
        self.endpoint = endpoint

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "chargectl_connected_chargers",
            "Chargers with an open OCPP connection to this process.",
            value=len(self.central.connections),
        )
        yield GaugeMetricFamily(
            "chargectl_declared_chargers",
            "Chargers declared in the fleet in force.",
            value=len(self.central.fleet.chargers),
        )
        yield GaugeMetricFamily(
            "chargectl_pending_chargers",
            "Chargers not in the fleet recorded as pending, at most max_pending (the oldest is "
            "forgotten for a new one).",
            value=self.central.pending_count,
        )
        yield CounterMetricFamily(
            "chargectl_pending_chargers_forgotten",
            "Pending chargers forgotten (and disconnected) to make room for newer ones.",
            value=self.central.pending_forgotten,
        )
        if self.endpoint is not None:
            yield CounterMetricFamily(
                "chargectl_auth_failures",
                "OCPP handshakes refused for a missing or wrong password.",
                value=self.endpoint.auth_failures_total,
            )
            recent = GaugeMetricFamily(
                "chargectl_auth_failures_recent",
                f"Recent wrong or missing passwords (each halving in "
                f"{self.endpoint.throttle.half_life:g} s) of the {TOP_FAILING_SOURCES} source "
                "addresses with the most (an IPv6 address by its /64): who is guessing now.",
                labels=("source",),
            )
            for source, score in self.endpoint.throttle.top_sources(TOP_FAILING_SOURCES):
                recent.add_metric([source], round(score, 3))
            yield recent


def _tap_frames(central: CentralSystem, metrics: Metrics) -> None:
    """Count every frame the sessions hand to the central system's message log.

    Every session logs each frame, both directions, through `CentralSystem.log_message`;
    counting there sees exactly what the message log sees. The central system has no listener
    hook for frames (its observers hear about charger events, not frames), so the bound method
    is wrapped on this one instance.
    """
    forward = central.log_message

    async def log_message(entry: LogEntry) -> None:
        metrics.frame(entry)
        await forward(entry)

    central.log_message = log_message  # type: ignore[method-assign]


def _error_code(frame: str) -> str:
    """The error code of a CALLERROR frame `[4, id, code, description, details]`."""
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed: Any = orjson.loads(frame)
        if isinstance(parsed, list) and len(parsed) > 2 and isinstance(parsed[2], str):
            return parsed[2]
    return "unknown"
