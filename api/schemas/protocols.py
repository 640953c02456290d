"""Treatment protocols: steps as in shared/device-protocol.md."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Output, StrictInput
from db.models import ProtocolStatus
from db.vocabulary import Zone

MAX_OUTPUT_S = 600  # 10 minutes of current per session (shared/domain.md)


class Step(StrictInput):
    zone: Zone
    mode: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    current_ua: float = Field(gt=0, le=1000, description="µA; the clinic's maximum and zone caps apply")
    frequency_hz: float = Field(ge=0.5, le=400)
    waveform: Literal["square", "sine"]
    polarity: Literal["positive", "negative", "alternating"]
    duration_s: int = Field(ge=1, le=MAX_OUTPUT_S)


class Target(StrictInput):
    areas: list[Zone] = Field(default_factory=list, max_length=len(Zone))
    goal: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


ProtocolName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ProtocolCreate(StrictInput):
    name: ProtocolName
    target: Target = Field(default_factory=Target)
    steps: list[Step] = Field(min_length=1, max_length=50)


class ProtocolUpdate(StrictInput):
    name: ProtocolName | None = None
    target: Target | None = None
    steps: list[Step] | None = Field(None, min_length=1, max_length=50)


class Withdrawal(StrictInput):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ProtocolRead(Output):
    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    name: str
    target: Target
    steps: list[Step]
    total_output_s: int
    max_current_ua: float
    status: ProtocolStatus
    sha256: str | None
    created_at: datetime
    created_by_id: uuid.UUID
    approved_at: datetime | None
    approved_by_id: uuid.UUID | None
    withdrawn_at: datetime | None
    withdrawal_reason: str | None


class AppointmentBrief(BaseModel):
    """An appointment someone must rebook."""

    id: uuid.UUID
    client_id: uuid.UUID
    start_at: datetime
    room_id: uuid.UUID


class WithdrawnProtocol(BaseModel):
    protocol: ProtocolRead
    appointments_to_rebook: list[AppointmentBrief]
