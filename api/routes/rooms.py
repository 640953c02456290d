"""Rooms and devices."""

import uuid

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from api.deps import ResourcesManager, ResourcesReader, SessionDep
from api.openapi import CONFLICT
from api.schemas.protocols import AppointmentBrief
from api.schemas.rooms import (
    DeviceChanged,
    DeviceCreate,
    DeviceRead,
    DeviceRegistered,
    DeviceUpdate,
    RoomCreate,
    RoomRead,
)
from api.services import rooms
from db.models import Device
from db.models.gateway import gateway_present

router = APIRouter(tags=["rooms and devices"])


@router.post("/rooms", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_room(data: RoomCreate, session: SessionDep, actor: ResourcesManager) -> RoomRead:
    """Add a treatment room (admin)."""
    return RoomRead.model_validate(rooms.create_room(session, actor=actor, data=data))


@router.get("/rooms")
def list_rooms(session: SessionDep, _actor: ResourcesReader) -> list[RoomRead]:
    """Every room, by name."""
    return [RoomRead.model_validate(r) for r in rooms.list_rooms(session)]


@router.post("/devices", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def register_device(data: DeviceCreate, session: SessionDep, actor: ResourcesManager) -> DeviceRegistered:
    """Register a device into a room (admin); its MQTT password is in this answer and nowhere else."""
    device, password = rooms.register_device(session, actor=actor, data=data)
    return _with_password(session, device, password)


@router.post("/devices/{device_id}/mqtt-password", responses=CONFLICT)
def reissue_device_password(device_id: uuid.UUID, session: SessionDep, actor: ResourcesManager) -> DeviceRegistered:
    """Give a device a new MQTT password (admin), shown in this answer only; the old one stops working."""
    device, password = rooms.reissue_device_password(session, actor=actor, device_id=device_id)
    return _with_password(session, device, password)


@router.get("/devices")
def list_devices(session: SessionDep, _actor: ResourcesReader, room_id: uuid.UUID | None = None) -> list[DeviceRead]:
    """Every device, with its live state."""
    live = gateway_present(session)
    return [_read(device, live) for device in rooms.list_devices(session, room_id=room_id)]


@router.get("/devices/{device_id}")
def read_device(device_id: uuid.UUID, session: SessionDep, _actor: ResourcesReader) -> DeviceRead:
    """One device, with its live state."""
    return _read(rooms.get_device(session, device_id=device_id), gateway_present(session))


@router.patch("/devices/{device_id}", responses=CONFLICT)
def change_device(
    device_id: uuid.UUID, data: DeviceUpdate, session: SessionDep, actor: ResourcesManager
) -> DeviceChanged:
    """Move a device, take it out of service or revoke it (admin); lists appointments that lost it."""
    device, affected = rooms.change_device(
        session, actor=actor, device_id=device_id, room_id=data.room_id, status=data.status
    )
    return DeviceChanged(
        device=_read(device, gateway_present(session)),
        appointments_to_rebook=[AppointmentBrief.model_validate(a, from_attributes=True) for a in affected],
    )


def _read(device: Device, live: bool) -> DeviceRead:
    """A device as the API shows it; `live` says whether a gateway is listening to it now."""
    return DeviceRead.model_validate(device).model_copy(update={"state_live": live})


def _with_password(session: Session, device: Device, password: str) -> DeviceRegistered:
    return DeviceRegistered(**_read(device, gateway_present(session)).model_dump(), mqtt_password=password)
