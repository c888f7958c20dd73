"""Who is calling: bearer access tokens checked against identity's public keys.

The JWK Set is fetched from the identity service and cached. A token signed
with a key id we do not know triggers one refetch (at most every
``refetch_interval`` seconds, so forged key ids cannot make us hammer the
identity service). Every reason a token fails ends in the same 401.
"""

import asyncio
import json
import time
from dataclasses import dataclass

import jwt
from fastapi import Request

from services.contracts import identity_pb2
from services.gateway.clients import translated_errors
from services.gateway.errors import ApiError

ISSUER = "aecaro-identity"
AUDIENCE = "aecaro-api"
_ALGORITHMS = ["EdDSA"]
# The header typ that marks an access token (RFC 9068), so that no other JWT
# signed with the same key passes for one. Media types are case-insensitive
# and "application/" may be left out (RFC 7515, section 4.1.9).
_ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}


@dataclass(frozen=True)
class Caller:
    user_id: str


def _unauthenticated() -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        "missing or invalid access token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class TokenVerifier:
    def __init__(self, identity_stub, *, refetch_interval: float = 30.0):
        self._identity = identity_stub
        self._refetch_interval = refetch_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks: dict = {"keys": []}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def jwks(self) -> dict:
        if not self._keys:
            await self._refresh_keys(force=True)
        return self._jwks

    async def _refresh_keys(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._refetch_interval:
                return
            reply = await self._identity.GetSigningKeys(
                identity_pb2.GetSigningKeysRequest(), timeout=5
            )
            document = json.loads(reply.jwks_json)
            keys = jwt.PyJWKSet.from_dict(document).keys
            self._keys = {key.key_id: key for key in keys}
            self._jwks = document
            self._fetched_at = time.monotonic()

    async def verify(self, token: str) -> Caller:
        try:
            unverified_header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthenticated() from None
        key_id = unverified_header.get("kid")
        if not isinstance(key_id, str):
            raise _unauthenticated()
        if key_id not in self._keys:
            await self._refresh_keys(force=not self._keys)
        key = self._keys.get(key_id)
        if key is None:
            raise _unauthenticated()
        try:
            verified = jwt.decode_complete(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            raise _unauthenticated() from None
        token_type = verified["header"].get("typ")
        if not isinstance(token_type, str) or token_type.lower() not in _ACCESS_TOKEN_TYPES:
            raise _unauthenticated()
        subject = verified["payload"].get("sub")
        if not isinstance(subject, str) or not subject:
            raise _unauthenticated()
        return Caller(user_id=subject)


async def authenticated_caller(request: Request) -> Caller:
    """FastAPI dependency: the verified caller, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated()
    verifier: TokenVerifier = request.app.state.token_verifier
    async with translated_errors("identity"):
        return await verifier.verify(token.strip())
