"""What talks to the Kubernetes API besides kopf: listing, status patches, Events, Secrets.

kopf watches the custom resources. Everything else goes through `KubeApi`, one aiohttp
session with the same credentials kopf is given (`credentials`, from `--kube-url`, the
in-cluster service account or a kubeconfig): the status writer's patches and Events, the
initial listing, and the Secrets chargers name. aiohttp rather than the `kubernetes` client
in threads: it is already how kopf and our web server talk HTTP, one pooled session serves
thousands of status patches without a thread each, and nothing blocks the event loop the
OCPP endpoint runs on. The `kubernetes` package is used only to read kubeconfig files and
the in-cluster configuration (exec plugins, token files), and a 401 reads them again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from controller.fleet.credentials import SecretUnavailable
from controller.resources import API_GROUP, API_VERSION, API_VERSION_NAME
from controller.sources.kubernetes.objects import ObjectKey

log = logging.getLogger("chargectl.kubernetes")

FIELD_MANAGER = "chargectl"
"""Who writes our status patches (`?fieldManager=`), as `kubectl get --show-managed-fields`
shows it."""
EVENT_SOURCE = "chargectl"
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


# --- where the API is, and who we are to it ----------------------------------------------------


@dataclass(frozen=True)
class ApiOrigin:
    """How to reach the API server: a URL as given (`--kube-url`: kmock, `kubectl proxy`),
    else the pod's service account when in a cluster, else a kubeconfig (`$KUBECONFIG`,
    `~/.kube/config`, or `kubeconfig`) and its current context (or `context`)."""

    url: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    token: str | None = None
    """A bearer token for `url` (none: no authentication, as kmock and `kubectl proxy`)."""
    insecure: bool = False
    """Do not verify the server's certificate (for `url` only)."""


@dataclass(frozen=True)
class Credentials:
    """The API server's address and how to authenticate to it, as resolved just now."""

    server: str
    ca_path: str | None = None
    token: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None
    insecure: bool = False
    namespace: str | None = None
    """The namespace of the context, or of the pod: where the controller itself runs."""

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.server.startswith("https:"):
            return None
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certificate_path and self.private_key_path:
            context.load_cert_chain(self.certificate_path, self.private_key_path)
        return context


def credentials(origin: ApiOrigin) -> Credentials:
    """Resolve `origin` now (reads files, and may run a kubeconfig's exec plugin: blocking)."""
    if origin.url is not None:
        return Credentials(origin.url.rstrip("/"), token=origin.token, insecure=origin.insecure)
    from kubernetes import client, config

    configuration = client.Configuration()
    namespace: str | None = None
    try:
        if origin.kubeconfig is not None or origin.context is not None:
            raise config.ConfigException("a kubeconfig is asked for")
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        with contextlib.suppress(OSError):
            namespace = IN_CLUSTER_NAMESPACE.read_text(encoding="utf-8").strip() or None
    except config.ConfigException:
        path = str(origin.kubeconfig) if origin.kubeconfig is not None else None
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=origin.context, client_configuration=configuration
        )
        contexts, current = config.list_kube_config_contexts(path)  # type: ignore[no-untyped-call]
        chosen = next((c for c in contexts if c["name"] == origin.context), current)
        namespace = (chosen or {}).get("context", {}).get("namespace")
    hook = getattr(configuration, "refresh_api_key_hook", None)
    if hook is not None:
        hook(configuration)
    authorization = (configuration.api_key or {}).get("authorization") or (
        configuration.api_key or {}
    ).get("BearerToken")
    token = authorization.split(" ", 1)[-1] if authorization else None
    return Credentials(
        server=configuration.host.rstrip("/"),
        ca_path=configuration.ssl_ca_cert,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        insecure=not configuration.verify_ssl,
        namespace=namespace,
    )


# --- requests ----------------------------------------------------------------------------------


