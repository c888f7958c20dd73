"""Bad client input gets a JSON answer and leaves no error in the log.

A real gateway process is sent broken requests over raw TLS sockets; its log
must then hold no record at level error and no traceback, whatever the order
in which the HTTP layer and the application answered.
"""

import json

import pytest

from services.gateway.middleware.hsts import HSTS_VALUE
from tests.gateway.gateway_process import Gateway, parse_answer, read_until_closed, running_gateway

TIMEOUT = 5.0

_CHUNKED_LOGIN = (
    b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_CHUNKED_KEYS = b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
_BROKEN_CHUNK = b"ZZ\r\n"


@pytest.fixture(scope="module")
async def gateway(pki_dir, tmp_path_factory):
    async with running_gateway(pki_dir, tmp_path_factory.mktemp("gateway")) as running:
        yield running


def _read_one_answer(tls) -> bytes:
    """One answer on a connection that stays open: its head, then its body."""
    received = tls.recv(65536)
    while b"\r\n\r\n" not in received:
        received += tls.recv(65536)
    _status, headers, body = parse_answer(received)
    missing = int(headers[b"content-length"]) - len(body)
    while missing > 0:
        chunk = tls.recv(65536)
        received += chunk
        missing -= len(chunk)
    return received


def _assert_json_error(answer: bytes, status: int, code: str) -> None:
    status_line, headers, body = parse_answer(answer)
    assert status_line.startswith(b"HTTP/1.1 %d " % status)
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"strict-transport-security"] == HSTS_VALUE
    assert json.loads(body)["error"]["code"] == code


def _assert_no_error_logged(gateway: Gateway, since: int) -> None:
    """No error among the log records after the first ``since``."""
    # Whatever the broken request set going (the application's own answer to
    # it) was scheduled before this request was even read; once this one is
    # answered, its log records are written.
    with gateway.connect(timeout=TIMEOUT) as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_closed(tls).startswith(b"HTTP/1.1 200 ")
    records = gateway.log_records()[since:]
    errors = [record["event"] for record in records if record["level"] in ("error", "critical")]
    assert errors == []
    assert not any("Traceback" in json.dumps(record) for record in records)


def test_a_broken_chunk_sent_with_its_headers_is_400_and_logs_no_error(gateway):
    logged_before = len(gateway.log_records())
    with gateway.connect(timeout=TIMEOUT) as tls:
        tls.sendall(_CHUNKED_LOGIN + _BROKEN_CHUNK)
        answer = read_until_closed(tls)
    _assert_json_error(answer, 400, "bad_request")
    _assert_no_error_logged(gateway, since=logged_before)


def test_a_broken_chunk_after_the_411_closes_and_logs_no_error(gateway):
    logged_before = len(gateway.log_records())
    with gateway.connect(timeout=TIMEOUT) as tls:
        tls.sendall(_CHUNKED_KEYS)
        _assert_json_error(_read_one_answer(tls), 411, "length_required")
        tls.sendall(_BROKEN_CHUNK)
        assert read_until_closed(tls) == b""
    _assert_no_error_logged(gateway, since=logged_before)


@pytest.mark.parametrize(
    "refused",
    [
        b"POST /v1/auth/refresh HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /v1/auth/refresh HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
    ],
    ids=["length-and-chunked", "too-large"],
)
def test_a_request_refused_for_its_body_ends_the_connection(gateway, refused):
    # A request behind it must not be answered: with an unread body, nobody
    # agrees where it would begin (request smuggling).
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with gateway.connect(timeout=TIMEOUT) as tls:
        tls.sendall(refused + smuggled)
        answer = read_until_closed(tls)
    status_line, headers, _body = parse_answer(answer)
    assert status_line.split()[1] in (b"411", b"413")
    assert headers[b"connection"] == b"close"
    assert answer.count(b"HTTP/1.1 ") == 1
