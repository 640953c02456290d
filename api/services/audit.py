"""Writing and reading the audit trail. Only ids, actions and field names go in: never health data."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from db.models import AuditEvent


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    record_type: str | None = None,
    record_id: uuid.UUID | str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one event to the request's transaction."""
    record_anonymous(
        session,
        user_id=actor.user.id,
        origin=actor.origin,
        action=action,
        record_type=record_type,
        record_id=record_id,
        detail=detail,
    )


def record_anonymous(
    session: Session,
    *,
    user_id: uuid.UUID | None,
    origin: Origin,
    action: str,
    record_type: str | None = None,
    record_id: uuid.UUID | str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an event whose user may be unknown (a failed log-in)."""
    session.add(
        AuditEvent(
            user_id=user_id,
            action=action,
            record_type=record_type,
            record_id=str(record_id) if record_id is not None else None,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
            detail=detail,
        )
    )


def record_reads(
    session: Session, *, actor: Actor, action: str, record_type: str, record_ids: Iterable[uuid.UUID]
) -> None:
    """One event per record read, in a single multi-row insert (a list or search result)."""
    rows = [
        {
            "user_id": actor.user.id,
            "action": action,
            "record_type": record_type,
            "record_id": str(rid),
            "ip_address": actor.origin.ip_address,
            "user_agent": actor.origin.user_agent,
        }
        for rid in record_ids
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)


def search(
    session: Session,
    *,
    user_id: uuid.UUID | None,
    record_type: str | None,
    record_id: str | None,
    action: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> Sequence[AuditEvent]:
    """Events matching every filter given, newest first."""
    query = select(AuditEvent)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if record_type is not None:
        query = query.where(AuditEvent.record_type == record_type)
    if record_id is not None:
        query = query.where(AuditEvent.record_id == record_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if start is not None:
        query = query.where(AuditEvent.at >= start)
    if end is not None:
        query = query.where(AuditEvent.at < end)
    query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit).offset(offset)
    return session.scalars(query).all()
