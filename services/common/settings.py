"""Configuration from the environment (12-factor), validated once at start-up.

Every service reads the same ``AECARO_*`` variables; a settings object is built
in ``__main__`` and handed to whatever needs it, never imported as a global.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("gateway", "identity", "vault", "executor", "audit")


class PlatformSettings(BaseSettings):
    """Settings shared by all five services."""

    model_config = SettingsConfigDict(env_prefix="AECARO_", extra="ignore", frozen=True)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/aecaro"
    nats_url: str = "nats://127.0.0.1:4222"

    # The JetStream stream that carries audit events, and its subject prefix.
    # Tests give each run its own names so runs never see each other's events.
    audit_stream: str = Field(default="AUDIT", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    audit_subject_prefix: str = Field(default="audit", pattern=r"^[a-z0-9_]{1,64}$")

    # Folder holding ca.pem and <service>.pem / <service>.key for mutual TLS.
    tls_dir: Path = Path(".state/pki")

    # Where each internal service listens (host:port); also how others reach it.
    identity_address: str = "127.0.0.1:50051"
    vault_address: str = "127.0.0.1:50052"
    executor_address: str = "127.0.0.1:50053"
    audit_address: str = "127.0.0.1:50054"

    # When set, finished trace spans are written here as JSON lines.
    trace_dir: Path | None = None

    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    def address_of(self, service: str) -> str:
        if service not in SERVICE_NAMES or service == "gateway":
            raise ValueError(f"no internal address for service {service!r}")
        return getattr(self, f"{service}_address")
