"""The Vault API over mutual TLS: storing, listing, showing and decrypting keys."""

import uuid

import grpc
import pytest

from services.common.mtls import ServiceCredentials
from services.contracts import vault_pb2, vault_pb2_grpc
from tests.vault.helpers import new_owner, new_secret, store


async def test_store_returns_metadata_with_only_the_last_four(gateway):
    owner, secret = new_owner(), new_secret()

    stored = await store(gateway, owner, secret, provider="anthropic", label="Team key")

    assert uuid.UUID(stored.key_id)
    assert stored.owner_id == owner
    assert stored.provider == "anthropic"
    assert stored.label == "Team key"
    assert stored.last_four == secret[-4:]
    assert stored.kek_version == 1
    assert stored.created_at
    assert secret not in str(stored)
    assert secret.encode() not in stored.SerializeToString()


async def test_list_shows_the_owners_keys_without_secrets(gateway):
    owner, secrets_ = new_owner(), [new_secret(), new_secret()]
    stored = [await store(gateway, owner, s, label=f"key {i}") for i, s in enumerate(secrets_)]
    await store(gateway, new_owner(), new_secret())  # someone else's

    listed = await gateway.ListKeys(vault_pb2.ListKeysRequest(owner_id=owner))

    assert [k.key_id for k in listed.keys] == [s.key_id for s in stored]
    assert [k.last_four for k in listed.keys] == [s[-4:] for s in secrets_]
    raw = listed.SerializeToString()
    for secret in secrets_:
        assert secret.encode() not in raw


async def test_list_of_an_owner_without_keys_is_empty(gateway):
    listed = await gateway.ListKeys(vault_pb2.ListKeysRequest(owner_id=new_owner()))
    assert list(listed.keys) == []


async def test_get_shows_one_key_without_its_secret(gateway):
    owner, secret = new_owner(), new_secret()
    stored = await store(gateway, owner, secret)

    got = await gateway.GetKey(vault_pb2.GetKeyRequest(owner_id=owner, key_id=stored.key_id))

    assert got == stored
    assert secret.encode() not in got.SerializeToString()


async def test_database_row_does_not_hold_the_plaintext(gateway, vault_db):
    owner, secret = new_owner(), new_secret()
    stored = await store(gateway, owner, secret)

    row = await vault_db.fetchrow("SELECT * FROM keys WHERE key_id = $1", uuid.UUID(stored.key_id))
    row_text = await vault_db.fetchval(
        "SELECT k::text FROM keys k WHERE key_id = $1", uuid.UUID(stored.key_id)
    )

    assert row["owner_id"] == owner
    assert row["last_four"] == secret[-4:]
    assert row["kek_version"] == 1
    for value in row.values():
        if isinstance(value, bytes):
            assert secret.encode() not in value
        else:
            assert secret not in str(value)
    assert secret not in row_text
    assert secret.encode().hex() not in row_text


async def test_executor_decrypts_the_owners_key(gateway, executor):
    owner, secret = new_owner(), new_secret()
    stored = await store(gateway, owner, secret)

    opened = await executor.DecryptKey(
        vault_pb2.DecryptKeyRequest(owner_id=owner, key_id=stored.key_id, run_id="run-1")
    )

    assert opened.secret == secret.encode()


async def test_gateway_may_not_decrypt(gateway):
    owner = new_owner()
    stored = await store(gateway, owner, new_secret())

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.DecryptKey(
            vault_pb2.DecryptKeyRequest(owner_id=owner, key_id=stored.key_id, run_id="run-1")
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_executor_may_not_store_list_or_get(executor):
    owner = new_owner()
    calls = [
        executor.StoreKey(
            vault_pb2.StoreKeyRequest(
                owner_id=owner, provider="openai", label="x", secret=new_secret()
            )
        ),
        executor.ListKeys(vault_pb2.ListKeysRequest(owner_id=owner)),
        executor.GetKey(vault_pb2.GetKeyRequest(owner_id=owner, key_id=str(uuid.uuid4()))),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_identity_may_not_call_the_vault(vault, pki_dir):
    channel = ServiceCredentials.load(pki_dir, "identity").channel_to(
        vault.settings.vault_address, "vault"
    )
    async with channel:
        stub = vault_pb2_grpc.VaultStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListKeys(vault_pb2.ListKeysRequest(owner_id=new_owner()))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_decrypt_of_another_owners_key_is_not_found(gateway, executor):
    stored = await store(gateway, new_owner(), new_secret())

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await executor.DecryptKey(
            vault_pb2.DecryptKeyRequest(owner_id=new_owner(), key_id=stored.key_id, run_id="r")
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "key not found"


async def test_get_of_another_owners_key_is_not_found(gateway):
    stored = await store(gateway, new_owner(), new_secret())

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.GetKey(vault_pb2.GetKeyRequest(owner_id=new_owner(), key_id=stored.key_id))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("key_id", [str(uuid.uuid4()), "not-a-uuid", "", "1' OR '1'='1"])
async def test_get_of_a_missing_or_malformed_key_id_is_not_found(gateway, key_id):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.GetKey(vault_pb2.GetKeyRequest(owner_id=new_owner(), key_id=key_id))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "key not found"


@pytest.mark.parametrize("key_id", [str(uuid.uuid4()), "not-a-uuid", ""])
async def test_decrypt_of_a_missing_or_malformed_key_id_is_not_found(executor, key_id):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await executor.DecryptKey(
            vault_pb2.DecryptKeyRequest(owner_id=new_owner(), key_id=key_id, run_id="run-1")
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_row_moved_to_another_owner_does_not_decrypt(gateway, executor, vault_db):
    # Someone with database access re-assigns a key to themselves: the
    # associated data still names the first owner, so it does not open.
    stored = await store(gateway, new_owner(), new_secret())
    thief = new_owner()
    await vault_db.execute(
        "UPDATE keys SET owner_id = $1 WHERE key_id = $2", thief, uuid.UUID(stored.key_id)
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await executor.DecryptKey(
            vault_pb2.DecryptKeyRequest(owner_id=thief, key_id=stored.key_id, run_id="run-1")
        )
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "key cannot be opened"


async def test_secrets_swapped_between_rows_do_not_decrypt(gateway, executor, vault_db):
    owner_a, owner_b = new_owner(), new_owner()
    key_a = await store(gateway, owner_a, new_secret())
    key_b = await store(gateway, owner_b, new_secret())
    sealed_columns = "ciphertext, nonce, wrapped_dek, dek_nonce, kek_version"
    row_a = await vault_db.fetchrow(
        f"SELECT {sealed_columns} FROM keys WHERE key_id = $1",  # noqa: S608 (test constant)
        uuid.UUID(key_a.key_id),
    )
    await vault_db.execute(
        "UPDATE keys SET ciphertext = $1, nonce = $2, wrapped_dek = $3, dek_nonce = $4,"
        " kek_version = $5 WHERE key_id = $6",
        *row_a.values(),
        uuid.UUID(key_b.key_id),
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await executor.DecryptKey(
            vault_pb2.DecryptKeyRequest(owner_id=owner_b, key_id=key_b.key_id, run_id="run-1")
        )
    assert raised.value.code() == grpc.StatusCode.INTERNAL
