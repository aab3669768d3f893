"""The optional validating admission webhook: `kubectl apply` refused with validate's message.

The source refuses a bad resource after the fact (Ready=False, the last good version stays).
With the webhook on (`chargectl operator --admission-webhook`), the API server asks first, and
the answer is the source's own: `verdict` puts the object's new version beside the latest
version of every watched object and runs `objects.settle`, the very decision the source takes
once the object is stored; if that settlement would not take the new version, the request is
refused with `objects.describe` of its errors, the message `Ready` would show (and
`chargectl validate` gives). So there is no second copy of the rules.

kopf serves it (`@kopf.on.validate` on the source's own registry, one handler per kind, path
`/validate-<plural>`), over HTTPS with either a certificate from files (a Secret or
cert-manager's, mounted) or a self-signed one kopf makes at start (with `cryptography`, which
the project already needs, rather than kopf's optional `certbuilder`). With `managed`, kopf
keeps the ValidatingWebhookConfiguration of that name pointing at `host` with its CA bundle
(RBAC: get, create, patch validatingwebhookconfigurations).

The configuration's entries stay when a replica stops (persistent handlers: a rolling update
must not drop them) and fail open (`failurePolicy: Ignore`): while no replica answers, an
apply is admitted and the operator refuses it afterwards, as without the webhook; after
uninstalling, delete the configuration by hand (kopf made it, not Helm).

Only CREATE and UPDATE are asked about: a DELETE is never refused (that would block deleting a
namespace, or a location with its chargers), and the webhook is registered for the objects
themselves, not their `/status`, so the operator's own status writes never pass through it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from controller.resources import API_GROUP, API_VERSION_NAME, KINDS
from controller.sources.kubernetes.objects import (
    ObjectBook,
    Version,
    declared,
    describe,
    key_of,
    settle,
)

Judge = Callable[[str, Mapping[str, Any]], Awaitable[str | None]]
"""(kind, the object as the request carries it) → the refusal's message, None: admitted."""


@dataclass(frozen=True)
class AdmissionOptions:
    """Where the webhook listens, what it is called, and which certificate it shows."""

    address: str = "127.0.0.1"
    """Listen address; in a cluster 0.0.0.0, for the API server to reach it."""
    port: int = 9443
    """0: a free port, chosen at start (tests)."""
    host: str | None = None
    """The name the API server calls (the Service's DNS name), in the certificate and the
    webhook's URL; default: the listen address."""
    certfile: Path | None = None
    keyfile: Path | None = None
    """A certificate and key (e.g. a kubernetes.io/tls Secret mounted); none: self-signed."""
    cafile: Path | None = None
    """The CA bundle to announce (cert-manager's ca.crt); default: the certificate itself."""
    cadump: Path | None = None
    """Where to write the CA bundle in use (for a test or `curl --cacert`)."""
    managed: str | None = None
    """Name of the ValidatingWebhookConfiguration kopf keeps; None: someone else keeps it."""
    service: tuple[str, str, int] | None = None
    """(namespace, name, port) of the Service in front of the webhook: the configuration
    kopf keeps names it (as the API server wants for in-cluster webhooks) instead of a URL,
    and the self-signed certificate is for `name.namespace.svc`."""


def verdict(
    book: ObjectBook, kind: str, raw: Mapping[str, Any], default_namespace: str
) -> str | None:
    """validate's message when the source would refuse this version of the object, as the
    fleet in force stands; None when it would take it. Pure (a worker thread may run it)."""
    meta = dict(raw.get("metadata") or {})
    meta.setdefault("namespace", default_namespace)
    raw = {**raw, "metadata": meta}
    key = key_of(kind, raw)
    generation = meta.get("generation")
    version = Version(
        key, declared(kind, raw), generation if isinstance(generation, int) else None,
        meta.get("uid"),
    )  # fmt: skip
    latest = {**book.latest, key: version}
    order = {**book.order}
    order.setdefault(key, len(order))
    state = settle(book.in_force, latest, order).states[key]
    if state.in_force:
        return None
    return describe(state.errors, key) or f"{key} would not be taken into the fleet"


