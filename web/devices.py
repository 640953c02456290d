"""The device wall: every room's devices at a glance, with what each is doing and its alarms.

States and alarms come from the services the API uses (the alarms from api/services/alarms.py; the gateway raises
them); this module only lays them out. The names of the clients being treated are a read of their records: each
showing of the wall is audited as one list read naming them."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.schemas.alarms import AlarmList, AlarmRead
from api.services import alarms, audit, clients, rooms
from db.alarms import KINDS
from db.lifecycle import RUNNING
from db.models import Appointment, DeviceStatus, SessionMessage, TreatmentSession
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
    alarms: list[AlarmRead]  # active: not acknowledged yet
    acknowledged: list[AlarmRead]  # acknowledged, and their condition goes on (the device still offline)


@dataclass(frozen=True)
class Wall:
    devices: list[DeviceTile]
    history: list[AlarmRead]
    live: bool  # a gateway is connected: the states are current


def read_wall(session: Session, *, actor: Actor) -> Wall:
    """Every device not revoked, by room, with its session in progress and its active alarms."""
    live = gateway_present(session)
    found: AlarmList = alarms.list_alarms(session)
    names = {room.id: room.name for room in rooms.list_rooms(session)}
    running = _running(session, actor=actor)
    tiles = [
        DeviceTile(
            id=device.id,
            serial=device.serial,
            room=names.get(device.room_id, ""),
            badge=device_badge(device.state, device.status, live=live),
            last_seen_at=device.last_seen_at,
            treating=running.get(device.id),
            alarms=[alarm for alarm in found.active if alarm.device_id == device.id],
            acknowledged=[a for a in found.history if a.device_id == device.id and _goes_on(a)],
        )
        for device in rooms.list_devices(session)
        if device.status != DeviceStatus.REVOKED
    ]
    tiles.sort(key=lambda tile: (tile.room, tile.serial))
    return Wall(devices=tiles, history=found.history, live=live)


def _goes_on(alarm: AlarmRead) -> bool:
    """An acknowledged alarm whose condition lasts (a device offline): an event's alarm (an over-current stop) is
    over once acknowledged."""
    return alarm.ended_at is None and not KINDS[alarm.kind].latching


def _running(session: Session, *, actor: Actor) -> dict[uuid.UUID, Treating]:
    """Each device's session in progress: whose it is (a read of the client's record, audited) and the step the
    device last reported."""
    rows = session.execute(
        select(TreatmentSession, Appointment.client_id)
        .join(Appointment, Appointment.id == TreatmentSession.appointment_id)
        .where(TreatmentSession.status.in_(RUNNING))
    ).all()
    live = clients.live_by_id(session, client_ids={client_id for _treatment, client_id in rows})
    audit.record_reads(session, actor=actor, action="client.list", record_type=clients.RECORD, record_ids=live)
    running = {}
    for treatment, client_id in rows:
        step = session.scalar(
            select(SessionMessage.step)
            .where(SessionMessage.session_id == treatment.id, SessionMessage.step.is_not(None))
            .order_by(SessionMessage.seq.desc())
            .limit(1)
        )
        client = live.get(client_id)
        name = f"{client.first_name} {client.last_name}" if client else "(client record deleted)"
        running[treatment.device_id] = Treating(name, _step(treatment, step))
    return running


def _step(treatment: TreatmentSession, step: int | None) -> str:
    if step is None or step >= len(treatment.steps):
        return "Not started yet"
    total = treatment.first_step + len(treatment.steps)
    zone = str(treatment.steps[step].get("zone", "")).replace("_", " ")
    return f"Step {treatment.first_step + step + 1} of {total}, {zone}"
