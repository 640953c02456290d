"""What a session delivered, step by step, from the telemetry the device reported."""

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Protocol, SessionIncident, SessionMessage, TreatmentSession


def session_record(session: Session, treatment: TreatmentSession) -> dict[str, Any]:
    """Prescribed against delivered per step, totals, missing messages and incidents."""
    protocol = session.get(Protocol, treatment.protocol_id)
    assert protocol is not None
    messages = session.scalars(select(SessionMessage).where(SessionMessage.session_id == treatment.id)
                               .order_by(SessionMessage.seq)).all()
    blocks = defaultdict(list)
    for message in messages:
        if message.kind == "telemetry" and message.contact and message.samples and message.step is not None:
            blocks[message.step].append(message)
    steps = [step_record(index, step, blocks.get(index, [])) for index, step in enumerate(protocol.steps)]
    incidents = session.scalars(select(SessionIncident).where(SessionIncident.session_id == treatment.id)
                                .order_by(SessionIncident.at)).all()
    seqs = {m.seq for m in messages}
    return {
        "id": treatment.id, "appointment_id": treatment.appointment_id, "device_id": treatment.device_id,
        "protocol_id": treatment.protocol_id, "status": treatment.status,
        "limits": {"max_current_ua": treatment.max_current_ua, "max_output_s": treatment.max_output_s},
        "created_at": treatment.created_at, "armed_at": treatment.armed_at, "started_at": treatment.started_at,
        "ended_at": treatment.ended_at, "steps": steps,
        "total_charge_uc": round(sum(s["charge_uc"] for s in steps), 3),
        "total_output_s": round(sum(s["output_s"] for s in steps), 3),
        "missing_seqs": sorted(set(range(1, max(seqs, default=0) + 1)) - seqs),
        "incidents": [{"kind": i.kind, "at": i.at, "detail": i.detail} for i in incidents],
    }


def step_record(index: int, step: dict[str, Any], blocks: list[SessionMessage]) -> dict[str, Any]:
    """Mean and peak current, time at output and charge (µC = µA × s) from the step's samples with contact."""
    samples = [(value, (block.interval_ms or 0) / 1000) for block in blocks for value in block.samples or []]
    output_s = sum(interval for _, interval in samples)
    charge = sum(value * interval for value, interval in samples)
    return {
        "step": index, "zone": step["zone"], "mode": step["mode"], "prescribed_current_ua": step["current_ua"],
        "prescribed_duration_s": step["duration_s"],
        "delivered_mean_ua": round(charge / output_s, 3) if output_s else None,
        "delivered_peak_ua": max((v for v, _ in samples), default=None),
        "charge_uc": round(charge, 3), "output_s": round(output_s, 3),
    }
