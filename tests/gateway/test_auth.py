"""Access-token checks in the gateway: every bad token is the same 401."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.contracts import identity_pb2
from services.gateway.auth import TokenVerifier
from services.gateway.errors import ApiError
from services.identity.signing import SigningKey, create_signing_key_file
from services.identity.tokens import issue_access_token

NOW = datetime.now(UTC)


class KeyServer:
    """Stands in for the identity service's GetSigningKeys and counts calls."""

    def __init__(self, signing_key: SigningKey):
        self.signing_key = signing_key
        self.calls = 0

    async def GetSigningKeys(self, request, timeout=None):  # noqa: N802 (gRPC name)
        self.calls += 1
        return identity_pb2.SigningKeys(jwks_json=json.dumps(self.signing_key.jwks()))


@pytest.fixture
def signing_key(tmp_path) -> SigningKey:
    create_signing_key_file(tmp_path / "key.pem")
    return SigningKey.load(tmp_path / "key.pem")


@pytest.fixture
def other_key(tmp_path) -> SigningKey:
    create_signing_key_file(tmp_path / "other.pem")
    return SigningKey.load(tmp_path / "other.pem")


@pytest.fixture
def key_server(signing_key):
    return KeyServer(signing_key)


@pytest.fixture
def verifier(key_server):
    return TokenVerifier(key_server, refetch_interval=3600)


def _valid_claims() -> dict:
    """Claims of a token for user "u" issued now (not at import: the whole
    suite may run for longer than a token made then would live)."""
    issued_at = int(datetime.now(UTC).timestamp())
    return {
        "sub": "u",
        "iss": "aecaro-identity",
        "aud": "aecaro-api",
        "iat": issued_at,
        "exp": issued_at + 60,
    }


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_valid_token_names_its_user(verifier, signing_key):
    token = issue_access_token(signing_key, user_id="user-1", now=NOW)
    caller = await verifier.verify(token)
    assert caller.user_id == "user-1"


async def _refused(verifier, token):
    with pytest.raises(ApiError) as refused:
        await verifier.verify(token)
    return refused.value.status, refused.value.code, refused.value.message


UNAUTHENTICATED = (401, "unauthenticated", "missing or invalid access token")


async def test_an_expired_token_is_refused(verifier, signing_key):
    token = issue_access_token(signing_key, user_id="u", now=NOW - timedelta(hours=2))
    assert await _refused(verifier, token) == UNAUTHENTICATED


async def test_a_token_from_another_key_with_our_key_id_is_refused(
    verifier, signing_key, other_key
):
    token = jwt.encode(
        _valid_claims(),
        other_key.private_key,
        algorithm="EdDSA",
        headers={"kid": signing_key.key_id, "typ": "at+jwt"},
    )
    assert await _refused(verifier, token) == UNAUTHENTICATED


async def test_alg_none_is_refused(verifier, signing_key):
    header = _b64({"alg": "none", "kid": signing_key.key_id, "typ": "JWT"})
    claims = _b64(
        {"sub": "u", "iss": "aecaro-identity", "aud": "aecaro-api", "iat": 0, "exp": 4102444800}
    )
    assert await _refused(verifier, f"{header}.{claims}.") == UNAUTHENTICATED


async def test_hs256_signed_with_the_public_key_is_refused(verifier, signing_key):
    public_x = signing_key.public_jwk["x"]
    header = _b64({"alg": "HS256", "kid": signing_key.key_id})
    claims = _b64(
        {"sub": "u", "iss": "aecaro-identity", "aud": "aecaro-api", "iat": 0, "exp": 4102444800}
    )
    import hashlib
    import hmac

    signature = hmac.new(public_x.encode(), f"{header}.{claims}".encode(), hashlib.sha256)
    forged = (
        f"{header}.{claims}.{base64.urlsafe_b64encode(signature.digest()).rstrip(b'=').decode()}"
    )
    assert await _refused(verifier, forged) == UNAUTHENTICATED


@pytest.mark.parametrize(
    "claims_change",
    [{"aud": "someone-else"}, {"iss": "someone-else"}, {"sub": ""}, {"exp": None}],
)
async def test_wrong_or_missing_claims_are_refused(verifier, signing_key, claims_change):
    # Issued now, not at import: the whole suite may run longer than its life.
    issued_at = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "u",
        "iss": "aecaro-identity",
        "aud": "aecaro-api",
        "iat": issued_at,
        "exp": issued_at + 60,
    }
    claims.update(claims_change)
    claims = {name: value for name, value in claims.items() if value is not None}
    token = jwt.encode(
        claims,
        signing_key.private_key,
        algorithm="EdDSA",
        headers={"kid": signing_key.key_id, "typ": "at+jwt"},
    )
    assert await _refused(verifier, token) == UNAUTHENTICATED


def _signed_with_type(signing_key: SigningKey, token_type: str | None) -> str:
    """A token signed by the real key, valid but for its header's typ
    (None leaves typ out)."""
    return jwt.encode(
        _valid_claims(),
        signing_key.private_key,
        algorithm="EdDSA",
        headers={"kid": signing_key.key_id, "typ": token_type},
    )


@pytest.mark.parametrize("token_type", ["JWT", None, "", "at+jwt+x", "application/jwt"])
async def test_a_token_that_is_not_an_access_token_is_refused(verifier, signing_key, token_type):
    # An ID token or any other JWT signed with the same key must not pass
    # for an access token (RFC 9068, section 4).
    token = _signed_with_type(signing_key, token_type)
    assert await _refused(verifier, token) == UNAUTHENTICATED


@pytest.mark.parametrize("token_type", ["at+jwt", "AT+JWT", "application/at+jwt"])
async def test_the_access_token_type_is_accepted_in_any_case_and_with_its_prefix(
    verifier, signing_key, token_type
):
    caller = await verifier.verify(_signed_with_type(signing_key, token_type))
    assert caller.user_id == "u"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.", "x" * 5000])
async def test_garbage_is_refused(verifier, garbage):
    assert await _refused(verifier, garbage) == UNAUTHENTICATED


async def test_unknown_key_ids_do_not_hammer_the_identity_service(verifier, key_server, other_key):
    token = issue_access_token(other_key, user_id="u", now=NOW)
    for _ in range(5):
        assert await _refused(verifier, token) == UNAUTHENTICATED
    # One fetch for the first verification, none more within the interval.
    assert key_server.calls == 1
