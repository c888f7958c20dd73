"""A request must arrive whole within the read deadline (slowloris).

The real gateway runs as a process with a short deadline; raw TLS sockets
stall at each stage of a request and wait, by reading, for the gateway to
answer 408 and close.
"""

import asyncio
import json
import socket
import ssl
import time

import psutil
import pytest
from pydantic import ValidationError

from services.common.waiting import wait_until
from services.gateway.app import GatewaySettings
from services.gateway.http_protocol import GatewayH11Protocol
from services.gateway.middleware.hsts import HSTS_VALUE
from tests.gateway.gateway_process import Gateway, parse_answer, read_until_closed, running_gateway

READ_TIMEOUT = 2.0
WRITE_TIMEOUT = 2.0
# What the gateway may take beyond its deadline on a busy test machine.
SLACK = 3.0


@pytest.fixture(scope="module")
async def gateway(pki_dir, tmp_path_factory):
    settings = {
        "AECARO_GATEWAY_REQUEST_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
        "AECARO_GATEWAY_RESPONSE_WRITE_TIMEOUT_SECONDS": str(WRITE_TIMEOUT),
    }
    async with running_gateway(pki_dir, tmp_path_factory.mktemp("gateway"), **settings) as running:
        yield running


def _connect(gateway: Gateway) -> ssl.SSLSocket:
    return gateway.connect(timeout=READ_TIMEOUT + SLACK)


def _gateway_connections(gateway: Gateway) -> list:
    return [
        connection
        for connection in psutil.Process(gateway.process.pid).net_connections(kind="tcp")
        if connection.laddr.port == gateway.port and connection.status != psutil.CONN_LISTEN
    ]


def _assert_408(answer: bytes) -> None:
    status_line, headers, body = parse_answer(answer)
    assert status_line.startswith(b"HTTP/1.1 408 ")
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"strict-transport-security"] == HSTS_VALUE
    assert headers[b"connection"] == b"close"
    assert json.loads(body) == {
        "error": {"code": "request_timeout", "message": "request not received in time"}
    }


def _stall_after(gateway: Gateway, sent: bytes) -> tuple[bytes, float]:
    with _connect(gateway) as tls:
        started = time.monotonic()
        tls.sendall(sent)
        answer = read_until_closed(tls)
        return answer, time.monotonic() - started


def test_a_connection_that_sends_nothing_is_closed(gateway):
    answer, waited = _stall_after(gateway, b"")
    assert waited < READ_TIMEOUT + SLACK
    _assert_408(answer)


def test_headers_without_their_end_get_408(gateway):
    answer, waited = _stall_after(gateway, b"GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n")
    assert READ_TIMEOUT - 0.5 < waited < READ_TIMEOUT + SLACK
    _assert_408(answer)


def test_a_body_shorter_than_its_length_gets_408(gateway):
    request = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"email": "'
    )
    answer, waited = _stall_after(gateway, request)
    assert waited < READ_TIMEOUT + SLACK
    _assert_408(answer)


def test_the_deadline_counts_from_the_start_not_from_the_last_byte(gateway):
    with _connect(gateway) as tls:
        started = time.monotonic()
        tls.sendall(b"GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n")
        # A header line every 0.2 s (the read's timeout sets the pace): the
        # connection is never idle for long, but the request never ends.
        tls.settimeout(0.2)
        first = b""
        while time.monotonic() - started < READ_TIMEOUT + SLACK:
            try:
                first = tls.recv(65536)
                break
            except TimeoutError:
                tls.sendall(b"X-Drip: x\r\n")
        tls.settimeout(SLACK)
        answer = first + read_until_closed(tls)
        waited = time.monotonic() - started
    assert waited < READ_TIMEOUT + SLACK
    _assert_408(answer)


def test_a_second_request_on_a_kept_alive_connection_has_its_own_deadline(gateway):
    with _connect(gateway) as tls:
        tls.sendall(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):
            first += tls.recv(65536)
        assert first.startswith(b"HTTP/1.1 404 ")
        started = time.monotonic()
        tls.sendall(b"GET /nowhere HTTP/1.1\r\nHost: loc")
        answer = read_until_closed(tls)
        waited = time.monotonic() - started
    assert waited < READ_TIMEOUT + SLACK
    _assert_408(answer)


def test_a_slow_request_that_completes_in_time_is_served(gateway):
    with _connect(gateway) as tls:
        pieces = (b"GET /nowhere HTTP/1.1\r\n", b"Host: localhost\r\n", b"Connection: close\r\n")
        for piece in pieces:
            tls.sendall(piece)
            time.sleep(READ_TIMEOUT / 5)  # the slow client's pace
        tls.sendall(b"\r\n")
        answer = read_until_closed(tls)
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert answer.endswith(b'{"error":{"code":"not_found","message":"Not Found"}}')


async def test_timed_out_connections_are_released_even_if_the_client_lingers(gateway):
    def stall_then_keep_open() -> list[ssl.SSLSocket]:
        stalled = [_connect(gateway) for _ in range(10)]
        for tls in stalled:
            tls.sendall(b"GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n")
        for tls in stalled:
            _assert_408(read_until_closed(tls))
        return stalled

    async def all_released():
        return not _gateway_connections(gateway)

    # The clients neither close nor answer the TLS close: the gateway has to
    # let go of the connections by itself.
    stalled = await asyncio.to_thread(stall_then_keep_open)
    try:
        await wait_until(all_released, timeout=SLACK, what="the gateway to drop the connections")
    finally:
        for tls in stalled:
            tls.close()


@pytest.mark.parametrize(
    ("read_timeout", "write_timeout", "named"),
    [(0, 1, "request_read_timeout"), (1, 0, "response_write_timeout")],
)
def test_the_deadlines_must_be_positive(read_timeout, write_timeout, named):
    with pytest.raises(ValueError, match=named):
        GatewayH11Protocol(
            config=None,
            server_state=None,
            app_state={},
            request_read_timeout=read_timeout,
            response_write_timeout=write_timeout,
        )
    with pytest.raises(ValidationError):
        GatewaySettings(
            gateway_request_read_timeout_seconds=read_timeout,
            gateway_response_write_timeout_seconds=write_timeout,
        )


async def test_a_client_that_stops_reading_its_answers_is_dropped(gateway):
    def pipeline_without_reading() -> ssl.SSLSocket:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(READ_TIMEOUT + SLACK)
        raw.connect(("127.0.0.1", gateway.port))
        context = ssl.create_default_context(cafile=str(gateway.ca_file))
        tls = context.wrap_socket(raw, server_hostname="localhost")
        request = b"GET /openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n"
        # Complete requests, so the read deadline never applies; their answers
        # (the OpenAPI document, some kilobytes each) fill every buffer.
        tls.sendall(request * 400)
        return tls

    tls = await asyncio.to_thread(pipeline_without_reading)
    client_port = tls.getsockname()[1]

    async def dropped():
        return all(c.raddr and c.raddr.port != client_port for c in _gateway_connections(gateway))

    try:
        await wait_until(
            dropped, timeout=WRITE_TIMEOUT + 2 * SLACK, what="the gateway to drop the client"
        )
    finally:
        tls.close()
