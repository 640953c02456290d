"""The screening questionnaire of a client (`/clients/{id}/screening`), grouped as an esthetician asks it;
the result at once.

Saving goes through the screening service, as the API's POST does: the same validation, the same words, the same
audit. htmx swaps the questionnaire and its result in place; without JavaScript the same page comes back whole."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import ClinicToday, SessionDep
from api.errors import InvalidInput
from api.permissions import Permission, allows
from api.services import approvals, clients, screenings
from api.services.screening_engine import age_on
from db.models import Client, PhysicianApproval
from web.deps import CheckedForm, page_requires
from web.errors import PageRoute
from web.questionnaire import BLANK, GROUPS, NEVER, NO, ON, QUESTIONS, WHEN, YES, ZONES, Filled, read_form
from web.screening_result import SCOPE_WORDS, Result, result_of
from web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Screener = Annotated[Actor, Depends(page_requires(Permission.SCREENINGS_WRITE))]


@router.get("/clients/{client_id}/screening")
def screening_page(
    client_id: uuid.UUID, request: Request, session: SessionDep, actor: Screener, today: ClinicToday
) -> Response:
    """The questionnaire with every answer blank: a screening is asked afresh, never copied from the last one."""
    return _render(request, session, actor=actor, client_id=client_id, today=today, filled=BLANK)


@router.post("/clients/{client_id}/screening")
def save_screening(
    client_id: uuid.UUID, request: Request, session: SessionDep, actor: Screener, form: CheckedForm, today: ClinicToday
) -> Response:
    """Judge and keep the answers through the screening service; the result, or what to answer still, at once."""
    filled = read_form(form)
    result = None
    if filled.answers is not None:
        try:
            judged = screenings.create(session, actor=actor, client_id=client_id, answers=filled.answers, today=today)
            result = result_of(judged)
        except InvalidInput as exc:
            session.rollback()
            filled = filled.refused(exc)
    return _render(request, session, actor=actor, client_id=client_id, today=today, filled=filled, result=result)


def _render(
    request: Request,
    session: Session,
    *,
    actor: Actor,
    client_id: uuid.UUID,
    today: date,
    filled: Filled,
    result: Result | None = None,
) -> Response:
    """The whole page, or only the questionnaire and its result when htmx asks (it swaps them in place)."""
    client = clients.read(session, actor=actor, client_id=client_id)
    refused = bool(filled.problems or filled.general)
    return render(
        request,
        "screening/_screening.html" if request.headers.get("HX-Request") else "screening/page.html",
        actor=actor,
        status_code=422 if refused else 200,
        title=f"Screening: {_name(client)}",
        client=client,
        client_name=_name(client),
        age=age_on(client.date_of_birth, today),
        approvals_on_file=_approvals_on_file(session, actor=actor, client=client, today=today),
        may_record_approval=allows(actor.user.role, Permission.APPROVALS_RECORD),
        groups=GROUPS,
        questions=QUESTIONS,
        scope_words=SCOPE_WORDS,
        zones=ZONES,
        answer={"yes": YES, "no": NO, "never": NEVER, "on": ON, "when": WHEN},
        filled=filled,
        refused=refused,
        result=result,
    )


def _approvals_on_file(session: Session, *, actor: Actor, client: Client, today: date) -> list[PhysicianApproval]:
    """The client's physicians' approvals that are neither revoked nor expired (their read is audited)."""
    if not allows(actor.user.role, Permission.APPROVALS_READ):
        return []
    found = approvals.list_for(session, actor=actor, client_id=client.id)
    return [a for a in found if a.revoked_at is None and a.valid_until >= today]


def _name(client: Client) -> str:
    return f"{client.first_name} {client.last_name}"
