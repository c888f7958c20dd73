"""SQL on the vault's ``keys`` table. Every query names the owner."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.vault.envelope import SealedSecret


@dataclass(frozen=True)
class KeyRecord:
    """What may be shown about a stored key: everything but the secret."""

    key_id: uuid.UUID
    owner_id: str
    provider: str
    label: str
    last_four: str
    kek_version: int
    created_at: datetime


def _record(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(**{name: row[name] for name in KeyRecord.__dataclass_fields__})


async def insert_key(
    conn: asyncpg.Connection,
    *,
    key_id: uuid.UUID,
    owner_id: str,
    provider: str,
    label: str,
    last_four: str,
    sealed: SealedSecret,
) -> KeyRecord:
    row = await conn.fetchrow(
        "INSERT INTO keys (key_id, owner_id, provider, label, last_four,"
        " ciphertext, nonce, wrapped_dek, dek_nonce, kek_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " RETURNING key_id, owner_id, provider, label, last_four, kek_version, created_at",
        key_id,
        owner_id,
        provider,
        label,
        last_four,
        sealed.ciphertext,
        sealed.nonce,
        sealed.wrapped_dek,
        sealed.dek_nonce,
        sealed.kek_version,
    )
    return _record(row)


async def lock_and_count_keys(conn: asyncpg.Connection, owner_id: str) -> int:
    """How many keys ``owner_id`` holds, counted under a transaction-long lock
    on that owner (call inside a transaction)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('vault.keys'), hashtext($1))", owner_id
    )
    return await conn.fetchval("SELECT count(*) FROM keys WHERE owner_id = $1", owner_id)


async def list_keys(conn: asyncpg.Connection, owner_id: str) -> list[KeyRecord]:
    rows = await conn.fetch(
        "SELECT key_id, owner_id, provider, label, last_four, kek_version, created_at"
        " FROM keys WHERE owner_id = $1 ORDER BY created_at, key_id",
        owner_id,
    )
    return [_record(row) for row in rows]


async def get_key(conn: asyncpg.Connection, owner_id: str, key_id: uuid.UUID) -> KeyRecord | None:
    row = await conn.fetchrow(
        "SELECT key_id, owner_id, provider, label, last_four, kek_version, created_at"
        " FROM keys WHERE owner_id = $1 AND key_id = $2",
        owner_id,
        key_id,
    )
    return _record(row) if row else None


async def get_sealed(
    conn: asyncpg.Connection, owner_id: str, key_id: uuid.UUID
) -> SealedSecret | None:
    row = await conn.fetchrow(
        "SELECT ciphertext, nonce, wrapped_dek, dek_nonce, kek_version FROM keys"
        " WHERE owner_id = $1 AND key_id = $2",
        owner_id,
        key_id,
    )
    if row is None:
        return None
    return SealedSecret(
        ciphertext=row["ciphertext"],
        nonce=row["nonce"],
        wrapped_dek=row["wrapped_dek"],
        dek_nonce=row["dek_nonce"],
        kek_version=row["kek_version"],
    )
