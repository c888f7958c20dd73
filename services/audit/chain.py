"""The audit hash chain: how a record is spelled, hashed and checked.

Pure functions, no I/O. Record ``n`` stores ``hash_n = SHA-256(hash_{n-1} ||
canonical_n)`` where ``canonical_n`` is the canonical JSON of the record's
fields (its sequence included) and ``hash_0`` is 32 zero bytes. Anyone holding
the rows can recompute the chain: editing a field, deleting a row or swapping
two rows changes a hash or a link from that sequence on.

What the chain alone does not stop: the hash has no key, so someone who can
write the tables (a database superuser, say) can rewrite history and then
recompute every later hash and the head, and ``verify_all`` will find it
intact. Catching that needs the head digest signed and kept outside the
database at intervals, and each event's signature stored with its row; until
then the trigger in the migration and the database's own permissions are
what stand in that insider's way.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.events import AuditEvent, canonical_json

GENESIS_SEQUENCE = 0
GENESIS_HASH = bytes(32)


class UnstorableEvent(ValueError):
    """An event that parsed but cannot be written to the chain (e.g. a naive timestamp)."""


@dataclass(frozen=True)
class ChainRecord:
    """One row of the chain, as stored. ``data`` is canonical JSON text."""

    sequence: int
    event_id: str
    type: str
    service: str
    actor_id: str
    subject_id: str
    occurred_at: datetime
    data: str
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class ChainHead:
    sequence: int
    hash: bytes


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a verification: intact, or the first sequence that does not hold."""

    intact: bool
    checked: int
    broken_sequence: int | None = None
    reason: str | None = None


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds: one spelling per instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UnstorableEvent("timestamp has no time zone")
    try:
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:
        # Year 1 with a positive offset, say: no UTC instant to store.
        raise UnstorableEvent("timestamp is out of range") from None


def canonical_data(data: dict[str, Any]) -> str:
    return canonical_json(data)


def canonical_bytes(
    *,
    sequence: int,
    event_id: str,
    type: str,
    service: str,
    actor_id: str,
    subject_id: str,
    occurred_at: datetime,
    data: str,
) -> bytes:
    """The bytes a record's hash covers.

    ``data`` is the stored canonical JSON text; it is embedded as a JSON value,
    so that text appears verbatim inside the hashed bytes.
    """
    record = {
        "sequence": sequence,
        "event_id": event_id,
        "type": type,
        "service": service,
        "actor_id": actor_id,
        "subject_id": subject_id,
        "occurred_at": format_timestamp(occurred_at),
        "data": json.loads(data),
    }
    return canonical_json(record).encode("utf-8")


def link_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical).digest()


def record_hash(record: ChainRecord) -> bytes:
    """Recompute the hash ``record`` should carry given its own ``prev_hash``."""
    return link_hash(record.prev_hash, _canonical_of(record))


def _canonical_of(record: ChainRecord) -> bytes:
    return canonical_bytes(
        sequence=record.sequence,
        event_id=record.event_id,
        type=record.type,
        service=record.service,
        actor_id=record.actor_id,
        subject_id=record.subject_id,
        occurred_at=record.occurred_at,
        data=record.data,
    )


def check_storable(event: AuditEvent) -> str:
    """Return the event's canonical data, or raise UnstorableEvent.

    PostgreSQL text cannot hold NUL, and UTF-8 cannot hold lone surrogates;
    a naive timestamp has no single UTC spelling. Such events are refused
    before they reach the database, so they cannot stall the consumer.
    """
    format_timestamp(event.occurred_at)
    for text in (event.actor_id, event.subject_id):
        if "\x00" in text:
            raise UnstorableEvent("text field contains NUL")
    try:
        data = canonical_data(event.data)
        (data + event.actor_id + event.subject_id).encode("utf-8")
    except (TypeError, ValueError) as problem:
        # The message of the original error may quote the payload; keep it out.
        raise UnstorableEvent(f"data cannot be canonicalised ({type(problem).__name__})") from None
    return data


def next_record(head: ChainHead, event: AuditEvent) -> ChainRecord:
    """The record that appends ``event`` after ``head``."""
    data = check_storable(event)
    sequence = head.sequence + 1
    fields = dict(
        sequence=sequence,
        event_id=str(event.event_id),
        type=event.type,
        service=event.service,
        actor_id=event.actor_id,
        subject_id=event.subject_id,
        occurred_at=event.occurred_at.astimezone(UTC),
        data=data,
    )
    return ChainRecord(
        **fields,
        prev_hash=head.hash,
        hash=link_hash(head.hash, canonical_bytes(**fields)),
    )


class ChainVerifier:
    """Checks records one at a time, in sequence order, so a long chain can be streamed."""

    def __init__(self) -> None:
        self._expected_sequence = GENESIS_SEQUENCE + 1
        self._prev_hash = GENESIS_HASH
        self._checked = 0
        self._failure: ChainReport | None = None

    @property
    def broken(self) -> bool:
        return self._failure is not None

    def feed(self, record: ChainRecord) -> bool:
        """Check the next record; returns False once the chain is broken."""
        if self._failure is not None:
            return False
        reason = self._problem_with(record)
        if reason is not None:
            self._failure = ChainReport(
                intact=False,
                checked=self._checked,
                broken_sequence=self._expected_sequence,
                reason=reason,
            )
            return False
        self._checked += 1
        self._expected_sequence += 1
        self._prev_hash = record.hash
        return True

    def _problem_with(self, record: ChainRecord) -> str | None:
        if record.sequence != self._expected_sequence:
            # A gap: a record deleted or moved; a smaller number: repeated or moved back.
            return (
                "sequence_gap"
                if record.sequence > self._expected_sequence
                else "sequence_out_of_order"
            )
        if record.prev_hash != self._prev_hash:
            return "prev_hash_mismatch"
        try:
            canonical = _canonical_of(record)
        except (ValueError, TypeError):
            # json.JSONDecodeError and UnstorableEvent are ValueErrors.
            return "malformed_record"
        if record.data != canonical_data(json.loads(record.data)):
            return "data_not_canonical"
        if link_hash(record.prev_hash, canonical) != record.hash:
            return "hash_mismatch"
        return None

    def finish(self, head: ChainHead | None = None) -> ChainReport:
        """The report; with ``head``, also checks that nothing after the last record is missing."""
        if self._failure is not None:
            return self._failure
        last_sequence = self._expected_sequence - 1
        if head is not None and (head.sequence, head.hash) != (last_sequence, self._prev_hash):
            # Records past the last one read were removed, or the head was edited.
            return ChainReport(
                intact=False,
                checked=self._checked,
                broken_sequence=self._expected_sequence,
                reason="head_mismatch",
            )
        return ChainReport(intact=True, checked=self._checked)


def verify(records: Iterable[ChainRecord], *, head: ChainHead | None = None) -> ChainReport:
    """Check ``records`` (in the order given) from the genesis on; stops at the first break."""
    verifier = ChainVerifier()
    for record in records:
        if not verifier.feed(record):
            break
    return verifier.finish(head)
