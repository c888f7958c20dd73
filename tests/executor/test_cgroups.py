"""A control group per run: the whole run's memory and processes are capped,
and the group is gone when the run is.

These need root and a writable cgroup v1 memory and pids hierarchy (as on this
platform's development and CI machines); elsewhere they are skipped, saying why.
"""

import asyncio
import errno
import json
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretBytes

from services.common.waiting import wait_until
from services.executor.cgroups import CgroupsUnavailable, RunGroup, RunGroups
from services.executor.sandbox import (
    BubblewrapSandbox,
    RunStatus,
    SandboxLimits,
    SandboxUnavailable,
)
from services.executor.settings import ExecutorSettings
from tests.executor.conftest import OUTPUT_LIMIT, UNPRIVILEGED_HOST_USER
from tests.executor.test_sandbox import SPAWN_SLEEPERS

_MIB = 1024 * 1024
RUN_MEMORY = 256 * _MIB
RUN_PROCESSES = 16


def _settings(**overrides) -> ExecutorSettings:
    values = {
        "executor_run_timeout_seconds": 20,
        "executor_output_limit_bytes": OUTPUT_LIMIT,
        "executor_memory_limit_bytes": RUN_MEMORY,
        "executor_max_processes": RUN_PROCESSES,
    }
    return ExecutorSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
def run_groups() -> RunGroups:
    try:
        return RunGroups.for_limits(memory_bytes=RUN_MEMORY, max_processes=RUN_PROCESSES)
    except CgroupsUnavailable as missing:
        pytest.skip(f"no run cgroups on this machine: {missing}")


def _sandbox(run_groups, host_user=UNPRIVILEGED_HOST_USER, **overrides) -> BubblewrapSandbox:
    settings = _settings(**overrides)
    return BubblewrapSandbox(
        bwrap_path=settings.executor_bwrap_path,
        python_path=settings.executor_python_path,
        limits=SandboxLimits.from_settings(settings),
        host_user=host_user,
        run_groups=run_groups,
    )


async def _run(sandbox, code: str):
    return await sandbox.run(textwrap.dedent(code), SecretBytes(b"sk-unused"))


def _run_group_folders(run_groups: RunGroups) -> list[Path]:
    return [
        folder
        for controller in run_groups._controllers  # noqa: SLF001 (what the test inspects)
        for folder in controller.parent.glob("run-*")
    ]


# Three children of 100 MiB each: within the per-process limit (256 MiB of
# address space), beyond the run's 256 MiB of memory together with the parent.
MEMORY_HOGS = """
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = bytearray(100 * 1024 * 1024)
        for offset in range(0, len(block), 4096):
            block[offset] = 1  # touch every page, so that it is really used
        time.sleep(5)
        os._exit(0)
    children.append(pid)
statuses = [os.waitpid(pid, 0)[1] for pid in children]
print("killed", sum(1 for status in statuses if os.WIFSIGNALED(status)))
"""


async def test_the_whole_run_shares_one_memory_limit(run_groups):
    result = await _run(_sandbox(run_groups), MEMORY_HOGS)
    first_line = result.output.splitlines()[0]
    assert first_line.startswith("killed ") and int(first_line.split()[1]) >= 1, result.output
    assert result.output.endswith(
        "[memory limit reached: the kernel killed a process of this run]"
    ), result.output


async def test_without_run_groups_the_same_agent_is_not_stopped(run_groups):
    result = await _run(_sandbox(None), MEMORY_HOGS)
    assert result.status == RunStatus.SUCCEEDED, result.output
    assert result.output == "killed 0\n"


async def test_the_process_cap_binds_even_when_bwrap_runs_as_root(run_groups):
    # Root is exempt from RLIMIT_NPROC; the pids controller is not.
    result = await _run(
        _sandbox(run_groups, host_user=None),
        SPAWN_SLEEPERS,
    )
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["refused"] == errno.EAGAIN
    assert report["spawned"] < RUN_PROCESSES


async def test_a_runs_group_is_removed_after_it(run_groups):
    before = set(_run_group_folders(run_groups))
    result = await _run(_sandbox(run_groups), "print('hello')")
    assert result.output == "hello\n"
    assert set(_run_group_folders(run_groups)) == before


async def test_a_cancelled_runs_group_is_removed(run_groups):
    before = set(_run_group_folders(run_groups))
    run = asyncio.create_task(_run(_sandbox(run_groups), "import time\ntime.sleep(600)"))

    async def group_exists():
        return set(_run_group_folders(run_groups)) - before

    await wait_until(group_exists, timeout=20, what="the run's cgroup")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert set(_run_group_folders(run_groups)) == before


class _UnjoinableGroups:
    """Groups whose cgroup.procs cannot be written, as on a misconfigured host."""

    def create(self) -> RunGroup:
        return RunGroup([Path("/nonexistent-aecaro-cgroup")], [])


async def test_a_run_that_cannot_enter_its_group_never_runs():
    result = await _run(_sandbox(_UnjoinableGroups()), "print('ran anyway')")
    assert result.status == RunStatus.ERROR
    assert result.output == "the sandbox could not start"


def test_required_cgroups_that_cannot_be_had_stop_the_start(tmp_path):
    settings = _settings(executor_cgroups="required", executor_cgroup_parent=tmp_path)
    with pytest.raises(SandboxUnavailable, match="cannot enable memory and pids"):
        BubblewrapSandbox.from_settings(settings)


def test_auto_cgroups_that_cannot_be_had_leave_the_rlimits(tmp_path):
    settings = _settings(executor_cgroups="auto", executor_cgroup_parent=tmp_path)
    assert BubblewrapSandbox.from_settings(settings)._run_groups is None  # noqa: SLF001
