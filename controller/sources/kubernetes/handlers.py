"""kopf's part: a registry of our own with watch-only handlers for the six kinds.

Every replica must see the whole fleet (it is their desired state), so kopf runs without
peering (`standalone`), and its handlers only observe: `@kopf.on.event` handlers hand each
object to the source and return. kopf then writes nothing to the objects: no progress or
last-handled annotations, no finalizers (so a removed operator never blocks a namespace's
deletion), and it posts no Events of its own (the status writer posts ours).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from controller.resources import API_GROUP, API_VERSION_NAME, KINDS
from controller.sources.kubernetes.api import Credentials

Observer = Callable[[str, str | None, Mapping[str, Any]], None]
"""Called with (kind, event type, the object as the API shows it) for every event: type None
while kopf lists, then ADDED, MODIFIED or DELETED."""
Login = Callable[[], Awaitable[Credentials]]
"""Resolves the API's credentials anew (kopf asks again after a 401)."""


def registry(observe: Observer, login: Login) -> kopf.OperatorRegistry:
    """kopf's handlers: how to log in, and one watch-only handler per kind."""
    handlers = kopf.OperatorRegistry()

    @kopf.on.login(registry=handlers)
    async def _login(**_: Any) -> kopf.ConnectionInfo:
        found = await login()
        return kopf.ConnectionInfo(
            server=found.server,
            ca_path=found.ca_path,
            insecure=found.insecure or None,
            token=found.token,
            scheme="Bearer" if found.token else None,
            certificate_path=found.certificate_path,
            private_key_path=found.private_key_path,
            default_namespace=found.namespace,
        )

    for kind, model in KINDS.items():
        kopf.on.event(
            API_GROUP,
            API_VERSION_NAME,
            model.PLURAL,
            id=f"observe-{model.PLURAL}",
            registry=handlers,
        )(_observer(kind, observe))
    return handlers


def _observer(kind: str, observe: Observer) -> Callable[..., Awaitable[None]]:
    async def observed(event: Mapping[str, Any], **_: Any) -> None:
        observe(kind, event.get("type"), event["object"])

    observed.__name__ = f"observe_{kind.lower()}"
    return observed


def settings() -> kopf.OperatorSettings:
    """kopf as a guest in our process: no peering, no Events, no scanning beyond the given
    namespaces, and never the SIGKILL it sends a process that takes long to stop."""
    configured = kopf.OperatorSettings()
    configured.peering.standalone = True
    configured.posting.enabled = False
    configured.scanning.disabled = True  # exact namespaces: no RBAC for namespaces or CRDs
    configured.process.ultimate_exiting_timeout = None
    return configured
