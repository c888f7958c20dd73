"""Each request is logged by its route template, never by the target it was sent to."""

import json

import pytest

from services.common.waiting import wait_until
from tests.gateway.gateway_process import read_until_closed, running_gateway

TIMEOUT = 5.0
PLANTED = "sk-planted-in-a-url-0123456789"


@pytest.fixture(scope="module")
async def gateway(pki_dir, tmp_path_factory):
    async with running_gateway(pki_dir, tmp_path_factory.mktemp("gateway")) as running:
        yield running


def _get(gateway, target: str) -> bytes:
    with gateway.connect(timeout=TIMEOUT) as tls:
        tls.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_until_closed(tls)


async def test_a_secret_in_the_path_or_query_is_not_logged(gateway):
    assert _get(gateway, f"/v1/keys/{PLANTED}?api_key={PLANTED}").startswith(b"HTTP/1.1 401 ")
    assert _get(gateway, f"/nowhere/{PLANTED}").startswith(b"HTTP/1.1 404 ")

    async def both_logged():
        requests = [r for r in gateway.log_records() if r["event"] == "http_request"]
        return requests if len(requests) >= 2 else None

    requests = await wait_until(both_logged, timeout=TIMEOUT, what="two request log lines")
    assert [(r["method"], r["route"], r["status"]) for r in requests[-2:]] == [
        ("GET", "/v1/keys/{key_id}", 401),
        ("GET", "unmatched", 404),
    ]
    assert PLANTED not in json.dumps(gateway.log_records())
