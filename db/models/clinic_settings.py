"""The clinic's settings, one row holding a document validated by the API's schema, and whether they were confirmed."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow

SETTINGS_ROW_ID = 1


class ClinicSettingsRecord(Base):
    __tablename__ = "clinic_settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=SETTINGS_ROW_ID)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # When the clinic's time zone and opening hours were confirmed: by an admin saving both (confirmed_by_id), or
    # by the environment at first start (no one). Until then the clinic runs on defaults and admins are asked.
    confirmed_at: Mapped[datetime | None]
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
