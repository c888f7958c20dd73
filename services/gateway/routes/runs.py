"""/v1/runs: agent runs in the executor's sandboxes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.contracts import executor_pb2
from services.gateway.auth import Caller, authenticated_caller
from services.gateway.clients import CALL_TIMEOUT_SECONDS, translated_errors
from services.gateway.schemas import RunOut, StartRunBody

router = APIRouter(prefix="/v1/runs", tags=["runs"])
CallerDep = Annotated[Caller, Depends(authenticated_caller)]


def _run(run) -> RunOut:
    return RunOut(
        run_id=run.run_id,
        key_id=run.key_id,
        status=run.status,
        exit_code=run.exit_code if run.HasField("exit_code") else None,
        output=run.output,
        created_at=run.created_at,
        finished_at=run.finished_at or None,
    )


@router.post("", status_code=202, response_model=RunOut)
async def start_run(body: StartRunBody, request: Request, caller: CallerDep):
    """Start an agent run with one of the caller's keys; poll GET /v1/runs/{id}."""
    async with translated_errors("executor"):
        run = await request.app.state.clients.executor.StartRun(
            executor_pb2.StartRunRequest(
                owner_id=caller.user_id, key_id=body.key_id, code=body.code
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return _run(run)


@router.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: str, request: Request, caller: CallerDep):
    async with translated_errors("executor"):
        run = await request.app.state.clients.executor.GetRun(
            executor_pb2.GetRunRequest(owner_id=caller.user_id, run_id=run_id[:100]),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return _run(run)
