"""`chargectl operator`: the serving process of `serve`, with the fleet from Kubernetes.

Everything `running` starts (endpoint, store, reconciler, HTTP API, admin channel) is the
same; only the source differs: the custom resources in the watched namespaces
(`controller.sources.kubernetes`), whose Secrets also give the chargers' passwords and whose
objects get their `.status` written once the central system serves them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from controller.runtime.serve import ServeOptions
from controller.sources.base import FleetListener, OpenedSource, SourceFactory
from controller.sources.kubernetes.source import KubernetesOptions, open_source


def kubernetes_source(options: KubernetesOptions) -> SourceFactory:
    """The custom resources as a `SourceFactory` for `running`."""

    @contextlib.asynccontextmanager
    async def opened(listener: FleetListener) -> AsyncIterator[OpenedSource]:
        async with open_source(options, listener) as source:
            yield OpenedSource(source, secrets=source.secrets, attach=source.attach)

    return opened


def operator_options(serve: ServeOptions, kubernetes: KubernetesOptions) -> ServeOptions:
    """`serve`'s options with the custom resources as the source (and no fleet paths)."""
    return dataclasses.replace(serve, paths=[], source=kubernetes_source(kubernetes))
