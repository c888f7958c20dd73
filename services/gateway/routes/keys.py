"""/v1/keys: the caller's BYOK keys. Only the last four characters of a
secret ever come back."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.contracts import vault_pb2
from services.gateway.auth import Caller, authenticated_caller
from services.gateway.clients import CALL_TIMEOUT_SECONDS, translated_errors
from services.gateway.schemas import KeyListOut, KeyOut, StoreKeyBody

router = APIRouter(prefix="/v1/keys", tags=["keys"])
CallerDep = Annotated[Caller, Depends(authenticated_caller)]


def _key(metadata) -> KeyOut:
    return KeyOut(
        key_id=metadata.key_id,
        provider=metadata.provider,
        label=metadata.label,
        last_four=metadata.last_four,
        kek_version=metadata.kek_version,
        created_at=metadata.created_at,
    )


@router.post("", status_code=201, response_model=KeyOut)
async def store_key(body: StoreKeyBody, request: Request, caller: CallerDep):
    """Seal an LLM API key in the vault."""
    async with translated_errors("vault"):
        metadata = await request.app.state.clients.vault.StoreKey(
            vault_pb2.StoreKeyRequest(
                owner_id=caller.user_id,
                provider=body.provider,
                label=body.label,
                secret=body.secret.get_secret_value(),
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return _key(metadata)


@router.get("", response_model=KeyListOut)
async def list_keys(request: Request, caller: CallerDep):
    async with translated_errors("vault"):
        reply = await request.app.state.clients.vault.ListKeys(
            vault_pb2.ListKeysRequest(owner_id=caller.user_id), timeout=CALL_TIMEOUT_SECONDS
        )
    return KeyListOut(keys=[_key(metadata) for metadata in reply.keys])


@router.get("/{key_id}", response_model=KeyOut)
async def get_key(key_id: str, request: Request, caller: CallerDep):
    async with translated_errors("vault"):
        metadata = await request.app.state.clients.vault.GetKey(
            vault_pb2.GetKeyRequest(owner_id=caller.user_id, key_id=key_id[:100]),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return _key(metadata)
