"""Booking a series (`/series/new`): every occurrence shown with its conflicts and alternatives
before Book series books them; and a booked series (`/series/{id}`), listing its appointments.

The sessions are judged by api/services/series_plan.py and booked by api/services/series.py, as the API's
`POST /series/preview` and `POST /series` do; this module reads the form and lays out their answers."""

import uuid
from contextlib import suppress
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import ClinicDep, ClinicToday, SessionDep
from api.errors import AppError, InvalidInput, NotFound
from api.permissions import Permission
from api.schemas.clients import ClientRead
from api.schemas.clinic_settings import ClinicSettings
from api.services import clients, series, series_plan
from api.services.booking import ClientRefused
from api.services.series_plan import Planned
from web import nav
from web.deps import CheckedForm, page_for, page_requires
from web.errors import PageRoute
from web.series_form import Attempt, FieldProblem, field_problem, read_form, rows, signature
from web.series_page import Offered, booked_series, choices
from web.templating import SECURITY_HEADERS, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Booker = Annotated[Actor, Depends(page_for(nav.BOOK_SERIES))]
BookingsReader = Annotated[Actor, Depends(page_requires(Permission.BOOKINGS_READ))]
MATCHES = 8  # clients listed under the search box
CHANGED = (
    "Nothing was booked: the plan changed after the sessions were shown. Here they are as they would be booked "
    "now; check them and press Book series again."
)


@router.get("/series/new")
def new_series(
    request: Request, session: SessionDep, actor: Booker, clinic: ClinicDep, today: ClinicToday, client_id: str = ""
) -> Response:
    """The booking form; the client is chosen already when the client's page links here (`?client_id=`)."""
    offered = choices(session, clinic)
    attempt = read_form({"client_id": client_id} | offered.only_choices(), ZoneInfo(clinic.timezone))
    return _answer(request, session, actor, attempt, clinic, today, offered=offered)


@router.get("/series/new/clients")
def client_matches(
    request: Request, session: SessionDep, actor: Booker, client_q: str = "", client_id: str = ""
) -> Response:
    """The clients matching what was typed in the search box (the chosen one kept first), as the API searches."""
    found, more = _matches(session, actor, client_q, client_id)
    return render(request, "series/_clients.html", actor=actor, clients=found, more=more, q=client_q, chosen=client_id)


@router.post("/series/new/preview")
def preview(
    request: Request, session: SessionDep, actor: Booker, form: CheckedForm, clinic: ClinicDep, today: ClinicToday
) -> Response:
    """Every session of the plan, checked as booking checks it, with the nearest free time for each conflict."""
    return _answer(request, session, actor, read_form(form, ZoneInfo(clinic.timezone)), clinic, today)


@router.post("/series/new")
def book(
    request: Request, session: SessionDep, actor: Booker, form: CheckedForm, clinic: ClinicDep, today: ClinicToday
) -> Response:
    """Book every session shown (the moved ones at their new times) in one go, or say why not and show them again."""
    zone = ZoneInfo(clinic.timezone)
    attempt = read_form(form, zone)
    if attempt.data is None:
        return _answer(request, session, actor, attempt, clinic, today, status_code=422)
    try:
        if form.get("shown") != signature(series_plan.starts(attempt.data, zone)):
            return _answer(request, session, actor, attempt, clinic, today, notice=CHANGED, status_code=409)
        data = attempt.data.model_copy(update={"alternatives": False})  # the page plans them afresh if refused
        booked = series.book(session, actor=actor, data=data, clinic=clinic, today=today)
    except AppError as exc:
        session.rollback()
        notice = _not_booked(exc)
        return _answer(request, session, actor, attempt, clinic, today, notice=notice, status_code=exc.status_code)
    done = f"/series/{booked.id}?booked=1"
    if request.headers.get("HX-Request"):
        return Response("Booked.", headers=SECURITY_HEADERS | {"HX-Redirect": done})
    return RedirectResponse(done, status_code=303, headers=SECURITY_HEADERS)


@router.get("/series/{series_id}")
def series_page(
    series_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: BookingsReader,
    clinic: ClinicDep,
    booked: bool = False,
) -> Response:
    """A series with every appointment, each linked, and its days on Today: where booking one leads."""
    shown = booked_series(session, actor=actor, series_id=series_id, zone=ZoneInfo(clinic.timezone))
    return render(request, "series/booked.html", actor=actor, title=shown.title, shown=shown, booked=booked)


def _not_booked(exc: AppError) -> str:
    """Why nothing was booked, beside the sessions planned afresh (which show a refusal or bad input themselves)."""
    if isinstance(exc, ClientRefused | InvalidInput):
        return "Nothing was booked."
    return f"{exc.detail} The sessions below are as things stand now."


def _answer(
    request: Request,
    session: Session,
    actor: Actor,
    attempt: Attempt,
    clinic: ClinicSettings,
    today: date,
    *,
    notice: str | None = None,
    status_code: int = 200,
    offered: Offered | None = None,
) -> Response:
    """The sessions planned for what was asked (a fragment for htmx, else the whole page with its form)."""
    planned, problem = _plan(session, actor, attempt, clinic, today)
    context: dict[str, Any] = {
        "attempt": attempt,
        "problems": attempt.problems + ([problem] if problem else []),
        "planned": planned,
        "rows": rows(planned, attempt.moves) if planned else [],
        "shown": signature([s.start_at for s in planned.slots]) if planned else "",
        "notice": notice,
        "timezone": clinic.timezone,
    }
    if request.headers.get("HX-Request"):
        return render(request, "series/_occurrences.html", actor=actor, status_code=status_code, **context)
    found, more = _matches(session, actor, attempt.values["client_q"], attempt.values["client_id"])
    return render(
        request,
        "series/page.html",
        actor=actor,
        title="Book a series",
        status_code=status_code,
        offered=offered or choices(session, clinic),
        values=attempt.values,
        clients=found,
        more=more,
        q=attempt.values["client_q"],
        chosen=attempt.values["client_id"],
        **context,
    )


def _plan(
    session: Session, actor: Actor, attempt: Attempt, clinic: ClinicSettings, today: date
) -> tuple[Planned | None, FieldProblem | None]:
    """The service's plan of the body, or the field it refused (a draft protocol, a room that is gone...)."""
    if attempt.data is None:
        return None, None
    try:
        return series_plan.plan(session, actor=actor, data=attempt.data, clinic=clinic, today=today), None
    except InvalidInput as exc:
        return None, field_problem(exc.field, exc.message)


def _matches(session: Session, actor: Actor, q: str, chosen: str) -> tuple[list[ClientRead], bool]:
    """Up to MATCHES clients for the search box (none for an empty one), the chosen client first."""
    found, more = clients.search(session, actor=actor, q=q, limit=MATCHES, offset=0) if q.strip() else ([], False)
    listed = list(found)
    try:
        chosen_id = uuid.UUID(chosen) if chosen else None
    except ValueError:
        chosen_id = None
    if chosen_id is not None and all(c.id != chosen_id for c in listed):
        with suppress(NotFound):  # deleted since it was chosen: it is simply no longer offered
            listed.insert(0, ClientRead.model_validate(clients.read(session, actor=actor, client_id=chosen_id)))
    return listed, more
