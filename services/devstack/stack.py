"""Start the whole platform on one machine and stop it on Ctrl-C.

Order: state folder, development PKI and keys, PostgreSQL, NATS, migrations,
then the services (audit first so it creates the event stream, the gateway
last). Each service is its own process, configured through the environment
exactly as it would be in Kubernetes.
"""

import asyncio
import fcntl
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import structlog

from services.common.settings import PlatformSettings
from services.common.waiting import wait_until
from services.devstack.backing import ensure_database, ensure_nats
from services.devstack.migrate import migrate_all
from services.devstack.pki import ensure_dev_pki
from services.identity.signing import create_signing_key_file
from services.vault.keyring import create_keyring_file

log = structlog.get_logger(__name__)

START_ORDER = ("audit", "identity", "vault", "executor", "gateway")
STOP_GRACE_SECONDS = 10


def _service_environment(state_dir: Path, database_url: str, nats_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AECARO_DATABASE_URL=database_url,
        AECARO_NATS_URL=nats_url,
        AECARO_TLS_DIR=str(state_dir / "pki"),
        AECARO_IDENTITY_SIGNING_KEY_FILE=str(state_dir / "identity" / "signing-key.pem"),
        AECARO_VAULT_KEYRING_FILE=str(state_dir / "vault" / "keyring.json"),
        # gRPC's C core writes plain-text lines to stderr at INFO level (for
        # instance on every fork of a sandbox); keep it to errors, and skip its
        # fork handlers: children exec bwrap at once and never use gRPC.
        GRPC_VERBOSITY=os.environ.get("GRPC_VERBOSITY", "ERROR"),
        GRPC_ENABLE_FORK_SUPPORT="false",
        # Services stop when this launcher dies, even by SIGKILL.
        AECARO_STOP_WITH_PARENT="1",
        AECARO_PARENT_PID=str(os.getpid()),
    )
    # The services need none of these, and a child should not inherit more
    # credentials than it uses.
    for name in ("DATABASE_URL", "NATS_URL"):
        env.pop(name, None)
    return env


async def _gateway_answers(url: str, ca_file: Path) -> bool:
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        async with httpx.AsyncClient(verify=context, timeout=2) as client:
            return (await client.get(f"{url}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


class StartFailed(Exception):
    """The platform could not start; the message says why."""


def _hold_state_lock(state_dir: Path) -> int:
    """Lock the state folder for this launcher; the kernel drops the lock when it
    exits, however it exits. Two launchers on one folder would share its
    database and NATS store."""
    fd = os.open(state_dir / "launcher.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartFailed(
            f"another launcher is running on {state_dir}: stop it first, or set"
            " AECARO_STATE_DIR to another folder"
        ) from None
    return fd


class Stack:
    def __init__(self, state_dir: Path, *, gateway_port: int, nats_port: int):
        self.state_dir = state_dir.resolve()
        self.gateway_url = f"https://localhost:{gateway_port}"
        self.nats_port = nats_port
        self.processes: dict[str, subprocess.Popen] = {}
        # Held while this launcher lives; the kernel releases it when it exits.
        self._state_lock: int | None = None

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._state_lock = _hold_state_lock(self.state_dir)
        pki = ensure_dev_pki(self.state_dir / "pki")
        create_signing_key_file(self.state_dir / "identity" / "signing-key.pem")
        create_keyring_file(self.state_dir / "vault" / "keyring.json")

        database_url = await ensure_database(self.state_dir)
        nats_url, nats_process = await ensure_nats(self.state_dir, self.nats_port)
        if nats_process:
            self.processes["nats-server"] = nats_process
        applied = await migrate_all(database_url)
        log.info("migrations_applied", applied=applied)

        env = _service_environment(self.state_dir, database_url, nats_url)
        settings = PlatformSettings()
        for service in START_ORDER:
            if service == "gateway":
                # The public door opens once every service behind it listens.
                for internal in START_ORDER[:-1]:
                    await wait_until(
                        lambda internal=internal: self._listening(
                            internal, settings.address_of(internal)
                        ),
                        timeout=60,
                        what=f"the {internal} service",
                    )
            self.processes[service] = subprocess.Popen(  # noqa: S603 (fixed module names)
                [sys.executable, "-m", f"services.{service}"], env=env
            )
        await wait_until(
            lambda: self._gateway_ready(pki / "ca.pem"), timeout=60, what="the gateway"
        )

    def _raise_if_any_exited(self) -> None:
        exited = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if exited:
            raise StartFailed(
                f"services exited during start-up (exit codes {exited}); their log lines above"
                " say why"
            )

    async def _listening(self, service: str, address: str) -> bool:
        self._raise_if_any_exited()
        host, _, port = address.rpartition(":")
        try:
            _reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    async def _gateway_ready(self, ca_file: Path) -> bool:
        self._raise_if_any_exited()
        return await _gateway_answers(self.gateway_url, ca_file)

    def first_exited(self) -> str | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        """Stop the services, gateway first, then what backs them: NATS goes last
        so that services still flushing events on their way out can reach it."""
        services = [name for name in reversed(list(self.processes)) if name in START_ORDER]
        backing = [name for name in self.processes if name not in START_ORDER]
        self._terminate(services)
        self._terminate(backing)

    def _terminate(self, names: list[str]) -> None:
        for name in names:
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        for name in names:
            process = self.processes[name]
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("service_killed", name=name)
                process.kill()
                process.wait()
