"""A development certificate authority for one machine.

Issues the gateway's public HTTPS certificate (localhost) and one mutual-TLS
certificate per service, whose common name is the service's name. Files are
written once and reused, so a restarted stack keeps trusting the same CA.
Private keys are written with mode 0600.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from services.common.settings import SERVICE_NAMES

PUBLIC_HTTPS = "public-https"
_VALIDITY = timedelta(days=365)


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


def _issue(ca: trustme.CA, tls_dir: Path, name: str, *identities: str) -> None:
    cert_path, key_path = tls_dir / f"{name}.pem", tls_dir / f"{name}.key"
    if cert_path.exists() and key_path.exists():
        return
    leaf = ca.issue_cert(
        *identities,
        common_name=name,
        organization_name="AECARO development",
        not_after=datetime.now(UTC) + _VALIDITY,
    )
    cert_path.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    _write_private(key_path, leaf.private_key_pem.bytes())


def ensure_dev_pki(tls_dir: Path) -> Path:
    """Create whatever part of the development PKI is missing; returns the folder."""
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = _load_or_create_ca(tls_dir)
    _issue(ca, tls_dir, PUBLIC_HTTPS, "localhost", "127.0.0.1", "::1")
    for service in SERVICE_NAMES:
        # The service name is what peers check; localhost lets tools connect too.
        _issue(ca, tls_dir, service, service, "localhost", "127.0.0.1")
    return tls_dir
