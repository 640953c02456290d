"""Rooms and their devices: the resources a session needs besides an esthetician."""

import secrets
import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict, InvalidInput
from api.schemas.rooms import DeviceCreate, RoomCreate
from api.services import audit
from api.services.protocols import future_booked
from api.services.records import get_or_404
from db.broker_passwords import hash_device_password, new_device_password
from db.models import Appointment, Device, DeviceStatus, Room


def create_room(session: Session, *, actor: Actor, data: RoomCreate) -> Room:
    if session.scalar(select(Room.id).where(Room.name == data.name)) is not None:
        raise Conflict(f"There is already a room called {data.name}.")
    room = Room(name=data.name)
    session.add(room)
    session.flush()
    audit.record(session, actor=actor, action="room.create", record_type="room", record_id=room.id)
    return room


def list_rooms(session: Session) -> Sequence[Room]:
    return session.scalars(select(Room).order_by(Room.name)).all()


def get_room(session: Session, *, room_id: uuid.UUID, field: str = "room_id") -> Room:
    room = session.get(Room, room_id)
    if room is None:
        raise InvalidInput(field, "there is no room with this id")
    return room


def register_device(session: Session, *, actor: Actor, data: DeviceCreate) -> tuple[Device, str]:
    """Register a device into a room; returns it with its MQTT password, which is kept only as a hash."""
    get_room(session, room_id=data.room_id)
    if session.scalar(select(Device.id).where(Device.serial == data.serial)) is not None:
        raise Conflict(f"A device with serial {data.serial} is already registered.")
    password = new_device_password()
    device = Device(
        device_id=f"gd-{secrets.token_hex(6)}",
        serial=data.serial,
        room_id=data.room_id,
        probe_area_cm2=data.probe_area_cm2,
        mqtt_password_hash=hash_device_password(password),
        status=DeviceStatus.IN_SERVICE,
    )
    session.add(device)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A device with serial {data.serial} is already registered.") from exc
    audit.record(session, actor=actor, action="device.register", record_type="device", record_id=device.id)
    return device, password


def list_devices(session: Session, *, room_id: uuid.UUID | None = None) -> Sequence[Device]:
    query = select(Device).order_by(Device.serial)
    if room_id is not None:
        query = query.where(Device.room_id == room_id)
    return session.scalars(query).all()


def get_device(session: Session, *, device_id: uuid.UUID) -> Device:
    return get_or_404(session, Device, device_id, "device")


def change_device(
    session: Session, *, actor: Actor, device_id: uuid.UUID, room_id: uuid.UUID | None, status: DeviceStatus | None
) -> tuple[Device, list[Appointment]]:
    """Move a device, take it out of service or revoke it; returns the future appointments that lost it."""
    device = _not_revoked(get_device(session, device_id=device_id))
    moved = room_id is not None and room_id != device.room_id
    if room_id is not None and moved:
        get_room(session, room_id=room_id)
        device.room_id = room_id
    if status is not None:
        device.status = status
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="device.update",
        record_type="device",
        record_id=device.id,
        detail={"moved": moved, "status": device.status.value},
    )
    lost = moved or device.status != DeviceStatus.IN_SERVICE
    return device, future_booked(session, Appointment.device_id == device.id) if lost else []


def reissue_device_password(session: Session, *, actor: Actor, device_id: uuid.UUID) -> tuple[Device, str]:
    """A new MQTT password for a device that lost its own; the old one stops working once the broker reloads."""
    device = _not_revoked(get_device(session, device_id=device_id))
    password = new_device_password()
    device.mqtt_password_hash = hash_device_password(password)
    session.flush()
    audit.record(session, actor=actor, action="device.password", record_type="device", record_id=device.id)
    return device, password


def _not_revoked(device: Device) -> Device:
    if device.status == DeviceStatus.REVOKED:
        raise Conflict("This device was revoked; register it again to use it.")
    return device


def devices_in_service(session: Session, *, room_ids: Collection[uuid.UUID]) -> Sequence[Device]:
    """The devices in service in these rooms, oldest first: each of them can be booked."""
    return session.scalars(
        select(Device)
        .where(Device.room_id.in_(room_ids), Device.status == DeviceStatus.IN_SERVICE)
        .order_by(Device.created_at, Device.id)
    ).all()
