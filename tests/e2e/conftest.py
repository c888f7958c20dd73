"""The whole platform, started the way `make run` starts it, for end-to-end tests.

The launcher (`python -m services.devstack`) runs as a subprocess with its own
state folder, its own database and stream on the machine's PostgreSQL and
NATS, and free ports. Everything every process prints goes to one log file,
which the leak tests read line by line.
"""

import os
import signal
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from services.common.waiting import wait_until
from tests.conftest import NATS_URL, create_database, delete_stream, drop_database, free_port


@dataclass
class RunningPlatform:
    url: str
    ca_file: Path
    log_file: Path
    process: subprocess.Popen
    # Every response body the tests saw with a 4xx/5xx status, for leak scans.
    error_bodies: list[str] = field(default_factory=list)

    def client(self, token: str | None = None, *, from_address: str | None = None):
        """An HTTPS client of the gateway; ``from_address`` (a loopback address
        such as 127.0.0.2) makes it another client address in the gateway's eyes."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify = ssl.create_default_context(cafile=str(self.ca_file))
        transport = None
        if from_address is not None:
            transport = httpx.AsyncHTTPTransport(verify=verify, local_address=from_address)

        async def remember_errors(response: httpx.Response):
            if response.status_code >= 400:
                await response.aread()
                self.error_bodies.append(response.text)

        return httpx.AsyncClient(
            base_url=self.url,
            verify=verify,
            transport=transport,
            headers=headers,
            timeout=30,
            event_hooks={"response": [remember_errors]},
        )

    def log_lines(self) -> list[str]:
        return self.log_file.read_text(errors="replace").splitlines()

    def span_lines(self) -> list[str]:
        """Every finished trace span of every service, one JSON document a line."""
        return [
            line
            for path in sorted((self.log_file.parent / "traces").glob("*.jsonl"))
            for line in path.read_text(errors="replace").splitlines()
        ]


async def launch_platform(
    state_dir: Path, *, database_url: str, stream: str, prefix: str, own_nats: bool = False
) -> RunningPlatform:
    """Start `python -m services.devstack` and wait until it says it is up.

    With ``own_nats`` the launcher starts its own nats-server, as `make run`
    does on a machine without NATS, instead of using the machine's."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "platform.log"
    gateway_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": NATS_URL,
        "AECARO_STATE_DIR": str(state_dir),
        "AECARO_GATEWAY_PORT": str(gateway_port),
        "AECARO_AUDIT_STREAM": stream,
        "AECARO_AUDIT_SUBJECT_PREFIX": prefix,
        "AECARO_IDENTITY_ADDRESS": f"127.0.0.1:{free_port()}",
        "AECARO_VAULT_ADDRESS": f"127.0.0.1:{free_port()}",
        "AECARO_EXECUTOR_ADDRESS": f"127.0.0.1:{free_port()}",
        "AECARO_AUDIT_ADDRESS": f"127.0.0.1:{free_port()}",
        "AECARO_EXECUTOR_RUN_TIMEOUT_SECONDS": "20",
        "AECARO_TRACE_DIR": str(state_dir / "traces"),
        # Every test client comes from 127.0.0.1: only the per-account limit
        # is left at its real value.
        "AECARO_GATEWAY_RATE_LIMIT_PER_CLIENT": "100000/minute",
    }
    if own_nats:
        del env["NATS_URL"]
        env["AECARO_DEV_NATS_PORT"] = str(free_port())
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.devstack"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    starts_before = log_file.read_text(errors="replace").count("AECARO is up")

    async def launcher_is_up():
        if process.poll() is not None:
            raise RuntimeError(f"launcher exited:\n{log_file.read_text()[-4000:]}")
        return log_file.read_text(errors="replace").count("AECARO is up") > starts_before

    platform = RunningPlatform(
        url=f"https://localhost:{gateway_port}",
        ca_file=state_dir / "pki" / "ca.pem",
        log_file=log_file,
        process=process,
    )
    try:
        await wait_until(launcher_is_up, timeout=120, what="the platform to start")
    except BaseException:
        stop_platform(platform)
        raise
    return platform


def stop_platform(platform: RunningPlatform) -> int:
    """Ctrl-C the launcher, as a user would; returns its exit code."""
    process = platform.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


@pytest.fixture(scope="session")
async def running_platform(run_id, tmp_path_factory):
    database = f"aecaro_e2e_{run_id}"
    stream = f"AUDIT_E2E_{run_id}"
    database_url = await create_database(database)
    try:
        platform = await launch_platform(
            tmp_path_factory.mktemp("state"),
            database_url=database_url,
            stream=stream,
            prefix=f"audit_e2e_{run_id}",
        )
        try:
            yield platform
        finally:
            stop_platform(platform)
    finally:
        await drop_database(database)
        await delete_stream(stream)
