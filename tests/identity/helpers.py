"""Accounts built directly, without the gRPC service around them."""

from concurrent.futures import Executor
from pathlib import Path

import argon2
import asyncpg

from services.identity.accounts import Accounts
from services.identity.passwords import PasswordHasher
from services.identity.signing import SigningKey, create_signing_key_file

PASSWORD = "correct horse battery staple"


class QuietRelay:
    """Stands in for the outbox relay: events stay in the outbox."""

    def wake(self) -> None:
        pass


def cheap_argon2() -> argon2.PasswordHasher:
    """argon2id at a cost that suits tests, not production."""
    return argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def accounts_on(
    pool: asyncpg.Pool, folder: Path, *, hash_pool: Executor, hasher: PasswordHasher | None = None
) -> Accounts:
    key_file = folder / "signing-key.pem"
    create_signing_key_file(key_file)
    return Accounts(
        pool=pool,
        hasher=hasher or PasswordHasher(cheap_argon2()),
        signing_key=SigningKey.load(key_file),
        relay=QuietRelay(),
        subject_prefix="identity_accounts_test",
        hash_pool=hash_pool,
    )
