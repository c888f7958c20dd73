"""The consumer rides out a NATS server restart (a private server, so others are unaffected)."""

import nats
import pytest
import structlog

from services.audit import store
from services.audit.consumer import AuditConsumer
from services.common.events import new_event, subject_for
from services.common.waiting import wait_until
from tests.audit.conftest import derived_settings, free_port, stored_count
from tests.conftest import signed_headers
from tests.private_nats import NATS_SERVER, WAIT, start_nats, stop_nats


async def publish_when_possible(url, prefix, event, tls_dir):
    """Publish once the restarted server answers (its JetStream may need a moment)."""

    async def published():
        try:
            nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
        except Exception:
            return False
        try:
            payload = event.to_json()
            await nc.jetstream().publish(
                subject_for(prefix, event),
                payload,
                headers=signed_headers(
                    tls_dir, event.service, payload, **{"Nats-Msg-Id": str(event.event_id)}
                ),
                timeout=2,
            )
            return True
        except Exception:
            return False
        finally:
            await nc.close()

    await wait_until(published, timeout=WAIT, what="publish to restarted nats")


@pytest.mark.skipif(not NATS_SERVER.exists(), reason="nats-server binary not installed")
async def test_consumer_survives_a_nats_restart(chain_pool, platform_settings, tmp_path, verifier):
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    settings = derived_settings(platform_settings, "restart", nats_url=url)
    prefix = settings.audit_subject_prefix
    server = await start_nats(port, tmp_path)
    consumer = AuditConsumer(chain_pool, settings, verifier=verifier, fetch_timeout=1)
    try:
        await consumer.start()
        before = new_event(type="user.logged_in", service="identity", actor_id="u", subject_id="u")
        await publish_when_possible(url, prefix, before, platform_settings.tls_dir)
        await wait_until(lambda: stored_count(chain_pool, before), timeout=WAIT, what="before")

        with structlog.testing.capture_logs() as logs:
            await stop_nats(server)
            server = await start_nats(port, tmp_path)

            after = new_event(
                type="user.logged_in", service="identity", actor_id="u", subject_id="u"
            )
            await publish_when_possible(url, prefix, after, platform_settings.tls_dir)
            await wait_until(lambda: stored_count(chain_pool, after), timeout=WAIT, what="after")
        # The same consumer, reconnected (not a fresh start), stored it.
        assert any(entry["event"] == "nats_reconnected" for entry in logs)
        report = await store.verify_all(chain_pool)
        assert (report.intact, report.checked) == (True, 2)
    finally:
        await consumer.stop()
        await stop_nats(server)
