"""A device's alarms: the active ones and the history."""

import uuid
from datetime import datetime

from pydantic import BaseModel

from api.schemas.common import Output
from db.models import AlarmSeverity


class AlarmRead(Output):
    id: uuid.UUID
    device_id: uuid.UUID
    device_serial: str
    room: str
    session_id: uuid.UUID | None
    kind: str  # over_current | over_time | device_lost | fault | rejected | device_offline
    title: str
    severity: AlarmSeverity  # IEC 60601-1-8: high, medium, low
    began_at: datetime
    ended_at: datetime | None  # its condition cleared (a device back online)
    detail: str
    active: bool  # not acknowledged, and either latching or still holding
    acknowledged_by: str | None  # the staff member's name
    acknowledged_at: datetime | None


class AlarmList(BaseModel):
    active: list[AlarmRead]  # most severe first, then the newest
    history: list[AlarmRead]  # acknowledged or cleared, newest first
