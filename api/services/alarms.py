"""Devices' alarms as staff see them: the active ones and the history, and acknowledging one. The gateway raises
and ends them all (db/alarms.py), the alarm of a device offline in opening hours included."""

import uuid

from sqlalchemy import Select, not_, select
from sqlalchemy.orm import Session, aliased

from api.actor import Actor
from api.errors import Conflict
from api.schemas.alarms import AlarmList, AlarmRead
from api.services import audit
from api.services.records import get_or_404
from db import alarms
from db.models import Alarm, Device, Room, User

HISTORY = 50  # the newest acknowledged or cleared alarms shown


def list_alarms(session: Session, *, history: int = HISTORY) -> AlarmList:
    """The active alarms, most severe first, and the latest of the rest, newest first."""
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
    if not alarms.acknowledge(session, alarm, user_id=actor.user.id):
        first = session.get(User, alarm.acknowledged_by_id) if alarm.acknowledged_by_id else None
        by = f" by {first.full_name}" if first else ""
        raise Conflict(f"This alarm was acknowledged already{by}; the alarm history shows when.")
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
