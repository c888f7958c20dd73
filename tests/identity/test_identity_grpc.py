"""The identity service over real mutual TLS, on the test database."""

import json

import grpc
import jwt
import pytest

from services.common.mtls import ServiceCredentials
from services.contracts import identity_pb2, identity_pb2_grpc
from services.identity.tokens import AUDIENCE, ISSUER

PASSWORD = "correct horse battery staple"


def _stub(platform_settings, caller: str):
    credentials = ServiceCredentials.load(platform_settings.tls_dir, caller)
    channel = credentials.channel_to(platform_settings.identity_address, "identity")
    return identity_pb2_grpc.IdentityStub(channel)


@pytest.fixture
def gateway(platform_settings, identity):
    return _stub(platform_settings, "gateway")


async def _sign_up(gateway, email, password=PASSWORD):
    return await gateway.SignUp(identity_pb2.SignUpRequest(email=email, password=password))


async def test_sign_up_then_log_in_gives_a_verifiable_one_hour_token(gateway, run_id):
    email = f"Ada.{run_id}@Example.com"
    created = await _sign_up(gateway, email)
    assert created.email == email.lower()

    pair = await gateway.LogIn(identity_pb2.LogInRequest(email=email, password=PASSWORD))
    jwks = json.loads(
        (await gateway.GetSigningKeys(identity_pb2.GetSigningKeysRequest())).jwks_json
    )
    public_key = jwt.PyJWKSet.from_dict(jwks).keys[0].key
    claims = jwt.decode(
        pair.access_token, public_key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["sub"] == created.user_id
    assert claims["exp"] - claims["iat"] == 3600
    assert pair.expires_in == 3600
    assert pair.token_type == "Bearer"
    assert len(pair.refresh_token) >= 40


async def test_password_is_stored_as_argon2id_hash(gateway, identity, run_id):
    email = f"hash.{run_id}@example.com"
    await _sign_up(gateway, email)
    async with identity.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_duplicate_email_is_already_exists(gateway, run_id):
    email = f"twice.{run_id}@example.com"
    await _sign_up(gateway, email)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sign_up(gateway, email.upper())
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_full_width_look_alike_is_the_same_account(gateway, run_id):
    email = f"wide.{run_id}@example.com"
    await _sign_up(gateway, email)
    look_alike = email.replace("wide", "ｗｉｄｅ").replace("example", "ｅxample")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sign_up(gateway, look_alike)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    pair = await gateway.LogIn(identity_pb2.LogInRequest(email=look_alike, password=PASSWORD))
    assert pair.access_token


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("not-an-email", PASSWORD),
        ("", PASSWORD),
        ("a" * 250 + "@example.com", PASSWORD),
        ("short@example.com", "short"),
        ("same@example.com", "aaaaaaaaaaaaaaaa"),
        ("long@example.com", "x" * 1025),
    ],
)
async def test_bad_sign_up_input_is_invalid_argument(gateway, email, password):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sign_up(gateway, email, password)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert password not in refused.value.details()


async def test_wrong_password_and_unknown_email_fail_alike(gateway, run_id):
    email = f"alike.{run_id}@example.com"
    await _sign_up(gateway, email)
    failures = []
    for attempt in (
        identity_pb2.LogInRequest(email=email, password="wrong password 123"),
        identity_pb2.LogInRequest(email=f"nobody.{run_id}@example.com", password=PASSWORD),
        identity_pb2.LogInRequest(email="not an email", password=PASSWORD),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await gateway.LogIn(attempt)
        failures.append((refused.value.code(), refused.value.details()))
    assert failures == [(grpc.StatusCode.UNAUTHENTICATED, "invalid email or password")] * 3


async def test_refresh_rotates_and_reuse_revokes_the_family(gateway, run_id):
    email = f"rotate.{run_id}@example.com"
    await _sign_up(gateway, email)
    first = await gateway.LogIn(identity_pb2.LogInRequest(email=email, password=PASSWORD))

    second = await gateway.Refresh(identity_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token
    assert second.access_token

    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await gateway.Refresh(identity_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert reused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The copy's holder and the rightful holder are now both logged out.
    with pytest.raises(grpc.aio.AioRpcError) as revoked:
        await gateway.Refresh(identity_pb2.RefreshRequest(refresh_token=second.refresh_token))
    assert revoked.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_refresh_token_is_unauthenticated(gateway):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.Refresh(identity_pb2.RefreshRequest(refresh_token="made-up"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_only_the_gateway_may_call(platform_settings, identity):
    vault = _stub(platform_settings, "vault")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await vault.GetSigningKeys(identity_pb2.GetSigningKeysRequest())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
