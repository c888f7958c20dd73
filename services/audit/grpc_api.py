"""The Audit gRPC API: reading the chain, for the gateway only."""

import grpc
import structlog

from services.audit import store
from services.audit.chain import ChainRecord, format_timestamp
from services.common.mtls import allow_callers
from services.contracts import audit_pb2, audit_pb2_grpc

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Events carry subject ids of at most this length (services.common.events).
_MAX_SUBJECT_ID_LENGTH = 100


def _to_message(record: ChainRecord) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        event_id=record.event_id,
        sequence=record.sequence,
        type=record.type,
        service=record.service,
        actor_id=record.actor_id,
        subject_id=record.subject_id,
        occurred_at=format_timestamp(record.occurred_at),
        data_json=record.data,
        prev_hash=record.prev_hash.hex(),
        hash=record.hash.hex(),
    )


class AuditServicer(audit_pb2_grpc.AuditServicer):
    def __init__(self, pool):
        self._pool = pool

    @allow_callers("gateway")
    async def ListEvents(self, request, context):
        subject_id = request.subject_id
        if not subject_id or len(subject_id) > _MAX_SUBJECT_ID_LENGTH or "\x00" in subject_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "subject_id is required")
        # proto3 cannot tell an unset limit from 0: both mean the default.
        limit = request.limit or DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"limit must be between 1 and {MAX_LIMIT}"
            )
        if request.after_sequence < 0:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "after_sequence must not be negative"
            )
        try:
            # One more than asked tells whether another page follows.
            records = await store.list_for_subject(
                self._pool, subject_id, limit + 1, after_sequence=request.after_sequence
            )
        except Exception as failure:
            log.warning("audit_list_failed", error=type(failure).__name__)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "audit store unavailable")
        page = records[:limit]
        next_after = page[-1].sequence if len(records) > limit else 0
        return audit_pb2.ListEventsResponse(
            events=[_to_message(r) for r in page], next_after_sequence=next_after
        )
