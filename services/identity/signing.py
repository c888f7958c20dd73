"""The key that signs access tokens, and the public JWK Set that verifies them.

Tokens are EdDSA (Ed25519) JWTs. The private key lives in a file readable by
the identity service only (mode 0600); the gateway verifies tokens with the
public half, published as a JWK Set. The key id is the RFC 7638 thumbprint, so
a future rotation can publish old and new keys side by side.
"""

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.key_files import read_private_key_file


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def create_signing_key_file(path: Path) -> None:
    """Write a new Ed25519 private key to ``path`` unless one is there already."""
    path = Path(path)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey = field(repr=False)
    key_id: str
    public_jwk: dict

    @classmethod
    def load(cls, path: Path) -> "SigningKey":
        pem = read_private_key_file(path, what="signing key file")
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise ValueError(f"signing key file {path} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"signing key file {path} must hold an Ed25519 key")
        raw_public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw_public)}
        # RFC 7638: the thumbprint hashes the required members in lexical order.
        thumbprint = hashlib.sha256(
            json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
        ).digest()
        key_id = _b64url(thumbprint)
        jwk = {**members, "kid": key_id, "use": "sig", "alg": "EdDSA"}
        return cls(private_key=key, key_id=key_id, public_jwk=jwk)

    def jwks(self) -> dict:
        return {"keys": [self.public_jwk]}
