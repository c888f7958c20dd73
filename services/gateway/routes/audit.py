"""/v1/audit: the caller's own audit events."""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.contracts import audit_pb2
from services.gateway.auth import Caller, authenticated_caller
from services.gateway.clients import CALL_TIMEOUT_SECONDS, translated_errors
from services.gateway.schemas import AuditEventListOut, AuditEventOut

router = APIRouter(prefix="/v1/audit", tags=["audit"])
CallerDep = Annotated[Caller, Depends(authenticated_caller)]


@router.get("/events", response_model=AuditEventListOut)
async def list_events(
    request: Request,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
):
    """Events about the caller, oldest first, with their place in the hash chain.

    Pages: pass ``next_after`` of one answer as ``after`` to get the next;
    ``next_after`` is null on the last page.
    """
    async with translated_errors("audit"):
        reply = await request.app.state.clients.audit.ListEvents(
            audit_pb2.ListEventsRequest(
                subject_id=caller.user_id, limit=limit, after_sequence=after
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return AuditEventListOut(
        events=[
            AuditEventOut(
                event_id=event.event_id,
                sequence=event.sequence,
                type=event.type,
                service=event.service,
                actor_id=event.actor_id,
                subject_id=event.subject_id,
                occurred_at=event.occurred_at,
                data=json.loads(event.data_json or "{}"),
                prev_hash=event.prev_hash,
                hash=event.hash,
            )
            for event in reply.events
        ],
        next_after=reply.next_after_sequence or None,
    )
