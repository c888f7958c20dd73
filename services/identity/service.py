"""Starting and stopping the identity service."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from pydantic import Field

from services.common.database import create_pool
from services.common.event_signing import EventSigner
from services.common.mtls import ServiceCredentials
from services.common.outbox import OutboxRelay
from services.common.runtime import start_grpc_server
from services.common.settings import PlatformSettings
from services.contracts import identity_pb2_grpc
from services.identity.accounts import Accounts
from services.identity.grpc_api import IdentityServicer
from services.identity.passwords import PasswordHasher
from services.identity.signing import SigningKey


class IdentitySettings(PlatformSettings):
    identity_signing_key_file: Path = Path(".state/identity/signing-key.pem")
    # Password hashes and checks computed at once; each takes 64 MiB, so this
    # bounds the memory of a burst of log-ins (the pod's limit is 512 MiB);
    # env AECARO_IDENTITY_MAX_CONCURRENT_HASHES.
    identity_max_concurrent_hashes: int = Field(default=2, ge=1, le=64)


@dataclass
class RunningIdentity:
    pool: asyncpg.Pool
    relay: OutboxRelay
    server: grpc.aio.Server
    hash_pool: ThreadPoolExecutor

    async def stop(self) -> None:
        await self.server.stop(grace=5)
        # Not waiting: a hash still running belongs to a call that is gone.
        self.hash_pool.shutdown(wait=False, cancel_futures=True)
        await self.relay.stop()
        await self.pool.close()


async def start(settings: IdentitySettings) -> RunningIdentity:
    credentials = ServiceCredentials.load(settings.tls_dir, "identity")
    signing_key = SigningKey.load(settings.identity_signing_key_file)
    pool = await create_pool(settings.database_url, "identity")
    relay = OutboxRelay(pool, settings.nats_url, signer=EventSigner(credentials))
    await relay.start()
    hash_pool = ThreadPoolExecutor(
        max_workers=settings.identity_max_concurrent_hashes, thread_name_prefix="password-hash"
    )
    accounts = Accounts(
        pool=pool,
        hasher=PasswordHasher(),
        signing_key=signing_key,
        relay=relay,
        subject_prefix=settings.audit_subject_prefix,
        hash_pool=hash_pool,
    )
    server = await start_grpc_server(
        identity_pb2_grpc.add_IdentityServicer_to_server,
        IdentityServicer(accounts, signing_key),
        address=settings.identity_address,
        credentials=credentials,
    )
    return RunningIdentity(pool=pool, relay=relay, server=server, hash_pool=hash_pool)
