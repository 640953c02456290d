"""Rooms and the devices in them."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Output, StrictInput
from api.schemas.protocols import AppointmentBrief
from db.models import DeviceStatus


class RoomCreate(StrictInput):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RoomRead(Output):
    id: uuid.UUID
    name: str
    created_at: datetime


class DeviceCreate(StrictInput):
    serial: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    room_id: uuid.UUID
    probe_area_cm2: float = Field(gt=0, le=10, description="Contact area of one probe tip")


class DeviceUpdate(StrictInput):
    room_id: uuid.UUID | None = None
    status: DeviceStatus | None = None


class DeviceRead(Output):
    id: uuid.UUID
    device_id: str
    serial: str
    room_id: uuid.UUID
    probe_area_cm2: float
    status: DeviceStatus
    state: str
    state_live: bool = Field(
        False,
        description="Whether a device gateway is connected now, so that `state` is "
        "current; when false, `state` is only what the device last said",
    )
    last_seen_at: datetime | None
    created_at: datetime


class DeviceRegistered(DeviceRead):
    mqtt_password: str = Field(description="Shown once: give it to the device now; only a hash is kept")


class DeviceChanged(BaseModel):
    device: DeviceRead
    appointments_to_rebook: list[AppointmentBrief]
