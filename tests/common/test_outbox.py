"""The outbox relay: events wait in PostgreSQL while NATS is away, then go out once each."""

import asyncio
from datetime import UTC, datetime

import nats
import pytest

from services.common.database import OUTBOX_MIGRATIONS
from services.common.event_signing import EventSigner, EventVerifier
from services.common.events import new_event, subject_for
from services.common.mtls import ServiceCredentials
from services.common.outbox import OutboxRelay, enqueue
from services.common.waiting import wait_until
from tests.audit.conftest import drop_schema, scratch_schema
from tests.conftest import free_port
from tests.private_nats import NATS_SERVER, WAIT, start_nats, stop_nats

PREFIX = "outbox_test"


@pytest.fixture
async def outbox_pool(database_url):
    name, pool = await scratch_schema(database_url, [OUTBOX_MIGRATIONS])
    yield pool
    await pool.close()
    await drop_schema(database_url, name)


def a_relay(pool, nats_url: str, tls_dir) -> OutboxRelay:
    signer = EventSigner(ServiceCredentials.load(tls_dir, "identity"))
    return OutboxRelay(pool, nats_url, signer=signer, idle_seconds=0.1)


async def enqueue_event(pool):
    event = new_event(type="user.logged_in", service="identity", actor_id="u", subject_id="u")
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, event, subject_prefix=PREFIX)
    return event


async def outbox_size(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox")


@pytest.mark.skipif(not NATS_SERVER.exists(), reason="nats-server binary not installed")
async def test_events_wait_out_a_nats_outage_and_are_published_once_it_ends(
    outbox_pool, pki_dir, tmp_path
):
    port = free_port()  # nothing listens here yet: NATS is "down"
    url = f"nats://127.0.0.1:{port}"
    relay = a_relay(outbox_pool, url, pki_dir)
    event = await enqueue_event(outbox_pool)

    # A pass while NATS is away fails and keeps the row.
    with pytest.raises(Exception):  # noqa: B017 (nats-py raises several types for "no server")
        await relay.publish_pending()
    assert await outbox_size(outbox_pool) == 1

    server = await start_nats(port, tmp_path)
    nc = None
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(name="OUTBOX_TEST", subjects=[f"{PREFIX}.>"])
        await relay.start()
        relay.wake()

        async def outbox_emptied():
            return await outbox_size(outbox_pool) == 0

        await wait_until(outbox_emptied, timeout=WAIT, what="the outbox to drain")
        message = await js.get_last_msg("OUTBOX_TEST", subject_for(PREFIX, event))
        assert message.data == event.to_json()
        assert message.headers["Nats-Msg-Id"] == str(event.event_id)
        # Signed by the service that wrote it, as the audit service demands.
        verifier = EventVerifier((pki_dir / "ca.pem").read_bytes())
        signer = verifier.signer_of(message.data, message.headers, signed_at=datetime.now(UTC))
        assert signer == "identity"
        assert (await js.stream_info("OUTBOX_TEST")).state.messages == 1
    finally:
        await relay.stop()
        if nc is not None:
            await nc.close()
        await stop_nats(server)


async def test_stop_returns_while_the_relay_is_being_woken(outbox_pool, pki_dir):
    """A wake-up racing with the cancellation must not make stop() wait for ever."""
    relay = a_relay(outbox_pool, f"nats://127.0.0.1:{free_port()}", pki_dir)
    await relay.start()

    async def keep_waking():
        while True:
            relay.wake()
            await asyncio.sleep(0)

    waker = asyncio.create_task(keep_waking())
    try:
        async with asyncio.timeout(WAIT):
            await relay.stop()
    finally:
        waker.cancel()
    assert relay._task.done()
