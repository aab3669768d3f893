"""The reconciler's rig: a real `Reconciler` and `CentralSystem` over fakes.

The fleet is real YAML, loaded as `serve` loads it; the store (`PassStore`), the chargers
(`FakeCharger`) and the metrics (`FakeReporter`) are the shared fakes. Chargers "connect" by
being put in the central system's connections and announced to the reconciler, as the OCPP
endpoint does. Tests wait for passes to end on the reporter's queue, never on the clock.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from controller.converge.base import Step
from controller.converge.configuration import ConfigurationStep
from controller.converge.reboot import RebootStep
from controller.converge.statuses import KeyStatusBook
from controller.fleet.loading import load_paths
from controller.fleet.model import Fleet
from controller.ocpp.central import CentralSystem
from controller.reconciler.scheduler import Reconciler, ReconcilerOptions
from controller.store.base import Store
from tests.fakes import FakeCharger, FakeReporter, PassStore

HEADER = "apiVersion: chargectl.io/v1alpha1\n"


def doc(kind: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"{HEADER}kind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n"


def charger(
    number: int, configuration: str = "", policy: str = "WhenIdle", settings: str = ""
) -> str:
    """Charger cp-N (OCPP identity CP-N, OCPP 1.6) at the depot."""
    spec = (
        f'location: depot\nocppVersion: "1.6"\nocppIdentity: CP-{number}\n'
        f"rebootPolicy: {policy}\nconnectors: [{{id: 1, type: Type2, maxCurrent: 32}}]\n"
    )
    if settings:
        spec += "settings:\n" + textwrap.indent(textwrap.dedent(settings), "  ")
    if configuration:
        spec += "configuration:\n" + textwrap.indent(textwrap.dedent(configuration), "  ")
    return doc("Charger", f"cp-{number}", spec)


def fleet_of(*chargers: str, window: str = "") -> list[str]:
    location = "team: ops\ndisplayName: Depot\ntimezone: UTC\n"
    if window:
        location += f"maintenanceWindow: [{window}]\n"
    return [
        doc("Team", "ops", "displayName: Ops\nhandle: ops"),
        doc("Location", "depot", location),
        *chargers,
    ]


@dataclass
class Rig:
    root: Path
    central: CentralSystem
    store: PassStore
    reporter: FakeReporter
    reconciler: Reconciler
    chargers: dict[str, FakeCharger] = field(default_factory=dict)

    def charger(self, identity: str) -> FakeCharger:
        return self.chargers.setdefault(identity, FakeCharger(identity))

    async def connect(self, identity: str, *, boot: bool = True) -> FakeCharger:
        """The charger connects (and sends BootNotification, unless `boot` is off)."""
        commands = self.charger(identity)
        self.central.connections[identity] = commands
        await self.reconciler.charger_connected(identity, commands)
        if boot:
            await self.reconciler.charger_booted(identity)
        return commands

    async def disconnect(self, identity: str) -> None:
        self.central.connections.pop(identity, None)
        await self.reconciler.charger_disconnected(identity)

    async def edit(self, documents: Sequence[str]) -> None:
        """The fleet's files are rewritten and take effect, as when the YAML changes."""
        await self.central.replace_fleet(build(self.root, documents))


def build(root: Path, documents: Sequence[str]) -> Fleet:
    root.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(documents):
        (root / f"{i:02d}.yaml").write_text(text, encoding="utf-8")
    loaded = load_paths([root])
    assert loaded.problems == ()
    fleet, problems = Fleet.build(loaded.resources)
    assert problems == []
    return fleet


def converging_steps(store: Store) -> list[Step]:
    """The steps `serve` runs first: configuration (keys and availability), reboot."""
    statuses = KeyStatusBook(store)
    return [ConfigurationStep(statuses), RebootStep(statuses)]


Make = Callable[..., Awaitable[Rig]]
"""make(documents, steps=None, **options): a started rig; `steps` takes the store and gives
the steps (default: `converging_steps`), `options` are `ReconcilerOptions` fields."""


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    rigs: list[Rig] = []

    async def make(
        documents: Sequence[str],
        steps: Callable[[Store], Sequence[Step]] | Sequence[Step] = converging_steps,
        **options: Any,
    ) -> Rig:
        store = PassStore()
        root = tmp_path / "fleet"
        central = CentralSystem(build(root, documents), cast(Store, store))
        chosen = steps(cast(Store, store)) if callable(steps) else steps
        reporter = FakeReporter()
        defaults: dict[str, Any] = {"boot_grace": 5.0, "backoff_initial": 0.01}
        reconciler = Reconciler(
            central,
            ReconcilerOptions(**{**defaults, **options}),
            reporter=reporter,
            steps=chosen,
        )
        for step in reconciler.steps:
            step.bind(reconciler.wake)
        rig = Rig(root, central, store, reporter, reconciler)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.reconciler.close()
