"""The audit trail, newest first: an admin's page (and the page that shows the menu hides what a role may not use)."""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

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
IDS_SHOWN = 20  # of a list read's records, the page names the first few; the API names them all


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    actor: AuditReader,
    clinic: ClinicDep,
    record: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The latest events: who did what to which records, when and from where (ids and field names, never values);
    with a record id, that record's events and the list reads that returned it."""
    record = record.strip()
    events = audit.search(
        session,
        user_id=None,
        record_type=None,
        record_id=record or None,
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
        ids_shown=IDS_SHOWN,
        record=record,
    )
