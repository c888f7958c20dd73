"""The Executor gRPC API: only the gateway calls it; domain errors become status codes.

Status messages are fixed texts: they never echo the request (which carries
the agent's code) and never carry the vault's own error messages.
"""

import functools
from datetime import UTC

import grpc

from services.common.mtls import allow_callers
from services.contracts import executor_pb2, executor_pb2_grpc
from services.executor.runs import (
    ExecutorStopping,
    InvalidInput,
    RunManager,
    RunNotFound,
    TooManyRuns,
)
from services.executor.storage import RunRecord
from services.executor.vault_client import KeyNotFound, VaultUnavailable


def run_message(record: RunRecord) -> executor_pb2.Run:
    message = executor_pb2.Run(
        run_id=str(record.run_id),
        owner_id=record.owner_id,
        key_id=str(record.key_id),
        status=record.status,
        output=record.output,
        created_at=record.created_at.astimezone(UTC).isoformat(),
        finished_at=record.finished_at.astimezone(UTC).isoformat() if record.finished_at else "",
    )
    if record.exit_code is not None:
        message.exit_code = record.exit_code
    return message


def _domain_errors_as_status(method):
    @functools.wraps(method)
    async def translated(self, request, context):
        try:
            return await method(self, request, context)
        except InvalidInput as invalid:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(invalid))
        except KeyNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, "key not found")
        except RunNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, "run not found")
        except VaultUnavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "key service unavailable")
        except ExecutorStopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "executor is stopping")
        except TooManyRuns:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "too many unfinished runs; wait for one to end"
            )

    return translated


class ExecutorServicer(executor_pb2_grpc.ExecutorServicer):
    def __init__(self, runs: RunManager):
        self._runs = runs

    @allow_callers("gateway")
    @_domain_errors_as_status
    async def StartRun(self, request, context):  # noqa: N802 (generated name)
        record = await self._runs.start_run(
            owner_id=request.owner_id, key_id=request.key_id, code=request.code
        )
        return run_message(record)

    @allow_callers("gateway")
    @_domain_errors_as_status
    async def GetRun(self, request, context):  # noqa: N802
        record = await self._runs.get_run(owner_id=request.owner_id, run_id=request.run_id)
        return run_message(record)
