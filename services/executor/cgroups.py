"""A control group per agent run: one cap on the memory and the number of
processes of the whole run, whatever it forks.

rlimits alone bound each process, not the run: 64 processes of 512 MiB each
could take a host's memory. The kernel's memory and pids controllers count
every process of the group together, tmpfs pages the run writes included.

Both cgroup layouts are handled:
- cgroup v1 (separate ``memory`` and ``pids`` hierarchies, as on many
  container hosts): run groups go below the executor's own groups;
- cgroup v2 (one unified hierarchy): the kernel lets a process create and
  fill child groups only where it was delegated a subtree, so the parent
  folder is given by configuration (``executor_cgroup_parent``).

In Kubernetes the pod's own limits do this job; this module serves the
bubblewrap sandbox on one machine.
"""

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

CGROUP_MOUNT = Path("/sys/fs/cgroup")
# Folder, below the executor's own group, that holds one group per run.
RUNS_FOLDER = "aecaro-runs"
# How long removing a run's group may wait for its last processes to go.
_REMOVE_DEADLINE_SECONDS = 5.0

# A /bin/sh script that moves itself into the given groups, then becomes the
# command after "--": the command and all it forks start inside the groups, with
# no moment outside them. If it cannot, it says so and exits with 125 (as env
# and chroot do), and the command never runs.
JOIN_FAILED_EXIT_CODE = 125
JOIN_FAILED_MESSAGE = "aecaro: cannot enter the run's cgroup"
JOIN_SCRIPT = (
    'while [ "$1" != "--" ]; do'
    ' echo $$ 2>/dev/null > "$1"'
    f' || {{ echo "{JOIN_FAILED_MESSAGE}"; exit {JOIN_FAILED_EXIT_CODE}; }};'
    ' shift; done; shift; exec "$@"'
)


class CgroupsUnavailable(Exception):
    """No writable memory and pids controllers for run groups."""


@dataclass(frozen=True)
class _Controller:
    """One hierarchy's parent folder, and the limit files written in each run group."""

    parent: Path
    limits: tuple[tuple[str, str], ...]
    # The file that counts the kernel's out-of-memory kills in a group, if any.
    oom_events_file: str | None


class RunGroup:
    """The control groups of one run; remove() when the run is over."""

    def __init__(self, folders: list[Path], oom_files: list[Path]):
        self.folders = folders
        self._oom_files = oom_files

    def join_command(self) -> list[str]:
        """The command prefix that starts what follows it inside this run's groups."""
        procs = [str(folder / "cgroup.procs") for folder in self.folders]
        return ["/bin/sh", "-c", JOIN_SCRIPT, "aecaro-join-cgroup", *procs, "--"]

    def out_of_memory_kills(self) -> int:
        kills = 0
        for path in self._oom_files:
            with contextlib.suppress(OSError, ValueError):
                for line in path.read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        kills += int(value)
        return kills

    def remove(self) -> None:
        """Kill whatever is left in the groups, then delete them."""
        deadline = time.monotonic() + _REMOVE_DEADLINE_SECONDS
        for folder in self.folders:
            while True:
                _kill_members(folder)
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # Busy: its last processes are still exiting.
                    if time.monotonic() >= deadline:
                        log.error("run_cgroup_not_removed", cgroup=str(folder))
                        break
                    time.sleep(0.01)


def _kill_members(folder: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (folder / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


class RunGroups:
    """Makes a control group per run below the configured parents."""

    def __init__(self, controllers: list[_Controller]):
        self._controllers = controllers

    def create(self) -> RunGroup:
        name = f"run-{uuid.uuid4().hex}"
        folders: list[Path] = []
        oom_files: list[Path] = []
        try:
            for controller in self._controllers:
                folder = controller.parent / name
                folder.mkdir()
                folders.append(folder)
                for file_name, value in controller.limits:
                    _write_limit(folder / file_name, value)
                if controller.oom_events_file:
                    oom_files.append(folder / controller.oom_events_file)
        except OSError:
            RunGroup(folders, oom_files).remove()
            raise
        return RunGroup(folders, oom_files)

    @classmethod
    def for_limits(
        cls, *, memory_bytes: int, max_processes: int, v2_parent: Path | None = None
    ) -> "RunGroups":
        """Run groups on this machine's cgroups; raises CgroupsUnavailable."""
        if v2_parent is not None:
            controllers = _v2_controllers(v2_parent, memory_bytes, max_processes)
        else:
            controllers = _v1_controllers(memory_bytes, max_processes)
        groups = cls(controllers)
        # Prove that a group can be made and removed now, not at the first run.
        try:
            groups.create().remove()
        except OSError as failure:
            raise CgroupsUnavailable(f"cannot create a run cgroup: {failure.strerror}") from None
        return groups


def _write_limit(path: Path, value: str) -> None:
    # Optional files (swap accounting may be off) are skipped when absent.
    if path.name in _OPTIONAL_LIMIT_FILES and not path.exists():
        return
    path.write_text(value)


_OPTIONAL_LIMIT_FILES = {"memory.memsw.limit_in_bytes", "memory.swap.max"}


def _own_v1_group(controller: str) -> Path:
    """This process's group in the v1 hierarchy of ``controller``, as a folder."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_MOUNT / controller / path.lstrip("/")
            # Inside a container the recorded path may not exist in its view.
            return folder if folder.is_dir() else CGROUP_MOUNT / controller
    raise CgroupsUnavailable(f"no cgroup v1 {controller} controller")


def _v1_controllers(memory_bytes: int, max_processes: int) -> list[_Controller]:
    controllers = []
    for name, limits, oom_file in (
        (
            "memory",
            (
                ("memory.limit_in_bytes", str(memory_bytes)),
                # No swap beyond the memory limit, where swap is accounted.
                ("memory.memsw.limit_in_bytes", str(memory_bytes)),
            ),
            "memory.oom_control",
        ),
        ("pids", (("pids.max", str(max_processes)),), None),
    ):
        parent = _own_v1_group(name) / RUNS_FOLDER
        try:
            parent.mkdir(exist_ok=True)
        except OSError as failure:
            raise CgroupsUnavailable(f"cannot create {parent}: {failure.strerror}") from None
        controllers.append(_Controller(parent, limits, oom_file))
    return controllers


def _v2_controllers(parent: Path, memory_bytes: int, max_processes: int) -> list[_Controller]:
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if not {"memory", "pids"} <= set(enabled):
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError as failure:
        raise CgroupsUnavailable(
            f"cannot enable memory and pids below {parent}: {failure.strerror}"
        ) from None
    limits = (
        ("memory.max", str(memory_bytes)),
        ("memory.swap.max", "0"),
        ("pids.max", str(max_processes)),
    )
    return [_Controller(parent, limits, "memory.events")]
