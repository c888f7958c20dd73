"""Start-up and shutdown details of the executor service."""

import pytest
from pydantic import SecretBytes

from services.executor.sandbox import RunStatus, SandboxResult, SandboxUnavailable
from services.executor.service import check_sandbox, start
from tests.conftest import free_port
from tests.executor.conftest import executor_settings_from


class BrokenSandbox:
    async def run(self, code: str, api_key: SecretBytes) -> SandboxResult:
        return SandboxResult(RunStatus.FAILED, 1, "bwrap: something is missing\n")


async def test_broken_sandbox_is_found_at_start():
    with pytest.raises(SandboxUnavailable, match="failed"):
        await check_sandbox(BrokenSandbox())


async def test_service_does_not_start_with_a_broken_sandbox(platform_settings):
    settings = executor_settings_from(
        platform_settings, executor_address=f"127.0.0.1:{free_port()}"
    )
    with pytest.raises(SandboxUnavailable):
        await start(settings, sandbox=BrokenSandbox())
