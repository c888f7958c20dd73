"""The bubblewrap sandbox, with real bwrap: what the agent can and cannot reach.

Each agent below reports what it observed on stdout; the tests assert on it.
Most run twice (see the ``sandbox`` fixture): bwrap as an unprivileged host user,
and bwrap as the executor's own user (root).
"""

import asyncio
import hashlib
import json
import os
import secrets
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretBytes

from services.common.waiting import wait_until
from services.executor.output import KEY_REDACTED, TRUNCATED_NOTE
from services.executor.sandbox import (
    KEY_PATH,
    BubblewrapSandbox,
    RunStatus,
    SandboxLimits,
    SandboxUnavailable,
)
from services.executor.settings import ExecutorSettings
from tests.executor.conftest import OUTPUT_LIMIT, UNPRIVILEGED_HOST_USER, sandbox_with

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# Starts up to 100 processes and reports how many it got before being refused.
SPAWN_SLEEPERS = """
import json, subprocess
children = []
try:
    for _ in range(100):
        children.append(subprocess.Popen(["/usr/bin/sleep", "600"]))
    refused = None
except OSError as failure:
    refused = failure.errno
print(json.dumps({"spawned": len(children), "refused": refused}))
"""


def a_key() -> bytes:
    return f"sk-test-{secrets.token_urlsafe(24)}".encode()


async def run_agent(sandbox, code: str, key: bytes = b"sk-unused"):
    return await sandbox.run(textwrap.dedent(code), SecretBytes(key))


