"""Storage of the audit chain in PostgreSQL (the ``audit`` schema's tables)."""

import asyncpg

from services.audit import chain
from services.audit.chain import ChainHead, ChainRecord, ChainReport
from services.common.events import AuditEvent

# Statements are spelled out in full (no string building) so they are easy to audit.
_INSERT_RECORD = (
    "INSERT INTO events (sequence, event_id, type, service, actor_id, subject_id,"
    " occurred_at, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
_SELECT_FOR_SUBJECT = (
    "SELECT sequence, event_id, type, service, actor_id, subject_id, occurred_at, data,"
    " prev_hash, hash FROM events WHERE subject_id = $1 AND sequence > $2"
    " ORDER BY sequence LIMIT $3"
)
_SELECT_ALL = (
    "SELECT sequence, event_id, type, service, actor_id, subject_id, occurred_at, data,"
    " prev_hash, hash FROM events ORDER BY sequence"
)


def _record_from_row(row: asyncpg.Record) -> ChainRecord:
    return ChainRecord(
        sequence=row["sequence"],
        event_id=str(row["event_id"]),
        type=row["type"],
        service=row["service"],
        actor_id=row["actor_id"],
        subject_id=row["subject_id"],
        occurred_at=row["occurred_at"],
        data=row["data"],
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
    )


async def append(conn: asyncpg.Connection, event: AuditEvent) -> ChainRecord | None:
    """Append ``event`` to the chain in one transaction.

    Returns the new record, or None when the event was already stored
    (JetStream delivers at least once, so the same event may arrive twice).
    Raises chain.UnstorableEvent, before touching the database, for an event
    that cannot be stored.
    """
    chain.check_storable(event)
    async with conn.transaction():
        # The head lock makes appends strictly one after another, also across
        # replicas; the duplicate check is made under it so two deliveries of
        # one event cannot both pass it.
        head_row = await conn.fetchrow("SELECT sequence, hash FROM chain_head FOR UPDATE")
        if head_row is None:
            raise RuntimeError("audit chain head is missing; migrations not applied?")
        already = await conn.fetchval("SELECT 1 FROM events WHERE event_id = $1", event.event_id)
        if already:
            return None
        record = chain.next_record(
            ChainHead(sequence=head_row["sequence"], hash=bytes(head_row["hash"])), event
        )
        await conn.execute(
            _INSERT_RECORD,
            record.sequence,
            event.event_id,
            record.type,
            record.service,
            record.actor_id,
            record.subject_id,
            record.occurred_at,
            record.data,
            record.prev_hash,
            record.hash,
        )
        await conn.execute(
            "UPDATE chain_head SET sequence = $1, hash = $2", record.sequence, record.hash
        )
        return record


async def list_for_subject(
    pool: asyncpg.Pool, subject_id: str, limit: int, *, after_sequence: int = 0
) -> list[ChainRecord]:
    """The first ``limit`` records about ``subject_id`` after ``after_sequence``,
    oldest first."""
    rows = await pool.fetch(_SELECT_FOR_SUBJECT, subject_id, after_sequence, limit)
    return [_record_from_row(row) for row in rows]


async def verify_all(pool: asyncpg.Pool, *, batch: int = 500) -> ChainReport:
    """Recompute the whole chain from the genesis and compare it with the head.

    Reads in one repeatable-read snapshot, so appends made meanwhile neither
    show up half-way nor make the head look ahead of the records.
    """
    verifier = chain.ChainVerifier()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        head_row = await conn.fetchrow("SELECT sequence, hash FROM chain_head")
        head = None
        if head_row is not None:
            head = ChainHead(sequence=head_row["sequence"], hash=bytes(head_row["hash"]))
        async for row in conn.cursor(_SELECT_ALL, prefetch=batch):
            if not verifier.feed(_record_from_row(row)):
                break
        if head is None:
            # The head row itself was removed: report where the chain would continue.
            report = verifier.finish()
            if report.intact:
                return ChainReport(
                    intact=False,
                    checked=report.checked,
                    broken_sequence=report.checked + 1,
                    reason="head_missing",
                )
            return report
        return verifier.finish(head)
