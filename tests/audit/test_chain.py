"""The hash chain's pure functions: building records and detecting tampering."""

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.audit import chain
from services.audit.chain import GENESIS_HASH, ChainHead, UnstorableEvent
from services.common.events import canonical_json, new_event


def build_chain(length: int) -> list[chain.ChainRecord]:
    head = ChainHead(sequence=0, hash=GENESIS_HASH)
    records = []
    for index in range(length):
        event = new_event(
            type="key.stored",
            service="vault",
            actor_id=f"user-{index}",
            subject_id="user-1",
            data={"key_id": f"k{index}", "label": "main"},
        )
        record = chain.next_record(head, event)
        records.append(record)
        head = ChainHead(sequence=record.sequence, hash=record.hash)
    return records


def head_of(records):
    return ChainHead(sequence=records[-1].sequence, hash=records[-1].hash)


def test_intact_chain_verifies():
    records = build_chain(5)
    report = chain.verify(records, head=head_of(records))
    assert report == chain.ChainReport(intact=True, checked=5)


def test_empty_chain_verifies_against_genesis_head():
    report = chain.verify([], head=ChainHead(sequence=0, hash=GENESIS_HASH))
    assert report.intact is True
    assert report.checked == 0


def test_records_are_numbered_and_linked_from_genesis():
    records = build_chain(3)
    assert [r.sequence for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[1].prev_hash == records[0].hash
    assert records[2].prev_hash == records[1].hash


def test_hash_is_sha256_of_prev_hash_and_canonical_form():
    record = build_chain(1)[0]
    canonical = canonical_json(
        {
            "sequence": 1,
            "event_id": record.event_id,
            "type": "key.stored",
            "service": "vault",
            "actor_id": "user-0",
            "subject_id": "user-1",
            "occurred_at": record.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "data": {"key_id": "k0", "label": "main"},
        }
    ).encode()
    assert record.hash == hashlib.sha256(GENESIS_HASH + canonical).digest()
    # The stored data text is exactly the canonical JSON embedded in the hashed bytes.
    assert record.data == '{"key_id":"k0","label":"main"}'
    assert record.data.encode() in canonical


def test_timestamps_in_other_zones_hash_as_utc():
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert chain.format_timestamp(moment) == "2024-05-01T12:00:00.000000+00:00"
    shifted = moment.astimezone(timezone(timedelta(hours=2)))
    assert chain.format_timestamp(shifted) == chain.format_timestamp(moment)


def test_edited_field_is_detected_at_its_sequence():
    records = build_chain(5)
    records[2] = dataclasses.replace(records[2], actor_id="someone-else")
    report = chain.verify(records, head=head_of(records))
    assert (report.intact, report.broken_sequence, report.reason) == (False, 3, "hash_mismatch")
    assert report.checked == 2


def test_edited_data_is_detected_at_its_sequence():
    records = build_chain(4)
    records[1] = dataclasses.replace(records[1], data='{"key_id":"k1","label":"forged"}')
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (2, "hash_mismatch")


def test_non_canonical_data_is_detected_even_when_equivalent():
    records = build_chain(3)
    records[1] = dataclasses.replace(records[1], data='{"label": "main", "key_id": "k1"}')
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (2, "data_not_canonical")


def test_data_that_is_not_json_is_detected():
    records = build_chain(3)
    records[2] = dataclasses.replace(records[2], data="not json")
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (3, "malformed_record")


def test_edit_with_recomputed_hash_is_detected_at_next_link():
    records = build_chain(4)
    edited = dataclasses.replace(records[1], subject_id="user-2")
    records[1] = dataclasses.replace(edited, hash=chain.record_hash(edited))
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (3, "prev_hash_mismatch")


def test_deleted_middle_record_is_detected_at_its_sequence():
    records = build_chain(5)
    del records[2]
    report = chain.verify(records, head=ChainHead(sequence=5, hash=records[-1].hash))
    assert (report.intact, report.broken_sequence, report.reason) == (False, 3, "sequence_gap")


def test_deleted_last_record_is_detected_by_the_head():
    records = build_chain(4)
    head = head_of(records)
    report = chain.verify(records[:-1], head=head)
    assert (report.intact, report.broken_sequence, report.reason) == (False, 4, "head_mismatch")


def test_swapped_records_are_detected_at_the_first_of_them():
    records = build_chain(5)
    records[1], records[2] = records[2], records[1]
    report = chain.verify(records)
    assert (report.intact, report.broken_sequence) == (False, 2)
    assert report.reason == "sequence_gap"


def test_swapped_contents_under_kept_sequence_numbers_are_detected():
    # An insider swapping two rows' contents but keeping the sequence column in order.
    records = build_chain(5)
    second, third = records[1], records[2]
    records[1] = dataclasses.replace(third, sequence=2)
    records[2] = dataclasses.replace(second, sequence=3)
    report = chain.verify(records)
    assert (report.intact, report.broken_sequence, report.reason) == (
        False,
        2,
        "prev_hash_mismatch",
    )


def test_repeated_record_is_detected():
    records = build_chain(3)
    records.insert(2, records[1])
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (3, "sequence_out_of_order")


def test_wrong_prev_hash_is_detected_at_its_sequence():
    records = build_chain(4)
    records[3] = dataclasses.replace(records[3], prev_hash=b"\x01" * 32)
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (4, "prev_hash_mismatch")


def test_wrong_genesis_link_is_detected():
    records = build_chain(2)
    records[0] = dataclasses.replace(records[0], prev_hash=b"\x02" * 32)
    report = chain.verify(records)
    assert (report.broken_sequence, report.reason) == (1, "prev_hash_mismatch")


def test_naive_timestamp_is_unstorable():
    event = new_event(
        type="user.logged_in",
        service="identity",
        actor_id="u",
        subject_id="u",
        at=datetime(2024, 1, 1, 12, 0),
    )
    with pytest.raises(UnstorableEvent):
        chain.check_storable(event)


def test_timestamp_with_no_utc_instant_is_unstorable():
    # Year 1 one hour east of UTC falls before the first instant Python can hold.
    event = new_event(
        type="user.logged_in",
        service="identity",
        actor_id="u",
        subject_id="u",
        at=datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
    )
    with pytest.raises(UnstorableEvent, match="out of range"):
        chain.check_storable(event)


def test_nul_in_text_field_is_unstorable():
    event = new_event(type="user.logged_in", service="identity", actor_id="a\x00b", subject_id="u")
    with pytest.raises(UnstorableEvent):
        chain.check_storable(event)


def test_lone_surrogate_in_data_is_unstorable_without_quoting_it():
    event = new_event(
        type="user.logged_in",
        service="identity",
        actor_id="u",
        subject_id="u",
        data={"label": "secret-ish\ud800"},
    )
    with pytest.raises(UnstorableEvent) as raised:
        chain.check_storable(event)
    assert "secret-ish" not in str(raised.value)


def test_nul_in_data_is_escaped_and_storable():
    event = new_event(
        type="user.logged_in",
        service="identity",
        actor_id="u",
        subject_id="u",
        data={"label": "a\x00b"},
    )
    data = chain.check_storable(event)
    assert "\x00" not in data
    assert json.loads(data) == {"label": "a\x00b"}