class ApiError(Exception):
    """The API server refused a request: `status` is the HTTP status, `message` its words."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message


def resource_path(
    plural: str, namespace: str | None = None, name: str | None = None, sub: str | None = None
) -> str:
    """The API path of our kind's collection (cluster-wide without a namespace), or of one
    object, or of its subresource."""
    where = f"/namespaces/{namespace}" if namespace else ""
    path = f"/apis/{API_GROUP}/{API_VERSION_NAME}{where}/{plural}"
    if name is not None:
        path += f"/{name}" + (f"/{sub}" if sub else "")
    return path


def core_path(plural: str, namespace: str, name: str | None = None) -> str:
    return f"/api/v1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


class KubeApi:
    """One session with the API server; `async with KubeApi(origin) as api: ...`."""

    def __init__(self, origin: ApiOrigin, *, timeout: float = 30.0) -> None:
        self.origin = origin
        self.timeout = timeout
        self._credentials: Credentials | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeApi:
        await self.reconnect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            raise RuntimeError("the API session is not open")
        return self._credentials

    async def reconnect(self) -> Credentials:
        """Resolve the origin again (a token may have been rotated) and start a new session."""
        self._credentials = await asyncio.to_thread(credentials, self.origin)
        old, self._session = self._session, self._new_session(self._credentials)
        if old is not None:
            await old.close()
        return self._credentials

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _new_session(self, found: Credentials) -> aiohttp.ClientSession:
        headers = {"Accept": "application/json", "User-Agent": "chargectl"}
        if found.token:
            headers["Authorization"] = f"Bearer {found.token}"
        return aiohttp.ClientSession(
            base_url=found.server + "/",
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=found.ssl_context() or False),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One request; its JSON answer. A 401 reads the credentials again and retries once."""
        for attempt in (1, 2):
            session = self._session
            if session is None:
                raise RuntimeError("the API session is not open")
            data = json.dumps(body) if body is not None else None
            headers = {"Content-Type": content_type} if data is not None else None
            async with session.request(
                method,
                path.lstrip("/"),
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as reply:
                text = await reply.text()
                if reply.status == 401 and attempt == 1 and self.origin.url is None:
                    log.info("API: 401 Unauthorized; reading the credentials again")
                    await self.reconnect()
                    continue
                if reply.status >= 400:
                    raise ApiError(method, path, reply.status, _message_of(text))
                answer = json.loads(text) if text else {}
                return answer if isinstance(answer, dict) else {"items": answer}
        raise AssertionError("unreachable")

    async def list(self, path: str, *, page: int = 500) -> tuple[list[dict[str, Any]], str | None]:
        """Every object of a collection (in pages) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        params = {"limit": str(page)}
        while True:
            answer = await self.request("GET", path, params=params)
            items.extend(answer.get("items") or [])
            meta = answer.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, meta.get("resourceVersion")
            params = {"limit": str(page), "continue": token}

    async def watch(
        self, path: str, resource_version: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of a collection's watch until the server ends it (or a 410 Gone)."""
        session = self._session
        if session is None:
            raise RuntimeError("the API session is not open")
        params = {"watch": "true", "allowWatchBookmarks": "true"}
        if resource_version and resource_version.isdigit():
            params["resourceVersion"] = resource_version
        async with session.get(
            path.lstrip("/"),
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as reply:
            if reply.status >= 400:
                raise ApiError("WATCH", path, reply.status, _message_of(await reply.text()))
            async for line in reply.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = (event.get("object") or {}).get("code", 500)
                    raise ApiError("WATCH", path, int(status), _message_of(json.dumps(event)))
                yield event


def _message_of(text: str) -> str:
    try:
        answer = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(answer, dict):
        inner = answer.get("object") if answer.get("type") == "ERROR" else answer
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"]).splitlines()[0][:500]
    return text[:200]


# --- the status writer's sink ------------------------------------------------------------------


MAX_EVENT_MESSAGE = 1024
"""The API server refuses longer Event messages."""


@dataclass
class ApiStatusSink:
    """Where the status writer's work lands (a `status.StatusSink`): `.status` patches and
    core/v1 Events, through the API.

    `patch_status` sends a JSON merge patch of `{"status": ...}` to the object's `/status`
    subresource with `fieldManager=chargectl`; an object that is gone (404: deleted
    meanwhile) is left alone. `event` posts a core/v1 Event about the object (`Normal` or
    `Warning`, a CamelCase reason, the message cut to what the API takes), naming the
    object's uid when `uid_of` knows it. Other refusals raise `ApiError`: the writer keeps
    the change and tries again later."""

    api: KubeApi
    uid_of: Callable[[ObjectKey], str | None] | None = None
    component: str = EVENT_SOURCE
    instance: str = field(default_factory=socket.gethostname)

    async def patch_status(
        self, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        key = ObjectKey(kind, namespace, name)
        path = resource_path(key.plural, namespace, name, "status")
        try:
            await self.api.request(
                "PATCH",
                path,
                params={"fieldManager": FIELD_MANAGER},
                body={"status": dict(status)},
                content_type="application/merge-patch+json",
            )
        except ApiError as error:
            if error.status != 404:
                raise
            log.debug("status of %s not written: the object is gone", key)

    async def event(
        self, kind: str, namespace: str, name: str, type: str, reason: str, message: str
    ) -> None:
        key = ObjectKey(kind, namespace, name)
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        involved: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "name": name,
            "namespace": namespace,
        }
        uid = self.uid_of(key) if self.uid_of is not None else None
        if uid:
            involved["uid"] = uid
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                # generateName is not for Events: clients name them <object>.<unique hex>
                "name": f"{name}.{time.time_ns():x}{os.getpid() % 4096:03x}",
                "namespace": namespace,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message[:MAX_EVENT_MESSAGE],
            "type": type,
            "source": {"component": self.component, "host": self.instance},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.api.request("POST", core_path("events", namespace), body=body)


# --- Secrets -----------------------------------------------------------------------------------


@dataclass
class SecretCache:
    """The Secrets chargers name, read through the API and kept current by a watch.

    The OCPP endpoint checks a password in the middle of a handshake and asks synchronously
    (`read`), so the values are fetched beforehand: `want` names the Secrets the fleet refers
    to (each fetched at once when first wanted), and `follow` watches the namespace's Secrets
    so a changed Secret takes effect at the next handshake. Only wanted Secrets are kept.
    A `SecretStore` (see `controller.fleet.credentials`)."""

    api: KubeApi
    namespace: str
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    """Wanted Secrets by name: their data, decoded."""
    wanted: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    """Wanted Secrets the API says do not exist."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever a Secret's value is (re)read; for tests and the status writer."""
    on_change: Callable[[str], None] | None = None
    """Called with a Secret's name when the value of one read before changed or it was
    deleted (the source wakes the chargers naming it: their password rotates)."""

    def read(self, name: str, key: str) -> str:
        data = self.values.get(name)
        if data is None:
            why = "does not exist" if name in self.missing else "has not been read yet"
            raise SecretUnavailable(f"Secret {self.namespace}/{name} {why}")
        if key not in data:
            raise SecretUnavailable(f"Secret {self.namespace}/{name} has no key {key!r}")
        return data[key]

    async def want(self, names: set[str]) -> None:
        """Keep exactly these Secrets; read the new ones now."""
        new = names - self.wanted
        self.wanted = set(names)
        for name in list(self.values):
            if name not in names:
                del self.values[name]
        self.missing &= names
        for name in sorted(new):
            await self._fetch(name)

    async def _fetch(self, name: str) -> None:
        try:
            secret = await self.api.request("GET", core_path("secrets", self.namespace, name))
        except ApiError as error:
            if error.status == 404:
                self.missing.add(name)
                self.values.pop(name, None)
                log.warning("Secret %s/%s named by the fleet does not exist", self.namespace, name)
                return
            log.error("cannot read Secret %s/%s: %s", self.namespace, name, error)
            return
        self._keep(secret)

    def _keep(self, secret: Mapping[str, Any]) -> None:
        name = str((secret.get("metadata") or {}).get("name"))
        if name not in self.wanted:
            return
        decoded = {}
        for key, value in (secret.get("data") or {}).items():
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                decoded[key] = base64.b64decode(value).decode("utf-8")
        decoded.update(secret.get("stringData") or {})
        before = self.values.get(name)
        if before != decoded:
            self.values[name] = decoded
            self.missing.discard(name)
            self.changed.set()
            if before is not None and self.on_change is not None:
                self.on_change(name)

    async def follow(self, *, backoff: float = 1.0) -> None:
        """Watch the namespace's Secrets until cancelled (listing again after each break)."""
        path = core_path("secrets", self.namespace)
        while True:
            try:
                secrets, version = await self.api.list(path)
                for secret in secrets:
                    self._keep(secret)
                async for event in self.api.watch(path, version):
                    secret = event.get("object") or {}
                    if event.get("type") == "DELETED":
                        name = (secret.get("metadata") or {}).get("name")
                        if name in self.wanted:
                            self.values.pop(name, None)
                            self.missing.add(name)
                            self.changed.set()
                            if self.on_change is not None:
                                self.on_change(name)
                    elif event.get("type") in ("ADDED", "MODIFIED"):
                        self._keep(secret)
            except (ApiError, aiohttp.ClientError, TimeoutError, ValueError) as error:
                if isinstance(error, ApiError) and error.status == 403:
                    log.warning(
                        "cannot watch Secrets in %s (%s): a changed Secret takes effect only "
                        "when it is read again",
                        self.namespace,
                        error.message,
                    )
                    return
                log.debug("Secret watch in %s broke: %s; again", self.namespace, error)
                await asyncio.sleep(backoff)
