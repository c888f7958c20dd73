"""Guessing passwords is slowed down per account, without locking others out;
one owner cannot take every sandbox slot."""

from tests.e2e.flows import sign_up_and_log_in, store_key


async def test_the_eleventh_login_attempt_in_a_minute_is_429(running_platform):
    victim = await sign_up_and_log_in(running_platform)  # one attempt used
    bystander = await sign_up_and_log_in(running_platform)
    async with running_platform.client() as api:
        statuses = [
            (
                await api.post(
                    "/v1/auth/login", json={"email": victim.email, "password": f"guess-{n}"}
                )
            ).status_code
            for n in range(9)
        ]
        refused = await api.post(
            "/v1/auth/login", json={"email": victim.email.upper(), "password": victim.password}
        )
        other = await api.post(
            "/v1/auth/login", json={"email": bystander.email, "password": bystander.password}
        )
    assert statuses == [401] * 9
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["strict-transport-security"]
    assert other.status_code == 200


async def test_a_third_unfinished_run_is_429(running_platform):
    user = await sign_up_and_log_in(running_platform)
    key = await store_key(running_platform, user, "sk-fairness-0123456789")
    body = {"key_id": key["key_id"], "code": "import time; time.sleep(3)"}
    async with running_platform.client(user.access_token) as api:
        first = await api.post("/v1/runs", json=body)
        second = await api.post("/v1/runs", json=body)
        third = await api.post("/v1/runs", json=body)
    assert (first.status_code, second.status_code) == (202, 202)
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "too_many_requests"
