"""The Vault gRPC API: who may call what, and domain errors as status codes.

The gateway stores, lists and shows keys; only the executor decrypts. The
caller is the common name of its verified client certificate (mutual TLS).
"""

import functools
from datetime import UTC

import grpc
import structlog

from services.common.mtls import allow_callers, caller_of
from services.contracts import vault_pb2, vault_pb2_grpc
from services.vault.envelope import KekVersionUnavailable, SealedSecretError
from services.vault.keys import KeyNotFound, KeyService, TooManyKeys
from services.vault.storage import KeyRecord
from services.vault.validation import InvalidInput

log = structlog.get_logger(__name__)


def _metadata(record: KeyRecord) -> vault_pb2.KeyMetadata:
    return vault_pb2.KeyMetadata(
        key_id=str(record.key_id),
        owner_id=record.owner_id,
        provider=record.provider,
        label=record.label,
        last_four=record.last_four,
        kek_version=record.kek_version,
        created_at=record.created_at.astimezone(UTC).isoformat(),
    )


def _domain_errors_as_status(method):
    """Answer domain errors with a status code and a message that echoes no input."""

    @functools.wraps(method)
    async def translated(self, request, context):
        try:
            return await method(self, request, context)
        except InvalidInput as invalid:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(invalid))
        except KeyNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, "key not found")
        except TooManyKeys as full:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(full))
        except KekVersionUnavailable as missing:
            log.error("kek_version_unavailable", kek_version=missing.version)
            await context.abort(grpc.StatusCode.INTERNAL, "key cannot be opened")
        except SealedSecretError:
            # Tampered row or wrong KEK: worth an operator's attention.
            log.error("sealed_secret_unopenable", method=method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "key cannot be opened")

    return translated


class VaultServicer(vault_pb2_grpc.VaultServicer):
    def __init__(self, keys: KeyService):
        self._keys = keys

    @allow_callers("gateway")
    @_domain_errors_as_status
    async def StoreKey(self, request, context):  # noqa: N802 (generated name)
        record = await self._keys.store(
            owner_id=request.owner_id,
            provider=request.provider,
            label=request.label,
            secret=request.secret,
        )
        return _metadata(record)

    @allow_callers("gateway")
    @_domain_errors_as_status
    async def ListKeys(self, request, context):  # noqa: N802
        records = await self._keys.list(owner_id=request.owner_id)
        return vault_pb2.ListKeysResponse(keys=[_metadata(record) for record in records])

    @allow_callers("gateway")
    @_domain_errors_as_status
    async def GetKey(self, request, context):  # noqa: N802
        record = await self._keys.get(owner_id=request.owner_id, key_id=request.key_id)
        return _metadata(record)

    @allow_callers("executor")
    @_domain_errors_as_status
    async def DecryptKey(self, request, context):  # noqa: N802
        plaintext = await self._keys.decrypt(
            owner_id=request.owner_id,
            key_id=request.key_id,
            run_id=request.run_id,
            caller=caller_of(context),
        )
        return vault_pb2.DecryptKeyResponse(secret=plaintext.reveal())
