"""Series and appointments: book, list, reschedule, cancel. Everything is checked again on every change."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict, InvalidInput
from api.permissions import Permission, allows
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.series import SeriesCreate
from api.services import audit
from api.services.booking import (
    BookingConflict,
    BookingContext,
    Slot,
    add_cadence_problems,
    appointment_length,
    bookable_esthetician,
    bookable_protocol,
    check_slot,
    insert_appointments,
    lock_client,
    places,
    screened,
)
from api.services.records import get_or_404
from api.services.scheduling import session_starts
from db.base import utcnow
from db.models import Appointment, AppointmentStatus, Series

ALTERNATIVE_STEP = timedelta(minutes=15)
ALTERNATIVE_DAYS = (0, 1, -1, 2, -2, 3, -3)
ALTERNATIVE_REACH = timedelta(days=max(ALTERNATIVE_DAYS), hours=12)  # how far from its slot a proposal may start


def book(session: Session, *, actor: Actor, data: SeriesCreate, clinic: ClinicSettings, today: date) -> Series:
    """Book every session of the plan in one transaction, or none and say what conflicts."""
    zone = ZoneInfo(clinic.timezone)
    _refuse_past(data.start_at)
    client = lock_client(session, client_id=data.client_id)
    protocol = bookable_protocol(session, protocol_id=data.protocol_id)
    esthetician = bookable_esthetician(session, user_id=data.esthetician_id)
    screen = screened(session, client_id=client.id, today=today, detailed=_sees_health_data(actor))
    length, occupied = appointment_length(protocol, clinic)
    slots = [
        Slot(sequence=n, start_at=start, end_at=start + length, occupied_until=start + occupied)
        for n, start in enumerate(session_starts(data.start_at, data.plan, zone), start=1)
    ]
    context = BookingContext.read(
        session,
        slots,
        places=places(session, room_id=data.room_id),
        any_room=data.room_id is None,
        esthetician=esthetician,
        client=client,
        protocol=protocol,
        clinic=clinic,
        screen=screen,
        reach=ALTERNATIVE_REACH if data.alternatives else timedelta(0),
    )
    for slot in slots:
        check_slot(slot, context)
    add_cadence_problems(slots, context.client_starts, clinic.cadence)
    if any(slot.problems for slot in slots):
        raise BookingConflict(slots, zone, _alternatives(slots, context) if data.alternatives else None)
    series = Series(
        client_id=client.id,
        protocol_id=protocol.id,
        esthetician_id=esthetician.id,
        room_id=data.room_id,
        plan=data.plan.model_dump(mode="json"),
        created_by_id=actor.user.id,
    )
    session.add(series)
    session.flush()
    insert_appointments(session, [_appointment(series, slot) for slot in slots])
    audit.record(
        session,
        actor=actor,
        action="series.book",
        record_type="series",
        record_id=series.id,
        detail={"client_id": str(client.id), "appointments": len(slots)},
    )
    return series


def _sees_health_data(actor: Actor) -> bool:
    """Whether a refusal may say which screening rule stands in the way (the front desk reads outcomes only)."""
    return allows(actor.user.role, Permission.SCREENING_ANSWERS_READ)


def _refuse_past(start_at: datetime) -> None:
    if start_at < utcnow():
        raise InvalidInput("start_at", "cannot be in the past")


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


def _alternatives(slots: list[Slot], context: BookingContext) -> dict[int, datetime]:
    """For each conflicting slot, the nearest start (same day first, then up to 3 days away) that fits.

    Asked of the context in memory: it was read for every start within ALTERNATIVE_REACH of the slots."""
    kept = [s for s in slots if not s.problems]
    found: dict[int, datetime] = {}
    for slot in (s for s in slots if s.problems):
        for start in _candidate_starts(slot.start_at):
            trial = Slot(
                sequence=slot.sequence,
                start_at=start,
                end_at=start + (slot.end_at - slot.start_at),
                occupied_until=start + (slot.occupied_until - slot.start_at),
            )
            check_slot(trial, context)
            if not trial.problems:  # the cadence last: it is the slowest to judge
                add_cadence_problems(
                    [trial], [*context.client_starts, *(k.start_at for k in kept)], context.clinic.cadence
                )
            if not trial.problems:
                found[slot.sequence] = start
                kept.append(trial)
                break
    return found


def _candidate_starts(wanted: datetime) -> list[datetime]:
    steps = int(timedelta(hours=12) / ALTERNATIVE_STEP)
    same_day_first = [wanted + ALTERNATIVE_STEP * k * sign for k in range(1, steps) for sign in (1, -1)]
    other_days = [
        wanted + timedelta(days=d) + ALTERNATIVE_STEP * k * sign
        for d in ALTERNATIVE_DAYS[1:]
        for k in range(0, steps)
        for sign in (1, -1)
    ]
    return list(dict.fromkeys(same_day_first + other_days))  # k=0 gives each other day's time twice


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
        _refuse_past(start_at)
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
        screen=screened(session, client_id=client.id, today=today, detailed=_sees_health_data(actor)),
        ignore=appointment.id,
    )
    check_slot(slot, context)
    add_cadence_problems([slot], context.client_starts, clinic.cadence)
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
