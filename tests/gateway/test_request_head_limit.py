"""The request line and headers together must fit the head size limit.

A real gateway process is sent heads over raw TLS sockets, whole in one
write or trickled, around its limit.
"""

import json

import pytest
from pydantic import ValidationError

from services.gateway.app import GatewaySettings
from services.gateway.middleware.head_limit import HeadLimitMiddleware
from services.gateway.middleware.hsts import HSTS_VALUE
from tests.gateway.gateway_process import parse_answer, read_until_closed, running_gateway

MAX_HEAD_BYTES = 16 * 1024
TIMEOUT = 5.0

_REQUEST_LINE = b"GET /healthz HTTP/1.1\r\n"
_HEADERS = b"Host: x\r\nConnection: close\r\n"


@pytest.fixture(scope="module")
async def gateway(pki_dir, tmp_path_factory):
    settings = {"AECARO_GATEWAY_MAX_HEAD_BYTES": str(MAX_HEAD_BYTES)}
    async with running_gateway(pki_dir, tmp_path_factory.mktemp("gateway"), **settings) as running:
        yield running


def _head_of_size(size: int) -> bytes:
    """A request for /healthz whose head is ``size`` bytes, padded by one header."""
    unpadded = _REQUEST_LINE + _HEADERS + b"X-Pad: \r\n" + b"\r\n"
    head = _REQUEST_LINE + _HEADERS + b"X-Pad: " + b"p" * (size - len(unpadded)) + b"\r\n\r\n"
    assert len(head) == size
    return head


def _send(gateway, *pieces: bytes) -> bytes:
    with gateway.connect(timeout=TIMEOUT) as tls:
        for piece in pieces:
            tls.sendall(piece)
        return read_until_closed(tls)


def _assert_431(answer: bytes) -> None:
    status_line, headers, body = parse_answer(answer)
    assert status_line.startswith(b"HTTP/1.1 431 ")
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"strict-transport-security"] == HSTS_VALUE
    assert json.loads(body) == {
        "error": {
            "code": "request_head_too_large",
            "message": "request line and headers are too large",
        }
    }


def test_a_big_header_in_one_write_is_431(gateway):
    _assert_431(_send(gateway, _REQUEST_LINE + _HEADERS + b"X-Big: " + b"b" * 60_000 + b"\r\n\r\n"))


def test_a_long_url_in_one_write_is_431(gateway):
    long_url = b"/healthz?pad=" + b"u" * 17_000
    _assert_431(_send(gateway, b"GET " + long_url + b" HTTP/1.1\r\n" + _HEADERS + b"\r\n"))


def test_a_head_one_byte_over_the_limit_is_431(gateway):
    _assert_431(_send(gateway, _head_of_size(MAX_HEAD_BYTES + 1)))


def test_a_head_at_the_limit_is_served(gateway):
    answer = _send(gateway, _head_of_size(MAX_HEAD_BYTES))
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert parse_answer(answer)[2] == b'{"status":"ok"}'


def test_a_head_that_outgrows_the_limit_on_its_way_is_431(gateway):
    header_lines = [b"X-Line-%d: %s\r\n" % (number, b"t" * 1000) for number in range(20)]
    # No blank line: the head is still incomplete when it passes the limit.
    _assert_431(_send(gateway, _REQUEST_LINE, _HEADERS, *header_lines))


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError, match="max_head_bytes"):
        HeadLimitMiddleware(app=None, max_head_bytes=0)
    with pytest.raises(ValidationError):
        GatewaySettings(gateway_max_head_bytes=0)
