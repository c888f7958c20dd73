"""Fixtures of the audit tests: scratch schemas, a running audit service, a JetStream client."""

import secrets
import socket
from pathlib import Path

import asyncpg
import nats
import pytest

from services.audit import service
from services.audit.settings import AuditSettings
from services.common.database import apply_migrations, create_pool
from services.common.event_signing import EventVerifier
from services.common.events import AuditEvent, subject_for
from tests.conftest import signed_headers

AUDIT_MIGRATIONS = Path(service.__file__).parent / "migrations"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def scratch_schema(database_url: str, folders: list[Path]):
    """A fresh schema with ``folders`` migrated; returns (name, pool)."""
    name = f"scratch_{secrets.token_hex(4)}"
    await apply_migrations(database_url, name, folders)
    return name, await create_pool(database_url, name, max_size=30)


async def drop_schema(database_url: str, name: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def chain_pool(database_url):
    """A pool on a schema of its own holding fresh, empty audit tables."""
    name, pool = await scratch_schema(database_url, [AUDIT_MIGRATIONS])
    yield pool
    await pool.close()
    await drop_schema(database_url, name)


def derived_settings(platform_settings, tag: str, **changes) -> AuditSettings:
    """Settings with a stream and subject prefix of their own (and a free gRPC port)."""
    values = platform_settings.model_dump()
    values.update(
        audit_stream=f"{platform_settings.audit_stream}_{tag.upper()}",
        audit_subject_prefix=f"{platform_settings.audit_subject_prefix}_{tag}",
        audit_address=f"127.0.0.1:{free_port()}",
    )
    values.update(changes)
    return AuditSettings(**values)


@pytest.fixture(scope="session")
async def nats_client(platform_settings):
    nc = await nats.connect(platform_settings.nats_url)
    yield nc
    await nc.close()


@pytest.fixture(scope="session")
async def js(nats_client):
    return nats_client.jetstream()


@pytest.fixture
def publish(js, pki_dir):
    """Publish an event signed as its own service (or as ``signer``)."""

    async def publish_event(prefix, event, *, msg_id=True, signer=None):
        payload = event.to_json()
        extra = {"Nats-Msg-Id": str(event.event_id)} if msg_id else {}
        headers = signed_headers(pki_dir, signer or event.service, payload, **extra)
        return await js.publish(subject_for(prefix, event), payload, headers=headers)

    return publish_event


@pytest.fixture(scope="session")
def verifier(pki_dir) -> EventVerifier:
    return EventVerifier((pki_dir / "ca.pem").read_bytes())


@pytest.fixture(scope="session")
async def audit_service(platform_settings):
    """The audit service, in this process, on this run's stream and the ``audit`` schema."""
    running = await service.start(platform_settings)
    yield running
    await running.stop()


@pytest.fixture(scope="session")
async def audit_pool(database_url):
    """A separate pool on the ``audit`` schema for the tests' own checks."""
    pool = await create_pool(database_url, "audit")
    yield pool
    await pool.close()


async def stored_count(pool: asyncpg.Pool, event: AuditEvent) -> int:
    return await pool.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event.event_id)
