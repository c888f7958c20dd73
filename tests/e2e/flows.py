"""Steps of the main job, shared by the end-to-end tests."""

import secrets
from dataclasses import dataclass

from services.common.waiting import wait_until

FINISHED = {"succeeded", "failed", "timed_out", "error"}
# What the main job leaves in its user's audit trail.
MAIN_JOB_EVENTS = (
    "user.signed_up",
    "user.logged_in",
    "key.stored",
    "key.decrypted",
    "run.started",
    "run.finished",
)


@dataclass
class User:
    email: str
    password: str
    user_id: str
    access_token: str
    refresh_token: str


async def sign_up_and_log_in(platform, password: str | None = None) -> User:
    email = f"user-{secrets.token_hex(6)}@example.com"
    password = password or secrets.token_urlsafe(18)
    async with platform.client() as api:
        created = await api.post("/v1/auth/signup", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
        tokens = await api.post("/v1/auth/login", json={"email": email, "password": password})
        assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return User(
        email=email,
        password=password,
        user_id=created.json()["user_id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


async def store_key(platform, user: User, secret: str, label: str = "main") -> dict:
    async with platform.client(user.access_token) as api:
        stored = await api.post(
            "/v1/keys", json={"provider": "openai", "label": label, "secret": secret}
        )
    assert stored.status_code == 201, stored.text
    return stored.json()


async def run_to_completion(platform, user: User, key_id: str, code: str) -> dict:
    async with platform.client(user.access_token) as api:
        started = await api.post("/v1/runs", json={"key_id": key_id, "code": code})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]

        async def finished_run():
            run = (await api.get(f"/v1/runs/{run_id}")).json()
            return run if run["status"] in FINISHED else None

        return await wait_until(finished_run, timeout=60, what="the run to finish")


async def audit_events_until(platform, user: User, event_type: str) -> list[dict]:
    """The user's events, once one of ``event_type`` has been recorded."""
    async with platform.client(user.access_token) as api:

        async def events_with_type():
            events = (await api.get("/v1/audit/events")).json()["events"]
            return events if any(e["type"] == event_type for e in events) else None

        return await wait_until(events_with_type, timeout=30, what=f"a {event_type} event")
