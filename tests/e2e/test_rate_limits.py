"""Guessing passwords is slowed down per account, without locking its owner out;
one owner cannot take every sandbox slot."""

from tests.e2e.flows import sign_up_and_log_in, store_key


async def test_a_client_guessing_one_password_is_stopped_but_the_owner_is_not(
    running_platform,
):
    victim = await sign_up_and_log_in(running_platform)  # a success: not counted
    bystander = await sign_up_and_log_in(running_platform)
    async with running_platform.client() as guesser:  # from 127.0.0.1
        statuses = [
            (
                await guesser.post(
                    "/v1/auth/login", json={"email": victim.email, "password": f"guess-{n}"}
                )
            ).status_code
            for n in range(10)
        ]
        # Even the right password is refused to this client for now...
        refused = await guesser.post(
            "/v1/auth/login", json={"email": victim.email.upper(), "password": victim.password}
        )
        # ...which may still log in to other accounts.
        other = await guesser.post(
            "/v1/auth/login", json={"email": bystander.email, "password": bystander.password}
        )
    async with running_platform.client(from_address="127.0.0.2") as owner:
        owners_login = await owner.post(
            "/v1/auth/login", json={"email": victim.email, "password": victim.password}
        )
    assert statuses == [401] * 10
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["strict-transport-security"]
    assert other.status_code == 200
    assert owners_login.status_code == 200
    assert owners_login.json()["access_token"]


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
