"""A client's treatments so far: each treated appointment with its sessions and what they delivered, read in the
same few statements however many there are. Showing them is a read of the sessions' records, audited as a list is.

What a session delivered is summed from its telemetry exactly as its record sums it (api/services/delivery.py). A
session is thousands of telemetry blocks, far too many to sum again for every page, so each session's sums are kept
once worked out, for as long as its number of stored messages stays the same: a device may still send a late block
after the session ended, and then the sums are worked out again."""

import threading
import uuid
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.services import audit
from db.models import Appointment, Protocol, SessionMessage, SessionStatus, TreatmentSession

RECORD = "session"
SHOWN = 200  # the newest sessions a client page lists; a client of many years has a few hundred at most
KEPT = 50_000  # sessions whose sums are kept in this process (a few numbers each)


@dataclass(frozen=True)
class Delivered:
    """What a session delivered: time at output, charge (µC = ∫|I| dt) and the highest current measured."""

    output_s: float
    charge_uc: float
    peak_ua: float | None


@dataclass(frozen=True)
class Part:
    """One session of current; a treatment resumed after an interruption has several."""

    id: uuid.UUID
    status: SessionStatus
    started_at: datetime | None
    ended_at: datetime | None
    delivered: Delivered


@dataclass(frozen=True)
class Treatment:
    """A treated appointment: its sessions, oldest first, and what they delivered together."""

    appointment_id: uuid.UUID
    series_id: uuid.UUID
    sequence: int
    start_at: datetime
    protocol_id: uuid.UUID
    parts: list[Part]

    @property
    def status(self) -> SessionStatus:
        return self.parts[-1].status

    @property
    def output_s(self) -> float:
        return round(sum(p.delivered.output_s for p in self.parts), 3)

    @property
    def charge_uc(self) -> float:
        return round(sum(p.delivered.charge_uc for p in self.parts), 3)

    @property
    def peak_ua(self) -> float | None:
        return max((p.delivered.peak_ua for p in self.parts if p.delivered.peak_ua is not None), default=None)


class _KeptSums:
    """Each session's sums with the number of messages they were summed from; the least recently used go first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[uuid.UUID, tuple[int, Delivered]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: uuid.UUID, messages: int) -> Delivered | None:
        with self._lock:
            kept = self._kept.get(session_id)
            if kept is None or kept[0] != messages:
                return None
            self._kept.move_to_end(session_id)
            return kept[1]

    def put(self, session_id: uuid.UUID, messages: int, delivered: Delivered) -> None:
        with self._lock:
            self._kept[session_id] = (messages, delivered)
            self._kept.move_to_end(session_id)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)


_SUMS = _KeptSums(KEPT)


def treatments(session: Session, *, actor: Actor, client_id: uuid.UUID) -> list[Treatment]:
    """The client's treated appointments, newest first (the newest SHOWN sessions), each with its sessions."""
    messages = (
        select(func.count())
        .where(SessionMessage.session_id == TreatmentSession.id)
        .correlate(TreatmentSession)
        .scalar_subquery()
    )
    rows = session.execute(
        select(TreatmentSession, Appointment, messages.label("messages"))
        .join(Appointment, Appointment.id == TreatmentSession.appointment_id)
        .where(Appointment.client_id == client_id)
        .order_by(Appointment.start_at.desc(), Appointment.id, TreatmentSession.created_at)
        .limit(SHOWN)
    ).all()
    sums = _delivered(session, [(row.TreatmentSession, row.messages) for row in rows])
    audit.record_reads(
        session,
        actor=actor,
        action="session.list",
        record_type=RECORD,
        record_ids=(r.TreatmentSession.id for r in rows),
    )
    by_appointment: dict[uuid.UUID, Treatment] = {}
    for part, appointment, _ in rows:
        treatment = by_appointment.setdefault(
            appointment.id,
            Treatment(
                appointment.id, appointment.series_id, appointment.sequence, appointment.start_at, part.protocol_id, []
            ),
        )
        treatment.parts.append(Part(part.id, part.status, part.started_at, part.ended_at, sums[part.id]))
    return list(by_appointment.values())


def _delivered(session: Session, parts: list[tuple[TreatmentSession, int]]) -> dict[uuid.UUID, Delivered]:
    """Each session's sums: kept ones as they are, the others (new messages since, or never summed) in one read."""
    found = {part.id: kept for part, count in parts if (kept := _SUMS.get(part.id, count)) is not None}
    missing = [(part, count) for part, count in parts if part.id not in found]
    if missing:
        summed = delivered_by(session, [part for part, _ in missing])
        for part, count in missing:
            found[part.id] = summed[part.id]
            _SUMS.put(part.id, count, summed[part.id])
    return found


def delivered_by(session: Session, parts: list[TreatmentSession]) -> dict[uuid.UUID, Delivered]:
    """What each session delivered, summed as its record sums it (delivery.contact_blocks and part_record): the
    samples of its telemetry blocks measured with contact in a step it was armed with, by magnitude (current the
    other way is current too). Read as plain rows, the few columns the sums need: a session is thousands of them."""
    step_counts = {part.id: len(part.steps) for part in parts}
    sums = {part.id: [0.0, 0.0] for part in parts}  # output s, charge µC
    peaks: dict[uuid.UUID, float] = {}
    rows = session.execute(
        select(
            SessionMessage.session_id, SessionMessage.step, SessionMessage.interval_ms, SessionMessage.samples
        ).where(
            SessionMessage.session_id.in_(list(step_counts)),
            SessionMessage.kind == "telemetry",
            SessionMessage.contact.is_(True),
        )
    )
    for session_id, step, interval_ms, samples in rows:
        if not samples or step is None or not 0 <= step < step_counts[session_id]:
            continue
        interval = (interval_ms or 0) / 1000
        magnitudes = [abs(value) for value in samples]
        sums[session_id][0] += interval * len(magnitudes)
        sums[session_id][1] += sum(value * interval for value in magnitudes)
        peaks[session_id] = max(peaks.get(session_id, 0.0), *magnitudes)
    return {
        part_id: Delivered(output_s=round(output, 3), charge_uc=round(charge, 3), peak_ua=peaks.get(part_id))
        for part_id, (output, charge) in sums.items()
    }


def protocol_names(session: Session, *, protocol_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each protocol's name and version, in one read."""
    if not protocol_ids:
        return {}
    rows = session.execute(select(Protocol.id, Protocol.name, Protocol.version).where(Protocol.id.in_(protocol_ids)))
    return {row.id: f"{row.name} (version {row.version})" for row in rows}
