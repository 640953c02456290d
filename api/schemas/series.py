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


MAX_SESSIONS = 36 + 24  # the longest plan: intensive and maintenance at their most
SessionNumber = Annotated[int, Field(ge=1, le=MAX_SESSIONS)]


class SeriesCreate(StrictInput):
    client_id: uuid.UUID
    protocol_id: uuid.UUID
    esthetician_id: uuid.UUID
    room_id: uuid.UUID | None = Field(None, description="Leave out for any room with a free device")
    start_at: DateTimeWithOffset = Field(description="The first session; the others keep its local time of day")
    plan: Plan
    moved: dict[SessionNumber, DateTimeWithOffset] = Field(
        default_factory=dict,
        max_length=MAX_SESSIONS,
        description="Sessions booked at another time than the plan's, by number (1 is the first): "
        'e.g. {"3": "2026-03-12T10:45:00+00:00"}, an alternative a preview proposed. Each is checked like the '
        "others, and stays between the sessions before and after it",
    )
    alternatives: bool = Field(False, description="On conflict, also propose the nearest free times")


class SeriesPreviewRequest(SeriesCreate):
    """What would be booked: the same body as a booking, but the nearest free times are proposed by default."""

    alternatives: bool = Field(True, description="Propose the nearest free time for each session that conflicts")


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


class ProblemRead(Output):
    code: str = Field(
        description="Stable: room_busy, device_busy, esthetician_busy, client_busy, no_room_free, "
        "no_device, current_density, clinic_hours, cadence, screening_deferred, excluded_zone, order"
    )
    message: str = Field(description="In plain words, as the booking's 409 says it")


class OccurrenceRead(Output):
    sequence: int
    start_at: datetime
    end_at: datetime
    room_id: uuid.UUID | None = Field(description="The room asked for, or the one any-room booking would take")
    room_name: str | None
    device_id: uuid.UUID | None = Field(description="The device booking would hold; null while a problem stands")
    device_serial: str | None
    moved: bool = Field(description="Booked at another time than the plan's (`moved` in the body)")
    awaiting_screening: bool = Field(description="No screening covers that day yet: one is needed before it")
    problems: list[ProblemRead] = Field(description="Why it cannot be booked; empty when it can")
    alternative_start_at: datetime | None = Field(description="The nearest free start, for a session with problems")


class SeriesPreview(BaseModel):
    """Every session as booking would judge it now; nothing is written."""

    bookable: bool = Field(description="Booking this body now would succeed")
    refusal: str | None = Field(
        description="Why this client cannot be booked at all (the screening), in the words of the booking's 409"
    )
    occurrences: list[OccurrenceRead]


class AppointmentChange(StrictInput):
    start_at: DateTimeWithOffset | None = None
    room_id: uuid.UUID | None = None
    esthetician_id: uuid.UUID | None = None


class Cancellation(StrictInput):
    scope: Literal["this", "rest_of_series"] = "this"
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class Cancelled(BaseModel):
    cancelled: list[AppointmentRead]
