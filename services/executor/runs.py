"""Agent runs: check the request, fetch the key, record the run, run it in the
background, record how it ended.

The plaintext key is held only in memory, by the run's task, for as long as the
sandbox needs it; it is never logged, stored or put in an event, and the sandbox
takes copies the agent printed verbatim out of its output (see output.py).
Neither is the agent's output logged (it is the owner's data and may hold anything).
"""

import asyncio
import uuid
from collections.abc import Callable
from typing import Protocol

import structlog
from pydantic import SecretBytes

from services.executor.sandbox import RunStatus, Sandbox, SandboxResult
from services.executor.storage import RunRecord, RunStore
from services.executor.vault_client import KeyNotFound

log = structlog.get_logger(__name__)

MAX_CODE_BYTES = 64 * 1024
# Owner ids are the subject of audit events, which hold at most 100 characters.
MAX_OWNER_ID_CHARS = 100

INTERRUPTED_BY_STOP = "the run was interrupted: the executor stopped"
INTERRUPTED_BY_RESTART = "the run was interrupted: the executor restarted"
SANDBOX_FAILED = "the sandbox failed"


class InvalidInput(Exception):
    """A malformed request; the message is safe to return (it echoes no input)."""


class RunNotFound(Exception):
    """No such run for this owner."""


class TooManyRuns(Exception):
    """Raised when the owner already has as many unfinished runs as allowed."""


class ExecutorStopping(Exception):
    """The service is shutting down and takes no new runs."""


class KeySource(Protocol):
    async def decrypt(self, *, owner_id: str, key_id: str, run_id: str) -> SecretBytes:
        """The key's plaintext; raises KeyNotFound or VaultUnavailable."""
        ...


def _checked_owner(owner_id: str) -> str:
    if not owner_id:
        raise InvalidInput("owner_id is required")
    if len(owner_id) > MAX_OWNER_ID_CHARS:
        raise InvalidInput(f"owner_id is longer than {MAX_OWNER_ID_CHARS} characters")
    return owner_id


def _parsed_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class RunManager:
    def __init__(
        self,
        store: RunStore,
        keys: KeySource,
        sandbox: Sandbox,
        *,
        max_concurrent_runs: int,
        max_runs_per_owner: int,
        events_committed: Callable[[], None] = lambda: None,
    ):
        self._store = store
        self._keys = keys
        self._sandbox = sandbox
        self._slots = asyncio.Semaphore(max_concurrent_runs)
        self._max_runs_per_owner = max_runs_per_owner
        self._events_committed = events_committed
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    async def start_run(self, *, owner_id: str, key_id: str, code: str) -> RunRecord:
        """Record a run of ``code`` with the owner's key ``key_id`` and start it.

        Raises InvalidInput, KeyNotFound (also for a malformed key id), or
        VaultUnavailable. No run is recorded unless the vault gave the key.
        """
        owner_id = _checked_owner(owner_id)
        if not code.strip():
            raise InvalidInput("code is required")
        if len(code.encode()) > MAX_CODE_BYTES:
            raise InvalidInput(f"code is larger than {MAX_CODE_BYTES // 1024} KiB")
        key_uuid = _parsed_id(key_id)
        if key_uuid is None:
            raise KeyNotFound()
        if self._stopping:
            raise ExecutorStopping()
        # A first, cheap look; the count that holds is taken again when the run
        # is recorded (insert_running), under a lock on the owner.
        if await self._store.count_running(owner_id=owner_id) >= self._max_runs_per_owner:
            raise TooManyRuns()
        run_id = uuid.uuid4()
        # The vault records this run id in its key.decrypted event.
        api_key = await self._keys.decrypt(
            owner_id=owner_id, key_id=str(key_uuid), run_id=str(run_id)
        )
        if self._stopping:
            raise ExecutorStopping()
        # Recording the run and launching it are one step that a caller who goes
        # away (a cancelled call) cannot cut in two: a row left "running" with
        # no task behind it would hold one of the owner's places until the
        # executor restarts. Cancelled here, the caller stops waiting; the run
        # goes on and is recorded as usual.
        launch = asyncio.ensure_future(
            self._record_and_launch(run_id, owner_id, key_uuid, api_key, code)
        )
        # Should the caller be gone, a refusal (TooManyRuns) has nobody to reach.
        launch.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(launch)

    async def _record_and_launch(
        self,
        run_id: uuid.UUID,
        owner_id: str,
        key_uuid: uuid.UUID,
        api_key: SecretBytes,
        code: str,
    ) -> RunRecord:
        record = await self._store.insert_running(
            run_id=run_id,
            owner_id=owner_id,
            key_id=key_uuid,
            max_unfinished=self._max_runs_per_owner,
        )
        if record is None:
            # Another start took the last place meanwhile. The vault has recorded
            # decrypting the key for this run id; the run itself never existed.
            raise TooManyRuns()
        self._events_committed()
        log.info("run_started", run_id=str(run_id), owner_id=owner_id, key_id=str(key_uuid))
        task = asyncio.create_task(self._execute(record, api_key, code), name=f"run-{run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def get_run(self, *, owner_id: str, run_id: str) -> RunRecord:
        owner_id = _checked_owner(owner_id)
        run_uuid = _parsed_id(run_id)
        record = None
        if run_uuid is not None:
            record = await self._store.get(owner_id=owner_id, run_id=run_uuid)
        if record is None:
            raise RunNotFound()
        return record

    async def recover_interrupted(self) -> int:
        """Mark runs a previous process of this runner name left "running" as
        "error"; call before serving. Other replicas' runs are left alone."""
        records = await self._store.fail_interrupted(INTERRUPTED_BY_RESTART)
        if records:
            self._events_committed()
            log.warning("runs_interrupted_by_restart", count=len(records))
        return len(records)

    async def wait_idle(self) -> None:
        """Wait until every started run has finished and been recorded."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Take no new runs, kill the running sandboxes and record them as interrupted."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _execute(self, record: RunRecord, api_key: SecretBytes, code: str) -> None:
        try:
            async with self._slots:
                result = await self._sandbox.run(code, api_key)
        except asyncio.CancelledError:
            # The sandbox has been killed by now; say so before giving up.
            await self._record(record, SandboxResult(RunStatus.ERROR, None, INTERRUPTED_BY_STOP))
            raise
        except Exception as failure:
            # The exception's text is not logged: it may quote the agent's code.
            log.error("run_sandbox_failed", run_id=str(record.run_id), error=type(failure).__name__)
            result = SandboxResult(RunStatus.ERROR, None, SANDBOX_FAILED)
        finally:
            # Drop our reference to the plaintext as soon as the sandbox is done.
            del api_key
        await self._record(record, result)

    async def _record(self, record: RunRecord, result: SandboxResult) -> None:
        try:
            finished = await self._store.finish(record.run_id, result)
        except Exception as failure:
            # The row stays "running"; the next start marks it interrupted.
            log.error("run_record_failed", run_id=str(record.run_id), error=type(failure).__name__)
            return
        if finished is not None:
            self._events_committed()
            log.info(
                "run_finished",
                run_id=str(record.run_id),
                status=finished.status,
                exit_code=finished.exit_code,
            )
