"""The device wall: every room's devices at a glance, with what each is doing and its alarms.

States and alarms come from the services the API uses (the alarms from api/services/alarms.py, so the device
offline in opening hours is judged in one place); this module only lays them out."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.schemas.alarms import AlarmList, AlarmRead
from api.schemas.clinic_settings import ClinicSettings
from api.services import alarms, rooms
from db.lifecycle import RUNNING
from db.models import Appointment, Client, DeviceStatus, SessionMessage, TreatmentSession
from db.models.gateway import gateway_present
from web.today import Badge, device_badge


@dataclass(frozen=True)
class Treating:
    client: str
    step: str  # "Step 2 of 4, cheeks" or "Not started yet"


@dataclass(frozen=True)
class DeviceTile:
    id: uuid.UUID
    serial: str
    room: str
    badge: Badge
    last_seen_at: datetime | None
    treating: Treating | None
    alarms: list[AlarmRead]


@dataclass(frozen=True)
class Wall:
    devices: list[DeviceTile]
    history: list[AlarmRead]
    live: bool  # a gateway is connected: the states are current


def read_wall(session: Session, *, clinic: ClinicSettings) -> Wall:
    """Every device not revoked, by room, with its session in progress and its active alarms."""
    live = gateway_present(session)
    found: AlarmList = alarms.list_alarms(session, clinic=clinic)
    names = {room.id: room.name for room in rooms.list_rooms(session)}
    running = _running(session)
    tiles = [
        DeviceTile(
            id=device.id,
            serial=device.serial,
            room=names.get(device.room_id, ""),
            badge=device_badge(device.state, device.status, live=live),
            last_seen_at=device.last_seen_at,
            treating=running.get(device.id),
            alarms=[alarm for alarm in found.active if alarm.device_id == device.id],
        )
        for device in rooms.list_devices(session)
        if device.status != DeviceStatus.REVOKED
    ]
    tiles.sort(key=lambda tile: (tile.room, tile.serial))
    return Wall(devices=tiles, history=found.history, live=live)


def _running(session: Session) -> dict[uuid.UUID, Treating]:
    """Each device's session in progress: whose it is and the step the device last reported."""
    rows = session.execute(
        select(TreatmentSession, Client.first_name, Client.last_name)
        .join(Appointment, Appointment.id == TreatmentSession.appointment_id)
        .join(Client, Client.id == Appointment.client_id)
        .where(TreatmentSession.status.in_(RUNNING))
    ).all()
    running = {}
    for treatment, first, last in rows:
        step = session.scalar(
            select(SessionMessage.step)
            .where(SessionMessage.session_id == treatment.id, SessionMessage.step.is_not(None))
            .order_by(SessionMessage.seq.desc())
            .limit(1)
        )
        running[treatment.device_id] = Treating(f"{first} {last}", _step(treatment, step))
    return running


def _step(treatment: TreatmentSession, step: int | None) -> str:
    if step is None or step >= len(treatment.steps):
        return "Not started yet"
    total = treatment.first_step + len(treatment.steps)
    zone = str(treatment.steps[step].get("zone", "")).replace("_", " ")
    return f"Step {treatment.first_step + step + 1} of {total}, {zone}"
