"""Clients: search as you type, a client's page (details, what limits treatment now,
screenings, approvals, series, past sessions), registering, changing and deleting a client, and physicians'
approvals. Each calls the service the API's route of the same action calls, with the same permission."""

import uuid
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import ClinicDep, ClinicToday, SessionDep
from api.permissions import Permission, allows
from api.schemas.clients import ClientCreate, ClientUpdate
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening import ApprovalCreate, ApprovalRevoke
from api.services import approvals, clients, series
from db.base import utcnow
from db.models import AppointmentStatus, Client
from web import nav
from web.client_forms import APPROVAL_FIELDS, CLIENT_FIELDS, REVOKE_FIELDS, Filled, read_form, submitted
from web.clients import SCOPE_WORDS, read_page
from web.deps import CheckedForm, page_for, page_requires
from web.errors import PageRoute
from web.templating import SECURITY_HEADERS, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ClientsReader = Annotated[Actor, Depends(page_for(nav.CLIENTS))]
ClientsWriter = Annotated[Actor, Depends(page_requires(Permission.CLIENTS_WRITE))]
ClientsDeleter = Annotated[Actor, Depends(page_requires(Permission.CLIENTS_DELETE))]
ApprovalRecorder = Annotated[Actor, Depends(page_requires(Permission.APPROVALS_RECORD))]
ApprovalRevoker = Annotated[Actor, Depends(page_requires(Permission.APPROVALS_REVOKE))]
FOUND = 50  # matches shown at once; more means the search should be narrower
MAX_QUERY = 100  # as the API's search takes
NEAR_APPROVALS = {"approval", "revoked"}  # told beside the approvals, where the page opens after them
DONE = {
    "created": "The client was registered.",
    "updated": "The client's details were saved.",
    "approval": "The physician's approval was recorded.",
    "revoked": "The physician's approval was revoked.",
}


@router.get("/clients")
def search_page(
    request: Request, session: SessionDep, actor: ClientsReader, q: str = "", deleted: str | None = None
) -> Response:
    """The search box, and what it finds when the page is asked with `q` (a plain form, without JavaScript)."""
    return render(
        request,
        "clients/search.html",
        actor=actor,
        title="Clients",
        may_register=allows(actor.user.role, Permission.CLIENTS_WRITE),
        notice="The client record was deleted." if deleted else None,
        **_found(session, actor, q),
    )


@router.get("/clients/search")
def search_results(request: Request, session: SessionDep, actor: ClientsReader, q: str = "") -> Response:
    """The results alone, asked for as the user types; the address bar follows, so Back returns to them."""
    found = _found(session, actor, q)
    address = "/clients" + (f"?{urlencode({'q': found['q']})}" if found["q"] else "")
    return render(
        request, "clients/_results.html", actor=actor, headers={"HX-Replace-Url": address}, fragment=True, **found
    )


def _found(session: Session, actor: Actor, q: str) -> dict[str, Any]:
    q = q.strip()[:MAX_QUERY]
    if not q:
        return {"q": "", "clients": [], "more": False}
    found, more = clients.search(session, actor=actor, q=q, limit=FOUND, offset=0)
    return {"q": q, "clients": found, "more": more}


@router.get("/clients/new")
def new_client_form(request: Request, actor: ClientsWriter) -> Response:
    """An empty registration form."""
    return _details_form(request, actor, Filled(labels=CLIENT_FIELDS), client=None)


@router.post("/clients/new")
def register(
    request: Request, session: SessionDep, actor: ClientsWriter, form: CheckedForm, today: ClinicToday
) -> Response:
    """Register through the API's schema and service; the client's page on success."""
    filled = read_form(form, CLIENT_FIELDS)
    client = submitted(
        session,
        filled,
        ClientCreate,
        blank_is="missing",
        save=lambda data: clients.create(session, actor=actor, data=data, today=today),
    )
    if client is not None:
        return _redirect(f"/clients/{client.id}?done=created")
    return _details_form(request, actor, filled, client=None, status_code=filled.status_code)


@router.get("/clients/{client_id}")
def client_page(
    client_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: ClientsReader,
    clinic: ClinicDep,
    today: ClinicToday,
    done: str | None = None,
) -> Response:
    """Everything about the client that the role may see."""
    notice = DONE.get(done or "")
    return _page(
        request,
        session,
        actor,
        client_id,
        clinic=clinic,
        today=today,
        notice=notice,
        notice_in_approvals=done in NEAR_APPROVALS,
    )


@router.get("/clients/{client_id}/edit")
def edit_form(client_id: uuid.UUID, request: Request, session: SessionDep, actor: ClientsWriter) -> Response:
    """The client's details in a form, as stored."""
    client = clients.read(session, actor=actor, client_id=client_id)
    values = {name: str(getattr(client, name) or "") for name in CLIENT_FIELDS}
    return _details_form(request, actor, Filled(values=values, labels=CLIENT_FIELDS), client=client)


