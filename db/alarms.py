"""Raising alarms where their facts are written, in the same transaction: the gateway's message handling
(over-current, overtime, a device lost, a fault, a refused arming) and its sweep of devices offline in opening
hours (device_gateway/offline_alarms.py) both come here.

Each kind's severity (IEC 60601-1-8), its name in words, and whether it latches are in KINDS, and nowhere else.
A latching alarm stays active until someone acknowledges it, even once its cause is over (a stopped session
stays stopped); a condition that clears by itself (a device back online) ends its alarm, which then needs no
acknowledgement, though anyone may still give one."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models.alarm import Alarm, AlarmSeverity
from db.models.treatment import SessionIncident


@dataclass(frozen=True)
class Kind:
    severity: AlarmSeverity
    title: str
    latching: bool = True


HIGH, MEDIUM, LOW = AlarmSeverity.HIGH, AlarmSeverity.MEDIUM, AlarmSeverity.LOW
# Current beyond what was prescribed, or a device giving current out of sight, needs someone at once (high). A
# fault ended output but the device needs looking at before the next client (medium), as does a device missing
# while clients are booked on it. A refused arming never gave current: staff need only know and retry (low).
KINDS: dict[str, Kind] = {
    "over_current": Kind(HIGH, "Over-current: stopped by the interlock"),
    "over_time": Kind(HIGH, "Overtime: stopped by the interlock"),
    "device_lost": Kind(HIGH, "Device lost during a session"),
    "fault": Kind(MEDIUM, "Device fault"),
    "device_offline": Kind(MEDIUM, "Device offline in opening hours", latching=False),
    "rejected": Kind(LOW, "Arming refused"),
}
# The session incidents that are alarms too, and the alarm each raises.
INCIDENT_ALARMS = {
    "over_current": "over_current",
    "over_time": "over_time",
    "device_offline": "device_lost",
    "fault": "fault",
    "rejected": "rejected",
    "command_expired": "rejected",
    "command_failed": "rejected",
}
SEVERITY_ORDER = {HIGH: 0, MEDIUM: 1, LOW: 2}


def raise_alarm(
    session: Session,
    *,
    device_id: uuid.UUID,
    kind: str,
    detail: str,
    session_id: uuid.UUID | None = None,
    began_at: datetime | None = None,
) -> Alarm:
    """Add an alarm, its severity from KINDS, to the caller's transaction."""
    alarm = Alarm(
        device_id=device_id,
        session_id=session_id,
        kind=kind,
        severity=KINDS[kind].severity,
        detail=detail,
        began_at=began_at or utcnow(),
    )
    session.add(alarm)
    return alarm


def raise_unless_open(
    session: Session, *, device_id: uuid.UUID, kind: str, detail: str, began_at: datetime
) -> Alarm | None:
    """Raise an alarm that clears by itself unless the device has one of this kind open; None when it has. Race-safe:
    the insert is tried in a savepoint and the partial unique index (ix_alarms_one_open_offline) refuses a second
    open one, whoever wrote the first (another gateway's sweep, in a transaction not yet committed when this one
    looked)."""
    try:
        with session.begin_nested():
            alarm = raise_alarm(session, device_id=device_id, kind=kind, detail=detail, began_at=began_at)
    except IntegrityError:
        if open_alarm(session, device_id=device_id, kind=kind) is None:
            raise  # refused for another reason than the open one
        return None
    return alarm


def open_alarm(session: Session, *, device_id: uuid.UUID, kind: str) -> Alarm | None:
    """The device's alarm of this kind whose condition still holds, if any (the newest)."""
    return session.scalar(
        select(Alarm)
        .where(Alarm.device_id == device_id, Alarm.kind == kind, Alarm.ended_at.is_(None))
        .order_by(Alarm.began_at.desc())
        .limit(1)
    )


def record_incident(
    session: Session,
    *,
    session_id: uuid.UUID,
    device_id: uuid.UUID,
    kind: str,
    detail: str,
    at: datetime | None = None,
) -> None:
    """Write a session's incident and, when it is an alarm, the alarm with it; a device back ends its loss."""
    at = at or utcnow()
    session.add(SessionIncident(session_id=session_id, kind=kind, at=at, detail=detail))
    if kind in INCIDENT_ALARMS:
        raise_alarm(
            session, device_id=device_id, kind=INCIDENT_ALARMS[kind], detail=detail, session_id=session_id, began_at=at
        )
    elif kind == "device_back":
        end_alarms(session, device_id=device_id, kind="device_lost", at=at)


def end_alarms(session: Session, *, device_id: uuid.UUID, kind: str, at: datetime | None = None) -> None:
    """The condition behind a device's alarms of this kind is over."""
    for alarm in session.scalars(
        select(Alarm).where(Alarm.device_id == device_id, Alarm.kind == kind, Alarm.ended_at.is_(None))
    ):
        alarm.ended_at = at or utcnow()


def is_active() -> ColumnElement[bool]:
    """Not acknowledged, and either latching or still holding."""
    clearing = [kind for kind, known in KINDS.items() if not known.latching]
    return and_(Alarm.acknowledged_at.is_(None), or_(Alarm.ended_at.is_(None), Alarm.kind.not_in(clearing)))


def acknowledge(session: Session, alarm: Alarm, *, user_id: uuid.UUID) -> bool:
    """Keep who acknowledged an alarm and when; False when someone already had (the first is kept). One conditional
    UPDATE, so of two people acknowledging at the same moment exactly one is told it is done."""
    done = session.execute(
        update(Alarm)
        .where(Alarm.id == alarm.id, Alarm.acknowledged_at.is_(None))
        .values(acknowledged_by_id=user_id, acknowledged_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(alarm)
    return cast(CursorResult[Any], done).rowcount == 1
