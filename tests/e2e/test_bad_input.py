"""Bad input on the public API: always a 4xx with {"error": {"code", "message"}}."""

import json

import pytest

from tests.e2e.flows import sign_up_and_log_in, store_key

JSON = {"content-type": "application/json"}
NOT_A_UUID = "not-a-uuid"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def _assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/v1/auth/signup", {}, 422, "invalid_request"),
        ("/v1/auth/signup", {"email": "x@example.com"}, 422, "invalid_request"),
        ("/v1/auth/signup", {"email": "not-an-email", "password": "long enough pw!"}, 422, None),
        ("/v1/auth/signup", {"email": "a@example.com", "password": "short"}, 422, None),
        ("/v1/auth/signup", {"email": "a@example.com", "password": "p" * 2000}, 422, None),
        ("/v1/auth/signup", [1, 2], 422, "invalid_request"),
        (
            "/v1/auth/signup",
            {"email": "a@example.com", "password": "x" * 20, "role": "admin"},
            422,
            "invalid_request",
        ),
        (
            "/v1/auth/login",
            {"email": "nobody@example.com", "password": "whatever123"},
            401,
            "unauthenticated",
        ),
        ("/v1/auth/refresh", {"refresh_token": "nope"}, 401, "unauthenticated"),
        ("/v1/auth/login", {"email": "a@b.co", "password": "\ud800aaaaaaaaaaaa"}, 422, None),
        ("/v1/auth/signup", {"email": "a@b.co", "password": "\udfffaaaaaaaaaaaa"}, 422, None),
        ("/v1/auth/refresh", {"refresh_token": "\ud800"}, 422, "invalid_request"),
        ("/v1/auth/login", {"email": "a@b.co", "password": "nul\u0000inside!!"}, 422, None),
    ],
)
async def test_bad_auth_input(running_platform, path, payload, status, code):
    # json.dumps escapes lone surrogates as \ud800, as a hostile client would.
    body = json.dumps(payload).encode("ascii")
    async with running_platform.client() as api:
        response = await api.post(path, content=body, headers=JSON)
    _assert_error(response, status, code)


async def test_malformed_json_is_400(running_platform):
    async with running_platform.client() as api:
        response = await api.post(
            "/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        )
    _assert_error(response, 400, "malformed_json")


@pytest.fixture(scope="module")
async def user(running_platform):
    return await sign_up_and_log_in(running_platform)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"provider": "openai", "label": "x"},
        {"provider": "OpenAI!", "label": "x", "secret": "sk-valid-looking-secret"},
        {"provider": "openai", "label": "", "secret": "sk-valid-looking-secret"},
        {"provider": "openai", "label": "x", "secret": "short"},
        {"provider": "openai", "label": "x", "secret": "has white space in it"},
        {"provider": "openai", "label": "x", "secret": "s" * 5000},
        {"provider": "openai", "label": "x" * 101, "secret": "sk-valid-looking-secret"},
        {"provider": "openai", "label": "x", "secret": 12345678},
    ],
)
async def test_bad_key_input(running_platform, user, payload):
    async with running_platform.client(user.access_token) as api:
        response = await api.post("/v1/keys", json=payload)
    _assert_error(response, 422)
    if isinstance(payload.get("secret"), str) and len(payload["secret"]) >= 8:
        assert payload["secret"] not in response.text


@pytest.mark.parametrize("key_id", [NOT_A_UUID, UNKNOWN_UUID, "%00", "a" * 300, "..%2F..%2Fetc"])
async def test_unknown_or_malformed_key_id_is_404(running_platform, user, key_id):
    async with running_platform.client(user.access_token) as api:
        response = await api.get(f"/v1/keys/{key_id}")
    _assert_error(response, 404, "not_found")


async def test_a_trailing_slash_is_404_not_a_redirect(running_platform, user):
    async with running_platform.client(user.access_token) as api:
        response = await api.get("/v1/keys/", headers={"Host": "evil.example"})
    _assert_error(response, 404, "not_found")
    assert "location" not in response.headers


@pytest.mark.parametrize("unknown_run_id", [NOT_A_UUID, UNKNOWN_UUID])
async def test_unknown_or_malformed_run_id_is_404(running_platform, user, unknown_run_id):
    async with running_platform.client(user.access_token) as api:
        response = await api.get(f"/v1/runs/{unknown_run_id}")
    _assert_error(response, 404, "not_found")


async def test_bad_run_input(running_platform, user):
    key = await store_key(running_platform, user, "sk-bad-run-input-1234")
    async with running_platform.client(user.access_token) as api:
        cases = [
            (await api.post("/v1/runs", json={"key_id": NOT_A_UUID, "code": "print(1)"}), 404),
            (await api.post("/v1/runs", json={"key_id": key["key_id"], "code": ""}), 422),
            (await api.post("/v1/runs", json={"key_id": key["key_id"]}), 422),
            (await api.post("/v1/runs", json={"key_id": UNKNOWN_UUID, "code": "print(1)"}), 404),
            (await api.post("/v1/runs", json={"key_id": key["key_id"], "code": "x" * 70000}), 422),
        ]
    for response, status in cases:
        _assert_error(response, status)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "abc"},
        {"limit": "-5"},
        {"after": "-1"},
        {"after": "x"},
        {"after": str(2**70)},
    ],
)
async def test_bad_audit_paging_is_422(running_platform, user, params):
    async with running_platform.client(user.access_token) as api:
        response = await api.get("/v1/audit/events", params=params)
    _assert_error(response, 422, "invalid_request")
