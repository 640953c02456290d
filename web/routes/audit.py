"""The audit trail, newest first: an admin's page (and the page that shows the menu hides what a role may not use)."""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response

from api.actor import Actor
from api.deps import ClinicDep, SessionDep
from api.services import audit, users
from web import nav
from web.deps import page_for
from web.errors import PageRoute
from web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
AuditReader = Annotated[Actor, Depends(page_for(nav.AUDIT))]
SHOWN = 100


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, actor: AuditReader, clinic: ClinicDep) -> Response:
    """The latest events: who did what to which record, when and from where (ids and field names, never values)."""
    events = audit.search(
        session,
        user_id=None,
        record_type=None,
        record_id=None,
        action=None,
        start=None,
        end=None,
        limit=SHOWN,
        offset=0,
    )
    staff = {u.id: u.full_name for u in users.list_all(session)}
    return render(
        request,
        "audit.html",
        actor=actor,
        title="Audit trail",
        events=events,
        staff=staff,
        zone=ZoneInfo(clinic.timezone),
        shown=SHOWN,
    )
