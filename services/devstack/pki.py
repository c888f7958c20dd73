"""A development certificate authority for one machine.

Issues the gateway's public HTTPS certificate (localhost) and one mutual-TLS
certificate per service, whose common name is the service's name. Files are
written once and reused, so a restarted stack keeps trusting the same CA;
a leaf certificate is issued again when it nears its end. Private keys are
written with mode 0600.

The CA comes from trustme: fine for one developer's machine, but it has no
name constraints and a long life, so trust it only in a development browser
profile, never system-wide.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509

from services.common.settings import SERVICE_NAMES

PUBLIC_HTTPS = "public-https"
_VALIDITY = timedelta(days=365)
# A certificate this close to its end is issued again at the next start.
_RENEW_BEFORE = timedelta(days=30)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _load_or_create_ca(tls_dir: Path) -> trustme.CA:
    ca_cert, ca_key = tls_dir / "ca.pem", tls_dir / "ca.key"
    if ca_cert.exists() and ca_key.exists():
        return trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
    ca = trustme.CA(organization_name="AECARO development CA")
    ca_cert.write_bytes(ca.cert_pem.bytes())
    _write_private(ca_key, ca.private_key_pem.bytes())
    return ca


def _still_good(cert_path: Path, ca: trustme.CA, now: datetime) -> bool:
    """True when the certificate was issued by ``ca`` and is not about to expire."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    return cert.issuer == ca_cert.subject and cert.not_valid_after_utc - now > _RENEW_BEFORE


def _issue(ca: trustme.CA, tls_dir: Path, name: str, *identities: str, now: datetime) -> None:
    cert_path, key_path = tls_dir / f"{name}.pem", tls_dir / f"{name}.key"
    if cert_path.exists() and key_path.exists() and _still_good(cert_path, ca, now):
        return
    leaf = ca.issue_cert(
        *identities,
        common_name=name,
        organization_name="AECARO development",
        not_after=now + _VALIDITY,
    )
    cert_path.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    _write_private(key_path, leaf.private_key_pem.bytes())


def ensure_dev_pki(tls_dir: Path, *, now: datetime | None = None) -> Path:
    """Create whatever part of the development PKI is missing or expiring;
    returns the folder."""
    now = now or datetime.now(UTC)
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = _load_or_create_ca(tls_dir)
    _issue(ca, tls_dir, PUBLIC_HTTPS, "localhost", "127.0.0.1", "::1", now=now)
    for service in SERVICE_NAMES:
        # The service name is what peers check; localhost lets tools connect too.
        _issue(ca, tls_dir, service, service, "localhost", "127.0.0.1", now=now)
    return tls_dir
