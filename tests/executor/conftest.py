"""Fixtures for the executor's tests: sandboxes, a fake vault, a running executor."""

import contextlib
import secrets
import uuid

import pytest

from services.common.database import create_pool
from services.common.mtls import ServiceCredentials
from services.contracts import executor_pb2_grpc
from services.executor.sandbox import BubblewrapSandbox, SandboxLimits
from services.executor.service import start
from services.executor.settings import ExecutorSettings
from tests.conftest import free_port
from tests.executor.fake_vault import FakeVault, start_fake_vault

OUTPUT_LIMIT = 4096


FAKE_VAULT_ADDRESS = f"127.0.0.1:{free_port()}"


def executor_settings_from(platform_settings, **overrides) -> ExecutorSettings:
    values = platform_settings.model_dump()
    # A subject prefix of its own: no stream listens on it, so the outbox relay
    # cannot publish the executor's events and the tests find them in the outbox
    # even when another suite has created this run's audit stream.
    values["audit_subject_prefix"] = f"{platform_settings.audit_subject_prefix}_executor"
    values.update(
        executor_run_timeout_seconds=20,
        executor_output_limit_bytes=OUTPUT_LIMIT,
        # Each test executor is a "process" of its own: at start it only marks as
        # interrupted the runs a previous process of the same name left running.
        executor_instance_name=f"test-executor-{secrets.token_hex(4)}",
        # The fake vault has an address of its own: the real vault's tests use
        # platform_settings.vault_address, and two servers may not share a port.
        vault_address=FAKE_VAULT_ADDRESS,
        # The suite shares one owner across many tests; the per-owner limit
        # has a test of its own.
        executor_max_runs_per_owner=100,
    )
    values.update(overrides)
    return ExecutorSettings(**values)


UNPRIVILEGED_HOST_USER = (65534, 65534)


def sandbox_with(settings: ExecutorSettings, host_user) -> BubblewrapSandbox:
    return BubblewrapSandbox(
        bwrap_path=settings.executor_bwrap_path,
        python_path=settings.executor_python_path,
        limits=SandboxLimits.from_settings(settings),
        host_user=host_user,
    )


# Both ways bwrap is started: as an unprivileged host user (the default when the
# executor runs as root) and as the executor's own user (root: capabilities dropped).
@pytest.fixture(
    scope="session",
    params=[UNPRIVILEGED_HOST_USER, None],
    ids=["unprivileged-host-user", "executor-user"],
)
def sandbox(request) -> BubblewrapSandbox:
    settings = ExecutorSettings(
        executor_run_timeout_seconds=20, executor_output_limit_bytes=OUTPUT_LIMIT
    )
    return sandbox_with(settings, request.param)


@pytest.fixture(scope="session")
def executor_settings(platform_settings) -> ExecutorSettings:
    return executor_settings_from(platform_settings)


@pytest.fixture(scope="session")
def owner_id() -> str:
    return f"owner-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def key_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="session")
def api_key() -> bytes:
    return f"sk-test-{secrets.token_urlsafe(24)}".encode()


@pytest.fixture(scope="session")
async def fake_vault(executor_settings, pki_dir, owner_id, key_id, api_key):
    vault = FakeVault(owner_id=owner_id, key_id=key_id, secret=api_key)
    server = await start_fake_vault(vault, address=executor_settings.vault_address, pki_dir=pki_dir)
    yield vault
    await server.stop(None)


@pytest.fixture(scope="session")
async def executor(executor_settings, fake_vault):
    svc = await start(executor_settings)
    yield svc
    await svc.stop()


@contextlib.asynccontextmanager
async def channel_as(caller: str, settings: ExecutorSettings, pki_dir):
    channel = ServiceCredentials.load(pki_dir, caller).channel_to(
        settings.executor_address, "executor"
    )
    try:
        yield executor_pb2_grpc.ExecutorStub(channel)
    finally:
        await channel.close()


@pytest.fixture(scope="session")
async def gateway(executor, executor_settings, pki_dir):
    """An Executor stub calling as the gateway."""
    async with channel_as("gateway", executor_settings, pki_dir) as stub:
        yield stub


@pytest.fixture(scope="session")
async def executor_pool(database_url):
    pool = await create_pool(database_url, "executor")
    yield pool
    await pool.close()
