"""Audit.ListEvents over mutual TLS: the gateway only, one subject at a time."""

import json

import grpc
import pytest

from services.common.events import canonical_json, new_event, subject_for
from services.common.mtls import ServiceCredentials
from services.common.waiting import wait_until
from services.contracts import audit_pb2, audit_pb2_grpc
from tests.audit.conftest import stored_count
from tests.conftest import signed_headers


def stub_for(caller, pki_dir, settings):
    channel = ServiceCredentials.load(pki_dir, caller).channel_to(settings.audit_address, "audit")
    return channel, audit_pb2_grpc.AuditStub(channel)


@pytest.fixture
async def gateway(audit_service, pki_dir, platform_settings):
    channel, stub = stub_for("gateway", pki_dir, platform_settings)
    yield stub
    await channel.close()


@pytest.fixture(scope="module")
async def two_subjects(audit_service, js, audit_pool, audit_stream, pki_dir):
    """Three events of subject A and one of subject B, stored."""
    _stream, prefix = audit_stream
    subject_a, subject_b = "user-grpc-a", "user-grpc-b"
    events = [
        new_event(
            type="key.stored",
            service="vault",
            actor_id=subject_a,
            subject_id=subject_a,
            data={"key_id": "k1", "label": "main"},
        ),
        new_event(
            type="key.stored",
            service="vault",
            actor_id=subject_b,
            subject_id=subject_b,
            data={"key_id": "k2"},
        ),
        new_event(
            type="run.started",
            service="executor",
            actor_id=subject_a,
            subject_id=subject_a,
            data={"run_id": "r1"},
        ),
        new_event(
            type="run.finished",
            service="executor",
            actor_id=subject_a,
            subject_id=subject_a,
            data={"run_id": "r1", "status": "ok"},
        ),
    ]
    for event in events:
        payload = event.to_json()
        await js.publish(
            subject_for(prefix, event),
            payload,
            headers=signed_headers(
                pki_dir, event.service, payload, **{"Nats-Msg-Id": str(event.event_id)}
            ),
        )
    for event in events:
        await wait_until(lambda e=event: stored_count(audit_pool, e), timeout=20, what="stored")
    return subject_a, [e for e in events if e.subject_id == subject_a], events[1]


async def test_gateway_gets_only_the_asked_subjects_events(gateway, two_subjects):
    subject_a, events_a, event_b = two_subjects
    reply = await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id=subject_a))
    assert [e.event_id for e in reply.events] == [str(e.event_id) for e in events_a]
    assert {e.subject_id for e in reply.events} == {subject_a}
    assert str(event_b.event_id) not in {e.event_id for e in reply.events}
    sequences = [e.sequence for e in reply.events]
    assert sequences == sorted(sequences)


async def test_listed_event_carries_stored_fields_and_hex_hashes(gateway, two_subjects, audit_pool):
    subject_a, events_a, _ = two_subjects
    reply = await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id=subject_a, limit=1))
    assert len(reply.events) == 1
    listed, sent = reply.events[0], events_a[0]
    assert (listed.type, listed.service, listed.actor_id) == ("key.stored", "vault", subject_a)
    assert listed.data_json == canonical_json(sent.data) == '{"key_id":"k1","label":"main"}'
    assert json.loads(listed.data_json) == sent.data
    row = await audit_pool.fetchrow(
        "SELECT prev_hash, hash, occurred_at FROM events WHERE sequence = $1", listed.sequence
    )
    assert listed.hash == bytes(row["hash"]).hex() and len(listed.hash) == 64
    assert listed.prev_hash == bytes(row["prev_hash"]).hex()
    assert listed.occurred_at == sent.occurred_at.isoformat(timespec="microseconds")


async def test_unknown_subject_gets_no_events(gateway, two_subjects):
    reply = await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id="nobody-at-all"))
    assert list(reply.events) == []


async def test_vault_is_refused(audit_service, pki_dir, platform_settings, two_subjects):
    channel, stub = stub_for("vault", pki_dir, platform_settings)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListEvents(audit_pb2.ListEventsRequest(subject_id=two_subjects[0]))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await channel.close()


@pytest.mark.parametrize("limit", [-1, 1001, 2**31 - 1])
async def test_out_of_range_limit_is_invalid(gateway, limit):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id="user-x", limit=limit))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("subject_id", ["", "x" * 101, "a\x00b"])
async def test_missing_or_impossible_subject_is_invalid(gateway, subject_id):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id=subject_id))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "subject_id is required"


async def test_limit_zero_means_the_default(gateway, two_subjects):
    subject_a, events_a, _ = two_subjects
    reply = await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id=subject_a, limit=0))
    assert len(reply.events) == len(events_a)


async def test_limit_caps_the_answer(gateway, two_subjects):
    subject_a, events_a, _ = two_subjects
    reply = await gateway.ListEvents(audit_pb2.ListEventsRequest(subject_id=subject_a, limit=2))
    assert [e.event_id for e in reply.events] == [str(e.event_id) for e in events_a[:2]]


async def test_pages_follow_each_other_without_gaps_or_repeats(gateway, two_subjects):
    subject_a, events_a, _ = two_subjects
    seen, after, pages = [], 0, 0
    while True:
        reply = await gateway.ListEvents(
            audit_pb2.ListEventsRequest(subject_id=subject_a, limit=1, after_sequence=after)
        )
        seen += [e.event_id for e in reply.events]
        pages += 1
        if not reply.next_after_sequence:
            break
        assert reply.next_after_sequence == reply.events[-1].sequence
        after = reply.next_after_sequence
    assert seen == [str(e.event_id) for e in events_a]
    assert pages == len(events_a)


async def test_the_last_page_says_so(gateway, two_subjects):
    subject_a, events_a, _ = two_subjects
    reply = await gateway.ListEvents(
        audit_pb2.ListEventsRequest(subject_id=subject_a, limit=len(events_a))
    )
    assert len(reply.events) == len(events_a)
    assert reply.next_after_sequence == 0


async def test_negative_after_sequence_is_invalid(gateway):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.ListEvents(
            audit_pb2.ListEventsRequest(subject_id="user-x", after_sequence=-1)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
