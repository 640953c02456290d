"""Treatment sessions on the room's device."""

import uuid

from fastapi import APIRouter, status

from api.deps import ClinicDep, ClinicToday, SessionDep, SessionRunner, SessionsReader
from api.openapi import CONFLICT
from api.schemas.sessions import SessionRead, SessionStart, SessionStarted
from api.services import sessions
from api.services.delivery import session_record

router = APIRouter(tags=["sessions"])


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


@router.get("/sessions/{session_id}")
def read_session(session_id: uuid.UUID, session: SessionDep, actor: SessionsReader) -> SessionRead:
    """Prescribed against delivered current per step, totals, incidents."""
    return SessionRead.model_validate(
        session_record(session, sessions.read(session, actor=actor, session_id=session_id))
    )


@router.post("/sessions/{session_id}/stop", responses=CONFLICT)
def stop_session(session_id: uuid.UUID, session: SessionDep, actor: SessionRunner) -> SessionStarted:
    """End output now: a stop command goes to the device."""
    treatment = sessions.stop(session, actor=actor, session_id=session_id)
    return SessionStarted(session_id=treatment.id, status=treatment.status)
