"""The device wall: every room's device, its state and alarms, kept live; clinical staff acknowledge alarms."""

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import ClinicDep, SessionDep
from api.permissions import Permission, allows
from api.schemas.clinic_settings import ClinicSettings
from api.services import alarms
from db.base import utcnow
from web import nav
from web.deps import CheckedForm, page_for, page_requires
from web.devices import read_wall
from web.errors import PageRoute
from web.templating import SECURITY_HEADERS, render
from web.today import ALARM_PRIORITY

router = APIRouter(route_class=PageRoute, include_in_schema=False)
WallReader = Annotated[Actor, Depends(page_for(nav.DEVICES))]
Acknowledger = Annotated[Actor, Depends(page_requires(Permission.ALARMS_ACKNOWLEDGE))]
REFRESH_S = 2  # how often the wall is asked again


@router.get("/devices")
def devices_page(request: Request, session: SessionDep, actor: WallReader, clinic: ClinicDep) -> Response:
    """Every device by room: state, last seen, the client and step while treating, alarms; and the history."""
    return _render(request, session, actor, clinic, "devices/page.html")


@router.get("/devices/wall")
def wall_fragment(request: Request, session: SessionDep, actor: WallReader, clinic: ClinicDep) -> Response:
    """The wall alone, asked for again every few seconds."""
    return _render(request, session, actor, clinic, "devices/_wall.html")


@router.post("/devices/alarms/{alarm_id}/acknowledge")
def acknowledge(
    alarm_id: uuid.UUID, request: Request, session: SessionDep, actor: Acknowledger, form: CheckedForm
) -> Response:
    """Acknowledge an alarm as the API does (who and when kept, audited), then back to the wall; an alarm
    acknowledged already is refused in words (PageRoute)."""
    alarms.acknowledge(session, actor=actor, alarm_id=alarm_id)
    return RedirectResponse("/devices", status_code=303, headers=SECURITY_HEADERS)


def _render(request: Request, session: Session, actor: Actor, clinic: ClinicSettings, template: str) -> Response:
    zone = ZoneInfo(clinic.timezone)
    return render(
        request,
        template,
        actor=actor,
        title="Devices",
        wall=read_wall(session, actor=actor),
        severity=ALARM_PRIORITY,
        can_acknowledge=allows(actor.user.role, Permission.ALARMS_ACKNOWLEDGE),
        refresh_s=REFRESH_S,
        zone=zone,
        today=utcnow().astimezone(zone).date(),
    )
