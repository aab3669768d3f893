"""Throwaway TLS material for demos and tests: a private CA, a server certificate, and client
certificates for security profile 3.

A realistic fleet has chargers on security profile 2 (Basic auth over TLS), so showing it on a
laptop needs a certificate. Nothing here is for production: keys are written unencrypted, and
the CA exists only for the lifetime of the demo directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class DevPki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    directory: Path

    def client(self, identity: str) -> tuple[Path, Path]:
        """A client certificate naming `identity` (profile 3), signed by the demo CA."""
        cert_path = self.directory / f"client-{identity}.pem"
        key_path = self.directory / f"client-{identity}.key"
        if not cert_path.exists():
            ca_key = _load_key(self.directory / "ca.key")
            ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                _builder(identity, key, ca.subject)
                .add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
                )
                .sign(ca_key, hashes.SHA256())
            )
            _write(cert_path, key_path, cert, key)
        return cert_path, key_path


def _builder(
    common_name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
    )


def _write(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def make_dev_pki(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> DevPki:
    """A CA and a server certificate for `hosts`, in `directory` (reused if already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = DevPki(
        directory / "ca.pem", directory / "server.pem", directory / "server.key", directory
    )
    if pki.server_cert.exists() and pki.ca_cert.exists():
        return pki
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chargectl demo CA")])
    ca = (
        _builder("chargectl demo CA", ca_key, ca_name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca_cert, directory / "ca.key", ca, ca_key)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        _builder(hosts[0], server_key, ca.subject)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.server_cert, pki.server_key, server, server_key)
    return pki
