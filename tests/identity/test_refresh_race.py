"""Reuse detection holds while a rotation of the same family is in flight.

The test makes the dangerous interleaving happen every time: it holds a lock
on the outbox table, so the rotation of the current token stops at its audit
event, after writing its new token and before committing; the replay of an
older token then starts while the rotation waits.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import asyncpg
import pytest

from services.common.waiting import wait_until
from services.identity.accounts import Accounts, InvalidRefreshTokenError
from tests.identity.helpers import PASSWORD, accounts_on

# Names this test's connections in pg_stat_activity, to see when they wait.
APPLICATION = "identity_refresh_race_test"


@pytest.fixture
async def accounts(database_url, tmp_path):
    pool = await asyncpg.create_pool(
        database_url,
        min_size=2,
        max_size=2,
        server_settings={"search_path": "identity", "application_name": APPLICATION},
    )
    with ThreadPoolExecutor(max_workers=1) as hash_pool:
        yield accounts_on(pool, tmp_path, hash_pool=hash_pool)
    await pool.close()


async def _until_waiting_on_locks(observer: asyncpg.Connection, count: int) -> None:
    async def waiting():
        return count == await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = $1 AND wait_event_type = 'Lock'",
            APPLICATION,
        )

    await wait_until(waiting, timeout=10, what=f"{count} refreshes waiting on a lock")


async def _chain_of_two(accounts: Accounts, email: str, now: datetime) -> tuple[str, str]:
    """(used token, current token) of a fresh log-in's family."""
    await accounts.sign_up(email=email, password=PASSWORD)
    first = await accounts.log_in(email=email, password=PASSWORD, now=now)
    second = await accounts.refresh(refresh_token=first.refresh_token, now=now)
    return first.refresh_token, second.refresh_token


async def test_a_replay_during_a_rotation_also_revokes_the_rotations_new_token(
    accounts, database_url, run_id
):
    now = datetime.now(UTC)
    used, current = await _chain_of_two(accounts, f"race.{run_id}@example.com", now)

    holder = await asyncpg.connect(database_url, server_settings={"search_path": "identity"})
    try:
        async with holder.transaction():
            # SHARE lets reads and row locks through and stops inserts.
            await holder.execute("LOCK TABLE outbox IN SHARE MODE")
            rotation = asyncio.create_task(accounts.refresh(refresh_token=current, now=now))
            await _until_waiting_on_locks(holder, 1)
            replay = asyncio.create_task(accounts.refresh(refresh_token=used, now=now))
            await _until_waiting_on_locks(holder, 2)
    finally:
        await holder.close()

    newest = (await rotation).refresh_token
    with pytest.raises(InvalidRefreshTokenError):
        await replay
    with pytest.raises(InvalidRefreshTokenError):
        await accounts.refresh(refresh_token=newest, now=now)
