"""key.stored and key.decrypted audit events: in the outbox, then on JetStream, never a secret."""

import json
import uuid

import asyncpg
import grpc
import nats
import pytest

from services.common.mtls import ServiceCredentials
from services.common.waiting import wait_until
from services.contracts import vault_pb2, vault_pb2_grpc
from services.devstack.migrate import migrate_all
from services.vault.service import start
from tests.conftest import ADMIN_URL, NATS_URL, free_port
from tests.vault.conftest import vault_settings_for
from tests.vault.helpers import new_owner, new_secret, outbox_events, store


async def test_store_writes_a_key_stored_event(gateway, vault, vault_db):
    owner, secret = new_owner(), new_secret()
    stored = await store(gateway, owner, secret, provider="mistral", label="Prod")

    [(subject, event, raw)] = await outbox_events(vault_db, "key.stored", stored.key_id)

    prefix = vault.settings.audit_subject_prefix
    assert subject == f"{prefix}.vault.key.stored"
    assert event["service"] == "vault"
    assert event["actor_id"] == owner
    assert event["subject_id"] == owner
    assert event["data"] == {"key_id": stored.key_id, "provider": "mistral", "label": "Prod"}
    assert secret.encode() not in raw
    assert secret[-4:].encode() not in raw  # not even the last four


async def test_decrypt_writes_a_key_decrypted_event_before_answering(gateway, executor, vault_db):
    owner, secret = new_owner(), new_secret()
    stored = await store(gateway, owner, secret)
    run_id = f"run-{uuid.uuid4()}"

    await executor.DecryptKey(
        vault_pb2.DecryptKeyRequest(owner_id=owner, key_id=stored.key_id, run_id=run_id)
    )
    # No waiting: the event was committed before the secret was sent.
    [(subject, event, raw)] = await outbox_events(vault_db, "key.decrypted", stored.key_id)

    assert subject.endswith(".vault.key.decrypted")
    assert event["actor_id"] == "executor"
    assert event["subject_id"] == owner
    assert event["data"] == {"key_id": stored.key_id, "run_id": run_id, "caller": "executor"}
    assert secret.encode() not in raw


async def test_refused_decrypts_write_no_event(gateway, executor, vault_db):
    owner = new_owner()
    stored = await store(gateway, owner, new_secret())

    refusals = (
        (gateway, owner, grpc.StatusCode.PERMISSION_DENIED),
        (executor, new_owner(), grpc.StatusCode.NOT_FOUND),
    )
    for caller, request_owner, status in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await caller.DecryptKey(
                vault_pb2.DecryptKeyRequest(
                    owner_id=request_owner, key_id=stored.key_id, run_id="run-1"
                )
            )
        assert raised.value.code() == status

    assert await outbox_events(vault_db, "key.decrypted", stored.key_id) == []


@pytest.fixture
async def own_database_url(run_id):
    """A database of its own, so no other test's unpublishable rows sit in this outbox.

    (The relay stops a pass at the first row whose stream is missing, and the
    package's vault leaves such rows behind.)
    """
    name = f"aecaro_test_{run_id}_vault_js"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    await migrate_all(url)
    yield url
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_events_reach_jetstream(
    platform_settings, keyring_file, pki_dir, run_id, own_database_url
):
    """A vault with the real NATS and a stream of its own publishes, then empties its outbox."""
    stream, prefix = f"VAULT_TEST_{run_id}", f"vault_test_{run_id}"
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    settings = vault_settings_for(
        platform_settings,
        keyring_file,
        database_url=own_database_url,
        nats_url=NATS_URL,
        audit_stream=stream,
        audit_subject_prefix=prefix,
        vault_address=f"127.0.0.1:{free_port()}",
    )
    running = await start(settings)
    try:
        channel = ServiceCredentials.load(pki_dir, "gateway").channel_to(
            settings.vault_address, "vault"
        )
        async with channel:
            owner, secret = new_owner(), new_secret()
            stored = await store(vault_pb2_grpc.VaultStub(channel), owner, secret)

        async def published():
            try:
                return await js.get_last_msg(stream, f"{prefix}.vault.key.stored")
            except nats.js.errors.NotFoundError:
                return None

        message = await wait_until(published, timeout=10, what="key.stored on JetStream")
        event = json.loads(message.data)
        assert event["data"]["key_id"] == stored.key_id
        assert event["subject_id"] == owner
        assert secret.encode() not in message.data

        async def outbox_emptied():
            return not await outbox_events(running.pool, "key.stored", stored.key_id)

        await wait_until(outbox_emptied, timeout=10, what="published row leaving the outbox")
    finally:
        await running.stop()
        await js.delete_stream(stream)
        await nc.close()
