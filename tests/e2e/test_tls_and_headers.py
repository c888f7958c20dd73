"""The gateway speaks HTTPS only: TLS 1.2 at least, 1.3 offered, HSTS always."""

import asyncio
import socket
import ssl
from urllib.parse import urlparse

import pytest

HSTS = "max-age=63072000; includeSubDomains"


def _handshake(platform, configure) -> str:
    """Connect with a client context shaped by ``configure``; returns the version."""
    address = urlparse(platform.url)
    context = ssl.create_default_context(cafile=str(platform.ca_file))
    configure(context)
    with socket.create_connection((address.hostname, address.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=address.hostname) as tls:
            return tls.version()


def _only(version):
    def configure(context):
        # Lowered security level so the client is able to offer old versions
        # at all: the refusal must come from the server.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = version
        context.maximum_version = version

    return configure


async def test_tls_13_is_negotiated_by_default(running_platform):
    version = await asyncio.to_thread(_handshake, running_platform, lambda context: None)
    assert version == "TLSv1.3"


async def test_tls_12_is_accepted(running_platform):
    version = await asyncio.to_thread(_handshake, running_platform, _only(ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2"


@pytest.mark.parametrize("old", [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1])
async def test_older_tls_is_refused_by_the_server(running_platform, old):
    with pytest.raises(ssl.SSLError) as refused:
        await asyncio.to_thread(_handshake, running_platform, _only(old))
    # The server's refusal (a protocol-version alert, or for TLS 1.0 a closed
    # connection), not the client failing to offer the version at all.
    reason = refused.value.reason or ""
    assert "NO_PROTOCOLS_AVAILABLE" not in reason
    assert any(word in reason for word in ("VERSION", "ALERT", "EOF")), reason


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/healthz", None, 200),
        ("GET", "/no/such/route", None, 404),
        ("GET", "/v1/keys", None, 401),
        ("DELETE", "/v1/auth/signup", None, 405),
        ("POST", "/v1/auth/signup", {"email": 1}, 422),
        ("POST", "/v1/auth/login", {"email": "a@b.co", "password": "wrong password"}, 401),
    ],
)
async def test_every_response_carries_hsts(running_platform, method, path, body, status):
    async with running_platform.client() as api:
        response = await api.request(method, path, json=body)
    assert response.status_code == status
    assert response.headers["strict-transport-security"] == HSTS


async def test_oversized_body_is_refused_with_hsts(running_platform):
    async with running_platform.client() as api:
        response = await api.post(
            "/v1/auth/signup",
            content=b"x" * (1024 * 1024),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["strict-transport-security"] == HSTS


def _raw_exchange(platform, request: bytes) -> bytes:
    address = urlparse(platform.url)
    context = ssl.create_default_context(cafile=str(platform.ca_file))
    with socket.create_connection((address.hostname, address.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=address.hostname) as tls:
            tls.sendall(request)
            received = b""
            while chunk := tls.recv(65536):
                received += chunk
            return received


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",  # no Host header
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
async def test_unparseable_requests_get_json_400_with_hsts(running_platform, request_bytes):
    answer = await asyncio.to_thread(_raw_exchange, running_platform, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert HSTS.encode() in head.lower().replace(b"includesubdomains", b"includeSubDomains")
    assert b"application/json" in head
    assert body == b'{"error": {"code": "bad_request", "message": "malformed HTTP request"}}'


async def test_chunked_body_beside_a_content_length_is_refused(running_platform):
    # Only the head and a first chunk are sent: the refusal must come before
    # the body is read (sending megabytes would race the server's close).
    request = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"1000\r\n" + b"x" * 64
    )
    answer = await asyncio.to_thread(_raw_exchange, running_platform, request)
    head = answer.split(b"\r\n", 1)[0]
    assert head.startswith((b"HTTP/1.1 400", b"HTTP/1.1 411")), head


async def test_token_responses_are_not_cached(running_platform):
    from tests.e2e.flows import sign_up_and_log_in

    user = await sign_up_and_log_in(running_platform)
    async with running_platform.client() as api:
        response = await api.post(
            "/v1/auth/login", json={"email": user.email, "password": user.password}
        )
    assert response.headers["cache-control"] == "no-store"
