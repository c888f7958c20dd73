"""An owner holds at most ``vault_max_keys_per_owner`` keys, even under concurrent stores."""

import asyncio

import grpc
import pytest

from services.common.mtls import ServiceCredentials
from services.contracts import vault_pb2_grpc
from services.vault.keyring import load_keyring
from services.vault.keys import KeyService, TooManyKeys
from services.vault.service import start
from tests.conftest import free_port
from tests.vault.conftest import vault_settings_for
from tests.vault.helpers import new_owner, new_secret, store


def key_service(pool, keyring_file, limit: int) -> KeyService:
    return KeyService(
        pool,
        load_keyring(keyring_file),
        subject_prefix="vault_limit_test",
        events_committed=lambda: None,
        max_keys_per_owner=limit,
    )


async def test_concurrent_stores_cannot_pass_the_limit(vault_db, keyring_file):
    keys, owner = key_service(vault_db, keyring_file, limit=2), new_owner()

    outcomes = await asyncio.gather(
        *(
            keys.store(owner_id=owner, provider="openai", label=f"k{n}", secret=new_secret())
            for n in range(6)
        ),
        return_exceptions=True,
    )

    refused = [outcome for outcome in outcomes if isinstance(outcome, TooManyKeys)]
    assert len(refused) == 4
    assert len(await keys.list(owner_id=owner)) == 2
    # Another owner has an allowance of their own.
    await keys.store(owner_id=new_owner(), provider="openai", label="k", secret=new_secret())


async def test_a_full_key_list_is_failed_precondition_naming_the_limit(
    platform_settings, keyring_file, pki_dir
):
    settings = vault_settings_for(
        platform_settings,
        keyring_file,
        nats_url=f"nats://127.0.0.1:{free_port()}",
        vault_address=f"127.0.0.1:{free_port()}",
        vault_max_keys_per_owner=1,
    )
    running = await start(settings)
    channel = ServiceCredentials.load(pki_dir, "gateway").channel_to(
        settings.vault_address, "vault"
    )
    try:
        gateway = vault_pb2_grpc.VaultStub(channel)
        owner, secret = new_owner(), new_secret()
        await store(gateway, owner, new_secret())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await store(gateway, owner, secret)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == "an account holds at most 1 keys"
        assert secret not in refused.value.details()
    finally:
        await channel.close()
        await running.stop()
