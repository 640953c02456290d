"""The audit trail: who did what to which record, when, from where. Never health data."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow

# JSONB on PostgreSQL so "which list reads named this record" is a `@>` the GIN index answers; JSON text on SQLite.
RECORD_IDS = JSON().with_variant(JSONB(), "postgresql")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_record", "record_type", "record_id", "at"),
        Index("ix_audit_events_user_at", "user_id", "at"),
        Index(
            "ix_audit_events_record_ids",
            "record_ids",
            postgresql_using="gin",
            postgresql_ops={"record_ids": "jsonb_path_ops"},
        ),
    )

    # BigInteger on PostgreSQL, INTEGER on SQLite so it stays the rowid alias and autoincrements.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str | None] = mapped_column(String(32))
    # One record (a read, a write): its id. A list or search read: record_id is empty and record_ids names every
    # record the list returned, in its order, so one row stands for the whole page.
    record_id: Mapped[str | None] = mapped_column(String(64))
    record_ids: Mapped[list[str] | None] = mapped_column(RECORD_IDS)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # Names of changed fields and similar facts; values of health answers never go here.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
