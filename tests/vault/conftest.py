"""A vault started in-process for this package's tests, and clients for it.

The vault's relay is pointed at a port where no NATS listens, so every audit
event it writes stays in the outbox for the tests to read: the case the
outbox exists for. test_audit_events.py checks publishing with the real NATS.
"""

import pytest

from services.common.database import create_pool
from services.common.mtls import ServiceCredentials
from services.contracts import vault_pb2_grpc
from services.vault.keyring import create_keyring_file
from services.vault.service import start
from services.vault.settings import VaultSettings
from tests.conftest import free_port


def vault_settings_for(platform_settings, keyring_file, **overrides) -> VaultSettings:
    values = {**platform_settings.model_dump(), "vault_keyring_file": keyring_file, **overrides}
    return VaultSettings(**values)


@pytest.fixture(scope="package")
def keyring_file(tmp_path_factory):
    return create_keyring_file(tmp_path_factory.mktemp("vault") / "keyring.json")


@pytest.fixture(scope="package")
async def vault(platform_settings, keyring_file):
    settings = vault_settings_for(
        platform_settings, keyring_file, nats_url=f"nats://127.0.0.1:{free_port()}"
    )
    running = await start(settings)
    yield running
    await running.stop()


def _stub_as(caller: str, vault_running, pki_dir):
    credentials = ServiceCredentials.load(pki_dir, caller)
    channel = credentials.channel_to(vault_running.settings.vault_address, "vault")
    return channel, vault_pb2_grpc.VaultStub(channel)


@pytest.fixture(scope="package")
async def gateway(vault, pki_dir):
    """The Vault API as the gateway calls it."""
    channel, stub = _stub_as("gateway", vault, pki_dir)
    yield stub
    await channel.close()


@pytest.fixture(scope="package")
async def executor(vault, pki_dir):
    """The Vault API as the executor calls it."""
    channel, stub = _stub_as("executor", vault, pki_dir)
    yield stub
    await channel.close()


@pytest.fixture(scope="package")
async def vault_db(database_url):
    """A pool on the vault's schema, to look at what the service stored."""
    pool = await create_pool(database_url, "vault")
    yield pool
    await pool.close()
