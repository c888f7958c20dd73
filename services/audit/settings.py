"""Settings of the audit service (AECARO_AUDIT_* on top of the platform's)."""

from pydantic import Field

from services.common.settings import PlatformSettings


class AuditSettings(PlatformSettings):
    # The durable JetStream consumer; replicas sharing this name share the work.
    audit_consumer: str = Field(default="audit", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # How long JetStream remembers a Nats-Msg-Id to drop a republished event.
    # The database's unique event_id catches duplicates arriving later still.
    audit_duplicate_window_seconds: float = Field(default=600.0, gt=0, le=86400)
    # Pause before a message whose append failed (database away) comes back.
    audit_retry_delay_seconds: float = Field(default=5.0, gt=0, le=3600)

    @classmethod
    def from_platform(cls, settings: PlatformSettings) -> "AuditSettings":
        """Audit settings with the platform values of ``settings`` (defaults for the rest)."""
        if isinstance(settings, cls):
            return settings
        return cls(**settings.model_dump())
