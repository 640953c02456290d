"""Writing and reading the audit trail. Only ids, actions and field names go in: never health data."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from pydantic_core import to_json
from sqlalchemy import Dialect, Table, TextClause, insert, select, text
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from db.base import utcnow
from db.models import AuditEvent

TABLE = cast(Table, AuditEvent.__table__)  # a mapped class's own table


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
    details: Mapping[uuid.UUID, dict[str, Any]] | None = None,
) -> None:
    """One event per record read, in a single insert (a list or search result); each event carries its record's
    entry of `details` when they are given."""
    at = utcnow()
    rows = [
        {
            "at": at,
            "user_id": actor.user.id,
            "action": action,
            "record_type": record_type,
            "record_id": str(rid),
            "ip_address": actor.origin.ip_address,
            "user_agent": actor.origin.user_agent,
        }
        | ({"detail": details[rid]} if details is not None else {})
        for rid in record_ids
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(AuditEvent), rows)
        return
    session.flush()  # as the ORM insert above does: the events recorded before these are written first
    session.execute(_recordset_insert(dialect), {"rows": to_json(rows).decode()})


@cache
def _recordset_insert(dialect: Dialect) -> TextClause:
    """PostgreSQL: the events travel as one JSON array, so a page of a few hundred reads is one statement with one
    value, where executemany sends, and SQLAlchemy builds, one insert per event (as device_gateway/store.py does)."""
    columns = [column for column in TABLE.columns if column.name != "id"]
    names = ", ".join(column.name for column in columns)
    types = ", ".join(f"{column.name} {column.type.compile(dialect)}" for column in columns)
    return text(
        f"INSERT INTO {TABLE.name} ({names}) "  # noqa: S608 (names from the model)
        f"SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) AS row({types})"
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
