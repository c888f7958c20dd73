"""The main job over HTTPS through the gateway: sign up, log in, seal a key,
run an agent with it, read the audit trail."""

import hashlib
import json

import httpx
import jwt

from tests.e2e.flows import (
    MAIN_JOB_EVENTS,
    audit_events_until,
    run_to_completion,
    sign_up_and_log_in,
    store_key,
)

FAKE_KEY = "sk-test-e2e-0123456789abcdefWXYZ"

AGENT = """\
import hashlib, os, sys
key = open("/run/secrets/llm_api_key").read()
print(hashlib.sha256(key.encode()).hexdigest())
print(any(key in value for value in os.environ.values()))
print(sys.executable)
"""


async def test_access_token_verifies_with_the_published_jwks(running_platform):
    user = await sign_up_and_log_in(running_platform)
    async with running_platform.client() as api:
        jwks = (await api.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    claims = jwt.decode(user.access_token, key.key, algorithms=["EdDSA"], audience="aecaro-api")
    assert claims["sub"] == user.user_id
    assert claims["exp"] - claims["iat"] == 3600


async def test_keys_show_only_their_last_four_characters(running_platform):
    user = await sign_up_and_log_in(running_platform)
    stored = await store_key(running_platform, user, FAKE_KEY)
    assert stored["last_four"] == "WXYZ"
    async with running_platform.client(user.access_token) as api:
        listed = await api.get("/v1/keys")
        one = await api.get(f"/v1/keys/{stored['key_id']}")
    assert [key["key_id"] for key in listed.json()["keys"]] == [stored["key_id"]]
    assert one.json()["last_four"] == "WXYZ"
    for response in (listed, one):
        assert FAKE_KEY not in response.text
        assert FAKE_KEY[:-4] not in response.text


async def test_agent_reads_the_key_from_its_secret_file_only(running_platform):
    user = await sign_up_and_log_in(running_platform)
    stored = await store_key(running_platform, user, FAKE_KEY)
    run = await run_to_completion(running_platform, user, stored["key_id"], AGENT)
    assert run["status"] == "succeeded", run
    assert run["exit_code"] == 0
    digest, key_in_environment, executable = run["output"].split()
    assert digest == hashlib.sha256(FAKE_KEY.encode()).hexdigest()
    assert key_in_environment == "False"
    assert executable == "/usr/bin/python3"


async def test_a_failing_agent_reports_its_exit_code(running_platform):
    user = await sign_up_and_log_in(running_platform)
    stored = await store_key(running_platform, user, FAKE_KEY)
    run = await run_to_completion(
        running_platform, user, stored["key_id"], "import sys; print('bye'); sys.exit(3)"
    )
    assert (run["status"], run["exit_code"]) == ("failed", 3)
    assert "bye" in run["output"]


async def test_audit_trail_records_the_main_job_in_a_hash_chain(running_platform):
    user = await sign_up_and_log_in(running_platform)
    stored = await store_key(running_platform, user, FAKE_KEY)
    await run_to_completion(running_platform, user, stored["key_id"], "print('hello')")
    events = await audit_events_until(running_platform, user, "run.finished")

    types = [event["type"] for event in events]
    for expected in MAIN_JOB_EVENTS:
        assert expected in types, types
    assert all(event["subject_id"] == user.user_id for event in events)
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(sequences)
    async with running_platform.client(user.access_token) as api:
        first = (await api.get("/v1/audit/events", params={"limit": 2})).json()
        rest = (await api.get("/v1/audit/events", params={"after": first["next_after"]})).json()
    assert first["next_after"] == first["events"][-1]["sequence"]
    assert rest["next_after"] is None
    assert first["events"] + rest["events"] == events
    decrypted = next(event for event in events if event["type"] == "key.decrypted")
    assert decrypted["data"]["key_id"] == stored["key_id"]
    assert FAKE_KEY not in json.dumps(events)


async def test_refresh_token_rotates(running_platform):
    user = await sign_up_and_log_in(running_platform)
    async with running_platform.client() as api:
        renewed = await api.post("/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        reused = await api.post("/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != user.refresh_token
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "unauthenticated"


async def test_another_user_gets_404_for_someone_elses_key_and_run(running_platform):
    owner = await sign_up_and_log_in(running_platform)
    intruder = await sign_up_and_log_in(running_platform)
    key = await store_key(running_platform, owner, FAKE_KEY)
    run = await run_to_completion(running_platform, owner, key["key_id"], "print('mine')")

    async with running_platform.client(intruder.access_token) as api:
        key_read = await api.get(f"/v1/keys/{key['key_id']}")
        run_read = await api.get(f"/v1/runs/{run['run_id']}")
        run_with_their_key = await api.post(
            "/v1/runs", json={"key_id": key["key_id"], "code": "print(1)"}
        )
        their_keys = await api.get("/v1/keys")
        their_events = await api.get("/v1/audit/events")

    for response in (key_read, run_read, run_with_their_key):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert their_keys.json() == {"keys": []}
    assert all(e["subject_id"] == intruder.user_id for e in their_events.json()["events"])
    assert owner.user_id not in their_events.text


async def test_routes_need_a_valid_access_token(running_platform):
    forged = jwt.encode({"sub": "someone"}, "not-the-key", algorithm="HS256")
    async with running_platform.client() as api:
        for headers in (
            {},
            {"Authorization": "Bearer garbage"},
            {"Authorization": f"Bearer {forged}"},
            {"Authorization": "Basic abc"},
        ):
            response = await api.get("/v1/keys", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthenticated"


async def test_health_and_plain_http_is_not_served(running_platform):
    async with running_platform.client() as api:
        assert (await api.get("/healthz")).json() == {"status": "ok"}
    plain_url = running_platform.url.replace("https://", "http://")
    async with httpx.AsyncClient(timeout=5) as plain:
        try:
            response = await plain.get(f"{plain_url}/healthz")
        except httpx.HTTPError:
            return
    assert response.status_code != 200
