"""The run manager on its own, with stand-ins for its store, vault and sandbox."""

import asyncio
import uuid
from datetime import UTC, datetime

from pydantic import SecretBytes

from services.common.waiting import wait_until
from services.executor.runs import RunManager
from services.executor.sandbox import RunStatus, SandboxResult
from services.executor.storage import RunRecord

OWNER = "owner-run-manager"


class SlowToAnswerStore:
    """Records a run at once, then holds the answer until ``answer`` is set,
    as a database call whose commit is done but whose reply is on its way."""

    def __init__(self):
        self.answer = asyncio.Event()
        self.recorded: dict[uuid.UUID, RunRecord] = {}
        self.finished: dict[uuid.UUID, SandboxResult] = {}

    async def count_running(self, *, owner_id):
        return 0

    async def insert_running(self, *, run_id, owner_id, key_id, max_unfinished):
        record = RunRecord(run_id, owner_id, key_id, "running", None, "", datetime.now(UTC), None)
        self.recorded[run_id] = record
        await self.answer.wait()
        return record

    async def finish(self, run_id, result):
        self.finished[run_id] = result
        return self.recorded[run_id]


class OneKey:
    async def decrypt(self, *, owner_id, key_id, run_id):
        return SecretBytes(b"sk-run-manager-0123456789")


class SaysHello:
    async def run(self, code, api_key):
        return SandboxResult(RunStatus.SUCCEEDED, 0, "hello")


async def test_a_run_recorded_as_its_caller_goes_away_still_runs_and_finishes():
    store = SlowToAnswerStore()
    manager = RunManager(store, OneKey(), SaysHello(), max_concurrent_runs=1, max_runs_per_owner=2)
    call = asyncio.create_task(
        manager.start_run(owner_id=OWNER, key_id=str(uuid.uuid4()), code="print('hello')")
    )

    async def recorded():
        return store.recorded

    await wait_until(recorded, timeout=5, what="the run to be recorded")
    call.cancel()
    store.answer.set()

    async def finished():
        return store.finished

    [result] = (await wait_until(finished, timeout=5, what="the run to finish")).values()
    assert result.status == RunStatus.SUCCEEDED
    assert list(store.finished) == list(store.recorded)
    await manager.wait_idle()
