"""Resolving secret references: the fleet names where a password is kept, never the password.

Both ends need this: the OCPP endpoint checks a charger's HTTP Basic auth password against it,
and the simulator presents it. Secrets are read when needed, not at load time, so a rotated
secret takes effect without reloading the fleet.

A Kubernetes Secret (`secretKeyRef`) is read from a `SecretStore` when one is given: the
operator's, which keeps the Secrets the fleet names current through the API it watches
(`controller.sources.kubernetes.api.SecretCache`), unless they are mounted as files under
`secrets_dir`; with neither, the `kubernetes` client reads it (blocking: `serve` only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.resources.charger import SecretReference


class SecretUnavailable(Exception):
    """The referenced secret cannot be read; the message says which and why."""


class SecretStore(Protocol):
    """Kubernetes Secrets as someone keeps them at hand: the value of `key` in Secret `name`
    (of the store's namespace), or `SecretUnavailable` saying why not. Never blocks."""

    def read(self, name: str, key: str) -> str: ...


@dataclass(frozen=True)
class SecretResolver:
    """Reads secrets from the environment, files, or Kubernetes Secrets.

    `base_dir` anchors relative file references (the fleet directory), and `namespace` is the
    namespace Kubernetes Secrets are read from.
    """

    base_dir: Path | None = None
    namespace: str = "default"
    secrets_dir: Path | None = None
    """Kubernetes Secrets mounted as files: `secretKeyRef {name, key}` is `DIR/name/key`."""
    store: SecretStore | None = None
    """Kubernetes Secrets read through the API (the operator's), when none are mounted
    (`secrets_dir`); without either, the `kubernetes` client reads them."""

    def resolve(self, ref: SecretReference) -> str:
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if value is None:
                raise SecretUnavailable(f"environment variable {ref.env} is not set")
            return value
        if ref.file is not None:
            path = Path(ref.file)
            if not path.is_absolute() and self.base_dir is not None:
                path = self.base_dir / path
            try:
                return path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise SecretUnavailable(f"cannot read secret file {path}: {exc}") from exc
        if ref.secret_key_ref is not None:
            name, key = ref.secret_key_ref.name, ref.secret_key_ref.key
            if self.secrets_dir is not None:
                mounted = self.secrets_dir / name / key
                try:
                    return mounted.read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise SecretUnavailable(f"cannot read mounted secret {mounted}: {exc}") from exc
            if self.store is not None:
                return self.store.read(name, key)
            return self._kubernetes(name, key)
        raise SecretUnavailable("the reference names no secret")  # the model forbids this

    def _kubernetes(self, name: str, key: str) -> str:
        try:
            from kubernetes import client, config
        except ImportError as exc:
            raise SecretUnavailable(
                f"Secret {name}/{key}: install chargectl[kubernetes] to read Kubernetes Secrets"
            ) from exc
        try:
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except config.ConfigException:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            secret = client.CoreV1Api().read_namespaced_secret(name, self.namespace)
        except Exception as exc:  # the client raises many kinds; all mean "not readable"
            raise SecretUnavailable(f"cannot read Secret {self.namespace}/{name}: {exc}") from exc
        data = secret.data or {}
        if key not in data:
            raise SecretUnavailable(f"Secret {self.namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode("utf-8")


@dataclass(frozen=True)
class DemoSecrets(SecretResolver):
    """For `serve --simulate` only: a secret that cannot be read here gets a generated one.

    The simulated chargers and the endpoint share this resolver, so both sides agree on each
    generated password, and the example fleet's references (Kubernetes Secrets, files under
    /run/secrets) work on a laptop. Never used outside the demo.
    """

    seed: bytes = b""

    def resolve(self, ref: SecretReference) -> str:
        try:
            return super().resolve(ref)
        except SecretUnavailable:
            digest = hmac.new(self.seed, ref.model_dump_json().encode(), hashlib.sha256)
            return digest.hexdigest()[:24]
