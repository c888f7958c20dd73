"""Starting and stopping the audit service: pool, JetStream consumer, gRPC server."""

from dataclasses import dataclass

import asyncpg
import grpc
import structlog

from services.audit.consumer import AuditConsumer
from services.audit.grpc_api import AuditServicer
from services.audit.settings import AuditSettings
from services.common.database import create_pool
from services.common.event_signing import EventVerifier
from services.common.mtls import ServiceCredentials
from services.common.runtime import start_grpc_server
from services.common.settings import PlatformSettings
from services.contracts import audit_pb2_grpc

log = structlog.get_logger(__name__)

SCHEMA = "audit"
# Seconds in-flight RPCs get to finish on stop.
_GRPC_GRACE = 5


@dataclass
class RunningAudit:
    settings: AuditSettings
    pool: asyncpg.Pool
    consumer: AuditConsumer
    server: grpc.aio.Server

    async def stop(self) -> None:
        # Stop taking requests first, then events, and close the pool they share last.
        await self.server.stop(_GRPC_GRACE)
        await self.consumer.stop()
        await self.pool.close()
        log.info("audit_stopped")


async def start(settings: PlatformSettings) -> RunningAudit:
    """Start the audit service; plain platform settings get the audit defaults."""
    settings = AuditSettings.from_platform(settings)
    credentials = ServiceCredentials.load(settings.tls_dir, "audit")
    pool = await create_pool(settings.database_url, SCHEMA)
    consumer = AuditConsumer(pool, settings, verifier=EventVerifier(credentials.ca_pem))
    try:
        await consumer.start()
        try:
            server = await start_grpc_server(
                audit_pb2_grpc.add_AuditServicer_to_server,
                AuditServicer(pool),
                address=settings.audit_address,
                credentials=credentials,
            )
        except BaseException:
            await consumer.stop()
            raise
    except BaseException:
        await pool.close()
        raise
    log.info("audit_started")
    return RunningAudit(settings=settings, pool=pool, consumer=consumer, server=server)
