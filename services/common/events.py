"""The audit event every service emits, and how it travels on NATS.

An event names who acted (``actor_id``) and whose data it concerns
(``subject_id``, the tenant scope for queries). ``data`` holds identifiers and
labels only: never a secret, a password or a token.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=100)
    service: str = Field(pattern=r"^[a-z]+$", max_length=32)
    actor_id: str = Field(max_length=100)
    subject_id: str = Field(max_length=100)
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_unverified_json(cls, raw: bytes) -> "AuditEvent":
        """Parse bytes from the wire; raises pydantic.ValidationError if malformed."""
        return cls.model_validate_json(raw)


def new_event(
    *,
    type: str,
    service: str,
    actor_id: str,
    subject_id: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    return AuditEvent(
        event_id=uuid.uuid4(),
        type=type,
        service=service,
        actor_id=actor_id,
        subject_id=subject_id,
        occurred_at=at or datetime.now(UTC),
        data=data or {},
    )


def subject_for(prefix: str, event: AuditEvent) -> str:
    """NATS subject of an event: ``<prefix>.<service>.<type>``."""
    return f"{prefix}.{event.service}.{event.type}"


def canonical_json(value: Any) -> str:
    """One spelling per value, so that hashing it is repeatable."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
