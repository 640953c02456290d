"""Starting, stopping and reading treatment sessions."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from api.schemas.common import EARLIEST_YEAR, LATEST_YEAR, Output, StrictInput
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


class StaffRef(Output):
    id: uuid.UUID
    full_name: str


class PartRead(BaseModel):
    """One session of a treatment given in parts: a session resumed after an interruption or a stop."""

    session_id: uuid.UUID
    status: SessionStatus
    started_at: datetime | None
    ended_at: datetime | None
    output_s: float
    charge_uc: float
    started_by: StaffRef | None = None  # who started it (None in a record signed before this was kept)
    stop_requested_by: StaffRef | None = None  # who asked for its output to end, if anyone did
    stop_requested_at: datetime | None = None


class ContactLoss(BaseModel):
    """The probes lost contact: output paused, and that time is not treatment time. Times in the session's own
    clock (seconds since it started on the device); restored_at_s is None when contact never came back."""

    session_id: uuid.UUID
    step: int | None  # the protocol's step
    lost_at_s: float
    restored_at_s: float | None


class IncidentRead(BaseModel):
    session_id: uuid.UUID  # the part it happened in
    kind: str
    at: datetime
    detail: str


Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
AddendumText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class SignOffCreate(StrictInput):
    note: Note | None = None


class SignOffRead(BaseModel):
    """Who signed the record, when, with what note; the record shown is the one signed (sha256 of it)."""

    session_id: uuid.UUID  # the session it was signed on: the record covers every session of the treatment
    signed_by: StaffRef
    signed_at: datetime
    note: str | None
    sha256: str
    late_messages: int = Field(description="Messages a device delivered after the sign-off: stored, not in the record")


class AddendumCreate(StrictInput):
    text: AddendumText


class AddendumRead(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    written_by: StaffRef
    written_at: datetime
    text: str | None
    after_sign_off: bool


class SessionRecord(BaseModel):
    """What a session delivered: the part of its record that a sign-off keeps as it was signed."""

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
    contact_losses: list[ContactLoss]  # in every session of the appointment


class SessionRead(SessionRecord):
    day_of: dict[str, Any] | None = Field(
        description="The day-of answers re-confirmed at the start: health data, null for roles that may not see it"
    )
    sign_off: SignOffRead | None
    addenda: list[AddendumRead]  # oldest first, from every session of the treatment
    notes_withheld: bool = Field(
        description="The sign-off's note and the addenda's texts are health data: withheld (null) for this role"
    )


def _in_our_years(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


ClinicDay = Annotated[date, AfterValidator(_in_our_years)]  # a day near year 1 or 9999 overflows as a UTC range


class SessionSummary(BaseModel):
    """A session in a list: what it was, where, who started it and whether its record is signed off."""

    id: uuid.UUID
    appointment_id: uuid.UUID
    client_id: uuid.UUID
    device_id: uuid.UUID
    protocol_id: uuid.UUID
    status: SessionStatus
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    started_by_id: uuid.UUID
    signed_off: bool
    signed_off_at: datetime | None
    signed_off_by_id: uuid.UUID | None


class SessionPage(BaseModel):
    items: list[SessionSummary]
    limit: int
    offset: int
    has_more: bool
