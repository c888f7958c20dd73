"""Configuration from the environment (12-factor), validated once at start-up.

Every service reads the same ``AECARO_*`` variables; a settings object is built
in ``__main__`` and handed to whatever needs it, never imported as a global.
"""

import stat
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


def key_file_permission_problem(mode: int, owner_uid: int, reader_uid: int) -> str | None:
    """Why a private-key file is unsafe for process ``reader_uid`` to trust; None if it is not.

    ``mode`` and ``owner_uid`` come from the file's stat. Two shapes pass:

    - the reader's own file, nothing for group or others (0600, 0400), the
      rule ssh applies to private keys;
    - a file owned by root that its group may read, nothing more (0640, 0440).
      Kubernetes mounts a Secret that way for a pod with ``fsGroup``: root
      writes the files, hands them to the pod's group and adds group read.
      Only root could have granted that group, so it is a deliberate grant.

    Anything for others, group write, a group grant on the reader's own file
    (on a workstation the group is often shared), or an owner who is neither
    the reader nor root (who could swap the key), is refused.
    """
    permissions = stat.S_IMODE(mode) & 0o777
    if owner_uid == reader_uid:
        if permissions & 0o077:
            return f"mode is {permissions:04o}, must be 0600 (or 0400) for a file of its own user"
        return None
    if owner_uid == 0:
        if permissions & 0o037:
            return f"mode is {permissions:04o}, a root-owned file may give its group read, no more"
        return None
    return "is owned by another user, must be owned by the service's user or by root"
