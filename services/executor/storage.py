"""The executor's tables: runs, plus their audit events in the outbox.

Every change to a run and the event describing it are written in one
transaction. Reads are always scoped by owner_id.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.events import new_event
from services.common.outbox import enqueue
from services.executor.sandbox import RunStatus, SandboxResult

SERVICE = "executor"


@dataclass(frozen=True)
class RunRecord:
    run_id: uuid.UUID
    owner_id: str
    key_id: uuid.UUID
    status: str
    exit_code: int | None
    output: str
    created_at: datetime
    finished_at: datetime | None


def _record(row: asyncpg.Record) -> RunRecord:
    return RunRecord(**dict(row))


def _finished_event(record: RunRecord):
    return new_event(
        type="run.finished",
        service=SERVICE,
        actor_id=SERVICE,
        subject_id=record.owner_id,
        data={
            "run_id": str(record.run_id),
            "key_id": str(record.key_id),
            "status": record.status,
            "exit_code": record.exit_code,
        },
    )


# The first key of the advisory lock taken per owner when a run is recorded;
# the second is a hash of the owner id. Any fixed number unused elsewhere.
_OWNER_RUNS_LOCK = 0x52554E53  # "RUNS"


class RunStore:
    def __init__(self, pool: asyncpg.Pool, *, subject_prefix: str, runner: str):
        """``runner``: this process's name, recorded on the runs it starts."""
        self._pool = pool
        self._subject_prefix = subject_prefix
        self._runner = runner

    async def insert_running(
        self, *, run_id: uuid.UUID, owner_id: str, key_id: uuid.UUID, max_unfinished: int
    ) -> RunRecord | None:
        """Record a run that starts now, with its run.started event; None, and
        nothing recorded, when the owner already has ``max_unfinished`` runs.

        The owner's runs are counted under a transaction lock on the owner, on
        every replica alike, so concurrent starts cannot all slip under the limit.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _OWNER_RUNS_LOCK, owner_id
            )
            unfinished = await conn.fetchval(
                "SELECT count(*) FROM runs WHERE owner_id = $1 AND status = $2",
                owner_id,
                RunStatus.RUNNING.value,
            )
            if unfinished >= max_unfinished:
                return None
            row = await conn.fetchrow(
                "INSERT INTO runs (run_id, owner_id, key_id, status, runner)"
                " VALUES ($1, $2, $3, $4, $5)"
                " RETURNING run_id, owner_id, key_id, status, exit_code, output,"
                " created_at, finished_at",
                run_id,
                owner_id,
                key_id,
                RunStatus.RUNNING.value,
                self._runner,
            )
            record = _record(row)
            event = new_event(
                type="run.started",
                service=SERVICE,
                # The gateway acts on the owner's behalf; the owner asked for the run.
                actor_id=owner_id,
                subject_id=owner_id,
                data={"run_id": str(run_id), "key_id": str(key_id)},
            )
            await enqueue(conn, event, subject_prefix=self._subject_prefix)
        return record

    async def finish(self, run_id: uuid.UUID, result: SandboxResult) -> RunRecord | None:
        """Record how a running run ended, with its run.finished event.

        Returns None when the run is no longer running (already finished), so a
        run is never finished twice.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE runs SET status = $2, exit_code = $3, output = $4, finished_at = now()"
                " WHERE run_id = $1 AND status = $5"
                " RETURNING run_id, owner_id, key_id, status, exit_code, output,"
                " created_at, finished_at",
                run_id,
                result.status.value,
                result.exit_code,
                result.output,
                RunStatus.RUNNING.value,
            )
            if row is None:
                return None
            record = _record(row)
            await enqueue(conn, _finished_event(record), subject_prefix=self._subject_prefix)
        return record

    async def fail_interrupted(self, message: str) -> list[RunRecord]:
        """Mark as "error" the runs this runner left "running": its process is gone."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE runs SET status = $1, output = $2, finished_at = now()"
                " WHERE status = $3 AND runner = $4"
                " RETURNING run_id, owner_id, key_id, status, exit_code, output,"
                " created_at, finished_at",
                RunStatus.ERROR.value,
                message,
                RunStatus.RUNNING.value,
                self._runner,
            )
            records = [_record(row) for row in rows]
            for record in records:
                await enqueue(conn, _finished_event(record), subject_prefix=self._subject_prefix)
        return records

    async def count_running(self, *, owner_id: str) -> int:
        """The owner's unfinished runs, on every executor replica."""
        return await self._pool.fetchval(
            "SELECT count(*) FROM runs WHERE owner_id = $1 AND status = $2",
            owner_id,
            RunStatus.RUNNING.value,
        )

    async def get(self, *, owner_id: str, run_id: uuid.UUID) -> RunRecord | None:
        row = await self._pool.fetchrow(
            "SELECT run_id, owner_id, key_id, status, exit_code, output, created_at, finished_at"
            " FROM runs WHERE run_id = $1 AND owner_id = $2",
            run_id,
            owner_id,
        )
        return _record(row) if row else None
