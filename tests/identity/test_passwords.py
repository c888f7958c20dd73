"""Password checks: what verifies, and what an old password may still do."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import argon2
import pytest

from services.common.database import create_pool
from services.identity.passwords import MAX_LENGTH, PasswordHasher, WeakPasswordError
from tests.identity.helpers import accounts_on, cheap_argon2

LONGEST = "Ab1-" * (MAX_LENGTH // 4)


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(cheap_argon2())


def test_the_longest_password_verifies(hasher):
    assert hasher.verify(hasher.hash(LONGEST), LONGEST) is True


def test_a_longer_password_sharing_its_first_characters_does_not(hasher):
    assert hasher.verify(hasher.hash(LONGEST), LONGEST + "anything") is False


def test_an_unknown_account_never_verifies(hasher):
    assert hasher.verify(None, LONGEST) is False


def test_a_new_password_must_meet_the_policy_but_a_rehash_need_not(hasher):
    with pytest.raises(WeakPasswordError):
        hasher.hash("aaaaaaaaaaaa")
    assert hasher.verify(hasher.rehash("aaaaaaaaaaaa"), "aaaaaaaaaaaa") is True


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "identity")
    yield pool
    await pool.close()


async def test_an_old_password_todays_policy_refuses_still_logs_in_and_is_rehashed(
    pool, tmp_path, run_id
):
    email = f"old-policy.{run_id}@example.com"
    accounts = accounts_on(pool, tmp_path, hash_pool=ThreadPoolExecutor(max_workers=1))
    await accounts.sign_up(email=email, password="placeholder password")
    # Set under an older, laxer policy and cheaper parameters than today's.
    old_hash = argon2.PasswordHasher(time_cost=1, memory_cost=4 * 1024, parallelism=1).hash(
        "aaaaaaaaaaaa"
    )
    await pool.execute("UPDATE users SET password_hash = $1 WHERE email = $2", old_hash, email)

    issued = await accounts.log_in(email=email, password="aaaaaaaaaaaa", now=datetime.now(UTC))

    assert issued.access_token
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored != old_hash and "$m=8192,t=1," in stored
