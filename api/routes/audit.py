"""The audit trail, for admins."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AuditReader, SessionDep
from api.schemas.audit import AuditEventRead
from api.schemas.common import INT64_MAX, DateTimeWithOffset
from api.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def list_audit_events(
    session: SessionDep,
    _actor: AuditReader,
    user_id: uuid.UUID | None = None,
    record_type: Annotated[str | None, Query(max_length=32)] = None,
    record_id: Annotated[
        str | None, Query(max_length=64, description="The record's events, and the list reads that returned it")
    ] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[DateTimeWithOffset | None, Query(description="From this time on, with offset")] = None,
    end: Annotated[DateTimeWithOffset | None, Query(description="Before this time, with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX, description="Events to skip (their ids are bigint)")] = 0,
) -> list[AuditEventRead]:
    """Who did what to which records, newest first, filtered by user, record, action and time."""
    events = audit.search(
        session,
        user_id=user_id,
        record_type=record_type,
        record_id=record_id,
        action=action,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    return [AuditEventRead.model_validate(e) for e in events]
