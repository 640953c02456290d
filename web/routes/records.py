"""Session records (`/sessions/{id}`): prescribed against delivered per step, a chart of the whole treatment,
contact losses, missing messages, incidents, who started and stopped it; the medical director's sign-off and the
addenda; and a print view for the client's file (`/sessions/{id}/print`). The same services and permission table as
the API: the sign-off service says whether a record may be signed, and refuses in its own words."""

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.actor import Actor
from api.deps import ClinicDep, SessionDep
from api.errors import AppError
from api.permissions import Permission, allows
from api.schemas.screening import DAY_OF_ZONES
from api.schemas.sessions import AddendumCreate, PartRead, SessionRead, SignOffCreate
from api.services import session_records, sessions, sign_off
from api.validation_messages import describe_validation_errors
from db.base import utcnow
from db.lifecycle import SessionStatus
from web.deps import CheckedForm, page_requires
from web.errors import PageRoute
from web.questionnaire import QUESTIONS
from web.record_chart import PRINTED_HEIGHT, clock, draw
from web.templating import SECURITY_HEADERS, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Posted = TypeVar("Posted", bound=BaseModel)
Reader = Annotated[Actor, Depends(page_requires(Permission.SESSIONS_READ))]
Signer = Annotated[Actor, Depends(page_requires(Permission.SESSIONS_SIGN_OFF))]
Amender = Annotated[Actor, Depends(page_requires(Permission.SESSIONS_AMEND))]
DONE = {"signed": "The record is signed off. It can no longer change.", "amended": "The addendum was added."}
INCIDENTS = {
    "over_current": "Over-current: output stopped",
    "over_time": "Over time: output stopped",
    "device_offline": "Device lost",
    "device_back": "Device back",
    "fault": "Device fault",
    "rejected": "Arming refused",
}
GATEWAY_STOPS = ("over_current", "over_time")  # incidents after which the gateway sent the stop


@router.get("/sessions/{session_id}")
def record_page(
    session_id: uuid.UUID, request: Request, session: SessionDep, actor: Reader, clinic: ClinicDep, done: str = ""
) -> Response:
    """The record, with the forms its reader's role may use."""
    return _page(request, session, actor=actor, session_id=session_id, zone=ZoneInfo(clinic.timezone), notice=done)


@router.get("/sessions/{session_id}/print")
def print_view(
    session_id: uuid.UUID, request: Request, session: SessionDep, actor: Reader, clinic: ClinicDep
) -> Response:
    """The record on one A4 page, for the client's file: no forms."""
    return _page(request, session, actor=actor, session_id=session_id, zone=ZoneInfo(clinic.timezone), printed=True)


@router.post("/sessions/{session_id}/sign-off")
def sign(
    session_id: uuid.UUID, request: Request, session: SessionDep, actor: Signer, form: CheckedForm, clinic: ClinicDep
) -> Response:
    """Sign the record off with the note given, or show the service's refusal beside the form."""
    zone = ZoneInfo(clinic.timezone)

    def signed(note: SignOffCreate) -> None:
        sign_off.sign_off(session, actor=actor, session_id=session_id, note=note.note, zone=zone)

    page = {"actor": actor, "session_id": session_id, "zone": zone}
    return _posted(request, session, form, "note", SignOffCreate, signed, done="signed#sign-off", page=page)


@router.post("/sessions/{session_id}/addenda")
def amend(
    session_id: uuid.UUID, request: Request, session: SessionDep, actor: Amender, form: CheckedForm, clinic: ClinicDep
) -> Response:
    """Add an addendum; the record itself stays as it was."""

    def added(addendum: AddendumCreate) -> None:
        sign_off.add_addendum(session, actor=actor, session_id=session_id, text=addendum.text)

    page = {"actor": actor, "session_id": session_id, "zone": ZoneInfo(clinic.timezone)}
    return _posted(request, session, form, "text", AddendumCreate, added, done="amended#addenda", page=page)


def _posted(
    request: Request,
    session: Session,
    form: FormData,
    field: str,
    schema: type[Posted],
    act: Callable[[Posted], None],
    *,
    done: str,
    page: dict[str, Any],
) -> Response:
    """Read the form's one text field as the API's schema reads it, and act; then back to the record, or the
    record again with the refusal in the service's words (or the form's problem) and what was typed."""
    typed = str(form.get(field) or "")
    try:
        act(schema.model_validate({field: typed}))
    except (AppError, ValidationError) as exc:
        return _refused(request, session, exc, typed={field: typed}, **page)
    return _redirect(f"/sessions/{page['session_id']}?done={done}")


