"""The Executor gRPC API over mutual TLS, with a fake vault and real bwrap,
PostgreSQL and outbox."""

import asyncio
import contextlib
import hashlib
import json
import secrets
import uuid

import grpc
import pytest
from structlog.testing import capture_logs

from services.common.waiting import wait_until
from services.contracts import executor_pb2
from services.executor.output import KEY_REDACTED
from services.executor.runs import (
    INTERRUPTED_BY_RESTART,
    INTERRUPTED_BY_STOP,
    MAX_CODE_BYTES,
)
from services.executor.sandbox import KEY_PATH
from services.executor.service import start
from tests.conftest import free_port
from tests.executor.conftest import channel_as, executor_settings_from
from tests.executor.test_sandbox import host_processes_whose

PRINT_KEY_HASH = f"""
import hashlib
print(hashlib.sha256(open({KEY_PATH!r}, "rb").read()).hexdigest())
"""


async def finished(stub, owner_id: str, run_id: str) -> executor_pb2.Run:
    async def run_if_finished():
        run = await stub.GetRun(executor_pb2.GetRunRequest(owner_id=owner_id, run_id=run_id))
        return run if run.status not in ("pending", "running") else None

    return await wait_until(run_if_finished, timeout=30, what="the run to finish")


async def status_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return failure.value.code()


async def events_of(pool, run_id: str) -> list[dict]:
    rows = await pool.fetch("SELECT subject, payload FROM outbox ORDER BY created_at")
    events = []
    for row in rows:
        event = json.loads(bytes(row["payload"]))
        if event["data"].get("run_id") == run_id:
            events.append({**event, "subject": row["subject"], "raw": bytes(row["payload"])})
    return events


@contextlib.asynccontextmanager
async def another_executor(platform_settings, **overrides):
    """A second executor process-alike on its own port, sharing the database."""
    settings = executor_settings_from(
        platform_settings, executor_address=f"127.0.0.1:{free_port()}", **overrides
    )
    svc = await start(settings)
    try:
        yield svc, settings
    finally:
        await svc.stop()


async def test_run_with_the_owners_key_succeeds(gateway, fake_vault, owner_id, key_id, api_key):
    started = await gateway.StartRun(
        executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=PRINT_KEY_HASH)
    )
    assert started.status == "running"
    assert started.owner_id == owner_id
    assert started.key_id == key_id
    assert uuid.UUID(started.run_id)
    assert started.created_at
    assert started.finished_at == ""
    assert not started.HasField("exit_code")
    # The vault was asked for this owner's key, for this very run.
    assert fake_vault.requests[-1].owner_id == owner_id
    assert fake_vault.requests[-1].key_id == key_id
    assert fake_vault.requests[-1].run_id == started.run_id

    run = await finished(gateway, owner_id, started.run_id)
    assert run.status == "succeeded"
    assert run.exit_code == 0
    assert run.output.strip() == hashlib.sha256(api_key).hexdigest()
    assert run.finished_at


async def test_failing_agent_is_recorded_with_its_exit_code(gateway, owner_id, key_id):
    started = await gateway.StartRun(
        executor_pb2.StartRunRequest(
            owner_id=owner_id, key_id=key_id, code="import sys\nprint('no')\nsys.exit(3)"
        )
    )
    run = await finished(gateway, owner_id, started.run_id)
    assert run.status == "failed"
    assert run.exit_code == 3
    assert run.output == "no\n"


async def test_started_and_finished_events_are_in_the_outbox_without_the_key(
    gateway, executor_settings, executor_pool, owner_id, key_id, api_key
):
    started = await gateway.StartRun(
        executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=PRINT_KEY_HASH)
    )
    await finished(gateway, owner_id, started.run_id)

    events = await events_of(executor_pool, started.run_id)
    assert [event["type"] for event in events] == ["run.started", "run.finished"]
    prefix = executor_settings.audit_subject_prefix
    assert [event["subject"] for event in events] == [
        f"{prefix}.executor.run.started",
        f"{prefix}.executor.run.finished",
    ]
    assert all(event["service"] == "executor" for event in events)
    assert all(event["subject_id"] == owner_id for event in events)
    assert events[0]["data"] == {"run_id": started.run_id, "key_id": key_id}
    assert events[1]["data"] == {
        "run_id": started.run_id,
        "key_id": key_id,
        "status": "succeeded",
        "exit_code": 0,
    }
    for event in events:
        assert api_key not in event["raw"]
        assert hashlib.sha256(api_key).hexdigest().encode() not in event["raw"]


async def test_key_and_output_are_not_logged(gateway, owner_id, key_id, api_key, caplog):
    code = f"print('length', len(open({KEY_PATH!r}).read()))"
    with capture_logs() as logged:
        started = await gateway.StartRun(
            executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=code)
        )
        run = await finished(gateway, owner_id, started.run_id)
    assert run.output == f"length {len(api_key)}\n"
    events = [entry["event"] for entry in logged]
    assert "run_started" in events and "run_finished" in events
    assert api_key.decode() not in repr(logged)
    assert api_key.decode() not in caplog.text


