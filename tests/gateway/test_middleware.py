"""The gateway's ASGI layers in-process: errors keep the JSON shape and HSTS,
bodies over the limit or without a length are refused before they are read."""

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.errors import install_error_handlers
from services.gateway.middleware.body_limit import BodyLimitMiddleware
from services.gateway.middleware.hsts import HSTS_VALUE, HSTSMiddleware

HSTS = HSTS_VALUE.decode()


def _app(max_body_bytes: int = 100):
    api = FastAPI()
    install_error_handlers(api)

    @api.get("/boom")
    async def boom():
        raise RuntimeError("internal detail that must not leak")

    @api.post("/echo")
    async def echo(body: dict):
        return {"size": len(body)}

    return HSTSMiddleware(BodyLimitMiddleware(api, max_body_bytes=max_body_bytes))


@pytest.fixture
async def client():
    # raise_app_exceptions=False: behave like a server, which answers the
    # client and only then sees the exception Starlette re-raises.
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
        yield http


async def test_an_unhandled_error_is_a_json_500_with_hsts_and_no_detail(client):
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert response.headers["strict-transport-security"] == HSTS
    assert "must not leak" not in response.text


async def test_unknown_route_is_a_json_404_with_hsts(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["strict-transport-security"] == HSTS


async def test_a_declared_body_over_the_limit_is_413(client):
    response = await client.post("/echo", content=b"{" + b" " * 200 + b"}")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["strict-transport-security"] == HSTS


async def test_a_chunked_body_is_411(client):
    async def chunks():
        yield b"{}"

    response = await client.post("/echo", content=chunks())
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"


async def _call_raw(headers):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/echo", "headers": headers}
    await _app()(scope, receive, send)
    return sent


async def test_transfer_encoding_beside_a_small_content_length_is_411():
    # Servers read such a body as chunked, of any size: the declared length
    # must not be what lets it through.
    sent = await _call_raw([(b"content-length", b"2"), (b"transfer-encoding", b"chunked")])
    assert sent[0]["status"] == 411
    assert (b"strict-transport-security", HSTS_VALUE) in sent[0]["headers"]


async def test_a_malformed_content_length_is_400():
    sent = await _call_raw([(b"content-length", b"12abc")])
    assert sent[0]["status"] == 400
    assert (b"strict-transport-security", HSTS_VALUE) in sent[0]["headers"]


async def test_a_body_within_the_limit_reaches_the_route(client):
    response = await client.post("/echo", json={"a": 1})
    assert response.status_code == 200
    assert response.json() == {"size": 1}
    assert response.headers["strict-transport-security"] == HSTS


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        BodyLimitMiddleware(FastAPI(), max_body_bytes=0)


@pytest.mark.parametrize(
    "unparsable",
    [
        # Past Python's limit on digits converted to an int (ValueError).
        '{"n": ' + "1" * 5000 + "}",
        # Deeper than the recursion limit (RecursionError).
        '{"a": ' * 2000 + "1" + "}" * 2000,
        # Not UTF-8 (UnicodeDecodeError).
        b'{"a": "\xff"}',
    ],
    ids=["5000-digit integer", "nesting 2000 deep", "not UTF-8"],
)
async def test_json_the_parser_gives_up_on_is_malformed_json_like_any_other(unparsable):
    transport = httpx.ASGITransport(app=_app(max_body_bytes=64 * 1024))
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
        response = await http.post(
            "/echo", content=unparsable, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "malformed_json", "message": "request body is not valid JSON"}
    }
    assert response.headers["strict-transport-security"] == HSTS
