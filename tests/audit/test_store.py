"""The chain in PostgreSQL: appends, idempotence, scoping, tamper detection."""

import asyncio
from datetime import datetime

import asyncpg
import pytest

from services.audit import store
from services.audit.chain import GENESIS_HASH, UnstorableEvent
from services.common.events import new_event


def an_event(subject_id="user-1", **data):
    return new_event(
        type="key.stored",
        service="vault",
        actor_id=subject_id,
        subject_id=subject_id,
        data=data or {"key_id": "k1"},
    )


async def append(pool, event):
    async with pool.acquire() as conn:
        return await store.append(conn, event)


async def test_sequences_are_consecutive_and_prev_hashes_link(chain_pool):
    records = [await append(chain_pool, an_event(key_id=f"k{i}")) for i in range(3)]
    assert [r.sequence for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    rows = await chain_pool.fetch("SELECT sequence, prev_hash, hash FROM events ORDER BY sequence")
    assert [(r["sequence"], bytes(r["prev_hash"]), bytes(r["hash"])) for r in rows] == [
        (r.sequence, r.prev_hash, r.hash) for r in records
    ]
    head = await chain_pool.fetchrow("SELECT sequence, hash FROM chain_head")
    assert (head["sequence"], bytes(head["hash"])) == (3, records[-1].hash)


async def test_stored_data_is_the_canonical_json(chain_pool):
    await append(chain_pool, an_event(label="main", key_id="k9"))
    data = await chain_pool.fetchval("SELECT data FROM events")
    assert data == '{"key_id":"k9","label":"main"}'


async def test_append_is_idempotent_per_event_id(chain_pool):
    event = an_event()
    first = await append(chain_pool, event)
    second = await append(chain_pool, event)
    assert first is not None and first.sequence == 1
    assert second is None
    assert await chain_pool.fetchval("SELECT count(*) FROM events") == 1
    assert await chain_pool.fetchval("SELECT sequence FROM chain_head") == 1


async def test_concurrent_appends_form_one_unbroken_chain(chain_pool):
    events = [an_event(key_id=f"k{i}") for i in range(20)]
    await asyncio.gather(*(append(chain_pool, e) for e in events))
    sequences = await chain_pool.fetch("SELECT sequence FROM events ORDER BY sequence")
    assert [r["sequence"] for r in sequences] == list(range(1, 21))
    report = await store.verify_all(chain_pool)
    assert report.intact is True and report.checked == 20


async def test_unstorable_event_is_refused_before_writing(chain_pool):
    naive = new_event(
        type="key.stored", service="vault", actor_id="u", subject_id="u", at=datetime(2024, 1, 1)
    )
    with pytest.raises(UnstorableEvent):
        await append(chain_pool, naive)
    assert await chain_pool.fetchval("SELECT count(*) FROM events") == 0
    assert await chain_pool.fetchval("SELECT sequence FROM chain_head") == 0


async def test_list_for_subject_is_scoped_oldest_first_and_limited(chain_pool):
    mine = [an_event("user-a", n=i) for i in range(3)]
    theirs = an_event("user-b")
    for event in (mine[0], theirs, mine[1], mine[2]):
        await append(chain_pool, event)
    listed = await store.list_for_subject(chain_pool, "user-a", 100)
    assert [r.event_id for r in listed] == [str(e.event_id) for e in mine]
    assert [r.sequence for r in listed] == [1, 3, 4]
    limited = await store.list_for_subject(chain_pool, "user-a", 2)
    assert [r.event_id for r in limited] == [str(e.event_id) for e in mine[:2]]
    assert await store.list_for_subject(chain_pool, "nobody", 100) == []
    after_first = await store.list_for_subject(chain_pool, "user-a", 100, after_sequence=1)
    assert [r.sequence for r in after_first] == [3, 4]


async def test_verify_all_on_empty_chain_is_intact(chain_pool):
    report = await store.verify_all(chain_pool)
    assert (report.intact, report.checked) == (True, 0)


async def test_events_refuse_update_and_delete(chain_pool):
    await append(chain_pool, an_event())
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await chain_pool.execute("UPDATE events SET actor_id = 'x'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await chain_pool.execute("DELETE FROM events")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await chain_pool.execute("TRUNCATE events")


async def tamper(pool, *statements):
    """Change the table the way an insider able to disable the append-only trigger would."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        for statement in statements:
            await conn.execute(statement)
        await conn.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")


async def test_tampered_data_is_reported_at_its_sequence(chain_pool):
    for i in range(4):
        await append(chain_pool, an_event(key_id=f"k{i}"))
    assert (await store.verify_all(chain_pool)).intact is True
    await tamper(chain_pool, """UPDATE events SET data = '{"key_id":"kX"}' WHERE sequence = 3""")
    report = await store.verify_all(chain_pool)
    assert (report.intact, report.broken_sequence, report.reason) == (False, 3, "hash_mismatch")


async def test_deleted_row_is_reported_at_its_sequence(chain_pool):
    for i in range(4):
        await append(chain_pool, an_event(key_id=f"k{i}"))
    await tamper(chain_pool, "DELETE FROM events WHERE sequence = 2")
    report = await store.verify_all(chain_pool)
    assert (report.intact, report.broken_sequence, report.reason) == (False, 2, "sequence_gap")


async def test_deleted_last_row_is_reported_by_the_head(chain_pool):
    for i in range(3):
        await append(chain_pool, an_event(key_id=f"k{i}"))
    await tamper(chain_pool, "DELETE FROM events WHERE sequence = 3")
    report = await store.verify_all(chain_pool)
    assert (report.intact, report.broken_sequence, report.reason) == (False, 3, "head_mismatch")


async def test_swapped_sequence_numbers_are_reported(chain_pool):
    for i in range(4):
        await append(chain_pool, an_event(key_id=f"k{i}"))
    await tamper(
        chain_pool,
        "UPDATE events SET sequence = 1000 WHERE sequence = 2",
        "UPDATE events SET sequence = 2 WHERE sequence = 3",
        "UPDATE events SET sequence = 3 WHERE sequence = 1000",
    )
    report = await store.verify_all(chain_pool)
    assert (report.intact, report.broken_sequence, report.reason) == (
        False,
        2,
        "prev_hash_mismatch",
    )
