"""Internal gRPC is mutual TLS with the platform CA, nothing else."""

import grpc
import pytest
import trustme

from services.common.mtls import ServiceCredentials
from services.contracts import identity_pb2, identity_pb2_grpc

REQUEST = identity_pb2.GetSigningKeysRequest()


async def _call(channel):
    async with channel:
        # Fail at once on a refused handshake rather than wait for the peer.
        stub = identity_pb2_grpc.IdentityStub(channel)
        return await stub.GetSigningKeys(REQUEST, timeout=5, wait_for_ready=False)


async def test_the_gateway_certificate_is_accepted(platform_settings, identity):
    credentials = ServiceCredentials.load(platform_settings.tls_dir, "gateway")
    keys = await _call(credentials.channel_to(platform_settings.identity_address, "identity"))
    assert '"kty": "OKP"' in keys.jwks_json


async def test_plaintext_connection_is_refused(platform_settings, identity):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(grpc.aio.insecure_channel(platform_settings.identity_address))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tls_without_a_client_certificate_is_refused(platform_settings, identity):
    ca_pem = (platform_settings.tls_dir / "ca.pem").read_bytes()
    channel = grpc.aio.secure_channel(
        platform_settings.identity_address,
        grpc.ssl_channel_credentials(root_certificates=ca_pem),
        options=[("grpc.ssl_target_name_override", "identity")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_from_another_ca_is_refused(platform_settings, identity):
    # An attacker's own CA issuing a certificate that claims to be the gateway.
    rogue_ca = trustme.CA()
    rogue = rogue_ca.issue_cert("gateway", common_name="gateway")
    ca_pem = (platform_settings.tls_dir / "ca.pem").read_bytes()
    channel = grpc.aio.secure_channel(
        platform_settings.identity_address,
        grpc.ssl_channel_credentials(
            root_certificates=ca_pem,
            private_key=rogue.private_key_pem.bytes(),
            certificate_chain=rogue.cert_chain_pems[0].bytes(),
        ),
        options=[("grpc.ssl_target_name_override", "identity")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_server_must_prove_it_is_the_expected_service(platform_settings, identity):
    # The identity server's certificate does not name "vault", so a client that
    # wants the vault does not trust it.
    credentials = ServiceCredentials.load(platform_settings.tls_dir, "gateway")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(credentials.channel_to(platform_settings.identity_address, "vault"))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_valid_certificate_of_an_unexpected_service_is_refused(platform_settings, identity):
    credentials = ServiceCredentials.load(platform_settings.tls_dir, "executor")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(credentials.channel_to(platform_settings.identity_address, "identity"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
