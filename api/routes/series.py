"""Treatment series and appointments."""

import uuid
from collections.abc import Sequence
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, status

from api.deps import BookingsReader, BookingsWriter, ClinicDep, ClinicToday, SessionDep
from api.openapi import CONFLICT
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.common import DateTimeWithOffset
from api.schemas.series import (
    AppointmentChange,
    AppointmentRead,
    Cancellation,
    Cancelled,
    OccurrenceRead,
    SeriesCreate,
    SeriesPreview,
    SeriesPreviewRequest,
    SeriesRead,
)
from api.services import series, series_plan
from db.models import Appointment, AppointmentStatus, Series

router = APIRouter(tags=["series and appointments"])


@router.post("/series", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def book_series(
    data: SeriesCreate, session: SessionDep, actor: BookingsWriter, clinic: ClinicDep, today: ClinicToday
) -> SeriesRead:
    """Book every session of a plan at once (`moved` ones at their new times), or nothing: a 409 lists every
    session that conflicts and why."""
    booked, appointments = series.book_with_appointments(session, actor=actor, data=data, clinic=clinic, today=today)
    return _series(booked, appointments, clinic)


@router.post("/series/preview")
def preview_series(
    data: SeriesPreviewRequest, session: SessionDep, actor: BookingsWriter, clinic: ClinicDep, today: ClinicToday
) -> SeriesPreview:
    """What booking this body would do now, writing nothing: every session with its room, device and problems (the
    409's reasons), the nearest free time for each that conflicts, and why the client cannot be booked at all."""
    planned = series_plan.plan(session, actor=actor, data=data, clinic=clinic, today=today)
    return SeriesPreview(
        bookable=planned.bookable,
        refusal=planned.refusal.detail if planned.refusal else None,
        occurrences=[OccurrenceRead.model_validate(o) for o in planned.occurrences()],
    )


@router.get("/series")
def list_series(
    session: SessionDep, _actor: BookingsReader, clinic: ClinicDep, client_id: uuid.UUID | None = None
) -> list[SeriesRead]:
    """Series, newest first, optionally of one client."""
    return [_series(s, appointments, clinic) for s, appointments in series.list_series(session, client_id=client_id)]


@router.get("/series/{series_id}")
def read_series(series_id: uuid.UUID, session: SessionDep, _actor: BookingsReader, clinic: ClinicDep) -> SeriesRead:
    """One series with all its appointments."""
    found, appointments = series.get(session, series_id=series_id)
    return _series(found, appointments, clinic)


@router.get("/appointments")
def list_appointments(
    session: SessionDep,
    _actor: BookingsReader,
    clinic: ClinicDep,
    start: DateTimeWithOffset | None = None,
    end: DateTimeWithOffset | None = None,
    room_id: uuid.UUID | None = None,
    esthetician_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    status: AppointmentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[AppointmentRead]:
    """Appointments starting in [start, end), by time: a day's rooms, an esthetician's week, a client's series."""
    found = series.list_appointments(
        session,
        start=start,
        end=end,
        room_id=room_id,
        esthetician_id=esthetician_id,
        client_id=client_id,
        status=status,
        limit=limit,
    )
    return [_appointment(a, clinic) for a in found]


@router.patch("/appointments/{appointment_id}", responses=CONFLICT)
def reschedule_appointment(
    appointment_id: uuid.UUID,
    data: AppointmentChange,
    session: SessionDep,
    actor: BookingsWriter,
    clinic: ClinicDep,
    today: ClinicToday,
) -> AppointmentRead:
    """Move one appointment to another time, room or esthetician; every rule is checked again."""
    moved = series.reschedule(
        session,
        actor=actor,
        appointment_id=appointment_id,
        start_at=data.start_at,
        room_id=data.room_id,
        esthetician_id=data.esthetician_id,
        clinic=clinic,
        today=today,
    )
    return _appointment(moved, clinic)


@router.post("/appointments/{appointment_id}/cancel", responses=CONFLICT)
def cancel_appointment(
    appointment_id: uuid.UUID, data: Cancellation, session: SessionDep, actor: BookingsWriter, clinic: ClinicDep
) -> Cancelled:
    """Cancel this appointment, or it and the rest of its series."""
    cancelled = series.cancel(
        session,
        actor=actor,
        appointment_id=appointment_id,
        rest_of_series=data.scope == "rest_of_series",
        reason=data.reason,
    )
    return Cancelled(cancelled=[_appointment(a, clinic) for a in cancelled])


def _appointment(appointment: Appointment, clinic: ClinicSettings) -> AppointmentRead:
    """Times in the clinic's own offset, as staff read them."""
    read = AppointmentRead.model_validate(appointment)
    zone = ZoneInfo(clinic.timezone)
    return read.model_copy(update={"start_at": read.start_at.astimezone(zone), "end_at": read.end_at.astimezone(zone)})


def _series(found: Series, appointments: Sequence[Appointment], clinic: ClinicSettings) -> SeriesRead:
    return SeriesRead(
        id=found.id,
        client_id=found.client_id,
        protocol_id=found.protocol_id,
        esthetician_id=found.esthetician_id,
        room_id=found.room_id,
        plan=found.plan,
        created_at=found.created_at,
        appointments=[_appointment(a, clinic) for a in appointments],
    )
