"""Alarms: what a device or a session did that someone must see and acknowledge (db/alarms.py raises them)."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, utcnow
from db.models.booking import string_enum


class AlarmSeverity(StrEnum):
    """IEC 60601-1-8 priorities: high (red), medium (yellow), low (cyan)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# The alarms that clear by themselves are one per device while they hold: a second sweep (another gateway taking
# over, the same one retried) finds the open one instead of adding another. Latching alarms are one per event.
ONE_OPEN = text("kind = 'device_offline' AND ended_at IS NULL")


class Alarm(IdMixin, Base):
    """One alarm of one device: when it began, when its condition cleared (if it clears), who acknowledged it."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_device_began", "device_id", "began_at"),
        Index("ix_alarms_acknowledged_began", "acknowledged_at", "began_at"),
        Index(
            "ix_alarms_one_open_offline",
            "device_id",
            "kind",
            unique=True,
            sqlite_where=ONE_OPEN,
            postgresql_where=ONE_OPEN,
        ),
    )

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[AlarmSeverity] = mapped_column(string_enum(AlarmSeverity, "alarm_severity"))
    began_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]  # the condition cleared (a device back online); None: it holds, or never ends
    detail: Mapped[str] = mapped_column(String(500))
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
