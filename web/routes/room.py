"""The treatment room (`/appointments/{id}/room`, on the room's tablet): the day-of questions, Start session, the live
current chart and Stop, through the same services as the API's session routes."""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import ClinicDep, ClinicToday, SessionDep
from api.errors import AppError, Conflict, InvalidInput
from api.schemas.clinic_settings import ClinicSettings
from api.services import sessions
from db.base import utcnow
from web.deps import CheckedForm, page_requires
from web.errors import PageRoute
from web.room import ROOM_PERMISSION, latest_session, read_room, record, words_for_the_page
from web.room_form import DATE, GROUPS, NEVER, NO, ON, YES, ZONES, DayOfForm, read_day_of, refused_answer
from web.templating import SECURITY_HEADERS, render

ROOM = "/appointments/{appointment_id}/room"  # the appointment is read by `asked`, below
router = APIRouter(prefix=ROOM, route_class=PageRoute, include_in_schema=False)
UNANSWERED = "Answer every question before starting: the ones marked below are not answered yet."
REFUSED = "The session was not started, because:"


@dataclass(frozen=True)
class Asked:
    """What every request of the room is about: the appointment, who asks (a role that runs sessions), the clinic."""

    appointment_id: uuid.UUID
    actor: Actor
    clinic: ClinicSettings
    today: date

    @property
    def path(self) -> str:
        return ROOM.format(appointment_id=self.appointment_id)


def asked(
    appointment_id: uuid.UUID,
    actor: Annotated[Actor, Depends(page_requires(ROOM_PERMISSION))],
    clinic: ClinicDep,
    today: ClinicToday,
) -> Asked:
    return Asked(appointment_id, actor, clinic, today)


RoomAsked = Annotated[Asked, Depends(asked)]


@router.get("")
def room_page(request: Request, session: SessionDep, room: RoomAsked) -> Response:
    """The room as it is now: before the start, the session under way, or how it ended."""
    return _page(request, session, room)


@router.post("/start")
def start(request: Request, session: SessionDep, room: RoomAsked, form: CheckedForm) -> Response:
    """Arm the device through the start service, with the day-of answers given here; else every reason why not."""
    answers = read_day_of(form)
    if answers.answers is None:
        return _page(request, session, room, day_of=answers, problem=UNANSWERED, status_code=422)
    try:
        sessions.start(
            session,
            actor=room.actor,
            appointment_id=room.appointment_id,
            day_of=answers.answers,
            clinic=room.clinic,
            today=room.today,
        )
    except AppError as exc:
        session.rollback()  # nothing of a refused start is kept, as in the API
        if isinstance(exc, InvalidInput) and refused_answer(answers, exc):
            return _page(request, session, room, day_of=answers, problem=UNANSWERED, status_code=422)
        reasons = [reason["message"] for reason in exc.extra.get("reasons", [])]
        problem = REFUSED if reasons else exc.detail
        return _page(request, session, room, day_of=answers, problem=problem, reasons=reasons, status_code=409)
    return RedirectResponse(room.path, status_code=303, headers=SECURITY_HEADERS)


@router.post("/stop")
def stop(request: Request, session: SessionDep, room: RoomAsked, form: CheckedForm) -> Response:
    """End output now: a stop command to the device. The page then waits for the device to confirm."""
    latest = latest_session(session, appointment_id=room.appointment_id)
    try:
        if latest is None:
            raise Conflict("No session has been started for this appointment: there is nothing to stop.")
        sessions.stop(session, actor=room.actor, session_id=latest.id)
    except AppError as exc:
        session.rollback()
        said, refused = exc.detail, True
    else:
        sent = utcnow().astimezone(ZoneInfo(room.clinic.timezone))
        said, refused = f"Stop sent at {sent:%H:%M:%S}. Waiting for the device to confirm…", False
    if not request.headers.get("HX-Request"):  # no script: the page again, which shows the state
        return RedirectResponse(room.path, status_code=303, headers=SECURITY_HEADERS)
    status_code = 409 if refused else 200
    return render(
        request, "room/_stop_said.html", actor=room.actor, said=said, refused=refused, status_code=status_code
    )


@router.get("/record")
def record_fragment(request: Request, session: SessionDep, room: RoomAsked) -> Response:
    """The session's record, shown in the room once the device has ended it."""
    ended = record(session, actor=room.actor, appointment_id=room.appointment_id)
    return render(request, "room/_record.html", actor=room.actor, record=ended)


def _page(
    request: Request,
    session: Session,
    room: Asked,
    *,
    day_of: DayOfForm | None = None,
    problem: str | None = None,
    reasons: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    view = read_room(
        session, actor=room.actor, appointment_id=room.appointment_id, clinic=room.clinic, today=room.today
    )
    return render(
        request,
        "room/page.html",
        actor=room.actor,
        title=f"Treatment room: {view.client_name}",
        view=view,
        record=record(session, actor=room.actor, appointment_id=room.appointment_id) if view.phase == "ended" else None,
        groups=GROUPS,
        zones=ZONES,
        date_suffix=DATE,
        choices={"yes": YES, "no": NO, "never": NEVER, "on": ON},
        day_of=day_of or DayOfForm(),
        problem=problem,
        reasons=reasons or [],
        words=words_for_the_page(),
        status_code=status_code,
    )
