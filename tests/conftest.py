"""Fixtures shared by the whole suite.

Tests talk to the real PostgreSQL and NATS servers of the machine
(127.0.0.1:5432 and 127.0.0.1:4222 unless AECARO_TEST_DATABASE_ADMIN_URL /
AECARO_TEST_NATS_URL say otherwise). Each test run gets its own database and
its own JetStream stream and subject prefix, and removes them when it ends.
"""

import os
import random
import secrets
import socket
from pathlib import Path

import asyncpg
import nats
import pytest

from services.common.event_signing import EventSigner
from services.common.mtls import ServiceCredentials
from services.common.settings import PlatformSettings
from services.devstack.migrate import migrate_all
from services.devstack.pki import ensure_dev_pki

ADMIN_URL = os.environ.get(
    "AECARO_TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NATS_URL = os.environ.get("AECARO_TEST_NATS_URL", "nats://127.0.0.1:4222")


def signed_headers(tls_dir: Path, service: str, payload: bytes, **extra: str) -> dict[str, str]:
    """NATS headers for ``payload`` as ``service`` signs audit events."""
    signer = EventSigner(ServiceCredentials.load(tls_dir, service))
    return {**extra, **signer.headers_for(payload)}


def _ephemeral_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port free now, for a server a test is about to start.

    Taken below the kernel's ephemeral range: a port from that range (what
    binding to port 0 gives) can be handed to any outgoing connection, to
    PostgreSQL or NATS say, between this check and the server's bind.
    """
    low, _high = _ephemeral_port_range()
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


@pytest.fixture(scope="session")
def run_id() -> str:
    """A short random tag that names this run's database and stream."""
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory) -> Path:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


async def create_database(name: str) -> str:
    """Create an empty database on the test server; returns its URL."""
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def delete_stream(stream: str, nats_url: str = NATS_URL) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture(scope="session")
async def database_url(run_id):
    name = f"aecaro_test_{run_id}"
    url = await create_database(name)
    await migrate_all(url)
    yield url
    await drop_database(name)


@pytest.fixture(scope="session")
async def audit_stream(run_id):
    """(stream name, subject prefix) of this run; the stream is deleted afterwards."""
    stream, prefix = f"AUDIT_TEST_{run_id}", f"audit_test_{run_id}"
    yield stream, prefix
    await delete_stream(stream)


@pytest.fixture(scope="session")
def platform_settings(database_url, audit_stream, pki_dir) -> PlatformSettings:
    stream, prefix = audit_stream
    return PlatformSettings(
        database_url=database_url,
        nats_url=NATS_URL,
        audit_stream=stream,
        audit_subject_prefix=prefix,
        tls_dir=pki_dir,
        identity_address=f"127.0.0.1:{free_port()}",
        vault_address=f"127.0.0.1:{free_port()}",
        executor_address=f"127.0.0.1:{free_port()}",
        audit_address=f"127.0.0.1:{free_port()}",
    )
