"""Apply every service's migrations, each in the service's own schema."""

import importlib
from pathlib import Path

from services.common.database import OUTBOX_MIGRATIONS, apply_migrations

# service -> (schema, publishes audit events through an outbox?)
SERVICE_SCHEMAS = {
    "identity": ("identity", True),
    "vault": ("vault", True),
    "executor": ("executor", True),
    "audit": ("audit", False),
}


def migration_folders(service: str) -> list[Path]:
    _schema, has_outbox = SERVICE_SCHEMAS[service]
    package_dir = Path(importlib.import_module(f"services.{service}").__file__).parent
    folders = [OUTBOX_MIGRATIONS] if has_outbox else []
    return [*folders, package_dir / "migrations"]


async def migrate_all(dsn: str) -> dict[str, list[str]]:
    """Returns, per service, the migrations applied by this call."""
    applied = {}
    for service, (schema, _has_outbox) in SERVICE_SCHEMAS.items():
        applied[service] = await apply_migrations(dsn, schema, migration_folders(service))
    return applied
