"""Devices' alarms as staff see them: the active ones and the history; acknowledging one; and the alarm of a
device offline while the clinic is open, which only the clinic's settings can tell (the gateway raises the rest)."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, not_, select
from sqlalchemy.orm import Session, aliased

from api.actor import Actor
from api.errors import Conflict
from api.schemas.alarms import AlarmList, AlarmRead
from api.schemas.clinic_settings import ClinicSettings
from api.services import audit
from api.services.records import get_or_404
from db import alarms
from db.base import utcnow
from db.models import Alarm, Device, DeviceStatus, Room, User
from db.models.gateway import gateway_present

HISTORY = 50  # the newest acknowledged or cleared alarms shown


def list_alarms(session: Session, *, clinic: ClinicSettings, history: int = HISTORY) -> AlarmList:
    """The active alarms, most severe first, and the latest of the rest, newest first."""
    sync_offline(session, clinic=clinic)
    past = _read(session, _query().where(not_(alarms.is_active())).order_by(Alarm.began_at.desc()).limit(history))
    return AlarmList(active=active(session), history=past)


def active(session: Session) -> list[AlarmRead]:
    """The alarms not yet acknowledged (nor cleared, when they clear): most severe first, then the newest."""
    return sorted(
        _read(session, _query().where(alarms.is_active()).order_by(Alarm.began_at.desc())),
        key=lambda alarm: alarms.SEVERITY_ORDER[alarm.severity],
    )


def acknowledge(session: Session, *, actor: Actor, alarm_id: uuid.UUID) -> AlarmRead:
    """Keep who acknowledged the alarm and when; the first acknowledgement stands."""
    alarm = get_or_404(session, Alarm, alarm_id, "alarm")
    if not alarms.acknowledge(alarm, user_id=actor.user.id):
        raise Conflict("This alarm was acknowledged already; the page shows by whom and when.")
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="alarm.acknowledge",
        record_type="alarm",
        record_id=alarm.id,
        detail={"kind": alarm.kind, "severity": alarm.severity.value},
    )
    [read] = _read(session, _query().where(Alarm.id == alarm.id))
    return read


def sync_offline(session: Session, *, clinic: ClinicSettings) -> None:
    """Raise the alarm of an in-service device offline while the clinic is open; end it once the device is back
    or the clinic has closed. Without a gateway, device states are only what they were: nothing is changed."""
    if not gateway_present(session):
        return
    opened = _opened_at(clinic, utcnow())
    raised = {
        alarm.device_id: alarm
        for alarm in session.scalars(select(Alarm).where(Alarm.kind == "device_offline", Alarm.ended_at.is_(None)))
    }
    for device in session.scalars(select(Device).where(Device.status == DeviceStatus.IN_SERVICE)):
        offline = device.state == "offline" and opened is not None
        if offline and device.id not in raised:
            assert opened is not None
            alarms.raise_alarm(
                session,
                device_id=device.id,
                kind="device_offline",
                detail="the device is switched off or out of reach while the clinic is open",
                began_at=max(device.last_seen_at or opened, opened),
            )
        elif not offline and device.id in raised:
            raised[device.id].ended_at = device.last_seen_at if device.state != "offline" else utcnow()
    session.flush()


def _opened_at(clinic: ClinicSettings, now: datetime) -> datetime | None:
    """When the clinic opened today, if it is open now."""
    zone = ZoneInfo(clinic.timezone)
    local = now.astimezone(zone)
    hours = getattr(clinic.opening_hours, f"{local:%A}".lower())
    if hours is None or not hours.open <= local.time() < hours.close:
        return None
    return datetime.combine(local.date(), hours.open, zone)


def _query() -> Select[Alarm, str, str, str]:
    acknowledger = aliased(User)
    return (
        select(Alarm, Device.serial, Room.name, acknowledger.full_name)
        .join(Device, Device.id == Alarm.device_id)
        .join(Room, Room.id == Device.room_id)
        .outerjoin(acknowledger, acknowledger.id == Alarm.acknowledged_by_id)
    )


def _read(session: Session, query: Select[Alarm, str, str, str]) -> list[AlarmRead]:
    return [
        AlarmRead(
            id=alarm.id,
            device_id=alarm.device_id,
            device_serial=serial,
            room=room,
            session_id=alarm.session_id,
            kind=alarm.kind,
            title=alarms.KINDS[alarm.kind].title,
            severity=alarm.severity,
            began_at=alarm.began_at,
            ended_at=alarm.ended_at,
            detail=alarm.detail,
            active=alarm.acknowledged_at is None and (alarm.ended_at is None or alarms.KINDS[alarm.kind].latching),
            acknowledged_by=name,
            acknowledged_at=alarm.acknowledged_at,
        )
        for alarm, serial, room, name in session.execute(query)
    ]
