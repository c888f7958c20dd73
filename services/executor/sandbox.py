"""Running an agent's Python code in a throw-away sandbox.

``Sandbox`` is the interface the executor needs: run this code with this API
key, and say how it ended. ``BubblewrapSandbox`` implements it on one machine
with bubblewrap; a Kubernetes-pod sandbox can implement the same protocol.

What the bubblewrap sandbox isolates:
- every namespace is new (user, mount, pid, network, ipc, uts, cgroup), and the
  sandbox may not create user namespaces of its own;
- no network: a fresh network namespace holds only its own loopback, so neither
  the host's services (PostgreSQL, NATS, the other services) nor the internet nor
  a cloud metadata address are reachable;
- no capabilities (all dropped, bounding set included) and, when the executor
  runs as root, bwrap itself runs as an unprivileged host user;
- files: /usr read-only plus the /bin, /lib... links into it and ld.so.cache;
  nothing else of the host (no /root, /home, /work, /var, host /tmp, the project
  or its virtualenv). /tmp and the working directory are private size-capped
  tmpfs; the rest of the root is remounted read-only;
- the API key reaches the agent only as the read-only file
  /run/secrets/llm_api_key, copied by bwrap from a pipe into the sandbox's own
  memory: it is never on the host's disk, in an environment, or on a command line;
- a wall-clock limit kills the whole sandbox (its pid namespace and bwrap's
  process group); rlimits cap address space, file size and processes, and stop
  core dumps (which would hold the key);
- where the machine allows (see cgroups.py), a control group per run caps the
  memory and the processes of the whole run together, whatever it forks.

What it does not isolate (known limits of the local sandbox):
- the kernel is shared: a kernel exploit escapes. No seccomp filter is installed;
- CPU is bounded only by the timeout. Without a run cgroup ("sandbox_without_cgroups"
  at start), memory and processes are bounded per process only, and the process
  rlimit does not bind when bwrap runs as root (root is exempt);
- /usr is readable: whatever is installed there (system Python packages) is
  visible to the agent;
- the agent can of course print or misuse its own key. Verbatim copies of the
  key are taken out of its output (see output.py), but not encoded ones.
"""

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import os
import signal
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import SecretBytes

from services.executor.cgroups import (
    JOIN_FAILED_EXIT_CODE,
    JOIN_FAILED_MESSAGE,
    CgroupsUnavailable,
    RunGroup,
    RunGroups,
)
from services.executor.output import bytes_to_read, kept_output

log = structlog.get_logger(__name__)

# Where the agent finds things inside the sandbox.
KEY_PATH = "/run/secrets/llm_api_key"
CODE_PATH = "/run/agent/main.py"
WORKDIR = "/workspace"
SANDBOX_PATH = "/usr/bin:/bin"

# Host folders that are links into /usr on merged-/usr systems, or real folders.
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The only files of the host's /etc the interpreter needs (the dynamic linker cache).
_ETC_FILES = ("/etc/ld.so.cache",)
# bwrap's own environment: nothing of the service's (which may hold a database URL).
_BWRAP_ENV = {"PATH": SANDBOX_PATH}
# After a kill, how long to wait for the sandbox to be gone before giving up.
_KILL_GRACE_SECONDS = 5.0

# A core-size limit of exactly 1 stops every core dump (which would hold the key):
# the kernel refuses to pipe a core to a core_pattern helper when the limit is 1,
# and 1 byte is less than the smallest core file it would write.
_NO_CORE_DUMPS = 1

# Runs first inside the sandbox: lowers the rlimits (hard limits too, so the agent
# cannot raise them again), then replaces itself with the interpreter running the
# agent's file. Rlimits survive exec. If a limit cannot be set, the agent never runs.
_LAUNCHER = f"""
import os, resource, sys
memory, file_size, processes = (int(value) for value in sys.argv[1:4])
for kind, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, file_size),
                    (resource.RLIMIT_NPROC, processes), (resource.RLIMIT_CORE, {_NO_CORE_DUMPS})):
    resource.setrlimit(kind, (value, value))
os.execv(sys.executable, [sys.executable, "-I", "-u", {CODE_PATH!r}])
"""


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ERROR = "error"


@dataclass(frozen=True)
class SandboxResult:
    status: RunStatus
    exit_code: int | None
    output: str


class Sandbox(Protocol):
    async def run(self, code: str, api_key: SecretBytes) -> SandboxResult:
        """Run ``code`` with ``api_key`` readable at KEY_PATH; never raises for the
        agent's own failures (those are results). Cancelling the call kills the run.

        The output holds no verbatim copy of ``api_key`` (output.kept_output)."""
        ...


