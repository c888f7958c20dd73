"""Small helpers for the vault tests."""

import json
import secrets
import uuid

from services.contracts import vault_pb2


def new_owner() -> str:
    """A fresh owner id, so tests never see each other's keys."""
    return f"user-{uuid.uuid4()}"


def new_secret() -> str:
    """A secret shaped like an LLM provider key, unique per call."""
    return f"sk-test-{secrets.token_urlsafe(24)}"


async def store(gateway, owner_id: str, secret: str, *, provider="openai", label="My key"):
    return await gateway.StoreKey(
        vault_pb2.StoreKeyRequest(owner_id=owner_id, provider=provider, label=label, secret=secret)
    )


async def outbox_events(pool, event_type: str, key_id: str) -> list[tuple[str, dict, bytes]]:
    """(subject, event, raw payload) of every outbox row of ``event_type`` about ``key_id``."""
    rows = await pool.fetch("SELECT subject, payload FROM outbox")
    found = []
    for row in rows:
        event = json.loads(bytes(row["payload"]))
        if event["type"] == event_type and event["data"].get("key_id") == key_id:
            found.append((row["subject"], event, bytes(row["payload"])))
    return found
