"""Events travel from JetStream into the chain: published, relayed, repeated, malformed."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import structlog
import trustme

from services.audit import service, store
from services.audit.consumer import AuditConsumer
from services.common.database import OUTBOX_MIGRATIONS
from services.common.event_signing import CERTIFICATE_HEADER, EventSigner
from services.common.events import new_event, subject_for
from services.common.mtls import ServiceCredentials
from services.common.outbox import OutboxRelay, enqueue
from services.common.waiting import wait_until
from services.devstack.pki import ensure_dev_pki
from tests.audit.conftest import (
    derived_settings,
    drop_schema,
    scratch_schema,
    stored_count,
)
from tests.conftest import delete_stream, signed_headers
from tests.crafted_certificates import certificate_with_a_duplicate_extension

WAIT = 20


def an_event(subject_id="user-consumer", **data):
    return new_event(
        type="user.logged_in",
        service="identity",
        actor_id=subject_id,
        subject_id=subject_id,
        data=data,
    )


async def wait_stored(pool, event):
    await wait_until(lambda: stored_count(pool, event), timeout=WAIT, what="event stored")


async def test_published_event_is_stored(audit_service, js, audit_pool, audit_stream, publish):
    _stream, prefix = audit_stream
    event = an_event(method="password")
    await publish(prefix, event)
    await wait_stored(audit_pool, event)
    row = await audit_pool.fetchrow("SELECT * FROM events WHERE event_id = $1", event.event_id)
    assert (row["type"], row["service"], row["actor_id"], row["subject_id"]) == (
        "user.logged_in",
        "identity",
        "user-consumer",
        "user-consumer",
    )
    assert row["occurred_at"] == event.occurred_at
    assert row["data"] == '{"method":"password"}'


async def test_event_relayed_from_an_outbox_is_stored(
    audit_service, audit_pool, database_url, platform_settings
):
    schema, pool = await scratch_schema(database_url, [OUTBOX_MIGRATIONS])
    relay = OutboxRelay(
        pool,
        platform_settings.nats_url,
        signer=EventSigner(ServiceCredentials.load(platform_settings.tls_dir, "identity")),
    )
    try:
        event = an_event(via="outbox")
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, event, subject_prefix=platform_settings.audit_subject_prefix)
        await relay.start()
        relay.wake()
        await wait_stored(audit_pool, event)
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await relay.stop()
        await pool.close()
        await drop_schema(database_url, schema)


async def test_same_event_published_twice_is_stored_once(
    audit_service, js, audit_pool, audit_stream, publish
):
    _stream, prefix = audit_stream
    event = an_event(attempt="twice")
    first = await publish(prefix, event)
    again = await publish(prefix, event)
    # JetStream's duplicate window drops the second copy ...
    assert again.duplicate is True and again.seq == first.seq
    # ... and a copy without a message id, which JetStream keeps, is dropped by the store.
    await publish(prefix, event, msg_id=False)
    later = an_event(attempt="after")
    await publish(prefix, later)
    await wait_stored(audit_pool, later)
    assert await stored_count(audit_pool, event) == 1


async def test_malformed_messages_are_skipped_and_not_logged(
    audit_service, js, audit_pool, audit_stream, publish, pki_dir
):
    stream, prefix = audit_stream
    marker = "do-not-log-" + uuid.uuid4().hex
    naive = json.loads(an_event().to_json())
    naive["occurred_at"] = "2024-01-01T12:00:00"
    naive["data"] = {"marker": marker}
    payloads = [
        f"{{not json {marker}".encode(),
        json.dumps({"event_id": "nope", "marker": marker}).encode(),
        json.dumps(naive).encode(),
        b"\xff\xfe" + marker.encode(),
    ]
    valid = an_event(after="malformed")
    with structlog.testing.capture_logs() as logs:
        for payload in payloads:
            # Signed, so that they fail at parsing, the step under test.
            await js.publish(
                f"{prefix}.identity.user.logged_in",
                payload,
                headers=signed_headers(pki_dir, "identity", payload),
            )
        await publish(prefix, valid)
        await wait_stored(audit_pool, valid)
    malformed = [entry for entry in logs if entry["event"] == "audit_event_malformed"]
    assert len(malformed) == len(payloads)
    assert marker not in repr(logs)
    assert (
        await audit_pool.fetchval(
            "SELECT count(*) FROM events WHERE data LIKE '%' || $1 || '%'", marker
        )
        == 0
    )

    async def nothing_left():
        info = await js.consumer_info(stream, audit_service.settings.audit_consumer)
        return info.num_pending == 0 and info.num_ack_pending == 0

    # Terminated, not waiting for redelivery: nothing blocks later events.
    await wait_until(nothing_left, timeout=WAIT, what="malformed messages settled")


async def test_event_published_before_the_service_first_starts_is_stored(
    js, audit_pool, platform_settings, publish
):
    settings = derived_settings(platform_settings, "early")
    await js.add_stream(name=settings.audit_stream, subjects=[f"{settings.audit_subject_prefix}.>"])
    try:
        event = an_event(published="before start")
        await publish(settings.audit_subject_prefix, event)
        running = await service.start(settings)
        try:
            await wait_stored(audit_pool, event)
            info = await js.stream_info(settings.audit_stream)
            # The audit service widened the stream it found to de-duplicate.
            assert info.config.duplicate_window == settings.audit_duplicate_window_seconds
        finally:
            await running.stop()
    finally:
        await delete_stream(settings.audit_stream, platform_settings.nats_url)


async def test_failed_append_is_retried_until_stored(
    chain_pool, js, platform_settings, publish, verifier
):
    settings = derived_settings(platform_settings, "retry", audit_retry_delay_seconds=0.2)
    consumer = AuditConsumer(chain_pool, settings, verifier=verifier, fetch_timeout=1)
    await consumer.start()
    try:
        # The database "fails": the chain head cannot be found.
        await chain_pool.execute("ALTER TABLE chain_head RENAME TO chain_head_away")
        event = an_event(retried="yes")
        with structlog.testing.capture_logs() as logs:
            await publish(settings.audit_subject_prefix, event)

            async def append_failed():
                return any(entry["event"] == "audit_append_failed" for entry in logs)

            await wait_until(append_failed, timeout=WAIT, what="a failed append")
        assert await stored_count(chain_pool, event) == 0
        await chain_pool.execute("ALTER TABLE chain_head_away RENAME TO chain_head")
        await wait_stored(chain_pool, event)
        assert (await store.verify_all(chain_pool)).intact is True
    finally:
        await consumer.stop()
        await delete_stream(settings.audit_stream, platform_settings.nats_url)


async def test_chain_written_by_the_service_verifies(
    audit_service, js, audit_pool, audit_stream, publish
):
    _stream, prefix = audit_stream
    event = an_event(check="chain")
    await publish(prefix, event)
    await wait_stored(audit_pool, event)
    report = await store.verify_all(audit_pool)
    assert report.intact is True
    assert report.checked >= 1


async def test_events_not_signed_by_their_own_service_are_refused(
    audit_service, js, audit_pool, audit_stream, publish, pki_dir
):
    _stream, prefix = audit_stream
    unsigned, impostor, misrouted, altered, rogue = (an_event(case=n) for n in range(5))

    with structlog.testing.capture_logs() as logs:
        await js.publish(subject_for(prefix, unsigned), unsigned.to_json())
        # The vault's valid signature on an event that claims to be the identity's.
        await publish(prefix, impostor, signer="vault")
        # Signed by the right service but sent on another service's subject.
        payload = misrouted.to_json()
        await js.publish(
            f"{prefix}.vault.key.stored",
            payload,
            headers=signed_headers(pki_dir, "identity", payload),
        )
        # Bytes changed after signing.
        payload = altered.to_json()
        headers = signed_headers(pki_dir, "identity", payload)
        await js.publish(
            subject_for(prefix, altered), payload.replace(b"case", b"kase"), headers=headers
        )
        # A certificate named "identity" from a CA that is not the platform's.
        rogue_dir = pki_dir.parent / "rogue-pki"
        ensure_dev_pki(rogue_dir)
        payload = rogue.to_json()
        await js.publish(
            subject_for(prefix, rogue),
            payload,
            headers=signed_headers(rogue_dir, "identity", payload),
        )

        valid = an_event(case="valid")
        await publish(prefix, valid)
        await wait_stored(audit_pool, valid)
    for refused in (unsigned, impostor, misrouted, altered, rogue):
        assert await stored_count(audit_pool, refused) == 0
    kinds = [entry["event"] for entry in logs]
    assert kinds.count("audit_event_untrusted") == 3  # unsigned, altered, rogue
    assert kinds.count("audit_event_malformed") == 2  # impostor, misrouted


async def test_a_certificate_the_parser_chokes_on_does_not_stop_the_consumer(
    audit_service, js, audit_pool, audit_stream, publish, pki_dir
):
    _stream, prefix = audit_stream
    poisoned = an_event(case="poison")
    payload = poisoned.to_json()
    headers = {
        **signed_headers(pki_dir, "identity", payload),
        CERTIFICATE_HEADER: base64.b64encode(certificate_with_a_duplicate_extension()).decode(),
    }
    with structlog.testing.capture_logs() as logs:
        await js.publish(subject_for(prefix, poisoned), payload, headers=headers)
        valid = an_event(case="after poison")
        await publish(prefix, valid)
        await wait_stored(audit_pool, valid)
    assert await stored_count(audit_pool, poisoned) == 0
    assert [entry["event"] for entry in logs].count("audit_event_untrusted") == 1


class _FailsOnce:
    """A verifier that fails in a way nobody foresaw, once, then verifies."""

    def __init__(self, verifier):
        self._verifier = verifier
        self.failed = False

    def signer_of(self, payload, headers, *, signed_at):
        if not self.failed:
            self.failed = True
            raise RuntimeError("unforeseen")
        return self._verifier.signer_of(payload, headers, signed_at=signed_at)


async def test_an_unforeseen_failure_keeps_the_event_for_another_try(
    chain_pool, platform_settings, publish, verifier
):
    settings = derived_settings(platform_settings, "unforeseen", audit_retry_delay_seconds=0.2)
    flaky = _FailsOnce(verifier)
    consumer = AuditConsumer(chain_pool, settings, verifier=flaky, fetch_timeout=1)
    await consumer.start()
    try:
        event = an_event(unforeseen="yes")
        with structlog.testing.capture_logs() as logs:
            await publish(settings.audit_subject_prefix, event)
            await wait_stored(chain_pool, event)
        assert flaky.failed is True
        failures = [entry for entry in logs if entry["event"] == "audit_event_handling_failed"]
        assert len(failures) == 1 and failures[0]["log_level"] == "error"
    finally:
        await consumer.stop()
        await delete_stream(settings.audit_stream, platform_settings.nats_url)


async def test_an_event_outliving_its_signers_certificate_in_the_stream_is_stored(
    chain_pool, js, platform_settings, pki_dir, verifier, tmp_path
):
    # A copy of the platform CA issues a certificate that ends in two seconds.
    ca = trustme.CA.from_pem((pki_dir / "ca.pem").read_bytes(), (pki_dir / "ca.key").read_bytes())
    ends_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    leaf = ca.issue_cert("identity", common_name="identity", not_after=ends_at)
    (tmp_path / "identity.pem").write_bytes(leaf.cert_chain_pems[0].bytes())
    (tmp_path / "identity.key").write_bytes(leaf.private_key_pem.bytes())
    (tmp_path / "identity.key").chmod(0o600)
    (tmp_path / "ca.pem").write_bytes((pki_dir / "ca.pem").read_bytes())

    settings = derived_settings(platform_settings, "outlived")
    await js.add_stream(name=settings.audit_stream, subjects=[f"{settings.audit_subject_prefix}.>"])
    consumer = AuditConsumer(chain_pool, settings, verifier=verifier, fetch_timeout=1)
    try:
        event = an_event(signed="before the certificate ended")
        payload = event.to_json()
        await js.publish(
            subject_for(settings.audit_subject_prefix, event),
            payload,
            headers=signed_headers(tmp_path, "identity", payload),
        )

        # The audit service reads it only after the certificate has ended,
        # as after an outage of its database.
        async def certificate_ended():
            return datetime.now(UTC) > ends_at + timedelta(seconds=1)

        await wait_until(certificate_ended, timeout=WAIT, what="the certificate to end")
        await consumer.start()
        await wait_stored(chain_pool, event)
    finally:
        await consumer.stop()
        await delete_stream(settings.audit_stream, platform_settings.nats_url)
