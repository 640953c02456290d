"""Devices' alarms: the active ones and the history, and acknowledging one."""

import uuid

from fastapi import APIRouter

from api.deps import AlarmAcknowledger, ResourcesReader, SessionDep
from api.openapi import CONFLICT
from api.schemas.alarms import AlarmList, AlarmRead
from api.services import alarms

router = APIRouter(tags=["alarms"])


@router.get("/alarms")
def list_alarms(session: SessionDep, _actor: ResourcesReader) -> AlarmList:
    """The active alarms (most severe first) and the latest acknowledged or cleared ones."""
    return alarms.list_alarms(session)


@router.post("/alarms/{alarm_id}/acknowledge", responses=CONFLICT)
def acknowledge_alarm(alarm_id: uuid.UUID, session: SessionDep, actor: AlarmAcknowledger) -> AlarmRead:
    """Acknowledge an alarm (medical director or esthetician): who and when are kept; it stays in the history."""
    return alarms.acknowledge(session, actor=actor, alarm_id=alarm_id)
