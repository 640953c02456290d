"""Series and appointments: book, list, reschedule, cancel. Everything is checked again on every change."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.series import SeriesCreate
from api.services import audit
from api.services.booking import (
    BookingConflict,
    BookingContext,
    Slot,
    appointment_length,
    bookable_esthetician,
    bookable_protocol,
    insert_appointments,
    lock_client,
    places,
    screened,
)
from api.services.records import get_or_404
from api.services.series_plan import plan, refuse_past, sees_health_data
from db.base import utcnow
from db.models import Appointment, AppointmentStatus, Series


def book(session: Session, *, actor: Actor, data: SeriesCreate, clinic: ClinicSettings, today: date) -> Series:
    """Book every session of the plan (the moved ones at their new times) in one transaction, or none and say what
    conflicts."""
    return book_with_appointments(session, actor=actor, data=data, clinic=clinic, today=today)[0]


def book_with_appointments(
    session: Session, *, actor: Actor, data: SeriesCreate, clinic: ClinicSettings, today: date
) -> tuple[Series, list[Appointment]]:
    """As `book`, with the appointments it wrote, in order: the same statements for 1 session or 60."""
    planned = plan(session, actor=actor, data=data, clinic=clinic, today=today, lock=True)
    if planned.refusal is not None:
        raise planned.refusal
    if not planned.bookable:
        alternatives = planned.alternatives if data.alternatives else None
        raise BookingConflict(planned.slots, planned.context.zone, alternatives)
    series = Series(
        client_id=data.client_id,
        protocol_id=data.protocol_id,
        esthetician_id=data.esthetician_id,
        room_id=data.room_id,
        plan=data.plan.model_dump(mode="json"),
        created_by_id=actor.user.id,
    )
    session.add(series)
    session.flush()  # the appointments refer to it: no relationship orders the two inserts within one flush
    appointments = [_appointment(series, slot) for slot in planned.slots]
    insert_appointments(session, appointments)
    audit.record(
        session,
        actor=actor,
        action="series.book",
        record_type="series",
        record_id=series.id,
        detail={"client_id": str(data.client_id), "appointments": len(planned.slots), "moved": len(data.moved)},
    )
    return series, appointments


def _appointment(series: Series, slot: Slot) -> Appointment:
    assert slot.room_id is not None and slot.device is not None  # a slot without problems has both
    return Appointment(
        series_id=series.id,
        sequence=slot.sequence,
        client_id=series.client_id,
        protocol_id=series.protocol_id,
        esthetician_id=series.esthetician_id,
        room_id=slot.room_id,
        device_id=slot.device.id,
        start_at=slot.start_at,
        end_at=slot.end_at,
        occupied_until=slot.occupied_until,
        status=AppointmentStatus.BOOKED,
        awaiting_screening=slot.awaiting_screening,
    )


def get(session: Session, *, series_id: uuid.UUID) -> tuple[Series, Sequence[Appointment]]:
    series = get_or_404(session, Series, series_id, "series")
    appointments = session.scalars(
        select(Appointment).where(Appointment.series_id == series_id).order_by(Appointment.sequence)
    ).all()
    return series, appointments


def list_series(session: Session, *, client_id: uuid.UUID | None) -> list[tuple[Series, list[Appointment]]]:
    """The newest 500 series, optionally of one client, each with its appointments: two statements in all."""
    query = select(Series).order_by(Series.created_at.desc())
    if client_id is not None:
        query = query.where(Series.client_id == client_id)
    found = session.scalars(query.limit(500)).all()
    appointments: defaultdict[uuid.UUID, list[Appointment]] = defaultdict(list)
    if found:
        for appointment in session.scalars(
            select(Appointment)
            .where(Appointment.series_id.in_([s.id for s in found]))
            .order_by(Appointment.series_id, Appointment.sequence)
        ):
            appointments[appointment.series_id].append(appointment)
    return [(s, appointments[s.id]) for s in found]


def list_appointments(
    session: Session,
    *,
    start: datetime | None,
    end: datetime | None,
    room_id: uuid.UUID | None,
    esthetician_id: uuid.UUID | None,
    client_id: uuid.UUID | None,
    status: AppointmentStatus | None,
    limit: int,
) -> Sequence[Appointment]:
    """Appointments starting in [start, end), by time, filtered by room, esthetician, client and status."""
    query = select(Appointment).order_by(Appointment.start_at, Appointment.id).limit(limit)
    equal = {
        Appointment.room_id: room_id,
        Appointment.esthetician_id: esthetician_id,
        Appointment.client_id: client_id,
        Appointment.status: status,
    }
    query = query.where(*(column == value for column, value in equal.items() if value is not None))
    if start is not None:
        query = query.where(Appointment.start_at >= start)
    if end is not None:
        query = query.where(Appointment.start_at < end)
    return session.scalars(query).all()


def get_appointment(session: Session, *, appointment_id: uuid.UUID) -> Appointment:
    return get_or_404(session, Appointment, appointment_id, "appointment")


def reschedule(
    session: Session,
    *,
    actor: Actor,
    appointment_id: uuid.UUID,
    start_at: datetime | None,
    room_id: uuid.UUID | None,
    esthetician_id: uuid.UUID | None,
    clinic: ClinicSettings,
    today: date,
) -> Appointment:
    """Move one appointment (time, room or esthetician); every rule is checked again, as for a new booking."""
    appointment = get_appointment(session, appointment_id=appointment_id)
    if appointment.status != AppointmentStatus.BOOKED:
        raise Conflict(f"This appointment is {appointment.status.value}; only a booked one can be moved.")
    zone = ZoneInfo(clinic.timezone)
    if start_at is not None:
        refuse_past(start_at)
    client = lock_client(session, client_id=appointment.client_id)
    protocol = bookable_protocol(session, protocol_id=appointment.protocol_id)
    esthetician = bookable_esthetician(session, user_id=esthetician_id or appointment.esthetician_id)
    length, occupied = appointment_length(protocol, clinic)
    start = start_at or appointment.start_at
    slot = Slot(sequence=appointment.sequence, start_at=start, end_at=start + length, occupied_until=start + occupied)
    context = BookingContext.read(
        session,
        [slot],
        places=places(session, room_id=room_id or appointment.room_id, keep=appointment.device_id),
        any_room=False,
        esthetician=esthetician,
        client=client,
        protocol=protocol,
        clinic=clinic,
        screen=screened(session, client_id=client.id, today=today, detailed=sees_health_data(actor)),
        ignore=appointment.id,
    )
    context.check([slot])
    if slot.problems:
        raise BookingConflict([slot], zone)
    appointment.start_at, appointment.end_at = slot.start_at, slot.end_at
    appointment.occupied_until = slot.occupied_until
    assert slot.room_id is not None and slot.device is not None  # a slot without problems has both
    appointment.room_id, appointment.device_id = slot.room_id, slot.device.id
    appointment.esthetician_id = esthetician.id
    appointment.awaiting_screening = slot.awaiting_screening
    insert_appointments(session, [])  # flush: the exclusion constraints judge the move too
    audit.record(
        session, actor=actor, action="appointment.reschedule", record_type="appointment", record_id=appointment.id
    )
    return appointment


def cancel(
    session: Session, *, actor: Actor, appointment_id: uuid.UUID, rest_of_series: bool, reason: str
) -> list[Appointment]:
    """Cancel one appointment, or it and every later booked one of its series."""
    appointment = get_appointment(session, appointment_id=appointment_id)
    if appointment.status != AppointmentStatus.BOOKED:
        raise Conflict(f"This appointment is already {appointment.status.value}.")
    targets = [appointment]
    if rest_of_series:
        targets = list(
            session.scalars(
                select(Appointment)
                .where(
                    Appointment.series_id == appointment.series_id,
                    Appointment.status == AppointmentStatus.BOOKED,
                    Appointment.sequence >= appointment.sequence,
                )
                .order_by(Appointment.sequence)
            )
        )
    now = utcnow()
    for target in targets:
        target.status = AppointmentStatus.CANCELLED
        target.cancelled_at, target.cancelled_by_id, target.cancel_reason = now, actor.user.id, reason or None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="appointment.cancel",
        record_type="appointment",
        record_id=appointment.id,
        detail={"cancelled": len(targets)},
    )
    return targets
