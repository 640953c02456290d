"""The interlock: holds every telemetry block of a session in progress to its limits, and stops the device at
once when a sample is over its step's cap or output goes past the session's.

The decision never waits on the database: each block is checked the moment it arrives, against limits held in
memory, and the stop is published there and then. The stop command and its incident are written to the
database afterwards, with the next transaction that commits; until then they are kept here. The limits are
read from the database when a session is armed, when its first block is stored, and for every session in
progress when the gateway (re)starts, so a restarted gateway goes on from what is stored.
"""

import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from db.alarms import record_incident
from db.base import utcnow
from db.limits import with_tolerance
from db.models import Device, DeviceCommand, SessionIncident, SessionMessage, TreatmentSession
from db.models.treatment import INTERLOCK_STOPS
from db.outbox import record_command
from device_gateway import topics
from device_gateway.messages import Telemetry, highest_seq

logger = logging.getLogger(__name__)

# (topic, payload) -> whether the MQTT client took it for sending
Publish = Callable[[str, bytes], bool]


def _not_connected(_topic: str, _payload: bytes) -> bool:
    return False


@dataclass
class Watch:
    """What the interlock keeps about a session in progress."""

    mqtt_id: str
    device_id: uuid.UUID
    step_caps: list[float]
    highest_seq: int
    max_current_ua: float
    max_output_s: int
    first_step: int = 0  # the protocol's index of the first step armed: a resumed session is armed with the rest
    counted: set[int] = field(default_factory=set)  # telemetry seqs whose output is in output_s
    output_s: float = 0.0
    stopped: bool = False


@dataclass
class Stop:
    """A stop the interlock published, to be written to the outbox and the incidents once the database takes it."""

    command_id: uuid.UUID
    session_id: uuid.UUID
    device_id: uuid.UUID
    kind: str
    detail: str
    payload: dict[str, object]
    at: datetime
    published: bool


