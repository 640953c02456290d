"""Starting, stopping and reading treatment sessions."""

import uuid
from datetime import datetime

from pydantic import BaseModel

from api.schemas.common import StrictInput
from api.schemas.screening import DAY_OF_ZONES, day_of_fields
from db.models import SessionStatus
from db.vocabulary import Zone


class DayOfConfirmation(day_of_fields(may_leave_out=DAY_OF_ZONES)):  # type: ignore[misc]  # its base is made at import
    """Every day-of answer, asked again at the start of each session; a date is null when it never happened."""


class SessionStart(StrictInput):
    day_of: DayOfConfirmation


class SessionStarted(BaseModel):
    session_id: uuid.UUID
    status: SessionStatus


class StepRecord(BaseModel):
    step: int
    zone: Zone
    mode: str
    prescribed_current_ua: float
    prescribed_duration_s: int
    delivered_mean_ua: float | None
    delivered_peak_ua: float | None
    charge_uc: float
    output_s: float


class PartRead(BaseModel):
    """One session of a treatment given in parts: a session resumed after an interruption or a stop."""

    session_id: uuid.UUID
    status: SessionStatus
    started_at: datetime | None
    ended_at: datetime | None
    output_s: float
    charge_uc: float


class IncidentRead(BaseModel):
    session_id: uuid.UUID  # the part it happened in
    kind: str
    at: datetime
    detail: str


class SessionRead(BaseModel):
    id: uuid.UUID
    appointment_id: uuid.UUID
    device_id: uuid.UUID
    protocol_id: uuid.UUID
    status: SessionStatus
    limits: dict[str, float]
    created_at: datetime
    armed_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    steps: list[StepRecord]
    total_charge_uc: float
    total_output_s: float
    parts: list[PartRead]  # every session of the appointment, oldest first; steps and totals sum them all
    missing_seqs: list[int]  # the first 100 seqs that never arrived, below the highest one stored
    missing_count: int  # how many never arrived
    missing_truncated: bool  # more are missing than missing_seqs lists
    incidents: list[IncidentRead]
