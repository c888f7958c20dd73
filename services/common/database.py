"""PostgreSQL access: one schema per service, plain SQL migrations.

A service only ever connects with its own schema on the search path, so its
queries cannot name another service's tables by accident.
"""

import re
from pathlib import Path

import asyncpg

_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

# Migrations every service that publishes audit events needs (the outbox).
OUTBOX_MIGRATIONS = Path(__file__).parent / "migrations"


def _checked_schema(schema: str) -> str:
    # Identifiers cannot be bound as query parameters, so they are checked
    # against a strict pattern and quoted instead.
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def create_pool(dsn: str, schema: str, *, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": _checked_schema(schema)},
    )


async def apply_migrations(dsn: str, schema: str, folders: list[Path]) -> list[str]:
    """Apply, in order, every ``*.sql`` file of ``folders`` not yet applied.

    Each file runs in its own transaction under an advisory lock, so two
    processes starting together do not apply a migration twice. Returns the
    names of the migrations applied now.
    """
    schema = _checked_schema(schema)
    applied_now: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for folder in folders:
            for path in sorted(Path(folder).glob("*.sql")):
                name = f"{Path(folder).parent.name}/{path.name}"
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
                    done = await conn.fetchval(
                        "SELECT 1 FROM schema_migrations WHERE name = $1", name
                    )
                    if done:
                        continue
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                    applied_now.append(name)
    finally:
        await conn.close()
    return applied_now
