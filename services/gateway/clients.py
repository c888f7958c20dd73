"""The gateway's gRPC stubs to the internal services, and how their errors
become public API errors."""

import contextlib
from dataclasses import dataclass

import grpc
import structlog

from services.common.mtls import ServiceCredentials
from services.common.settings import PlatformSettings
from services.contracts import (
    audit_pb2_grpc,
    executor_pb2_grpc,
    identity_pb2_grpc,
    vault_pb2_grpc,
)
from services.gateway.errors import ApiError

log = structlog.get_logger(__name__)

# Deadline for one internal call; a run's work happens in the background, so
# no public request waits longer than this on a service.
CALL_TIMEOUT_SECONDS = 10.0


@dataclass
class InternalClients:
    identity: identity_pb2_grpc.IdentityStub
    vault: vault_pb2_grpc.VaultStub
    executor: executor_pb2_grpc.ExecutorStub
    audit: audit_pb2_grpc.AuditStub
    channels: list[grpc.aio.Channel]

    @classmethod
    def connect(cls, settings: PlatformSettings) -> "InternalClients":
        credentials = ServiceCredentials.load(settings.tls_dir, "gateway")
        channels = {
            name: credentials.channel_to(settings.address_of(name), name)
            for name in ("identity", "vault", "executor", "audit")
        }
        return cls(
            identity=identity_pb2_grpc.IdentityStub(channels["identity"]),
            vault=vault_pb2_grpc.VaultStub(channels["vault"]),
            executor=executor_pb2_grpc.ExecutorStub(channels["executor"]),
            audit=audit_pb2_grpc.AuditStub(channels["audit"]),
            channels=list(channels.values()),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


# gRPC status -> (HTTP status, error code). The internal services phrase their
# details for the caller and never include submitted values.
_CALLER_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: (422, "invalid_request"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "too_many_requests"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "conflict"),
}


@contextlib.asynccontextmanager
async def translated_errors(service: str):
    """Turn a failed internal call into the matching ApiError."""
    try:
        yield
    except grpc.aio.AioRpcError as failed:
        code = failed.code()
        if code in _CALLER_ERRORS:
            status, error_code = _CALLER_ERRORS[code]
            raise ApiError(status, error_code, failed.details() or error_code) from None
        # Our own fault or an outage: log it here, tell the caller little.
        log.warning("internal_call_failed", service=service, grpc_code=code.name)
        # "or one it relies on": the executor, say, answers UNAVAILABLE when the
        # vault is away, and the details (which may name internal addresses)
        # are not passed on to tell which.
        raise ApiError(
            503,
            "service_unavailable",
            f"the {service} service, or one it relies on, is unavailable",
        ) from None
