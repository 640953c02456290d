"""One appointment: what it is, moving it (every rule checked again by the booking service) and cancelling it
(this one, or it and the rest of its series), as the API allows."""

import uuid
from datetime import date, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import ClinicDep, ClinicToday, SessionDep
from api.errors import AppError, InvalidInput
from api.permissions import Permission, allows
from api.schemas.clinic_settings import ClinicSettings
from api.services import rooms, series, users
from api.services.scheduling import local_to_utc
from db.models import AppointmentStatus, Role
from web.deps import CheckedForm, page_requires
from web.errors import PageRoute
from web.templating import SECURITY_HEADERS, render
from web.today import cards_for, room_columns

router = APIRouter(route_class=PageRoute, include_in_schema=False)
BookingsReader = Annotated[Actor, Depends(page_requires(Permission.BOOKINGS_READ))]
BookingsWriter = Annotated[Actor, Depends(page_requires(Permission.BOOKINGS_WRITE))]
FIELD_NAMES = {"start_at": "The new date and time", "room_id": "The room", "esthetician_id": "The esthetician"}
DONE = {"moved": "The appointment was moved.", "cancelled": "Cancelled: {n} appointment{s}."}


@router.get("/appointments/{appointment_id}")
def appointment_page(
    appointment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: BookingsReader,
    clinic: ClinicDep,
    today: ClinicToday,
    done: str | None = None,
    n: int = 1,
) -> Response:
    """The appointment, with the forms to move or cancel it while it is booked."""
    notice = DONE[done].format(n=n, s="" if n == 1 else "s") if done in DONE else None
    return _page(
        request, session, actor=actor, appointment_id=appointment_id, clinic=clinic, today=today, notice=notice
    )


@router.post("/appointments/{appointment_id}/move")
def move(
    appointment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: BookingsWriter,
    form: CheckedForm,
    clinic: ClinicDep,
    today: ClinicToday,
) -> Response:
    """Reschedule through the booking service: another time, room or esthetician, every rule checked again."""
    wanted = {name: str(form.get(name) or "") for name in ("day", "start", "room_id", "esthetician_id")}
    try:
        start_at = local_to_utc(
            date.fromisoformat(wanted["day"]), time.fromisoformat(wanted["start"]), ZoneInfo(clinic.timezone)
        )
        room_id, esthetician_id = uuid.UUID(wanted["room_id"]), uuid.UUID(wanted["esthetician_id"])
    except ValueError:
        return _page(
            request,
            session,
            actor=actor,
            appointment_id=appointment_id,
            clinic=clinic,
            today=today,
            wanted=wanted,
            problem="Give a date, a start time, a room and an esthetician.",
            status_code=422,
        )
    try:
        series.reschedule(
            session,
            actor=actor,
            appointment_id=appointment_id,
            start_at=start_at,
            room_id=room_id,
            esthetician_id=esthetician_id,
            clinic=clinic,
            today=today,
        )
    except AppError as exc:
        return _refused(
            request, session, exc, actor=actor, appointment_id=appointment_id, clinic=clinic, today=today, wanted=wanted
        )
    return _redirect(f"/appointments/{appointment_id}?done=moved")


@router.post("/appointments/{appointment_id}/cancel")
def cancel(
    appointment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: BookingsWriter,
    form: CheckedForm,
    clinic: ClinicDep,
    today: ClinicToday,
) -> Response:
    """Cancel this appointment, or it and every later booked one of its series."""
    try:
        cancelled = series.cancel(
            session,
            actor=actor,
            appointment_id=appointment_id,
            rest_of_series=form.get("scope") == "rest_of_series",
            reason=str(form.get("reason") or "").strip()[:500],
        )
    except AppError as exc:
        return _refused(request, session, exc, actor=actor, appointment_id=appointment_id, clinic=clinic, today=today)
    return _redirect(f"/appointments/{appointment_id}?done=cancelled&n={len(cancelled)}")


def _refused(request: Request, session: Session, exc: AppError, **page: Any) -> Response:
    """The service's refusal in its own words, beside the form; nothing it had begun is kept."""
    session.rollback()
    problem = exc.detail
    if isinstance(exc, InvalidInput) and exc.field in FIELD_NAMES:
        problem = f"{FIELD_NAMES[exc.field]}: {exc.message}."
    reasons = [reason["message"] for conflict in exc.extra.get("conflicts", []) for reason in conflict["reasons"]]
    if reasons:
        problem = "The appointment was not moved, because:"
    return _page(request, session, problem=problem, reasons=reasons, status_code=exc.status_code, **page)


def _page(
    request: Request,
    session: Session,
    *,
    actor: Actor,
    appointment_id: uuid.UUID,
    clinic: ClinicSettings,
    today: date,
    wanted: dict[str, str] | None = None,
    notice: str | None = None,
    problem: str | None = None,
    reasons: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    appointment = series.get_appointment(session, appointment_id=appointment_id)
    zone = ZoneInfo(clinic.timezone)
    day = appointment.start_at.astimezone(zone).date()
    [card] = cards_for(session, actor=actor, appointment_ids=[appointment.id], day=day, today=today, zone=zone)
    _, in_series = series.get(session, series_id=appointment.series_id)
    rest = [a for a in in_series if a.status == AppointmentStatus.BOOKED and a.sequence >= appointment.sequence]
    devices = {d.id: d for room in room_columns(session) for d in room.devices}
    changeable = appointment.status == AppointmentStatus.BOOKED and allows(actor.user.role, Permission.BOOKINGS_WRITE)
    return render(
        request,
        "appointment.html",
        actor=actor,
        title=f"{card.client_name}, {card.start:%d %b %H:%M}",
        card=card,
        day=day,
        device=devices.get(appointment.device_id),
        changeable=changeable,
        rest_of_series=len(rest),
        rooms=rooms.list_rooms(session),
        room_id=str(appointment.room_id),
        estheticians=[u for u in users.list_all(session) if u.role == Role.ESTHETICIAN and u.is_active],
        esthetician_id=str(appointment.esthetician_id),
        notice=notice,
        problem=problem,
        reasons=reasons or [],
        wanted=wanted
        or {
            "day": day.isoformat(),
            "start": f"{card.start:%H:%M}",
            "room_id": str(appointment.room_id),
            "esthetician_id": str(appointment.esthetician_id),
        },
        status_code=status_code,
    )


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
