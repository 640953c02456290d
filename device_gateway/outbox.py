"""Sending the outbox: each command tracked queued → sent → accepted | rejected | executed | expired | failed."""

import json
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import (
    UNANSWERED,
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceStatus,
    SessionIncident,
    SessionStatus,
    TreatmentSession,
)
from device_gateway import topics

logger = logging.getLogger(__name__)
BATCH = 200

# (topic, payload) -> whether the client took it for sending
Publish = Callable[[str, bytes], bool]


def send_due(session: Session, publish: Publish, *, resend_sent: bool) -> int:
    """Publish queued commands (and, after a reconnect, those sent but unanswered) with their own command_id."""
    expire_overdue(session)
    wanted = [CommandStatus.QUEUED, CommandStatus.SENT] if resend_sent else [CommandStatus.QUEUED]
    rows = session.execute(
        select(DeviceCommand, Device.device_id, Device.status).join(Device, Device.id == DeviceCommand.device_id)
        .where(DeviceCommand.status.in_(wanted)).order_by(DeviceCommand.created_at).limit(BATCH)
        .with_for_update(of=DeviceCommand, skip_locked=True)
    ).all()
    sent = 0
    for command, mqtt_id, device_status in rows:
        if command.kind == "load_protocol" and device_status == DeviceStatus.REVOKED:
            _give_up(session, command, CommandStatus.FAILED, "device_revoked", "command_failed",
                     "the device was revoked before it could be armed")
            continue  # a stop still goes: it is always safe
        payload = json.dumps(command.payload, separators=(",", ":")).encode()
        if not publish(topics.device_topic(mqtt_id, "commands"), payload):
            break  # not connected: the rest waits for the next round
        command.status, command.sent_at, command.attempts = CommandStatus.SENT, utcnow(), command.attempts + 1
        sent += 1
    return sent


def expire_overdue(session: Session) -> None:
    """Commands past their expiry that no device answered; a session waiting to be armed ends rejected."""
    overdue = session.scalars(select(DeviceCommand).where(
        DeviceCommand.status.in_(UNANSWERED), DeviceCommand.expires_at < utcnow())).all()
    for command in overdue:
        _give_up(session, command, CommandStatus.EXPIRED, None, "command_expired",
                 "the device did not answer the arming command in time")
        logger.info("command %s expired unanswered", command.id)


def _give_up(session: Session, command: DeviceCommand, status: CommandStatus, reason: str | None,
             incident: str, detail: str) -> None:
    """End a command without an answer; a session still waiting for it to arm its device ends rejected."""
    command.status, command.reason, command.answered_at = status, reason, utcnow()
    treatment = session.get(TreatmentSession, command.session_id) if command.session_id else None
    if treatment is not None and treatment.status == SessionStatus.PENDING:
        treatment.status, treatment.ended_at = SessionStatus.REJECTED, utcnow()
        session.add(SessionIncident(session_id=treatment.id, kind=incident, detail=detail))
