"""Every malformed field is INVALID_ARGUMENT, named, and never echoed back."""

import uuid

import grpc
import pytest

from services.contracts import vault_pb2
from tests.vault.helpers import new_owner, new_secret, store

GOOD = {"provider": "openai", "label": "My key", "secret": "sk-test-abcdefgh1234"}

BAD_STORE_FIELDS = [
    ("owner_id", ""),
    ("owner_id", "o" * 101),
    ("owner_id", "owner\x00id"),
    ("owner_id", "owner\nid"),
    ("provider", ""),
    ("provider", "OpenAI"),
    ("provider", "-openai"),
    ("provider", "open ai"),
    ("provider", "openai\n"),
    ("provider", "p" * 33),
    ("provider", "open.ai"),
    ("label", ""),
    ("label", "   "),
    ("label", "l" * 101),
    ("label", "tab\there"),
    ("label", "bell\x07"),
    ("label", "line\nbreak"),
    ("secret", ""),
    ("secret", "sk-1234"),
    ("secret", "s" * 15),
    ("secret", "s" * 4097),
    ("secret", "sk-test abcdefgh"),
    ("secret", "sk-test-abcdefgh\n"),
    ("secret", "sk-test\tabcdefgh"),
    ("secret", "sk-test-\x00abcdefgh"),
    ("secret", "sk-test-\u200babcdefgh"),  # zero-width space
    ("secret", "sk-test-\u00a0abcdefgh"),  # no-break space
    ("secret", "sk-test-\ufffdabcdefgh"),  # what output shows for undecodable bytes
]


@pytest.mark.parametrize(("field", "value"), BAD_STORE_FIELDS)
async def test_store_refuses_malformed_field(gateway, field, value):
    request = {"owner_id": new_owner(), **GOOD, field: value}

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.StoreKey(vault_pb2.StoreKeyRequest(**request))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(f"{field} must be")
    if value.strip():
        assert value not in raised.value.details()


async def test_refused_store_leaves_nothing_behind(gateway):
    owner = new_owner()
    with pytest.raises(grpc.aio.AioRpcError):
        await gateway.StoreKey(vault_pb2.StoreKeyRequest(owner_id=owner, **{**GOOD, "secret": "x"}))

    listed = await gateway.ListKeys(vault_pb2.ListKeysRequest(owner_id=owner))
    assert list(listed.keys) == []


@pytest.mark.parametrize(
    ("secret", "label", "provider"),
    [
        ("s" * 16, "l", "a"),
        ("s" * 4096, "l" * 100, "p" * 32),
        ("sk-ünïcödé-key-0001", "Clé d'équipe", "azure_openai-2"),
    ],
)
async def test_store_accepts_values_at_the_limits(gateway, secret, label, provider):
    stored = await store(gateway, new_owner(), secret, provider=provider, label=label)
    assert stored.last_four == secret[-4:]
    assert stored.label == label


@pytest.mark.parametrize("owner_id", ["", "o" * 101, "a\tb"])
async def test_list_refuses_malformed_owner_id(gateway, owner_id):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.ListKeys(vault_pb2.ListKeysRequest(owner_id=owner_id))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("owner_id must be")


@pytest.mark.parametrize("owner_id", ["", "o" * 101])
async def test_get_refuses_malformed_owner_id(gateway, owner_id):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.GetKey(vault_pb2.GetKeyRequest(owner_id=owner_id, key_id=str(uuid.uuid4())))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("owner_id must be")


@pytest.mark.parametrize(
    ("field", "value"),
    [("owner_id", ""), ("owner_id", "o" * 101), ("run_id", ""), ("run_id", "r\n")],
)
async def test_decrypt_refuses_malformed_field(gateway, executor, field, value):
    owner = new_owner()
    stored = await store(gateway, owner, new_secret())
    request = {"owner_id": owner, "key_id": stored.key_id, "run_id": "run-1", field: value}

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await executor.DecryptKey(vault_pb2.DecryptKeyRequest(**request))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(f"{field} must be")
