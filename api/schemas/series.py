"""Treatment series and their appointments."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import DateTimeWithOffset, Output, StrictInput
from db.models import AppointmentStatus


class IntensivePhase(StrictInput):
    sessions: int = Field(ge=1, le=36)
    per_week: int = Field(ge=1, le=3, description="Sessions a week: 1, 2 (e.g. Mon and Thu) or 3 (Mon, Wed, Fri)")


class MaintenancePhase(StrictInput):
    sessions: int = Field(ge=1, le=24)
    interval_weeks: int = Field(ge=1, le=12)


class Plan(StrictInput):
    intensive: IntensivePhase
    maintenance: MaintenancePhase | None = None


class SeriesCreate(StrictInput):
    client_id: uuid.UUID
    protocol_id: uuid.UUID
    esthetician_id: uuid.UUID
    room_id: uuid.UUID | None = Field(None, description="Leave out for any room with a free device")
    start_at: DateTimeWithOffset = Field(description="The first session; the others keep its local time of day")
    plan: Plan
    alternatives: bool = Field(False, description="On conflict, also propose the nearest free times")


class AppointmentRead(Output):
    id: uuid.UUID
    series_id: uuid.UUID
    sequence: int
    client_id: uuid.UUID
    protocol_id: uuid.UUID
    esthetician_id: uuid.UUID
    room_id: uuid.UUID
    device_id: uuid.UUID
    start_at: datetime
    end_at: datetime
    status: AppointmentStatus
    awaiting_screening: bool


class SeriesRead(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    protocol_id: uuid.UUID
    esthetician_id: uuid.UUID
    room_id: uuid.UUID | None
    plan: Plan
    created_at: datetime
    appointments: list[AppointmentRead]


class AppointmentChange(StrictInput):
    start_at: DateTimeWithOffset | None = None
    room_id: uuid.UUID | None = None
    esthetician_id: uuid.UUID | None = None


class Cancellation(StrictInput):
    scope: Literal["this", "rest_of_series"] = "this"
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class Cancelled(BaseModel):
    cancelled: list[AppointmentRead]
