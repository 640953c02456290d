"""Writing what devices report: presence, answers to commands, session events and telemetry, and the interlock."""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import (
    UNANSWERED,
    CommandStatus,
    Device,
    DeviceCommand,
    Protocol,
    SessionIncident,
    SessionMessage,
    SessionStatus,
    TreatmentSession,
)
from db.outbox import queue_command
from device_gateway.messages import Ack, DeviceMessage, Event, Status, Telemetry

logger = logging.getLogger(__name__)

# Final: nothing the device says later changes them. Interrupted is not: a device that comes back
# and reports on (after a broker restart, say) moves the session on; the incident stays on record.
FINAL = frozenset({SessionStatus.COMPLETED, SessionStatus.STOPPED, SessionStatus.REJECTED})
EVENT_STATUS = {
    "started": SessionStatus.TREATING, "resumed": SessionStatus.TREATING, "contact_restored": SessionStatus.TREATING,
    "paused": SessionStatus.PAUSED, "contact_lost": SessionStatus.PAUSED, "completed": SessionStatus.COMPLETED,
    "stopped": SessionStatus.STOPPED, "fault": SessionStatus.INTERRUPTED,
}


class Dropped(Exception):
    """A message that is well-formed but not ours to store (unknown device, another device's session)."""


@dataclass
class Watch:
    """What the interlock keeps about a session in progress."""

    device_id: uuid.UUID
    step_caps: list[float]
    max_current_ua: float
    max_output_s: int
    output_s: float = 0.0
    stop_sent: bool = False


