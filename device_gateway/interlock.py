"""The interlock: holds every telemetry block of a session in progress to its limits, and stops the device at
once, with an incident on record, when a sample is over its step's cap or output goes past the session's."""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Protocol, SessionIncident, SessionMessage, TreatmentSession
from db.outbox import queue_command
from device_gateway.messages import Telemetry

logger = logging.getLogger(__name__)
STOP_REASONS = ("over_current", "over_time")


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
class Interlock:
    """What is kept about each session in progress, read from the database when a session is first seen. So a
    restarted gateway, or one whose last transaction failed, goes on from what is stored."""

    counters: Counter[str]
    _watches: dict[uuid.UUID, Watch] = field(default_factory=dict)

    def watch(self, session: Session, session_ids: set[uuid.UUID]) -> None:
        """Start watching the sessions not watched yet, from what is stored: the output so far, and whether
        the interlock stopped it already."""
        new = session_ids - self._watches.keys()
        if not new:
            return
        limits = session.execute(
            select(TreatmentSession.id, TreatmentSession.device_id, TreatmentSession.tolerance_percent,
                   TreatmentSession.max_current_ua, TreatmentSession.max_output_s, Protocol.steps)
            .join(Protocol, Protocol.id == TreatmentSession.protocol_id).where(TreatmentSession.id.in_(new)))
        output_ms = dict(session.execute(
            select(SessionMessage.session_id,
                   func.sum(func.json_array_length(SessionMessage.samples) * SessionMessage.interval_ms))
            .where(SessionMessage.session_id.in_(new), SessionMessage.kind == "telemetry",
                   SessionMessage.contact.is_(True))
            .group_by(SessionMessage.session_id)).all())
        stopped = set(session.scalars(select(SessionIncident.session_id).where(
            SessionIncident.session_id.in_(new), SessionIncident.kind.in_(STOP_REASONS))))
        for row in limits:
            factor = 1 + row.tolerance_percent / 100
            self._watches[row.id] = Watch(
                device_id=row.device_id, step_caps=[step["current_ua"] * factor for step in row.steps],
                max_current_ua=row.max_current_ua, max_output_s=row.max_output_s,
                output_s=(output_ms.get(row.id) or 0) / 1000, stop_sent=row.id in stopped)

    def check(self, session: Session, message: Telemetry) -> None:
        """Hold a newly stored block of a watched session to its limits."""
        watch = self._watches[message.session_id]
        if message.contact:
            watch.output_s += len(message.current_ua) * message.interval_ms / 1000
        cap = watch.step_caps[message.step] if message.step < len(watch.step_caps) else 0.0
        cap = min(cap, watch.max_current_ua)
        peak = max(message.current_ua)
        if peak > cap:
            self._stop(session, message.session_id, watch, "over_current",
                       f"a sample of {peak:g} µA in step {message.step} is above its cap of {cap:g} µA")
        elif watch.output_s > watch.max_output_s:
            self._stop(session, message.session_id, watch, "over_time",
                       f"{watch.output_s:g} s of output is past the limit of {watch.max_output_s} s")

    def forget(self, session_id: uuid.UUID | None = None) -> None:
        """Stop watching a session that ended, or every session after a transaction that was not committed
        (what is kept may count blocks that were not stored): read again from the database when next needed."""
        if session_id is None:
            self._watches.clear()
        else:
            self._watches.pop(session_id, None)

    def _stop(self, session: Session, session_id: uuid.UUID, watch: Watch, kind: str, detail: str) -> None:
        """Queue a stop at once and record why, once per session."""
        if watch.stop_sent:
            return
        watch.stop_sent = True
        queue_command(session, device_id=watch.device_id, session_id=session_id, kind="stop", body={"reason": kind})
        session.add(SessionIncident(session_id=session_id, kind=kind, detail=detail))
        self.counters["interlock_stops"] += 1
        logger.warning("interlock: stopping session %s (%s)", session_id, kind)
