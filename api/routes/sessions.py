"""Treatment sessions on the room's device, and their records: listed, signed off, amended."""

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, status

from api.actor import Actor
from api.deps import ClinicDep, ClinicToday, SessionDep, SessionRunner, SessionsReader, require
from api.openapi import CONFLICT
from api.permissions import Permission
from api.schemas.sessions import (
    AddendumCreate,
    AddendumRead,
    ClinicDay,
    SessionPage,
    SessionRead,
    SessionStart,
    SessionStarted,
    SessionSummary,
    SignOffCreate,
)
from api.services import session_records, sessions, sign_off

router = APIRouter(tags=["sessions"])
MAX_PAGE = 200
SignOffGiver = Annotated[Actor, Depends(require(Permission.SESSIONS_SIGN_OFF))]
Amender = Annotated[Actor, Depends(require(Permission.SESSIONS_AMEND))]


@router.post("/appointments/{appointment_id}/start", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def start_session(
    appointment_id: uuid.UUID,
    data: SessionStart,
    session: SessionDep,
    actor: SessionRunner,
    clinic: ClinicDep,
    today: ClinicToday,
) -> SessionStarted:
    """Re-confirm the day-of answers and arm the appointment's device; refused with every reason, nothing sent."""
    treatment = sessions.start(
        session, actor=actor, appointment_id=appointment_id, day_of=data.day_of, clinic=clinic, today=today
    )
    return SessionStarted(session_id=treatment.id, status=treatment.status)


@router.get("/sessions")
def list_sessions(
    session: SessionDep,
    actor: SessionsReader,
    clinic: ClinicDep,
    client_id: uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
    day: Annotated[ClinicDay | None, Query(description="The clinic's local day the session was started on")] = None,
    signed_off: Annotated[bool | None, Query(description="Whether the session's record is signed off")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionPage:
    """Sessions, newest first: a client's, a device's, a day's, those still to sign off."""
    page, has_more = session_records.list_sessions(
        session,
        actor=actor,
        client_id=client_id,
        device_id=device_id,
        day=day,
        zone=ZoneInfo(clinic.timezone),
        signed_off=signed_off,
        limit=limit,
        offset=offset,
    )
    items = [SessionSummary.model_validate(row) for row in page]
    return SessionPage(items=items, limit=limit, offset=offset, has_more=has_more)


@router.get("/sessions/{session_id}")
def read_session(session_id: uuid.UUID, session: SessionDep, actor: SessionsReader) -> SessionRead:
    """Prescribed against delivered current per step, totals, incidents, contact losses, sign-off and addenda."""
    treatment = sessions.read(session, actor=actor, session_id=session_id)
    return SessionRead.model_validate(session_records.full(session, actor=actor, treatment=treatment)[0])


@router.post("/sessions/{session_id}/stop", responses=CONFLICT)
def stop_session(session_id: uuid.UUID, session: SessionDep, actor: SessionRunner) -> SessionStarted:
    """End output now: a stop command goes to the device."""
    treatment = sessions.stop(session, actor=actor, session_id=session_id)
    return SessionStarted(session_id=treatment.id, status=treatment.status)


@router.post("/sessions/{session_id}/sign-off", responses=CONFLICT)
def sign_off_session(
    session_id: uuid.UUID, data: SignOffCreate, session: SessionDep, actor: SignOffGiver, clinic: ClinicDep
) -> SessionRead:
    """Sign off a finished treatment's record (medical director): from then on it can no longer change."""
    sign_off.sign_off(session, actor=actor, session_id=session_id, note=data.note, zone=ZoneInfo(clinic.timezone))
    return read_session(session_id, session, actor)


@router.post("/sessions/{session_id}/addenda", status_code=status.HTTP_201_CREATED)
def add_addendum(session_id: uuid.UUID, data: AddendumCreate, session: SessionDep, actor: Amender) -> AddendumRead:
    """Add a correction or a late note to a record (esthetician or medical director); the original stays."""
    written = sign_off.add_addendum(session, actor=actor, session_id=session_id, text=data.text)
    return AddendumRead.model_validate(written)