def report_of(result) -> dict:
    """The JSON object an agent printed as its last line."""
    assert result.status == RunStatus.SUCCEEDED, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def host_processes_whose(part: str, contains: bytes) -> list[int]:
    """Host pids whose /proc/<pid>/<part> (cmdline or environ) contains ``contains``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if contains in (entry / part).read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or a kernel thread
    return found


async def test_agent_reads_the_key_from_its_file(sandbox):
    key = a_key()
    result = await run_agent(
        sandbox,
        f"""
        import hashlib
        with open({KEY_PATH!r}, "rb") as key_file:
            print(hashlib.sha256(key_file.read()).hexdigest())
        """,
        key,
    )
    assert result.status == RunStatus.SUCCEEDED
    assert result.exit_code == 0
    assert result.output.strip() == hashlib.sha256(key).hexdigest()


async def test_key_file_is_read_only(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            f"""
            import json
            try:
                open({KEY_PATH!r}, "ab").write(b"x")
                outcome = "written"
            except OSError as refused:
                outcome = type(refused).__name__
            print(json.dumps({{"outcome": outcome}}))
            """,
            a_key(),
        )
    )
    assert report["outcome"] in ("PermissionError", "OSError")


async def test_key_is_not_in_the_agents_environment(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            f"""
            import json, os
            key = open({KEY_PATH!r}, "rb").read()
            environ = open("/proc/self/environ", "rb").read()
            print(json.dumps({{
                "key_in_environ": key in environ,
                "names": sorted(os.environ),
            }}))
            """,
            a_key(),
        )
    )
    assert report["key_in_environ"] is False
    # --clearenv: only what the sandbox sets (bwrap adds PWD).
    assert set(report["names"]) <= {"PATH", "HOME", "LANG", "PWD"}


async def test_key_is_on_no_command_line_inside_the_sandbox(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            f"""
            import json, os
            key = open({KEY_PATH!r}, "rb").read()
            command_lines = [
                open(f"/proc/{{pid}}/cmdline", "rb").read()
                for pid in os.listdir("/proc") if pid.isdigit()
            ]
            print(json.dumps({{
                "processes": len(command_lines),
                "key_on_a_command_line": any(key in line for line in command_lines),
            }}))
            """,
            a_key(),
        )
    )
    # bwrap's pid 1 and the agent at least.
    assert report["processes"] >= 2
    assert report["key_on_a_command_line"] is False


async def test_key_is_in_no_host_process_and_cancelling_kills_the_sandbox(sandbox):
    key = a_key()
    marker = f"agent-marker-{secrets.token_hex(8)}"
    run = asyncio.create_task(
        run_agent(
            sandbox,
            f"""
            import subprocess, time
            key = open({KEY_PATH!r}, "rb").read()
            subprocess.Popen([{marker!r}, "600"], executable="/usr/bin/sleep")
            time.sleep(600)
            """,
            key,
        )
    )

    async def agent_running():
        return host_processes_whose("cmdline", marker.encode())

    await wait_until(agent_running, timeout=20, what="the agent's child process")
    assert host_processes_whose("cmdline", key) == []
    assert host_processes_whose("environ", key) == []

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert host_processes_whose("cmdline", marker.encode()) == []


async def test_no_network(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            """
            import json, socket

            def attempt(host, port):
                try:
                    socket.create_connection((host, port), timeout=3).close()
                    return "connected"
                except OSError as failed:
                    return failed.errno

            print(json.dumps({
                "interfaces": [name for _, name in socket.if_nameindex()],
                "postgres": attempt("127.0.0.1", 5432),
                "nats": attempt("127.0.0.1", 4222),
                "metadata": attempt("169.254.169.254", 80),
                "internet": attempt("1.1.1.1", 443),
            }))
            """,
        )
    )
    # A network namespace of its own: its loopback at most, nothing of the host's.
    assert set(report["interfaces"]) <= {"lo"}
    # The host's PostgreSQL and NATS listen on the host's loopback, not this one.
    assert report["postgres"] == 111  # ECONNREFUSED
    assert report["nats"] == 111
    # No route anywhere else.
    assert report["metadata"] == 101  # ENETUNREACH
    assert report["internet"] == 101


async def test_no_capabilities(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            """
            import json
            status = open("/proc/self/status").read().splitlines()
            fields = dict(line.split(":\\t") for line in status if line.startswith("Cap"))
            print(json.dumps({name: int(value, 16) for name, value in fields.items()}))
            """,
        )
    )
    assert report == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0}


async def test_host_folders_are_not_visible(sandbox):
    host_paths = sorted(
        {
            "/work",
            "/root",
            "/home",
            "/var",
            "/opt",
            "/srv",
            "/mnt",
            "/sys",
            str(PROJECT_ROOT),
            sys.prefix,  # the project's virtualenv
            sys.base_prefix,  # the interpreter the virtualenv was made from
        }
    )
    report = report_of(
        await run_agent(
            sandbox,
            f"""
            import json, os
            print(json.dumps({{
                "visible": [path for path in {host_paths!r} if os.path.exists(path)],
                "root": sorted(os.listdir("/")),
                "etc": sorted(os.listdir("/etc")),
            }}))
            """,
        )
    )
    assert report["visible"] == []
    assert set(report["root"]) <= {
        "bin", "sbin", "lib", "lib32", "lib64", "libx32",
        "usr", "etc", "proc", "dev", "tmp", "run", "workspace",
    }  # fmt: skip
    assert report["etc"] == ["ld.so.cache"]


async def test_usr_and_root_are_read_only(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            """
            import json, os

            def write(path):
                try:
                    with open(path, "w") as target:
                        target.write("x")
                    return "written"
                except OSError as refused:
                    return refused.errno

            print(json.dumps({
                "usr_write": write("/usr/lib/agent-was-here"),
                "usr_read_only_mount": bool(os.statvfs("/usr").f_flag & os.ST_RDONLY),
                "root_write": write("/agent-was-here"),
                "etc_write": write("/etc/agent-was-here"),
            }))
            """,
        )
    )
    assert report["usr_write"] in (13, 30)  # EACCES or EROFS
    assert report["usr_read_only_mount"] is True
    assert report["root_write"] in (13, 30)
    assert report["etc_write"] in (13, 30)
    assert not Path("/usr/lib/agent-was-here").exists()


async def test_tmp_and_working_directory_are_private_empty_and_writable(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            """
            import json, os
            before = {"tmp": os.listdir("/tmp"), "cwd": os.listdir(".")}
            for path in ("/tmp/scratch", "notes.txt"):
                with open(path, "w") as target:
                    target.write("written inside")
            print(json.dumps({
                "before": before,
                "cwd": os.getcwd(),
                "read_back": [open(p).read() for p in ("/tmp/scratch", "notes.txt")],
            }))
            """,
        )
    )
    assert report["before"] == {"tmp": [], "cwd": []}
    assert report["cwd"] == "/workspace"
    assert report["read_back"] == ["written inside", "written inside"]
    # The sandbox's /tmp is not the host's.
    assert not (Path(tempfile.gettempdir()) / "scratch").exists()


async def test_agent_runs_the_system_python_not_the_virtualenv(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            """
            import json, sys
            print(json.dumps({
                "executable": sys.executable,
                "prefix": sys.prefix,
                "base_prefix": sys.base_prefix,
                "path": sys.path,
            }))
            """,
        )
    )
    assert report["executable"] == "/usr/bin/python3"
    assert report["prefix"] == report["base_prefix"] == "/usr"
    assert sys.prefix != "/usr"  # the tests themselves do run in the virtualenv
    assert not any(entry.startswith(sys.prefix) for entry in report["path"])


async def test_rlimits_are_set(sandbox):
    report = report_of(
        await run_agent(
            sandbox,
            """
            import json, resource
            print(json.dumps({
                name: resource.getrlimit(getattr(resource, name))
                for name in ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE")
            }))
            """,
        )
    )
    defaults = ExecutorSettings()
    assert report["RLIMIT_AS"] == [defaults.executor_memory_limit_bytes] * 2
    assert report["RLIMIT_FSIZE"] == [defaults.executor_file_size_limit_bytes] * 2
    assert report["RLIMIT_NPROC"] == [defaults.executor_max_processes] * 2
    # 1, not 0: the kernel pipes no core to a core_pattern helper at exactly 1.
    assert report["RLIMIT_CORE"] == [1, 1]


async def test_memory_beyond_the_limit_is_refused(sandbox):
    limit = ExecutorSettings().executor_memory_limit_bytes
    result = await run_agent(sandbox, f"bytearray({limit * 2})")
    assert result.status == RunStatus.FAILED
    assert result.exit_code == 1
    assert "MemoryError" in result.output


async def test_non_zero_exit_is_a_failure_with_its_code(sandbox):
    result = await run_agent(sandbox, "import sys\nprint('giving up')\nsys.exit(7)")
    assert result.status == RunStatus.FAILED
    assert result.exit_code == 7
    assert result.output == "giving up\n"


async def test_exception_is_a_failure_with_its_traceback(sandbox):
    result = await run_agent(sandbox, "raise RuntimeError('agent broke')")
    assert result.status == RunStatus.FAILED
    assert result.exit_code == 1
    assert "RuntimeError: agent broke" in result.output


async def test_stdout_and_stderr_are_combined(sandbox):
    result = await run_agent(
        sandbox, "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)"
    )
    assert result.status == RunStatus.SUCCEEDED
    assert result.output == "to stdout\nto stderr\n"


async def test_output_is_truncated_to_the_limit(sandbox):
    result = await run_agent(sandbox, f"print('x' * {OUTPUT_LIMIT * 3})")
    assert result.status == RunStatus.SUCCEEDED
    kept, marker = result.output[:OUTPUT_LIMIT], result.output[OUTPUT_LIMIT:]
    assert kept == "x" * OUTPUT_LIMIT
    assert marker == "\n[output truncated]"


async def test_a_key_the_output_limit_cuts_through_is_redacted(sandbox):
    key = a_key()
    # All of the key but its last character before the limit: cut first and
    # redacted after, the stored output would keep everything the public last
    # four characters do not already give away.
    padding = OUTPUT_LIMIT - len(key) + 1
    result = await run_agent(
        sandbox,
        f"""
        import sys
        key = open({KEY_PATH!r}, "rb").read()
        sys.stdout.buffer.write(b"x" * {padding} + key + b"\\nmore output\\n")
        """,
        key,
    )
    assert result.status == RunStatus.SUCCEEDED
    assert result.output == "x" * padding + KEY_REDACTED + TRUNCATED_NOTE


async def test_nul_characters_in_output_are_replaced(sandbox):
    result = await run_agent(sandbox, "print('a\\x00b')")
    assert result.output == "a\ufffdb\n"


@pytest.mark.parametrize("host_user", [UNPRIVILEGED_HOST_USER, None])
async def test_timeout_kills_every_process_of_the_sandbox(host_user):
    sandbox = sandbox_with(ExecutorSettings(executor_run_timeout_seconds=1), host_user)
    marker = f"agent-marker-{secrets.token_hex(8)}"
    result = await run_agent(
        sandbox,
        f"""
        import os, subprocess, time
        # A child in a session of its own, so that only the pid namespace holds it.
        subprocess.Popen([{marker!r}, "600"], executable="/usr/bin/sleep",
                         start_new_session=True)
        print("started")
        time.sleep(600)
        """,
    )
    assert result.status == RunStatus.TIMED_OUT
    assert result.exit_code is None
    assert result.output == "started\n"
    assert host_processes_whose("cmdline", marker.encode()) == []


def test_python_outside_usr_is_refused():
    with pytest.raises(SandboxUnavailable):
        BubblewrapSandbox(
            bwrap_path=Path("/usr/bin/bwrap"),
            python_path=Path(sys.executable),  # the virtualenv's
            limits=SandboxLimits.from_settings(ExecutorSettings()),
        )


def test_missing_bwrap_is_refused(tmp_path):
    with pytest.raises(SandboxUnavailable):
        BubblewrapSandbox(
            bwrap_path=tmp_path / "bwrap",
            python_path=Path("/usr/bin/python3"),
            limits=SandboxLimits.from_settings(ExecutorSettings()),
        )


async def test_agent_runs_as_an_unprivileged_host_user_when_the_executor_is_root():
    sandbox = BubblewrapSandbox.from_settings(ExecutorSettings())
    marker = f"agent-marker-{secrets.token_hex(8)}"
    run = asyncio.create_task(
        run_agent(sandbox, f"import os\nos.execv('/usr/bin/sleep', [{marker!r}, '600'])")
    )

    async def agent_pids():
        return host_processes_whose("cmdline", marker.encode())

    [pid] = await wait_until(agent_pids, timeout=20, what="the agent process")
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    # Real, effective, saved and filesystem uid, as the host sees them.
    host_uids = {
        int(uid) for uid in next(line for line in status if line.startswith("Uid:")).split()[1:]
    }
    expected = UNPRIVILEGED_HOST_USER[0] if os.geteuid() == 0 else os.geteuid()
    assert host_uids == {expected}


async def test_process_limit_binds_for_the_unprivileged_host_user():
    settings = ExecutorSettings(executor_max_processes=16)
    sandbox = sandbox_with(settings, UNPRIVILEGED_HOST_USER)
    report = report_of(
        await run_agent(
            sandbox,
            SPAWN_SLEEPERS,
        )
    )
    assert report["refused"] == 11  # EAGAIN
    assert report["spawned"] < 16
