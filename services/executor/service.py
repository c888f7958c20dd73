"""Starting and stopping the executor: pool, outbox relay, vault channel,
sandbox, run manager and gRPC server."""

from dataclasses import dataclass

import asyncpg
import grpc
import structlog
from pydantic import SecretBytes

from services.common.database import create_pool
from services.common.event_signing import EventSigner
from services.common.mtls import ServiceCredentials
from services.common.outbox import OutboxRelay
from services.common.runtime import start_grpc_server
from services.contracts import executor_pb2_grpc
from services.executor.grpc_api import ExecutorServicer
from services.executor.runs import RunManager
from services.executor.sandbox import (
    BubblewrapSandbox,
    RunStatus,
    Sandbox,
    SandboxUnavailable,
)
from services.executor.settings import ExecutorSettings
from services.executor.storage import RunStore
from services.executor.vault_client import VaultKeyClient

log = structlog.get_logger(__name__)

_STOP_GRACE_SECONDS = 5
_PROBE_OUTPUT = "sandbox ready"


@dataclass
class RunningExecutor:
    settings: ExecutorSettings
    pool: asyncpg.Pool
    relay: OutboxRelay
    vault_channel: grpc.aio.Channel
    runs: RunManager
    server: grpc.aio.Server

    async def stop(self) -> None:
        # In-flight calls finish first, then running sandboxes are killed and
        # recorded as interrupted, then the connections close.
        await self.server.stop(_STOP_GRACE_SECONDS)
        await self.runs.stop()
        await self.vault_channel.close()
        await self.relay.stop()
        await self.pool.close()
        log.info("executor_stopped")


async def check_sandbox(sandbox: Sandbox) -> None:
    """Run a trivial agent once, so that a broken sandbox stops start-up, not a run."""
    result = await sandbox.run(f"print({_PROBE_OUTPUT!r})", SecretBytes(b""))
    if result.status != RunStatus.SUCCEEDED or result.output.strip() != _PROBE_OUTPUT:
        # The probe's output is ours (no agent, an empty key): safe to show.
        raise SandboxUnavailable(
            f"the sandbox self-check ended as {result.status.value}"
            f" (exit code {result.exit_code}): {result.output[:500]!r}"
        )


async def start(settings: ExecutorSettings, *, sandbox: Sandbox | None = None) -> RunningExecutor:
    """Serve the Executor API on ``settings.executor_address`` over mutual TLS.

    ``sandbox`` defaults to bubblewrap configured from ``settings``.
    """
    sandbox = sandbox or BubblewrapSandbox.from_settings(settings)
    await check_sandbox(sandbox)
    credentials = ServiceCredentials.load(settings.tls_dir, "executor")
    pool = await create_pool(settings.database_url, "executor")
    relay = OutboxRelay(pool, settings.nats_url, signer=EventSigner(credentials))
    vault_channel = credentials.channel_to(settings.vault_address, "vault")
    try:
        await relay.start()
        runs = RunManager(
            RunStore(
                pool,
                subject_prefix=settings.audit_subject_prefix,
                runner=settings.executor_instance_name,
            ),
            VaultKeyClient(vault_channel),
            sandbox,
            max_concurrent_runs=settings.executor_max_concurrent_runs,
            max_runs_per_owner=settings.executor_max_runs_per_owner,
            events_committed=relay.wake,
        )
        await runs.recover_interrupted()
        server = await start_grpc_server(
            executor_pb2_grpc.add_ExecutorServicer_to_server,
            ExecutorServicer(runs),
            address=settings.executor_address,
            credentials=credentials,
        )
    except BaseException:
        await vault_channel.close()
        await relay.stop()
        await pool.close()
        raise
    log.info("executor_started", sandbox=type(sandbox).__name__)
    return RunningExecutor(
        settings=settings,
        pool=pool,
        relay=relay,
        vault_channel=vault_channel,
        runs=runs,
        server=server,
    )
