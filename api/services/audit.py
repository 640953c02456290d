"""Writing and reading the audit trail. Only ids, actions and field names go in: never health data."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, insert, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from db.models import AuditEvent

_INSERT_EVENT = insert(AuditEvent).inline()  # the new row's id is not needed back


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
    session: Session,
    *,
    actor: Actor,
    action: str,
    record_type: str,
    record_ids: Iterable[uuid.UUID],
    detail: dict[str, Any] | None = None,
) -> None:
    """A list or search read as one event naming every record it returned, in order (none when it returned none)."""
    named = [str(rid) for rid in record_ids]
    if not named:
        return
    session.flush()  # the events added before it keep their place in the trail
    # Core on the session's connection: the ORM's bulk-insert machinery cost more than the rest of a search.
    session.connection().execute(
        _INSERT_EVENT,
        {
            "user_id": actor.user.id,
            "action": action,
            "record_type": record_type,
            "record_ids": named,
            "ip_address": actor.origin.ip_address,
            "user_agent": actor.origin.user_agent,
            "detail": detail,
        },
    )


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
    """Events matching every filter given, newest first; a record's events include the list reads that named it."""
    query = select(AuditEvent)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if record_type is not None:
        query = query.where(AuditEvent.record_type == record_type)
    if record_id is not None:
        dialect = session.get_bind().dialect.name
        query = query.where(or_(AuditEvent.record_id == record_id, _names(record_id, dialect=dialect)))
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if start is not None:
        query = query.where(AuditEvent.at >= start)
    if end is not None:
        query = query.where(AuditEvent.at < end)
    query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit).offset(offset)
    return session.scalars(query).all()


def _names(record_id: str, *, dialect: str) -> ColumnElement[bool]:
    """Whether an event's record_ids hold `record_id`: JSONB containment on PostgreSQL (its GIN index answers it),
    a look through the JSON array elsewhere."""
    if dialect == "postgresql":
        return type_coerce(AuditEvent.record_ids, JSONB).contains([record_id])
    element = func.json_each(AuditEvent.record_ids).table_valued("value")
    return exists(select(element.c.value).where(element.c.value == record_id))
