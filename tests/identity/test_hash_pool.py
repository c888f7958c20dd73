"""At most ``identity_max_concurrent_hashes`` password hashes and checks run at once."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import argon2
import pydantic
import pytest

from services.common.database import create_pool
from services.identity.accounts import InvalidCredentialsError
from services.identity.passwords import PasswordHasher
from services.identity.service import IdentitySettings
from tests.identity.helpers import PASSWORD, accounts_on, cheap_argon2

POOL_THREADS = "hash-pool-test"


class CountingHasher(PasswordHasher):
    """Counts the hashes and checks running at once, and notes their threads.

    Each waits until ``width`` of them are running before doing its work, so
    the count reaches the bound whenever the pool lets it, and a pool that
    lets fewer run breaks the barrier instead of hanging.
    """

    def __init__(self, width: int, hasher: argon2.PasswordHasher | None = None):
        super().__init__(hasher or cheap_argon2())
        self._lock = threading.Lock()
        self._all_in = threading.Barrier(width)
        self.running = 0
        self.most_at_once = 0
        self.threads: list[str] = []

    def _counted(self, work, *args):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.append(threading.current_thread().name)
        try:
            self._all_in.wait(timeout=10)
            return work(*args)
        finally:
            with self._lock:
                self.running -= 1

    def hash(self, password):
        return self._counted(super().hash, password)

    def verify(self, password_hash, password):
        return self._counted(super().verify, password_hash, password)

    def rehash(self, password):
        return self._counted(super().rehash, password)


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "identity")
    yield pool
    await pool.close()


@pytest.mark.parametrize("bound", [1, 2, 3])
async def test_a_burst_of_sign_ups_and_log_ins_runs_at_most_the_bound(
    pool, tmp_path, run_id, bound
):
    hasher = CountingHasher(bound)
    with ThreadPoolExecutor(max_workers=bound, thread_name_prefix=POOL_THREADS) as hash_pool:
        accounts = accounts_on(pool, tmp_path, hash_pool=hash_pool, hasher=hasher)
        sign_ups = [
            accounts.sign_up(email=f"burst{n}.{bound}.{run_id}@example.com", password=PASSWORD)
            for n in range(bound)
        ]
        log_ins = [
            accounts.log_in(
                email=f"nobody{n}.{bound}.{run_id}@example.com",
                password=PASSWORD,
                now=datetime.now(UTC),
            )
            for n in range(2 * bound)
        ]
        outcomes = await asyncio.gather(*sign_ups, *log_ins, return_exceptions=True)

    assert [type(outcome) for outcome in outcomes] == [tuple] * bound + [
        InvalidCredentialsError
    ] * (2 * bound)
    assert hasher.most_at_once == bound
    assert all(thread.startswith(POOL_THREADS) for thread in hasher.threads)


async def test_a_rehash_at_log_in_runs_in_the_pool_too(pool, tmp_path, run_id):
    email = f"rehash.{run_id}@example.com"
    stronger = argon2.PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)
    hasher = CountingHasher(1, stronger)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=POOL_THREADS) as hash_pool:
        await accounts_on(pool, tmp_path, hash_pool=hash_pool).sign_up(
            email=email, password=PASSWORD
        )
        accounts = accounts_on(pool, tmp_path, hash_pool=hash_pool, hasher=hasher)
        await accounts.log_in(email=email, password=PASSWORD, now=datetime.now(UTC))

    stored = await pool.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert ",t=2," in stored
    assert len(hasher.threads) == 2  # the check, then the new hash
    assert all(thread.startswith(POOL_THREADS) for thread in hasher.threads)


def test_the_bound_is_two_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("AECARO_IDENTITY_MAX_CONCURRENT_HASHES", raising=False)
    assert IdentitySettings().identity_max_concurrent_hashes == 2
    monkeypatch.setenv("AECARO_IDENTITY_MAX_CONCURRENT_HASHES", "5")
    assert IdentitySettings().identity_max_concurrent_hashes == 5


@pytest.mark.parametrize("size", ["0", "-1", "65", "two"])
def test_a_bound_outside_1_to_64_is_refused(monkeypatch, size):
    monkeypatch.setenv("AECARO_IDENTITY_MAX_CONCURRENT_HASHES", size)
    with pytest.raises(pydantic.ValidationError):
        IdentitySettings()