@dataclass
class Interlock:
    """Checks blocks from any thread (the MQTT network thread first of all); loads and records in the caller's
    database transaction."""

    counters: Counter[str]
    publish: Publish = _not_connected
    _watches: dict[uuid.UUID, Watch] = field(default_factory=dict)
    _unrecorded: dict[uuid.UUID, Stop] = field(default_factory=dict)  # by command id
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, session: Session, session_ids: Iterable[uuid.UUID]) -> None:
        """Start watching the sessions not watched yet, from what is stored: limits, the output so far (each
        stored block once), and whether the interlock stopped it already."""
        with self._lock:
            new = set(session_ids) - self._watches.keys()
        if new:
            self._load(session, select(TreatmentSession.id).where(TreatmentSession.id.in_(new)))

    def watch_running(self, session: Session, statuses: Iterable[str]) -> None:
        """Watch every session in these statuses: a gateway that starts, or takes over, guards them at once."""
        self._load(session, select(TreatmentSession.id).where(TreatmentSession.status.in_(list(statuses))))

    def _load(self, session: Session, ids: Select[uuid.UUID]) -> None:
        rows = session.execute(
            select(
                TreatmentSession.id,
                TreatmentSession.device_id,
                TreatmentSession.tolerance_percent,
                TreatmentSession.max_current_ua,
                TreatmentSession.max_output_s,
                TreatmentSession.steps,
                TreatmentSession.first_step,
                Device.device_id.label("mqtt_id"),
            )
            .join(Device, Device.id == TreatmentSession.device_id)
            .where(TreatmentSession.id.in_(ids))
        ).all()
        fresh = [row for row in rows if row.id not in self._watches]
        if not fresh:
            return
        loaded = {row.id: _watch(row, first_step=row.first_step) for row in fresh}
        for session_id, seq, output_ms in session.execute(
            select(
                SessionMessage.session_id,
                SessionMessage.seq,
                func.json_array_length(SessionMessage.samples) * SessionMessage.interval_ms,
            ).where(
                SessionMessage.session_id.in_(loaded),
                SessionMessage.kind == "telemetry",
                SessionMessage.contact.is_(True),
            )
        ):
            loaded[session_id].counted.add(seq)
            loaded[session_id].output_s += (output_ms or 0) / 1000
        for session_id in session.scalars(
            select(SessionIncident.session_id).where(
                SessionIncident.session_id.in_(loaded), SessionIncident.kind.in_(INTERLOCK_STOPS)
            )
        ):
            loaded[session_id].stopped = True
        with self._lock:
            for session_id, watch in loaded.items():
                watch.stopped = watch.stopped or any(s.session_id == session_id for s in self._unrecorded.values())
                self._watches.setdefault(session_id, watch)

    def watching(self, session_id: uuid.UUID) -> bool:
        return session_id in self._watches

    def check(self, message: Telemetry) -> None:
        """Hold a block to its session's limits, once per seq; stop the device at once when it is over them. A
        block of a session not watched (yet) is left to the caller that stores it, who watches it first."""
        with self._lock:
            watch = self._watches.get(message.session_id)
            if watch is None or watch.mqtt_id != message.device_id or message.seq in watch.counted:
                return
            if message.seq <= watch.highest_seq:  # a seq no session reaches is dropped, so not counted: the set of
                watch.counted.add(message.seq)  # counted seqs stays as small as a session; its samples are checked
                if message.contact:
                    watch.output_s += len(message.current_ua) * message.interval_ms / 1000
            cap = watch.step_caps[message.step] if message.step < len(watch.step_caps) else 0.0
            cap = min(cap, watch.max_current_ua)
            peak = max(abs(sample) for sample in message.current_ua)  # current the other way is current too
            if peak > cap:
                self._stop(
                    message.session_id,
                    watch,
                    "over_current",
                    f"a sample of {peak:g} µA in step {_step_as_counted(watch, message.step)} is above its cap "
                    f"of {cap:g} µA",
                )
            elif watch.output_s > watch.max_output_s:
                self._stop(
                    message.session_id,
                    watch,
                    "over_time",
                    f"{watch.output_s:g} s of output is past the limit of {watch.max_output_s} s",
                )

    def _stop(self, session_id: uuid.UUID, watch: Watch, kind: str, detail: str) -> None:
        """Publish a stop now, once per session, and keep it to be recorded."""
        if watch.stopped:
            return
        watch.stopped = True
        command_id, now = uuid.uuid4(), utcnow()
        payload: dict[str, object] = {
            "v": 1,
            "command_id": str(command_id),
            "type": "stop",
            "session_id": str(session_id),
            "issued_at": now.isoformat(),
            "reason": kind,
        }
        published = self.publish(
            topics.device_topic(watch.mqtt_id, "commands"), json.dumps(payload, separators=(",", ":")).encode()
        )
        self._unrecorded[command_id] = Stop(
            command_id, session_id, watch.device_id, kind, detail, payload, now, published
        )
        self.counters["interlock_stops"] += 1
        logger.warning(
            "interlock: stopping session %s (%s)%s",
            session_id,
            kind,
            "" if published else "; the broker is away, the outbox sends it once it is back",
        )

    def record(self, session: Session) -> list[Stop]:
        """Write the stops not yet on record into the caller's transaction; `recorded` once it committed."""
        with self._lock:
            stops = list(self._unrecorded.values())
        for stop in stops:
            if session.get(DeviceCommand, stop.command_id) is not None:
                continue  # written by a transaction whose commit was not confirmed
            record_command(
                session,
                command_id=stop.command_id,
                device_id=stop.device_id,
                session_id=stop.session_id,
                kind="stop",
                payload=stop.payload,
                created_at=stop.at,
                sent=stop.published,
            )
            record_incident(
                session,
                session_id=stop.session_id,
                device_id=stop.device_id,
                kind=stop.kind,
                detail=stop.detail,
                at=stop.at,
            )
        return stops

    def recorded(self, stops: Iterable[Stop]) -> None:
        with self._lock:
            for stop in stops:
                self._unrecorded.pop(stop.command_id, None)

    def unrecorded(self) -> bool:
        return bool(self._unrecorded)

    def forget(self, session_id: uuid.UUID) -> None:
        """Stop watching a session that ended."""
        with self._lock:
            self._watches.pop(session_id, None)

    def forget_all(self) -> None:
        """Stop watching every session (a standby that gave up the lease); stops not on record are kept."""
        with self._lock:
            self._watches.clear()


def _step_as_counted(watch: Watch, step: int) -> int:
    """A device counts the steps it was armed with from 0; staff count the protocol's from 1, a resumed session's
    too."""
    return watch.first_step + step + 1


def _watch(row: Row[Any], *, first_step: int = 0) -> Watch:
    return Watch(
        mqtt_id=row.mqtt_id,
        device_id=row.device_id,
        step_caps=[with_tolerance(s["current_ua"], row.tolerance_percent) for s in row.steps],
        highest_seq=highest_seq(row.max_output_s, len(row.steps)),
        max_current_ua=row.max_current_ua,
        max_output_s=row.max_output_s,
        first_step=first_step,
    )
