"""`chargectl operator`: the serving process of `serve`, with the fleet from Kubernetes.

Everything `running` starts (endpoint, store, reconciler, HTTP API, admin channel) is the
same; only the source differs: the custom resources in the watched namespaces
(`controller.sources.kubernetes`), whose Secrets also give the chargers' passwords and whose
objects get their `.status` written once the central system serves them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

from controller.ocpp.central import CentralSystem
from controller.runtime.serve import ServeOptions
from controller.sources.base import FleetListener, OpenedSource, SourceFactory
from controller.sources.kubernetes.annotations import Answer
from controller.sources.kubernetes.source import KubernetesOptions, open_source
from controller.values.commands import ChargerCommands


class WebCommands:
    """Annotation commands (`sources.kubernetes.annotations`) take the one path of the
    imperative commands, `web.commands` (which the sources layer may not import): the body
    read by `parse_command`, sent and recorded as the charger's event by `send`."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    def describe(self, body: Mapping[str, Any]) -> str:
        from controller.web.commands import parse_command

        return parse_command(body).describe()

    async def send(
        self, identity: str, charger: ChargerCommands, body: Mapping[str, Any], requester: str
    ) -> Answer:
        from controller.web.commands import parse_command, send

        outcome = await send(self.central, identity, charger, parse_command(body), requester)
        return Answer(outcome.ok, outcome.label)


def kubernetes_source(options: KubernetesOptions) -> SourceFactory:
    """The custom resources as a `SourceFactory` for `running` (annotation commands sent
    through `web.commands` unless the options say otherwise)."""
    if options.commands is None:
        options = dataclasses.replace(options, commands=WebCommands)

    @contextlib.asynccontextmanager
    async def opened(listener: FleetListener) -> AsyncIterator[OpenedSource]:
        async with open_source(options, listener) as source:
            yield OpenedSource(source, secrets=source.secrets, attach=source.attach)

    return opened


def operator_options(serve: ServeOptions, kubernetes: KubernetesOptions) -> ServeOptions:
    """`serve`'s options with the custom resources as the source (and no fleet paths)."""
    return dataclasses.replace(serve, paths=[], source=kubernetes_source(kubernetes))
