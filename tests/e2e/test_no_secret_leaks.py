"""Plant a recognisable fake key and password, run the main job, and look for
them in every log line every process printed, every trace span and every
error body."""

import json
import secrets

from tests.e2e.flows import (
    audit_events_until,
    run_to_completion,
    sign_up_and_log_in,
    store_key,
)


async def test_no_plaintext_key_or_password_in_logs_spans_or_error_bodies(running_platform):
    canary_password = "canary-password-" + secrets.token_hex(8)
    canary_key = "sk-canary-" + secrets.token_hex(16)

    user = await sign_up_and_log_in(running_platform, password=canary_password)
    stored = await store_key(running_platform, user, canary_key)
    run = await run_to_completion(
        running_platform,
        user,
        stored["key_id"],
        "key = open('/run/secrets/llm_api_key').read(); print(len(key))",
    )
    assert run["output"].strip() == str(len(canary_key))
    await audit_events_until(running_platform, user, "run.finished")
    # Failure paths too: a wrong password, a duplicate sign-up, a refused key.
    async with running_platform.client() as api:
        await api.post(
            "/v1/auth/login", json={"email": user.email, "password": canary_password + "x"}
        )
        await api.post("/v1/auth/signup", json={"email": user.email, "password": canary_password})
    async with running_platform.client(user.access_token) as api:
        await api.post(
            "/v1/keys", json={"provider": "bad provider", "label": "x", "secret": canary_key}
        )

    lines = running_platform.log_lines()
    spans = running_platform.span_lines()
    assert len(lines) > 20  # the services did log
    span_names = {json.loads(span)["name"] for span in spans}
    assert {"HTTP POST", "VaultServicer/DecryptKey"} <= span_names  # and did trace
    for canary in (canary_password, canary_key, canary_key[:-4]):
        assert not [line for line in lines if canary in line]
        assert not [span for span in spans if canary in span]
        assert not [body for body in running_platform.error_bodies if canary in body]
    assert running_platform.error_bodies  # the failure paths above were exercised


async def test_every_service_log_line_is_json(running_platform):
    await sign_up_and_log_in(running_platform)
    services_seen = set()
    for line in running_platform.log_lines():
        if line.startswith("AECARO "):  # the launcher's banner for humans
            continue
        record = json.loads(line)
        assert {"event", "level", "timestamp"} <= set(record), line
        services_seen.add(record.get("service"))
    assert {"gateway", "identity", "vault", "executor", "audit"} <= services_seen