@dataclass
class Ingest:
    """Applies device messages to the database; lives in the gateway's one worker thread."""

    counters: Counter[str] = field(default_factory=Counter)
    _devices: dict[str, uuid.UUID] = field(default_factory=dict)
    _watches: dict[uuid.UUID, Watch] = field(default_factory=dict)

    def apply(self, session: Session, message: DeviceMessage) -> None:
        """Apply one message inside the batch's transaction; a failure drops only this message."""
        try:
            with session.begin_nested():
                self._apply(session, message)
        except Dropped as reason:
            self.counters["dropped"] += 1
            logger.warning("dropped a %s message from %s: %s", type(message).__name__, message.device_id, reason)

    def _apply(self, session: Session, message: DeviceMessage) -> None:
        device_id = self._device(session, message.device_id)
        if isinstance(message, Status):
            self._status(session, device_id, message)
        elif isinstance(message, Ack):
            self._ack(session, device_id, message)
        else:
            treatment = self._session_of(session, device_id, message.session_id)
            if not self._store(session, device_id, message):
                self.counters["duplicates"] += 1
                return
            if isinstance(message, Event):
                self._event(session, treatment, message)
            else:
                self._telemetry(session, treatment, message)
        self.counters["stored"] += 1

    def _device(self, session: Session, mqtt_id: str) -> uuid.UUID:
        if mqtt_id not in self._devices:
            found = session.scalar(select(Device.id).where(Device.device_id == mqtt_id))
            if found is None:
                raise Dropped("no such device is registered")
            self._devices[mqtt_id] = found
        return self._devices[mqtt_id]

    def _status(self, session: Session, device_id: uuid.UUID, message: Status) -> None:
        device = session.get(Device, device_id)
        assert device is not None
        device.state, device.last_seen_at = message.state, utcnow()
        if message.state != "offline":
            return
        running = session.scalars(select(TreatmentSession).where(
            TreatmentSession.device_id == device_id,
            TreatmentSession.status.in_([SessionStatus.ARMED, SessionStatus.TREATING, SessionStatus.PAUSED]))).all()
        for treatment in running:
            self._end(treatment, SessionStatus.INTERRUPTED)
            session.add(SessionIncident(session_id=treatment.id, kind="device_offline",
                                        detail="the device went offline during the session"))

    def _ack(self, session: Session, device_id: uuid.UUID, message: Ack) -> None:
        command = session.get(DeviceCommand, message.command_id)
        if command is None or command.device_id != device_id:
            raise Dropped("an answer to a command this device was not sent")
        if command.status not in UNANSWERED:
            self.counters["duplicates"] += 1  # a device repeats its answer to a repeated command
            return
        command.status = CommandStatus(message.status)
        command.reason, command.answered_at = message.reason, utcnow()
        treatment = session.get(TreatmentSession, command.session_id) if command.session_id else None
        if command.kind != "load_protocol" or treatment is None or treatment.status != SessionStatus.PENDING:
            return
        if command.status == CommandStatus.ACCEPTED:
            treatment.status, treatment.armed_at = SessionStatus.ARMED, utcnow()
        else:
            self._end(treatment, SessionStatus.REJECTED)
            session.add(SessionIncident(session_id=treatment.id, kind="rejected",
                                        detail=f"the device refused the protocol: {message.reason or 'no reason'}"))

    def _session_of(self, session: Session, device_id: uuid.UUID, session_id: uuid.UUID) -> TreatmentSession:
        treatment = session.get(TreatmentSession, session_id)
        if treatment is None or treatment.device_id != device_id:
            raise Dropped("a session this device was not armed for")
        return treatment

    def _store(self, session: Session, device_id: uuid.UUID, message: Event | Telemetry) -> bool:
        """Insert once per (device, session, seq); False when it was already stored."""
        row: dict[str, Any] = {"device_id": device_id, "session_id": message.session_id, "seq": message.seq,
                               "t_ms": message.t_ms, "received_at": utcnow()}
        if isinstance(message, Event):
            row |= {"kind": "event", "event_type": message.type, "step": message.step, "detail": message.detail}
        else:
            row |= {"kind": "telemetry", "step": message.step, "interval_ms": message.interval_ms,
                    "samples": list(message.current_ua), "contact": message.contact}
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(SessionMessage).values(row).on_conflict_do_nothing(
            index_elements=["device_id", "session_id", "seq"]).returning(SessionMessage.id)
        return session.execute(statement).first() is not None

    def _event(self, session: Session, treatment: TreatmentSession, message: Event) -> None:
        if treatment.status in FINAL or message.type not in EVENT_STATUS:
            return
        new = EVENT_STATUS[message.type]
        if message.type == "started":
            treatment.started_at = utcnow()
        if new in FINAL or new == SessionStatus.INTERRUPTED:
            self._end(treatment, new)
        else:
            treatment.status = new
        if message.type == "fault":
            session.add(SessionIncident(session_id=treatment.id, kind="fault",
                                        detail=f"the device reported a fault: {message.detail or 'no detail'}"))

    def _telemetry(self, session: Session, treatment: TreatmentSession, message: Telemetry) -> None:
        if treatment.status in FINAL:
            return  # stored for the record; output is already off
        watch = self._watch(session, treatment)
        if message.contact:
            watch.output_s += len(message.current_ua) * message.interval_ms / 1000
        cap = watch.step_caps[message.step] if message.step < len(watch.step_caps) else 0.0
        cap = min(cap, watch.max_current_ua)
        peak = max(message.current_ua)
        if peak > cap:
            self._stop(session, treatment, watch, "over_current",
                       f"a sample of {peak:g} µA in step {message.step} is above its cap of {cap:g} µA")
        elif watch.output_s > watch.max_output_s:
            self._stop(session, treatment, watch, "over_time",
                       f"{watch.output_s:g} s of output is past the limit of {watch.max_output_s} s")

    def _watch(self, session: Session, treatment: TreatmentSession) -> Watch:
        if treatment.id not in self._watches:
            protocol = session.get(Protocol, treatment.protocol_id)
            assert protocol is not None
            factor = 1 + treatment.tolerance_percent / 100
            self._watches[treatment.id] = Watch(
                device_id=treatment.device_id, step_caps=[s["current_ua"] * factor for s in protocol.steps],
                max_current_ua=treatment.max_current_ua, max_output_s=treatment.max_output_s)
        return self._watches[treatment.id]

    def _stop(self, session: Session, treatment: TreatmentSession, watch: Watch, kind: str, detail: str) -> None:
        """Queue a stop at once and record why, once per session."""
        if watch.stop_sent:
            return
        watch.stop_sent = True
        queue_command(session, device_id=watch.device_id, session_id=treatment.id, kind="stop", body={"reason": kind})
        session.add(SessionIncident(session_id=treatment.id, kind=kind, detail=detail))
        self.counters["interlock_stops"] += 1
        logger.warning("interlock: stopping session %s (%s)", treatment.id, kind)

    def _end(self, treatment: TreatmentSession, status: SessionStatus) -> None:
        treatment.status, treatment.ended_at = status, utcnow()
        self._watches.pop(treatment.id, None)
