"""Screenings, the versioned rules they are judged by, and physicians' approvals."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, utcnow
from db.vocabulary import ApprovalScope


class ScreeningRuleSet(Base):
    """One version of the adjustable screening parameters; a change adds a version, never edits one."""

    __tablename__ = "screening_rule_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Screening(IdMixin, Base):
    """A client's answers and what the rules made of them on that day. Health data."""

    __tablename__ = "screenings"
    __table_args__ = (Index("ix_screenings_client_created", "client_id", "created_at"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    screened_on: Mapped[date]
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The rules' verdict before physicians' approvals, which are applied when the screening is read.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    excluded_zones: Mapped[list[str]] = mapped_column(JSON)
    eligible_from: Mapped[date | None]
    valid_until: Mapped[date]
    rule_set_version: Mapped[int] = mapped_column(ForeignKey("screening_rule_sets.version"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class PhysicianApproval(IdMixin, Base):
    """A physician's written approval to treat despite a condition, for one scope, until a date."""

    __tablename__ = "physician_approvals"
    __table_args__ = (Index("ix_physician_approvals_client_scope", "client_id", "scope"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    scope: Mapped[ApprovalScope] = mapped_column(
        Enum(
            ApprovalScope,
            name="approval_scope",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda scopes: [s.value for s in scopes],
        )
    )
    physician_name: Mapped[str] = mapped_column(String(200))
    approved_on: Mapped[date]
    valid_until: Mapped[date]
    document_reference: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revocation_reason: Mapped[str | None] = mapped_column(String(500))

    def valid_on(self, day: date) -> bool:
        return self.revoked_at is None and self.approved_on <= day <= self.valid_until