@router.post("/clients/{client_id}/edit")
def save_details(
    client_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: ClientsWriter,
    form: CheckedForm,
    today: ClinicToday,
) -> Response:
    """Change the details through the API's schema and service: every field as the form shows it."""
    filled = read_form(form, CLIENT_FIELDS)
    if submitted(
        session,
        filled,
        ClientUpdate,
        blank_is="null",
        save=lambda data: clients.update(session, actor=actor, client_id=client_id, data=data, today=today),
    ):
        return _redirect(f"/clients/{client_id}?done=updated")
    client = clients.get_live(session, client_id=client_id)
    return _details_form(request, actor, filled, client=client, status_code=filled.status_code)


@router.get("/clients/{client_id}/delete")
def confirm_delete(client_id: uuid.UUID, request: Request, session: SessionDep, actor: ClientsDeleter) -> Response:
    """Ask first, saying what deleting does and what it leaves booked."""
    client = clients.read(session, actor=actor, client_id=client_id)
    still_booked = series.list_appointments(
        session,
        start=utcnow(),
        end=None,
        room_id=None,
        esthetician_id=None,
        client_id=client_id,
        status=AppointmentStatus.BOOKED,
        limit=1000,
    )
    return render(
        request,
        "clients/delete.html",
        actor=actor,
        title=f"Delete {client.first_name} {client.last_name}?",
        client=client,
        still_booked=len(still_booked),
    )


@router.post("/clients/{client_id}/delete")
def delete(client_id: uuid.UUID, session: SessionDep, actor: ClientsDeleter, form: CheckedForm) -> Response:
    """Soft delete through the API's service: the record leaves lists and searches but stays stored."""
    clients.delete(session, actor=actor, client_id=client_id)
    return _redirect("/clients?deleted=1")


@router.post("/clients/{client_id}/approvals")
def record_approval(
    client_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: ApprovalRecorder,
    form: CheckedForm,
    clinic: ClinicDep,
    today: ClinicToday,
) -> Response:
    """Record a physician's written approval through the API's schema and service."""
    filled = read_form(form, APPROVAL_FIELDS)
    if submitted(
        session,
        filled,
        ApprovalCreate,
        blank_is="missing",
        save=lambda data: approvals.record(session, actor=actor, client_id=client_id, data=data, today=today),
    ):
        return _redirect(f"/clients/{client_id}?done=approval#approvals")
    return _page(
        request,
        session,
        actor,
        client_id,
        clinic=clinic,
        today=today,
        approval_form=filled,
        status_code=filled.status_code,
    )


@router.post("/clients/{client_id}/approvals/{approval_id}/revoke")
def revoke_approval(
    client_id: uuid.UUID,
    approval_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: ApprovalRevoker,
    form: CheckedForm,
    clinic: ClinicDep,
    today: ClinicToday,
) -> Response:
    """Withdraw an approval (medical director only), with the reason the API asks for."""
    filled = read_form(form, REVOKE_FIELDS)
    if submitted(
        session,
        filled,
        ApprovalRevoke,
        blank_is="missing",
        save=lambda data: approvals.revoke(
            session, actor=actor, client_id=client_id, approval_id=approval_id, reason=data.reason
        ),
    ):
        return _redirect(f"/clients/{client_id}?done=revoked#approvals")
    return _page(
        request,
        session,
        actor,
        client_id,
        clinic=clinic,
        today=today,
        revoke_form=filled,
        revoking=approval_id,
        status_code=filled.status_code,
    )


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    client_id: uuid.UUID,
    *,
    clinic: ClinicSettings,
    today: date,
    status_code: int = 200,
    **shown: Any,
) -> Response:
    page = read_page(session, actor=actor, client_id=client_id, clinic=clinic, today=today)
    client = page.client
    return render(
        request,
        "clients/page.html",
        actor=actor,
        title=f"{client.first_name} {client.last_name}",
        page=page,
        scopes=SCOPE_WORDS,
        today=today,
        approval_form=shown.pop("approval_form", None) or Filled(labels=APPROVAL_FIELDS),
        revoke_form=shown.pop("revoke_form", None),
        blank_revoke=Filled(labels=REVOKE_FIELDS),
        revoking=shown.pop("revoking", None),
        status_code=status_code,
        **shown,
    )


def _details_form(
    request: Request, actor: Actor, filled: Filled, *, client: Client | None, status_code: int = 200
) -> Response:
    title = "New client" if client is None else f"Change {client.first_name} {client.last_name}'s details"
    return render(
        request, "clients/details.html", actor=actor, title=title, client=client, form=filled, status_code=status_code
    )


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