@dataclass(frozen=True)
class SandboxLimits:
    timeout_seconds: float
    output_limit_bytes: int
    memory_limit_bytes: int
    file_size_limit_bytes: int
    max_processes: int
    tmpfs_size_bytes: int

    @classmethod
    def from_settings(cls, settings) -> "SandboxLimits":
        """From ``ExecutorSettings``."""
        return cls(
            timeout_seconds=settings.executor_run_timeout_seconds,
            output_limit_bytes=settings.executor_output_limit_bytes,
            memory_limit_bytes=settings.executor_memory_limit_bytes,
            file_size_limit_bytes=settings.executor_file_size_limit_bytes,
            max_processes=settings.executor_max_processes,
            tmpfs_size_bytes=settings.executor_tmpfs_size_bytes,
        )


class SandboxUnavailable(Exception):
    """The sandbox cannot run at all (misconfiguration, missing tool)."""


def _pipe_holding(data: bytes) -> int:
    """A pipe already holding ``data`` with its write end closed; returns the read end.

    The pipe is enlarged to fit, so writing never waits on the reader; the data
    stays in kernel memory until bwrap reads it.
    """
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        # Non-blocking: data that does not fit raises instead of hanging.
        fcntl.fcntl(write_fd, fcntl.F_SETFL, fcntl.fcntl(write_fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        if len(data) > fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return read_fd


async def _pipe_reader(fd: int) -> tuple[asyncio.ReadTransport, asyncio.StreamReader]:
    """Wrap the read end ``fd`` for asyncio; closing the transport closes the fd."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return transport, reader


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Everything up to ``limit`` bytes, and whether more came; the rest is drained
    so that a chatty agent never blocks on a full pipe."""
    kept = bytearray()
    more_came = False
    while chunk := await stream.read(64 * 1024):
        room = limit - len(kept)
        if len(chunk) > room:
            more_came = True
        kept += chunk[: max(room, 0)]
    return bytes(kept), more_came


def _parent_pid_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields resume after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


class _SandboxProcesses:
    """bwrap (our child) and the sandbox's pid 1 (bwrap's child).

    Killing pid 1 of the sandbox's pid namespace makes the kernel kill every
    process in it, whatever session or group an agent moved into; bwrap then
    exits once pid 1 is reaped, so when bwrap is gone the sandbox is empty.
    """

    def __init__(self, bwrap: asyncio.subprocess.Process):
        self.bwrap = bwrap
        self._sandbox_init_fd: int | None = None
        self._closed = False

    def know_sandbox_init(self, pid: int) -> None:
        if self._closed or self._sandbox_init_fd is not None:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        # The pidfd pins the process; checking its parent after opening proves it
        # is bwrap's child and not a recycled pid.
        if _parent_pid_of(pid) == self.bwrap.pid:
            self._sandbox_init_fd = pidfd
        else:
            os.close(pidfd)

    async def kill(self) -> None:
        if self._sandbox_init_fd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._sandbox_init_fd, signal.SIGKILL)
        if self.bwrap.returncode is None:
            # bwrap leads its own process group (start_new_session); if pid 1 was
            # not known yet, bwrap's death still takes it (--die-with-parent).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.bwrap.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_KILL_GRACE_SECONDS):
                await self.bwrap.wait()
                await self._sandbox_init_gone()
        if self.bwrap.returncode is None:
            log.error("sandbox_kill_incomplete", bwrap_pid=self.bwrap.pid)

    async def _sandbox_init_gone(self) -> None:
        # A pidfd turns readable once its process has exited; for a pid namespace's
        # pid 1 that is after every other process of the namespace is gone.
        if self._sandbox_init_fd is None:
            return
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        loop.add_reader(self._sandbox_init_fd, lambda: gone.done() or gone.set_result(None))
        try:
            await gone
        finally:
            loop.remove_reader(self._sandbox_init_fd)

    def close(self) -> None:
        self._closed = True
        if self._sandbox_init_fd is not None:
            os.close(self._sandbox_init_fd)
            self._sandbox_init_fd = None


class BubblewrapSandbox:
    """Runs agents with bubblewrap on this machine (see the module docstring)."""

    def __init__(
        self,
        *,
        bwrap_path: Path,
        python_path: Path,
        limits: SandboxLimits,
        host_user: tuple[int, int] | None = None,
        setpriv_path: Path = Path("/usr/bin/setpriv"),
        run_groups: RunGroups | None = None,
    ):
        """``host_user`` (uid, gid): the unprivileged host user bwrap runs as, by way
        of util-linux's setpriv; None runs it as the current user. ``run_groups``:
        a control group per run capping its total memory and processes; None
        leaves only the per-process rlimits."""
        self._run_groups = run_groups
        self._bwrap = Path(bwrap_path)
        self._python = Path(python_path)
        self._limits = limits
        self._host_user = host_user
        self._setpriv = Path(setpriv_path)
        if not os.access(self._bwrap, os.X_OK):
            raise SandboxUnavailable(f"bwrap is not executable at {self._bwrap}")
        if host_user is not None and not os.access(self._setpriv, os.X_OK):
            raise SandboxUnavailable(f"setpriv is not executable at {self._setpriv}")
        # Only /usr is bound into the sandbox, so the interpreter must live there.
        if not self._python.is_absolute() or not self._python.resolve().is_relative_to("/usr"):
            raise SandboxUnavailable("the agent's python must be an absolute path under /usr")
        if not os.access(self._python, os.X_OK):
            raise SandboxUnavailable(f"python is not executable at {self._python}")

    @classmethod
    def from_settings(cls, settings) -> "BubblewrapSandbox":
        """From ``ExecutorSettings``; drops to the configured host user when root."""
        running_as_root = os.geteuid() == 0
        return cls(
            run_groups=_run_groups_from(settings),
            bwrap_path=settings.executor_bwrap_path,
            python_path=settings.executor_python_path,
            limits=SandboxLimits.from_settings(settings),
            host_user=(
                (settings.executor_sandbox_uid, settings.executor_sandbox_gid)
                if running_as_root
                else None
            ),
            setpriv_path=settings.executor_setpriv_path,
        )

    def _as_host_user(self) -> list[str]:
        """The command prefix that drops to the unprivileged host user, if any.

        setpriv rather than Popen(user=...): with a uid change Python must fork()
        instead of vfork(), and gRPC's fork handlers can crash such a child.
        """
        if self._host_user is None:
            return []
        uid, gid = self._host_user
        return [
            str(self._setpriv),
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
        ]

    def _arguments(self, *, key_fd: int, code_fd: int, info_fd: int) -> list[str]:
        limits = self._limits
        tmpfs_size = str(limits.tmpfs_size_bytes)
        args = [
            *self._as_host_user(),
            str(self._bwrap),
            "--unshare-all",
            # Explicit, so that nested user namespaces can be refused below.
            "--unshare-user",
            "--disable-userns",
            "--hostname", "sandbox",
            # As root, bwrap keeps capabilities unless told to drop them.
            "--cap-drop", "ALL",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--setenv", "PATH", SANDBOX_PATH,
            "--setenv", "HOME", WORKDIR,
            "--setenv", "LANG", "C.UTF-8",
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        args += _system_dir_arguments()
        for path in _ETC_FILES:
            args += ["--ro-bind-try", path, path]
        args += [
            "--proc", "/proc",
            "--dev", "/dev",
            # Paths inside the sandbox: private, size-capped tmpfs, not the host's.
            "--size", tmpfs_size, "--tmpfs", "/dev/shm",  # noqa: S108
            "--size", tmpfs_size, "--tmpfs", "/tmp",  # noqa: S108
            "--size", tmpfs_size, "--tmpfs", WORKDIR,
            "--perms", "0400", "--ro-bind-data", str(key_fd), KEY_PATH,
            "--perms", "0444", "--ro-bind-data", str(code_fd), CODE_PATH,
            # Last: nothing else may be created in the sandbox's root folder.
            "--remount-ro", "/",
            "--chdir", WORKDIR,
            "--info-fd", str(info_fd),
            "--",
            str(self._python), "-I", "-u", "-c", _LAUNCHER,
            str(limits.memory_limit_bytes),
            str(limits.file_size_limit_bytes),
            str(limits.max_processes),
        ]  # fmt: skip
        return args

    async def run(self, code: str, api_key: SecretBytes) -> SandboxResult:
        if self._run_groups is None:
            return await self._run(code, api_key, None)
        try:
            group = self._run_groups.create()
        except OSError as failure:
            log.error("run_cgroup_failed", error=failure.strerror)
            return SandboxResult(RunStatus.ERROR, None, "the sandbox could not start")
        try:
            # Read the group's counters before it goes.
            return _with_group_outcome(await self._run(code, api_key, group), group)
        finally:
            # Shielded: a cancelled run must not leave its group behind.
            await asyncio.shield(asyncio.to_thread(group.remove))

    async def _run(self, code: str, api_key: SecretBytes, group: RunGroup | None) -> SandboxResult:
        key_fd = _pipe_holding(api_key.get_secret_value())
        try:
            code_fd = _pipe_holding(code.encode())
        except BaseException:
            os.close(key_fd)
            raise
        info_read, info_write = os.pipe2(os.O_CLOEXEC)
        try:
            join_group = group.join_command() if group else []
            bwrap = await asyncio.create_subprocess_exec(
                *join_group,
                *self._arguments(key_fd=key_fd, code_fd=code_fd, info_fd=info_write),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(key_fd, code_fd, info_write),
                start_new_session=True,
                env=_BWRAP_ENV,
                cwd="/",
            )
        except OSError as failure:
            os.close(info_read)
            log.error("sandbox_start_failed", error=type(failure).__name__)
            return SandboxResult(RunStatus.ERROR, None, "the sandbox could not start")
        finally:
            # bwrap has its copies now; ours must go so that the pipes see EOF.
            for fd in (key_fd, code_fd, info_write):
                os.close(fd)
        return await self._supervise(_SandboxProcesses(bwrap), info_read, api_key)

    async def _supervise(
        self, processes: _SandboxProcesses, info_fd: int, api_key: SecretBytes
    ) -> SandboxResult:
        bwrap = processes.bwrap
        info_transport, info_reader = await _pipe_reader(info_fd)
        # bwrap writes the sandbox's pid 1 to the info pipe once it exists.
        info = asyncio.create_task(info_reader.read())
        info.add_done_callback(lambda done: _note_sandbox_init(processes, done))
        limit, key = self._limits.output_limit_bytes, api_key.get_secret_value()
        output = asyncio.create_task(_read_capped(bwrap.stdout, bytes_to_read(limit, key)))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(self._limits.timeout_seconds):
                    await bwrap.wait()
            except TimeoutError:
                timed_out = True
                await processes.kill()
            # Every writer of the output pipe is gone with the sandbox: this ends promptly.
            async with asyncio.timeout(_KILL_GRACE_SECONDS):
                raw, more_came = await output
        except BaseException:
            # Cancelled (the service is stopping) or failed: nothing may outlive us.
            await processes.kill()
            output.cancel()
            raise
        finally:
            info.cancel()
            info_transport.close()
            processes.close()
        text = kept_output(raw, more_came=more_came, limit=limit, key=key)
        if timed_out:
            return SandboxResult(RunStatus.TIMED_OUT, None, text)
        code = bwrap.returncode
        status = RunStatus.SUCCEEDED if code == 0 else RunStatus.FAILED
        return SandboxResult(status, code, text)


def _run_groups_from(settings) -> RunGroups | None:
    """Run cgroups as ``executor_cgroups`` asks: "auto" uses them when the machine
    allows, "required" refuses to start without them, "off" never uses them."""
    if settings.executor_cgroups == "off":
        return None
    try:
        return RunGroups.for_limits(
            memory_bytes=settings.executor_memory_limit_bytes,
            max_processes=settings.executor_max_processes,
            v2_parent=settings.executor_cgroup_parent,
        )
    except CgroupsUnavailable as missing:
        if settings.executor_cgroups == "required":
            raise SandboxUnavailable(str(missing)) from None
        log.warning("sandbox_without_cgroups", reason=str(missing))
        return None


def _with_group_outcome(result: SandboxResult, group: RunGroup) -> SandboxResult:
    if result.exit_code == JOIN_FAILED_EXIT_CODE and result.output.strip() == JOIN_FAILED_MESSAGE:
        # The wrapper could not enter the group, so nothing of the agent ran.
        log.error("run_cgroup_join_failed")
        return SandboxResult(RunStatus.ERROR, None, "the sandbox could not start")
    if group.out_of_memory_kills():
        note = "[memory limit reached: the kernel killed a process of this run]"
        return dataclasses.replace(result, output=f"{result.output}\n{note}".lstrip("\n"))
    return result


def _note_sandbox_init(processes: _SandboxProcesses, info: asyncio.Task) -> None:
    if info.cancelled() or info.exception() is not None:
        return
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        pid = json.loads(info.result())["child-pid"]
        if isinstance(pid, int) and pid > 1:
            processes.know_sandbox_init(pid)


def _system_dir_arguments() -> list[str]:
    """Recreate /bin, /lib... as the host has them: links into /usr, or read-only binds."""
    args: list[str] = []
    for name in _SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            target = os.readlink(path)
            if path.resolve().is_relative_to("/usr"):
                args += ["--symlink", target, name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    return args