def _refused(request: Request, session: Session, exc: AppError | ValidationError, **page: Any) -> Response:
    """The refusal in the service's words (or the form's problem), above the page; what was typed stays."""
    session.rollback()
    if isinstance(exc, ValidationError):
        problem = "; ".join(e["message"].capitalize() for e in describe_validation_errors(exc.errors()))
        return _page(request, session, problem=problem, status_code=422, **page)
    return _page(request, session, problem=exc.detail, status_code=exc.status_code, **page)


def _page(
    request: Request,
    session: Session,
    *,
    actor: Actor,
    session_id: uuid.UUID,
    zone: ZoneInfo,
    notice: str = "",
    problem: str | None = None,
    typed: dict[str, str] | None = None,
    printed: bool = False,
    status_code: int = 200,
) -> Response:
    treatment = sessions.read(session, actor=actor, session_id=session_id)  # audited, as the API's read
    raw, chart = session_records.full(session, actor=actor, treatment=treatment)
    record = SessionRead.model_validate(raw)
    about = session_records.about(session, treatment=treatment)
    role = actor.user.role
    return render(
        request,
        "records/print.html" if printed else "records/page.html",
        actor=actor,
        title=f"Session record: {about.client.first_name} {about.client.last_name}",
        record=record,
        about=about,
        zone=zone,
        seconds=clock,
        chart=draw(chart, height=PRINTED_HEIGHT) if printed else draw(chart),
        summary=summary(record),
        endings={part.session_id: ending(part, record, zone) for part in record.parts},
        part_numbers={part.session_id: number for number, part in enumerate(record.parts, start=1)},
        incident_words=INCIDENTS,
        day_of=answers(record.day_of),
        may_sign=allows(role, Permission.SESSIONS_SIGN_OFF) and record.sign_off is None,
        not_yet=sign_off.unfinished(record.status, [part.status for part in record.parts]),
        may_amend=allows(role, Permission.SESSIONS_AMEND),
        notice=DONE.get(notice),
        problem=problem,
        typed=typed or {},
        printed=printed,
        printed_at=utcnow().astimezone(zone),
        status_code=status_code,
    )


def ending(part: PartRead, record: SessionRead, zone: ZoneInfo) -> str:
    """How one session of the treatment ended, and by whose hand, in words."""
    if part.status == SessionStatus.COMPLETED:
        return "Completed every step"
    if part.status == SessionStatus.STOPPED:
        if part.stop_requested_by is not None and part.stop_requested_at is not None:
            asked = part.stop_requested_at.astimezone(zone)
            return f"Stopped by {part.stop_requested_by.full_name} from Galvani at {asked:%H:%M:%S}"
        mine = [i for i in record.incidents if i.session_id == part.session_id and i.kind in GATEWAY_STOPS]
        return f"Stopped by the gateway's safety check: {mine[0].detail}" if mine else "Stopped on the device"
    if part.status == SessionStatus.INTERRUPTED:
        return "Interrupted: the device lost touch"
    if part.status == SessionStatus.REJECTED:
        return "Never started: the device refused the protocol"
    return f"Not ended yet: {part.status.value}"


def summary(record: SessionRead) -> str:
    """The chart's text equivalent in one paragraph: each step's prescribed and delivered current, the losses."""
    steps = [
        f"step {s.step + 1}, {s.zone}: prescribed {s.prescribed_current_ua:g} µA for {s.prescribed_duration_s} s; "
        + (
            f"delivered mean {s.delivered_mean_ua:g} µA, peak {s.delivered_peak_ua:g} µA over {s.output_s:g} s"
            if s.delivered_mean_ua is not None and s.delivered_peak_ua is not None
            else "nothing delivered"
        )
        for s in record.steps
    ]
    losses = len(record.contact_losses)
    lost = f"{losses} contact loss{'es' if losses != 1 else ''}" if losses else "no contact loss"
    return f"Delivered current by second against the prescribed current: {'; '.join(steps)}. {lost.capitalize()}."


def answers(day_of: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The day-of answers in the questionnaire's words (only for roles that see health data: else None, none)."""
    if day_of is None:
        return []
    return [
        (QUESTIONS[name].label if name in QUESTIONS else name, _answer(name, value)) for name, value in day_of.items()
    ]


def _answer(name: str, value: Any) -> str:
    """Yes or No; a date, or Never; zones, none, or as screened (zones may be left out on the day)."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if name in DAY_OF_ZONES:
        return ", ".join(value) if value else ("None" if value == [] else "As screened")
    return "Never" if value is None else date.fromisoformat(str(value)).strftime("%-d %b %Y")


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
