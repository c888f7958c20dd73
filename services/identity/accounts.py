"""Sign-up, log-in and refresh-token rotation: the identity service's logic.

Every failure to log in or refresh ends in the same exception without detail,
whatever went wrong, so a caller cannot tell a wrong password from an unknown
account or a revoked token from an expired one.
"""

import asyncio
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.emails import InvalidEmailError, normalize_email
from services.common.events import new_event
from services.common.outbox import OutboxRelay, enqueue
from services.identity import store, tokens
from services.identity.passwords import PasswordHasher
from services.identity.signing import SigningKey

SERVICE = "identity"


class InvalidCredentialsError(Exception):
    """Raised when a log-in fails, for whatever reason."""


class InvalidRefreshTokenError(Exception):
    """Raised when a refresh token is unknown, expired, revoked or reused."""


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str


class Accounts:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        hasher: PasswordHasher,
        signing_key: SigningKey,
        relay: OutboxRelay,
        subject_prefix: str,
        hash_pool: Executor,
    ):
        """``hash_pool`` runs every password hash and check; its size is how
        many may be in memory at once."""
        self._pool = pool
        self._hasher = hasher
        self._hash_pool = hash_pool
        self._signing_key = signing_key
        self._relay = relay
        self._subject_prefix = subject_prefix

    async def sign_up(self, *, email: str, password: str) -> tuple[uuid.UUID, str]:
        email = normalize_email(email)
        password_hash = await self._in_hash_pool(self._hasher.hash, password)
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await store.insert_user(conn, email=email, password_hash=password_hash)
            await self._record(conn, "user.signed_up", user_id, {})
        self._relay.wake()
        return user_id, email

    async def log_in(self, *, email: str, password: str, now: datetime) -> IssuedTokens:
        try:
            email = normalize_email(email)
        except InvalidEmailError:
            email = ""  # still spend the time of a password check below
        async with self._pool.acquire() as conn:
            user = await store.find_user_by_email(conn, email) if email else None
        stored_hash = user.password_hash if user else None
        matched = await self._in_hash_pool(self._hasher.verify, stored_hash, password)
        if not matched or user is None:
            if user is not None:
                async with self._pool.acquire() as conn, conn.transaction():
                    await self._record(conn, "user.login_failed", user.user_id, {})
                self._relay.wake()
            raise InvalidCredentialsError

        new_hash = None
        if self._hasher.needs_rehash(user.password_hash):
            # Before the transaction: no database connection waits for the hash pool.
            new_hash = await self._in_hash_pool(self._hasher.rehash, password)
        async with self._pool.acquire() as conn, conn.transaction():
            if new_hash is not None:
                await store.update_password_hash(conn, user.user_id, new_hash)
            issued = await self._issue(conn, user.user_id, uuid.uuid4(), now)
            await self._record(conn, "user.logged_in", user.user_id, {})
        self._relay.wake()
        return issued

    async def refresh(self, *, refresh_token: str, now: datetime) -> IssuedTokens:
        digest = tokens.refresh_token_digest(refresh_token)
        reuse_detected = False
        async with self._pool.acquire() as conn, conn.transaction(isolation="read_committed"):
            family_id = await store.find_refresh_family(conn, digest)
            if family_id is None:
                raise InvalidRefreshTokenError
            # Read the token only once the family is ours: a rotation of this
            # family running now has committed by then, so a revocation below
            # also reaches the token that rotation issued.
            await store.lock_refresh_family(conn, family_id)
            stored = await store.find_refresh_token(conn, digest)
            if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
                raise InvalidRefreshTokenError
            if stored.used_at is not None:
                # A used token came back: someone holds a copy. End the whole
                # family, then refuse (after commit, so the revocation sticks).
                await store.revoke_refresh_family(conn, stored.family_id, now)
                await self._record(conn, "token.reuse_detected", stored.user_id, {})
                reuse_detected = True
            else:
                await store.mark_refresh_token_used(conn, digest, now)
                issued = await self._issue(conn, stored.user_id, stored.family_id, now)
                await self._record(conn, "token.refreshed", stored.user_id, {})
        self._relay.wake()
        if reuse_detected:
            raise InvalidRefreshTokenError
        return issued

    async def _in_hash_pool(self, work, *args):
        # argon2 is deliberately slow, so it runs off the event loop; each call
        # also takes 64 MiB, so it runs on a pool small enough that a burst of
        # log-ins fits in memory. Calls beyond the pool's size wait their turn.
        return await asyncio.get_running_loop().run_in_executor(self._hash_pool, work, *args)

    async def _issue(self, conn, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime):
        refresh_token = tokens.new_refresh_token()
        await store.insert_refresh_token(
            conn,
            digest=tokens.refresh_token_digest(refresh_token),
            user_id=user_id,
            family_id=family_id,
            expires_at=now + tokens.REFRESH_TOKEN_LIFETIME,
        )
        access_token = tokens.issue_access_token(self._signing_key, user_id=str(user_id), now=now)
        return IssuedTokens(
            access_token=access_token,
            expires_in=int(tokens.ACCESS_TOKEN_LIFETIME.total_seconds()),
            refresh_token=refresh_token,
        )

    async def _record(self, conn, event_type: str, user_id: uuid.UUID, data: dict) -> None:
        event = new_event(
            type=event_type,
            service=SERVICE,
            actor_id=str(user_id),
            subject_id=str(user_id),
            data=data,
        )
        await enqueue(conn, event, subject_prefix=self._subject_prefix)
