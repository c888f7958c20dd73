"""The executor's settings: the platform's, plus how agent sandboxes are run.

Each field maps to an ``AECARO_EXECUTOR_*`` variable (``executor_run_timeout_seconds``
is ``AECARO_EXECUTOR_RUN_TIMEOUT_SECONDS``).
"""

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field

from services.common.settings import PlatformSettings

_MIB = 1024 * 1024


class ExecutorSettings(PlatformSettings):
    # The sandbox tool, and the interpreter the agent runs: the system's, never the
    # platform's own virtualenv, so no platform code or dependency is in reach.
    executor_bwrap_path: Path = Path("/usr/bin/bwrap")
    executor_python_path: Path = Path("/usr/bin/python3")

    # Wall-clock limit of one run; the whole sandbox is killed when it is reached.
    executor_run_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Combined stdout+stderr kept per run; the rest is read and dropped. At most
    # 1 MiB, so that a Run stays well within gRPC message limits.
    executor_output_limit_bytes: int = Field(default=64 * 1024, ge=1024, le=_MIB)
    # rlimits inside the sandbox (address space, one file's size, processes).
    # Memory and processes also cap the whole run when it has a cgroup (below).
    executor_memory_limit_bytes: int = Field(default=512 * _MIB, ge=64 * _MIB)
    executor_file_size_limit_bytes: int = Field(default=16 * _MIB, ge=0)
    executor_max_processes: int = Field(default=64, ge=1)
    # A cgroup per run caps the memory and processes of all its processes together.
    # "auto": when the machine allows (root with cgroup v1, or a delegated v2
    # folder), else a warning at start; "required": no start without; "off".
    executor_cgroups: Literal["auto", "required", "off"] = "auto"
    # cgroup v2 only: a folder of the unified hierarchy delegated to the executor,
    # below which it creates the run groups (v1 needs none).
    executor_cgroup_parent: Path | None = None
    # Size of each private tmpfs (/tmp and the working directory).
    executor_tmpfs_size_bytes: int = Field(default=64 * _MIB, ge=_MIB)

    # When the executor runs as root, bwrap is started as this unprivileged host
    # user instead, so that the process limit counts (root is exempt from it) and a
    # sandbox escape would not land as root. Ignored when not running as root.
    executor_sandbox_uid: int = Field(default=65534, ge=1)
    executor_sandbox_gid: int = Field(default=65534, ge=1)
    # util-linux's setpriv makes that switch before bwrap starts.
    executor_setpriv_path: Path = Path("/usr/bin/setpriv")

    # This process's name on the runs it executes (the pod name in Kubernetes). At
    # start, runs left "running" under this name are marked interrupted; a name
    # must therefore belong to one process at a time.
    executor_instance_name: str = Field(
        default_factory=socket.gethostname, min_length=1, max_length=253
    )

    # Runs executing at once; further runs wait for a free slot.
    executor_max_concurrent_runs: int = Field(default=4, ge=1, le=256)
    # Unfinished runs one owner may have; more are refused (the gateway's 429),
    # so that one owner cannot hold every slot.
    executor_max_runs_per_owner: int = Field(default=2, ge=1, le=256)
