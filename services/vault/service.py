"""Starting and stopping the vault: keyring, database pool, outbox relay, gRPC server."""

from dataclasses import dataclass

import asyncpg
import grpc
import structlog

from services.common.database import create_pool
from services.common.event_signing import EventSigner
from services.common.mtls import ServiceCredentials
from services.common.outbox import OutboxRelay
from services.common.runtime import start_grpc_server
from services.contracts import vault_pb2_grpc
from services.vault.grpc_api import VaultServicer
from services.vault.keyring import load_keyring
from services.vault.keys import KeyService
from services.vault.settings import VaultSettings

log = structlog.get_logger(__name__)

_STOP_GRACE_SECONDS = 5


@dataclass
class RunningVault:
    settings: VaultSettings
    pool: asyncpg.Pool
    relay: OutboxRelay
    server: grpc.aio.Server

    async def stop(self) -> None:
        await self.server.stop(_STOP_GRACE_SECONDS)
        await self.relay.stop()
        await self.pool.close()
        log.info("vault_stopped")


async def start(settings: VaultSettings) -> RunningVault:
    """Serve the Vault API on ``settings.vault_address`` over mutual TLS.

    The keyring must already exist (``create_keyring_file`` makes one for
    development): creating a fresh one here would silently strand every
    secret sealed under the old one.
    """
    keyring = load_keyring(settings.vault_keyring_file)
    credentials = ServiceCredentials.load(settings.tls_dir, "vault")
    pool = await create_pool(settings.database_url, "vault")
    relay = OutboxRelay(pool, settings.nats_url, signer=EventSigner(credentials))
    try:
        await relay.start()
        keys = KeyService(
            pool,
            keyring,
            subject_prefix=settings.audit_subject_prefix,
            events_committed=relay.wake,
            max_keys_per_owner=settings.vault_max_keys_per_owner,
        )
        server = await start_grpc_server(
            vault_pb2_grpc.add_VaultServicer_to_server,
            VaultServicer(keys),
            address=settings.vault_address,
            credentials=credentials,
        )
    except BaseException:
        await relay.stop()
        await pool.close()
        raise
    log.info("vault_started", kek_versions=list(keyring.versions), active=keyring.active_version)
    return RunningVault(settings=settings, pool=pool, relay=relay, server=server)
