"""What a treatment delivered, step by step, from the telemetry its device reported, summed over every part."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Protocol, SessionIncident, SessionMessage, TreatmentSession

Blocks = dict[int, list[SessionMessage]]  # telemetry blocks with contact, by the protocol's step index
MISSING_LISTED = 100  # a record lists this many missing seqs at most, and counts the rest


def session_record(session: Session, treatment: TreatmentSession) -> dict[str, Any]:
    """Prescribed against delivered per protocol step over all parts, totals, missing messages and incidents."""
    protocol = session.get(Protocol, treatment.protocol_id)
    assert protocol is not None
    parts = appointment_parts(session, appointment_id=treatment.appointment_id)
    delivered = contact_blocks(session, parts)
    steps = [
        step_record(index, step, [block for part in parts for block in delivered[part.id].get(index, [])])
        for index, step in enumerate(protocol.steps)
    ]
    seqs = session.scalars(select(SessionMessage.seq).where(SessionMessage.session_id == treatment.id)).all()
    return {
        "id": treatment.id,
        "appointment_id": treatment.appointment_id,
        "device_id": treatment.device_id,
        "protocol_id": treatment.protocol_id,
        "status": treatment.status,
        "limits": {"max_current_ua": treatment.max_current_ua, "max_output_s": treatment.max_output_s},
        "created_at": treatment.created_at,
        "armed_at": treatment.armed_at,
        "started_at": treatment.started_at,
        "ended_at": treatment.ended_at,
        "steps": steps,
        "total_charge_uc": round(sum(s["charge_uc"] for s in steps), 3),
        "total_output_s": round(sum(s["output_s"] for s in steps), 3),
        "parts": [part_record(part, delivered[part.id]) for part in parts],
        **missing(seqs),
        "incidents": incidents(session, parts),
    }


def missing(stored: Sequence[int]) -> dict[str, Any]:
    """The seqs below the highest stored one that never arrived: how many, and the first MISSING_LISTED. Found
    from the gaps between stored seqs, so the cost follows what was stored, never the highest seq a device sent."""
    seqs = sorted(set(stored))
    listed: list[int] = []
    for previous, seq in pairwise([0, *seqs]):
        listed.extend(range(previous + 1, seq)[: MISSING_LISTED - len(listed)])
    count = (seqs[-1] if seqs else 0) - len(seqs)
    return {"missing_seqs": listed, "missing_count": count, "missing_truncated": count > len(listed)}


def appointment_parts(session: Session, *, appointment_id: uuid.UUID) -> list[TreatmentSession]:
    """Every session of an appointment, oldest first: each one after the first resumes the one before it."""
    return list(
        session.scalars(
            select(TreatmentSession)
            .where(TreatmentSession.appointment_id == appointment_id)
            .order_by(TreatmentSession.created_at)
        )
    )


def contact_blocks(session: Session, parts: Sequence[TreatmentSession]) -> dict[uuid.UUID, Blocks]:
    """Each part's telemetry measured with contact, by protocol step (the part's step plus its first_step)."""
    delivered: dict[uuid.UUID, Blocks] = {part.id: defaultdict(list) for part in parts}
    armed = {part.id: part for part in parts}
    messages = session.scalars(
        select(SessionMessage)
        .where(
            SessionMessage.session_id.in_(list(armed)),
            SessionMessage.kind == "telemetry",
            SessionMessage.contact.is_(True),
        )
        .order_by(SessionMessage.seq)
    )
    for message in messages:
        part = armed[message.session_id]
        # the device numbers the steps it was armed with from 0; a step it was not armed with is no step at all
        if message.samples and message.step is not None and 0 <= message.step < len(part.steps):
            delivered[part.id][part.first_step + message.step].append(message)
    return delivered


def delivered_ms(blocks: list[SessionMessage]) -> int:
    """Output time of these blocks in whole milliseconds: samples × interval each."""
    return sum(len(block.samples or []) * (block.interval_ms or 0) for block in blocks)


def step_record(index: int, step: dict[str, Any], blocks: list[SessionMessage]) -> dict[str, Any]:
    """Mean and peak current, time at output and charge (µC = ∫|I| dt) from the magnitudes of the step's samples
    with contact."""
    samples = _samples(blocks)
    output_s = sum(interval for _, interval in samples)
    charge = sum(value * interval for value, interval in samples)
    return {
        "step": index,
        "zone": step["zone"],
        "mode": step["mode"],
        "prescribed_current_ua": step["current_ua"],
        "prescribed_duration_s": step["duration_s"],
        "delivered_mean_ua": round(charge / output_s, 3) if output_s else None,
        "delivered_peak_ua": max((v for v, _ in samples), default=None),
        "charge_uc": round(charge, 3),
        "output_s": round(output_s, 3),
    }


def part_record(part: TreatmentSession, blocks: Blocks) -> dict[str, Any]:
    """One session of the treatment: when it ran, how it ended and what it delivered."""
    samples = _samples([block for step_blocks in blocks.values() for block in step_blocks])
    return {
        "session_id": part.id,
        "status": part.status,
        "started_at": part.started_at,
        "ended_at": part.ended_at,
        "output_s": round(sum(interval for _, interval in samples), 3),
        "charge_uc": round(sum(value * interval for value, interval in samples), 3),
    }


def _samples(blocks: list[SessionMessage]) -> list[tuple[float, float]]:
    """Each sample's magnitude and duration: samples are signed, and current the other way is current too."""
    return [(abs(value), (block.interval_ms or 0) / 1000) for block in blocks for value in block.samples or []]


def incidents(session: Session, parts: Sequence[TreatmentSession]) -> list[dict[str, Any]]:
    """Every part's incidents by time: why an earlier part ended belongs to the treatment's record."""
    found = session.scalars(
        select(SessionIncident)
        .where(SessionIncident.session_id.in_([p.id for p in parts]))
        .order_by(SessionIncident.at)
    )
    return [{"session_id": i.session_id, "kind": i.kind, "at": i.at, "detail": i.detail} for i in found]