def judge_from(book: ObjectBook, default_namespace: str) -> Judge:
    """`verdict` on a snapshot of the book taken in the event loop, run in a worker thread."""

    async def judge(kind: str, raw: Mapping[str, Any]) -> str | None:
        snapshot = ObjectBook(
            latest=dict(book.latest), in_force=dict(book.in_force), order=dict(book.order)
        )
        return await asyncio.to_thread(verdict, snapshot, kind, raw, default_namespace)

    return judge


def register(registry: kopf.OperatorRegistry, judge: Judge) -> None:
    """One validating handler per kind on the operator's registry."""
    for kind, model in KINDS.items():
        kopf.on.validate(
            API_GROUP,
            API_VERSION_NAME,
            model.PLURAL,
            id=f"validate-{model.PLURAL}",
            operations=["CREATE", "UPDATE"],
            persistent=True,  # kept in the configuration when a replica stops (rollouts)
            ignore_failures=True,  # no webhook answering: admitted, refused afterwards
            registry=registry,
        )(_handler(kind, judge))


def _handler(kind: str, judge: Judge) -> Callable[..., Awaitable[None]]:
    async def validate(body: Mapping[str, Any], operation: str | None, **_: Any) -> None:
        if operation not in ("CREATE", "UPDATE"):
            return  # DELETE (and CONNECT) are never refused
        message = await judge(kind, dict(body))
        if message is not None:
            raise kopf.AdmissionError(message, code=422)

    validate.__name__ = f"validate_{kind.lower()}"
    return validate


def configure(settings: kopf.OperatorSettings, options: AdmissionOptions) -> WebhookServer:
    """kopf's admission settings: our server, and the configuration it keeps (if any)."""
    host = options.host
    if host is None and options.service is not None:
        host = f"{options.service[1]}.{options.service[0]}.svc"
    server = settings.admission.server = WebhookServer(
        service=options.service,
        addr=options.address,
        port=options.port,
        host=host,
        certfile=str(options.certfile) if options.certfile else None,
        pkeyfile=str(options.keyfile) if options.keyfile else None,
        cafile=str(options.cafile) if options.cafile else None,
        cadump=str(options.cadump) if options.cadump else None,
    )
    settings.admission.managed = options.managed
    return server


class WebhookServer(kopf.WebhookServer):
    """kopf's server, making its self-signed certificate with `cryptography`, and saying
    when it listens (`listening`) and where the API server is to call it (`client_config`:
    its URL and CA bundle)."""

    def __init__(self, *, service: tuple[str, str, int] | None = None, **given: Any) -> None:
        super().__init__(**given)
        self.service = service
        self.listening = asyncio.Event()
        self.client_config: Mapping[str, Any] | None = None

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for config in super().__call__(fn):
            if self.service is not None:
                namespace, name, port = self.service
                ca = config.get("caBundle")
                config = {"service": {"namespace": namespace, "name": name, "port": port}}
                if ca is not None:
                    config["caBundle"] = ca
            self.client_config = dict(config)
            self.listening.set()
            yield config

    @staticmethod
    def build_certificate(
        hostnames: Collection[str], password: str | None = None
    ) -> tuple[bytes, bytes]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        names: list[x509.GeneralName] = []
        for hostname in dict.fromkeys(hostnames):
            try:
                address = ipaddress.ip_address(hostname)
            except ValueError:
                names.append(x509.DNSName(hostname))
            else:
                if not address.is_unspecified:
                    names.append(x509.IPAddress(address))
        common = next((str(n.value) for n in names if isinstance(n, x509.DNSName)), None)
        common = common or (str(names[0].value) if names else "chargectl-webhook")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return (
            certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            ),
        )
