"""SQL for users and refresh tokens. Every statement is parameterized."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


class EmailTakenError(Exception):
    """Raised when a sign-up uses an email that already has an account."""


@dataclass(frozen=True)
class StoredUser:
    user_id: uuid.UUID
    email: str
    password_hash: str


async def insert_user(conn: asyncpg.Connection, *, email: str, password_hash: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    try:
        await conn.execute(
            "INSERT INTO users (user_id, email, password_hash) VALUES ($1, $2, $3)",
            user_id,
            email,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise EmailTakenError from None
    return user_id


async def find_user_by_email(conn: asyncpg.Connection, email: str) -> StoredUser | None:
    row = await conn.fetchrow(
        "SELECT user_id, email, password_hash FROM users WHERE email = $1", email
    )
    return StoredUser(**dict(row)) if row else None


async def update_password_hash(conn: asyncpg.Connection, user_id: uuid.UUID, password_hash: str):
    await conn.execute(
        "UPDATE users SET password_hash = $2 WHERE user_id = $1", user_id, password_hash
    )


async def insert_refresh_token(
    conn: asyncpg.Connection,
    *,
    digest: bytes,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_digest, user_id, family_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        digest,
        user_id,
        family_id,
        expires_at,
    )


@dataclass(frozen=True)
class StoredRefreshToken:
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


async def find_refresh_family(conn: asyncpg.Connection, digest: bytes) -> uuid.UUID | None:
    return await conn.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_digest = $1", digest
    )


async def lock_refresh_family(conn: asyncpg.Connection, family_id: uuid.UUID) -> None:
    """Hold the family until the transaction ends (call inside one).

    Every rotation and every revocation of a family takes this lock before it
    reads a token, so each decision sees what the one before it committed: two
    refreshes with one token cannot both succeed, and a revocation cannot miss
    a token that a concurrent rotation is still adding. That needs READ
    COMMITTED, where each statement after the lock takes a fresh snapshot.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('identity.refresh_family'), hashtext($1))",
        str(family_id),
    )


async def find_refresh_token(conn: asyncpg.Connection, digest: bytes) -> StoredRefreshToken | None:
    row = await conn.fetchrow(
        "SELECT user_id, family_id, expires_at, used_at, revoked_at"
        " FROM refresh_tokens WHERE token_digest = $1",
        digest,
    )
    return StoredRefreshToken(**dict(row)) if row else None


async def mark_refresh_token_used(conn: asyncpg.Connection, digest: bytes, at: datetime) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = $2 WHERE token_digest = $1", digest, at)


async def revoke_refresh_family(conn: asyncpg.Connection, family_id: uuid.UUID, at: datetime):
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        at,
    )