async def test_a_key_the_agent_prints_is_not_stored(
    gateway, executor_pool, owner_id, key_id, api_key
):
    code = f"key = open({KEY_PATH!r}).read()\nprint('before', key, 'after', key[-4:])"
    started = await gateway.StartRun(
        executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=code)
    )
    run = await finished(gateway, owner_id, started.run_id)
    key = api_key.decode()
    assert run.status == "succeeded"
    assert run.output == f"before {KEY_REDACTED} after {key[-4:]}\n"
    stored = await executor_pool.fetchval(
        "SELECT output FROM runs WHERE run_id = $1", uuid.UUID(started.run_id)
    )
    assert stored == run.output


async def test_another_owners_key_is_not_found_and_no_run_is_recorded(
    gateway, executor_pool, key_id
):
    intruder = f"owner-{uuid.uuid4()}"
    code = await status_of(
        gateway.StartRun(
            executor_pb2.StartRunRequest(owner_id=intruder, key_id=key_id, code=PRINT_KEY_HASH)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert (
        await executor_pool.fetchval("SELECT count(*) FROM runs WHERE owner_id = $1", intruder) == 0
    )


async def test_unknown_key_is_not_found(gateway, owner_id):
    code = await status_of(
        gateway.StartRun(
            executor_pb2.StartRunRequest(
                owner_id=owner_id, key_id=str(uuid.uuid4()), code="print(1)"
            )
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("malformed", ["", "not-a-uuid", "1' OR '1'='1", "0" * 1000])
async def test_malformed_key_id_is_not_found_without_asking_the_vault(
    gateway, fake_vault, owner_id, malformed
):
    asked_before = len(fake_vault.requests)
    code = await status_of(
        gateway.StartRun(
            executor_pb2.StartRunRequest(owner_id=owner_id, key_id=malformed, code="print(1)")
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert len(fake_vault.requests) == asked_before


@pytest.mark.parametrize(
    "code",
    ["", "   \n\t", "#" * (MAX_CODE_BYTES + 1), "é" * (MAX_CODE_BYTES // 2 + 1)],
    ids=["empty", "blank", "over-64-KiB", "over-64-KiB-in-utf8"],
)
async def test_empty_or_oversized_code_is_invalid(gateway, owner_id, key_id, code):
    status = await status_of(
        gateway.StartRun(executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=code))
    )
    assert status == grpc.StatusCode.INVALID_ARGUMENT


async def test_code_of_exactly_64_kib_runs(gateway, owner_id, key_id):
    code = "print('ok')\n"
    code += "#" * (MAX_CODE_BYTES - len(code))
    started = await gateway.StartRun(
        executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=code)
    )
    run = await finished(gateway, owner_id, started.run_id)
    assert run.status == "succeeded"
    assert run.output == "ok\n"


@pytest.mark.parametrize("owner", ["", "o" * 101], ids=["empty", "over-100-characters"])
async def test_missing_or_overlong_owner_is_invalid(gateway, key_id, owner):
    start_status = await status_of(
        gateway.StartRun(executor_pb2.StartRunRequest(owner_id=owner, key_id=key_id, code="1"))
    )
    get_status = await status_of(
        gateway.GetRun(executor_pb2.GetRunRequest(owner_id=owner, run_id=str(uuid.uuid4())))
    )
    assert start_status == grpc.StatusCode.INVALID_ARGUMENT
    assert get_status == grpc.StatusCode.INVALID_ARGUMENT


async def test_another_owners_run_is_not_found(gateway, owner_id, key_id):
    started = await gateway.StartRun(
        executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code="print(1)")
    )
    await finished(gateway, owner_id, started.run_id)
    code = await status_of(
        gateway.GetRun(
            executor_pb2.GetRunRequest(owner_id=f"owner-{uuid.uuid4()}", run_id=started.run_id)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("requested", ["", "not-a-uuid", str(uuid.uuid4()), "x" * 10_000])
async def test_malformed_or_unknown_run_id_is_not_found(gateway, owner_id, requested):
    code = await status_of(
        gateway.GetRun(executor_pb2.GetRunRequest(owner_id=owner_id, run_id=requested))
    )
    assert code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("caller", ["vault", "identity", "audit", "executor"])
async def test_callers_other_than_the_gateway_are_refused(
    executor, executor_settings, pki_dir, fake_vault, owner_id, key_id, caller
):
    asked_before = len(fake_vault.requests)
    async with channel_as(caller, executor_settings, pki_dir) as stub:
        start_status = await status_of(
            stub.StartRun(
                executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code="print(1)")
            )
        )
        get_status = await status_of(
            stub.GetRun(executor_pb2.GetRunRequest(owner_id=owner_id, run_id=str(uuid.uuid4())))
        )
    assert start_status == grpc.StatusCode.PERMISSION_DENIED
    assert get_status == grpc.StatusCode.PERMISSION_DENIED
    assert len(fake_vault.requests) == asked_before


async def test_vault_out_of_reach_is_unavailable(
    executor, platform_settings, pki_dir, executor_pool, owner_id, key_id
):
    async with another_executor(platform_settings, vault_address=f"127.0.0.1:{free_port()}") as (
        _svc,
        settings,
    ):
        async with channel_as("gateway", settings, pki_dir) as stub:
            code = await status_of(
                stub.StartRun(
                    executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code="print(1)")
                )
            )
    assert code == grpc.StatusCode.UNAVAILABLE


async def insert_running_run(pool, runner: str) -> uuid.UUID:
    run_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO runs (run_id, owner_id, key_id, status, runner)"
        " VALUES ($1, $2, $3, 'running', $4)",
        run_id,
        f"owner-{uuid.uuid4()}",
        uuid.uuid4(),
        runner,
    )
    return run_id


async def test_runs_left_running_by_a_previous_process_become_errors(
    platform_settings, executor_pool
):
    settings = executor_settings_from(
        platform_settings, executor_address=f"127.0.0.1:{free_port()}"
    )
    left_behind = await insert_running_run(executor_pool, settings.executor_instance_name)
    other_replicas = await insert_running_run(executor_pool, "another-replica")

    svc = await start(settings)
    await svc.stop()

    row = await executor_pool.fetchrow("SELECT * FROM runs WHERE run_id = $1", left_behind)
    assert row["status"] == "error"
    assert row["exit_code"] is None
    assert row["output"] == INTERRUPTED_BY_RESTART
    assert row["finished_at"] is not None
    events = await events_of(executor_pool, str(left_behind))
    assert [event["type"] for event in events] == ["run.finished"]
    assert events[0]["data"]["status"] == "error"
    # Another replica's run is still its own business.
    other = await executor_pool.fetchrow("SELECT * FROM runs WHERE run_id = $1", other_replicas)
    assert other["status"] == "running"
    await executor_pool.execute("DELETE FROM runs WHERE run_id = $1", other_replicas)


async def test_stopping_kills_running_sandboxes_and_records_them(
    executor, platform_settings, pki_dir, executor_pool, owner_id, key_id
):
    settings = executor_settings_from(
        platform_settings, executor_address=f"127.0.0.1:{free_port()}"
    )
    marker = f"agent-marker-{secrets.token_hex(8)}"
    code = (
        "import subprocess, time\n"
        f"subprocess.Popen([{marker!r}, '600'], executable='/usr/bin/sleep')\n"
        "time.sleep(600)\n"
    )
    svc = await start(settings)
    try:
        async with channel_as("gateway", settings, pki_dir) as stub:
            started = await stub.StartRun(
                executor_pb2.StartRunRequest(owner_id=owner_id, key_id=key_id, code=code)
            )

        async def agent_running():
            return host_processes_whose("cmdline", marker.encode())

        await wait_until(agent_running, timeout=20, what="the agent's child process")
    finally:
        await svc.stop()
    assert host_processes_whose("cmdline", marker.encode()) == []
    row = await executor_pool.fetchrow(
        "SELECT * FROM runs WHERE run_id = $1", uuid.UUID(started.run_id)
    )
    assert row["status"] == "error"
    assert row["output"] == INTERRUPTED_BY_STOP
    assert row["finished_at"] is not None


async def test_an_owner_cannot_hold_more_runs_than_allowed(
    platform_settings, pki_dir, executor_pool, fake_vault, owner_id, key_id
):
    unfinished = await executor_pool.fetchval(
        "SELECT count(*) FROM runs WHERE owner_id = $1 AND status = 'running'", owner_id
    )
    async with another_executor(platform_settings, executor_max_runs_per_owner=unfinished + 1) as (
        _svc,
        settings,
    ):
        async with channel_as("gateway", settings, pki_dir) as stub:
            sleeping = executor_pb2.StartRunRequest(
                owner_id=owner_id, key_id=key_id, code="import time; time.sleep(60)"
            )
            first = await stub.StartRun(sleeping)
            assert first.status == "running"
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.StartRun(sleeping)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.details() == "too many unfinished runs; wait for one to end"


async def test_concurrent_starts_cannot_slip_past_the_per_owner_limit(
    platform_settings, pki_dir, executor_pool, fake_vault, owner_id, key_id
):
    unfinished = await executor_pool.fetchval(
        "SELECT count(*) FROM runs WHERE owner_id = $1 AND status = 'running'", owner_id
    )
    allowed_more = 2
    async with another_executor(
        platform_settings, executor_max_runs_per_owner=unfinished + allowed_more
    ) as (_svc, settings):
        async with channel_as("gateway", settings, pki_dir) as stub:
            sleeping = executor_pb2.StartRunRequest(
                owner_id=owner_id, key_id=key_id, code="import time; time.sleep(60)"
            )
            outcomes = await asyncio.gather(
                *(stub.StartRun(sleeping) for _ in range(12)), return_exceptions=True
            )
    started = [outcome for outcome in outcomes if isinstance(outcome, executor_pb2.Run)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert len(started) == allowed_more
    assert len(refused) == 12 - allowed_more
    assert {failure.code() for failure in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
