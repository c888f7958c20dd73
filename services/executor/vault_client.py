"""Asking the vault for a key's plaintext, as the executor, over mutual TLS.

The vault decides whether the key is the owner's; this module only turns its
answers into two domain errors the executor acts on.
"""

import grpc
import structlog
from pydantic import SecretBytes

from services.contracts import vault_pb2, vault_pb2_grpc

log = structlog.get_logger(__name__)

_CALL_TIMEOUT_SECONDS = 5.0


class KeyNotFound(Exception):
    """The key does not exist or is not the owner's."""


class VaultUnavailable(Exception):
    """The vault could not answer; the run cannot start now."""


class VaultKeyClient:
    def __init__(self, channel: grpc.aio.Channel):
        self._stub = vault_pb2_grpc.VaultStub(channel)

    async def decrypt(self, *, owner_id: str, key_id: str, run_id: str) -> SecretBytes:
        request = vault_pb2.DecryptKeyRequest(owner_id=owner_id, key_id=key_id, run_id=run_id)
        try:
            response = await self._stub.DecryptKey(request, timeout=_CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as failure:
            code = failure.code()
            # INVALID_ARGUMENT: the vault found the ids malformed, so no such key.
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise KeyNotFound() from None
            # Anything else (down, refused us, failed) is the platform's problem, not
            # the caller's; the status name is logged, never a message or the request.
            log.warning("vault_decrypt_failed", code=code.name, run_id=run_id)
            raise VaultUnavailable() from None
        return SecretBytes(response.secret)
