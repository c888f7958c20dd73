"""Access tokens (signed JWTs, one hour) and refresh tokens (opaque, rotated).

A refresh token is 256 random bits shown to the client once; the database keeps
only its SHA-256 digest, so a database leak yields no usable tokens.
"""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

import jwt

from services.identity.signing import SigningKey

ISSUER = "aecaro-identity"
AUDIENCE = "aecaro-api"
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=7)


def issue_access_token(signing_key: SigningKey, *, user_id: str, now: datetime) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ACCESS_TOKEN_LIFETIME).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(
        claims,
        signing_key.private_key,
        algorithm="EdDSA",
        headers={"kid": signing_key.key_id, "typ": "at+jwt"},
    )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).digest()
