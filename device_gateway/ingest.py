"""Writing what devices report: presence, answers to commands, session events and telemetry, which the
interlock (interlock.py) holds to each session's limits."""

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.alarms import record_incident
from db.base import utcnow
from db.lifecycle import DEVICE_STATUS, ENDED, EVENT_STATUS, FINAL, RUNNING, UNFINISHED, SessionStatus, allowed, move
from db.models import UNANSWERED, CommandStatus, Device, DeviceCommand, TreatmentSession
from db.session import transaction
from device_gateway.interlock import Interlock, Publish, Stop
from device_gateway.messages import Ack, DeviceMessage, Event, Status, Telemetry, highest_seq
from device_gateway.store import insert_new, sessions_query

logger = logging.getLogger(__name__)


class Dropped(Exception):
    """A message that is well-formed but not ours to store (unknown device, another device's session, a seq its
    session cannot reach)."""


UNREACHABLE = "a seq higher than its session can reach"
COUNTED_ON_WRITE = ("stored", "duplicates", "dropped")  # what a transaction counts, undone if it rolls back


@dataclass
class Block:
    """A telemetry block from a registered device for its own session, ready to insert."""

    message: Telemetry
    row: dict[str, Any]
    session_status: SessionStatus


@dataclass
class Ingest:
    """Applies device messages to the database; lives in the gateway's one worker thread."""

    counters: Counter[str] = field(default_factory=Counter)
    publish: Publish = field(default=lambda _topic, _payload: False)  # the interlock's way to the devices
    interlock: Interlock = field(init=False)
    _devices: dict[str, uuid.UUID] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.interlock = Interlock(self.counters, self.publish)

    def store(self, factory: sessionmaker[Session], messages: Sequence[DeviceMessage]) -> None:
        """Apply messages in one transaction. Should the database refuse it, apply them again one transaction
        each, so that only a message at fault is dropped. Raises OperationalError while the database is away."""
        counted = self.counters.copy()
        try:
            with transaction(factory) as session:
                stops = self.apply(session, messages)
            self.interlock.recorded(stops)
        except (IntegrityError, DataError):
            self._rolled_back(counted)
            if len(messages) == 1:
                self._drop(messages[0], "the database refused it")
                return
            for message in messages:
                self.store(factory, [message])
        except BaseException:
            self._rolled_back(counted)
            raise

    def _rolled_back(self, counted: Counter[str]) -> None:
        """Undo what a transaction that was not committed did to the counters, and only to those it counts: the
        network thread counts messages received and malformed meanwhile, and the interlock keeps what it counted
        (each block once, by seq, however often it is written) and the stops it has not recorded."""
        for name in COUNTED_ON_WRITE:
            self.counters[name] = counted[name]

    def apply(self, session: Session, messages: Sequence[DeviceMessage]) -> list[Stop]:
        """Apply messages in their order inside one transaction: each run of telemetry blocks in one statement,
        anything else one at a time. A message that is not ours to store is dropped before it writes anything.
        The interlock's stops not yet on record are written too: the caller confirms them once it committed."""
        stops = self.interlock.record(session)  # first: a device's answer to one of them may be in this batch
        run: list[Telemetry] = []
        for message in messages:
            if isinstance(message, Telemetry):
                run.append(message)
                continue
            self._telemetry(session, run)
            run = []
            self._one(session, message)
        self._telemetry(session, run)
        return stops + self.interlock.record(session)

    def watch_running(self, session: Session) -> None:
        """Guard every session in progress: a gateway that starts, or takes over, or whose database is back."""
        self.interlock.watch_running(session, UNFINISHED)

    def interrupt_lost(self, session: Session, *, patience: timedelta) -> None:
        """Interrupt the sessions whose device went offline (its Last Will) longer than `patience` ago and has not
        come back. Not at once: a broker that shuts down sends every device's Will, though they still treat,
        and they are back within seconds."""
        lost = session.scalars(
            select(TreatmentSession)
            .join(Device, Device.id == TreatmentSession.device_id)
            .where(
                TreatmentSession.status.in_(RUNNING),
                Device.state == "offline",
                Device.last_seen_at < utcnow() - patience,
            )
        ).all()
        for treatment in lost:
            self._end(treatment, SessionStatus.INTERRUPTED)
            record_incident(
                session,
                session_id=treatment.id,
                device_id=treatment.device_id,
                kind="device_offline",
                detail="the device went offline during the session and did not come back",
            )

    def _one(self, session: Session, message: Status | Ack | Event) -> None:
        try:
            device_id = self._device(session, message.device_id)
            if isinstance(message, Status):
                self._status(session, device_id, message)
            elif isinstance(message, Ack):
                self._ack(session, device_id, message)
            else:
                self._event(session, device_id, message)
        except Dropped as reason:
            self._drop(message, str(reason))

    def _drop(self, message: DeviceMessage, reason: str) -> None:
        self.counters["dropped"] += 1
        logger.warning("dropped a %s message from %s: %s", type(message).__name__, message.device_id, reason)

    def _device(self, session: Session, mqtt_id: str) -> uuid.UUID:
        if mqtt_id not in self._devices:
            found = session.scalar(select(Device.id).where(Device.device_id == mqtt_id))
            if found is None:
                raise Dropped("no such device is registered")
            self._devices[mqtt_id] = found
        return self._devices[mqtt_id]

    def _learn_devices(self, session: Session, mqtt_ids: set[str]) -> None:
        """Look up in one query the devices not seen before."""
        unknown = mqtt_ids - self._devices.keys()
        if unknown:
            found = session.execute(select(Device.device_id, Device.id).where(Device.device_id.in_(unknown)))
            self._devices.update((row.device_id, row.id) for row in found)

    def _status(self, session: Session, device_id: uuid.UUID, message: Status) -> None:
        device = session.get(Device, device_id)
        assert device is not None
        device.state, device.last_seen_at = message.state, utcnow()
        if message.state in DEVICE_STATUS and message.session_id is not None:
            self._resume(session, device_id, message.session_id, DEVICE_STATUS[message.state])

    def _resume(self, session: Session, device_id: uuid.UUID, session_id: uuid.UUID, status: SessionStatus) -> None:
        """A session interrupted by mistake goes back to what its device says it is doing."""
        treatment = session.get(TreatmentSession, session_id)
        if treatment is None or treatment.device_id != device_id or treatment.status != SessionStatus.INTERRUPTED:
            return
        move(treatment, status)
        record_incident(
            session,
            session_id=treatment.id,
            device_id=device_id,
            kind="device_back",
            detail=f"the device is back and reports that it is {status.value}",
        )
        self.interlock.watch(session, [treatment.id])

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
            move(treatment, SessionStatus.ARMED)
            self.interlock.watch(session, [treatment.id])  # guarded before its first block comes
        else:
            self._end(treatment, SessionStatus.REJECTED)
            record_incident(
                session,
                session_id=treatment.id,
                device_id=device_id,
                kind="rejected",
                detail=f"the device refused the protocol: {message.reason or 'no reason'}",
            )

    def _event(self, session: Session, device_id: uuid.UUID, message: Event) -> None:
        treatment = session.get(TreatmentSession, message.session_id)
        if treatment is None or treatment.device_id != device_id:
            raise Dropped("a session this device was not armed for")
        if message.seq > highest_seq(treatment.max_output_s, len(treatment.steps)):
            raise Dropped(UNREACHABLE)
        row = _row(device_id, message, utcnow()) | {
            "kind": "event",
            "event_type": message.type,
            "step": message.step,
            "detail": message.detail,
        }
        if not insert_new(session, [row]):
            self.counters["duplicates"] += 1
            return
        self.counters["stored"] += 1
        new = EVENT_STATUS.get(message.type)
        if new is None or not allowed(treatment.status, new):  # an ended session stays ended
            return
        if message.type == "started":
            treatment.started_at = utcnow()
        if new in ENDED:
            self._end(treatment, new)
        else:
            move(treatment, new)
        if message.type == "fault":
            record_incident(
                session,
                session_id=treatment.id,
                device_id=device_id,
                kind="fault",
                detail=f"the device reported a fault: {message.detail or 'no detail'}",
            )

    def _telemetry(self, session: Session, run: list[Telemetry]) -> None:
        """Store a run of blocks in one statement, then hold each new one to its session's limits."""
        blocks = self._owned(session, run)
        if not blocks:
            return
        in_progress = [block for block in blocks if block.session_status not in FINAL]  # ended: output is off
        self.interlock.watch(session, {block.message.session_id for block in in_progress})
        for block in in_progress:
            self.interlock.check(block.message)  # a block checked on arrival already is not checked again
        fresh = insert_new(session, [block.row for block in blocks])
        for block in blocks:
            key = (block.message.session_id, block.message.seq)
            if key not in fresh:  # stored before, or earlier in this run
                self.counters["duplicates"] += 1
                continue
            fresh.discard(key)
            self.counters["stored"] += 1

    def _owned(self, session: Session, run: list[Telemetry]) -> list[Block]:
        """The run's blocks that come from a registered device for a session armed on it, with a seq it can
        reach."""
        if not run:
            return []
        session.flush()  # the batch's own changes to sessions first; then a plain Core read, without ORM rows
        connection = session.connection()
        sessions = {
            row.id: row
            for row in connection.execute(
                sessions_query(connection.dialect), {"ids": list({message.session_id for message in run})}
            )
        }
        self._learn_devices(session, {message.device_id for message in run})
        blocks, now = [], utcnow()
        for message in run:
            device_id = self._devices.get(message.device_id)
            if device_id is None:
                self._drop(message, "no such device is registered")
                continue
            found = sessions.get(message.session_id)
            if found is None or found.device_id != device_id:
                self._drop(message, "a session this device was not armed for")
                continue
            if message.seq > highest_seq(found.max_output_s, found.step_count):
                self._drop(message, UNREACHABLE)  # stored, it would stand for millions of lost messages
                continue
            row = _row(device_id, message, now) | {
                "kind": "telemetry",
                "step": message.step,
                "interval_ms": message.interval_ms,
                "samples": list(message.current_ua),
                "contact": message.contact,
            }
            blocks.append(Block(message, row, found.status))
        return blocks

    def _end(self, treatment: TreatmentSession, status: SessionStatus) -> None:
        move(treatment, status)
        self.interlock.forget(treatment.id)


def _row(device_id: uuid.UUID, message: Event | Telemetry, received_at: datetime) -> dict[str, Any]:
    """The columns both kinds share; each kind fills in its own and leaves the others empty."""
    return {
        "device_id": device_id,
        "session_id": message.session_id,
        "seq": message.seq,
        "t_ms": message.t_ms,
        "received_at": received_at,
        "event_type": None,
        "step": None,
        "interval_ms": None,
        "samples": None,
        "contact": None,
        "detail": None,
    }
