"""Starting and stopping the identity service."""

from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc

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


@dataclass
class RunningIdentity:
    pool: asyncpg.Pool
    relay: OutboxRelay
    server: grpc.aio.Server

    async def stop(self) -> None:
        await self.server.stop(grace=5)
        await self.relay.stop()
        await self.pool.close()


async def start(settings: IdentitySettings) -> RunningIdentity:
    credentials = ServiceCredentials.load(settings.tls_dir, "identity")
    signing_key = SigningKey.load(settings.identity_signing_key_file)
    pool = await create_pool(settings.database_url, "identity")
    relay = OutboxRelay(pool, settings.nats_url, signer=EventSigner(credentials))
    await relay.start()
    accounts = Accounts(
        pool=pool,
        hasher=PasswordHasher(),
        signing_key=signing_key,
        relay=relay,
        subject_prefix=settings.audit_subject_prefix,
    )
    server = await start_grpc_server(
        identity_pb2_grpc.add_IdentityServicer_to_server,
        IdentityServicer(accounts, signing_key),
        address=settings.identity_address,
        credentials=credentials,
    )
    return RunningIdentity(pool=pool, relay=relay, server=server)
