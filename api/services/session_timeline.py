"""What happened over a treatment's time, from what its devices reported: when the probes lost contact, and the
current block by block for the record's chart. Times are each session's own clock (seconds since it started on the
device); the chart lays a treatment's sessions end to end."""

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import SessionMessage, TreatmentSession

CHART_POINTS = 600  # a point a second for 10 minutes of output; beyond, neighbouring blocks are merged
GAP_S = 0.5  # more than this between two blocks is a gap in the line: a message lost, or no contact
LOST, RESTORED = "contact_lost", "contact_restored"


def contact_losses(session: Session, parts: Sequence[TreatmentSession]) -> list[dict[str, Any]]:
    """Every time the probes lost contact, in each session's order, with the protocol's step and when it came
    back (None if it never did before the session ended)."""
    events = session.execute(
        select(SessionMessage.session_id, SessionMessage.event_type, SessionMessage.step, SessionMessage.t_ms)
        .where(
            SessionMessage.session_id.in_([p.id for p in parts]),
            SessionMessage.kind == "event",
            SessionMessage.event_type.in_([LOST, RESTORED]),
        )
        .order_by(SessionMessage.session_id, SessionMessage.seq)
    ).all()
    first_step = {p.id: p.first_step for p in parts}
    order = {p.id: index for index, p in enumerate(parts)}
    losses: list[dict[str, Any]] = []
    for session_id, found in groupby(sorted(events, key=lambda e: order[e.session_id]), key=lambda e: e.session_id):
        lost: dict[str, Any] | None = None
        for event in found:
            if event.event_type == LOST and lost is None:
                step = None if event.step is None else first_step[session_id] + event.step
                lost = {"session_id": session_id, "step": step, "lost_at_s": event.t_ms / 1000, "restored_at_s": None}
                losses.append(lost)
            elif event.event_type == RESTORED and lost is not None:
                lost["restored_at_s"] = event.t_ms / 1000
                lost = None
    return losses


def chart(
    session: Session, parts: Sequence[TreatmentSession], losses: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """The treatment's current for its chart, the sessions laid end to end: a point per telemetry block
    ([from_s, seconds, mean, peak, step], magnitudes in µA), each step's span with its prescribed current, the
    contact losses ([from_s, to_s]) and the device's cap."""
    blocks = session.execute(
        select(
            SessionMessage.session_id,
            SessionMessage.step,
            SessionMessage.t_ms,
            SessionMessage.interval_ms,
            SessionMessage.samples,
        )
        .where(SessionMessage.session_id.in_([p.id for p in parts]), SessionMessage.kind == "telemetry")
        .order_by(SessionMessage.session_id, SessionMessage.t_ms)
    ).all()
    points: list[list[float]] = []
    spans: dict[int, list[float]] = {}
    sessions, gaps, offset = [], [], 0.0
    for part in parts:
        length = 0.0
        for block in (b for b in blocks if b.session_id == part.id and b.samples):
            start, seconds = offset + block.t_ms / 1000, len(block.samples) * (block.interval_ms or 0) / 1000
            magnitudes = [abs(v) for v in block.samples]
            step = part.first_step + (block.step or 0)
            points.append([start, seconds, round(sum(magnitudes) / len(magnitudes), 2), max(magnitudes), step])
            span = spans.setdefault(step, [start, start + seconds])
            span[0], span[1] = min(span[0], start), max(span[1], start + seconds)
            length = max(length, start + seconds - offset)
        mine = [(loss["lost_at_s"], loss["restored_at_s"]) for loss in losses if loss["session_id"] == part.id]
        length = max([length, *(lost if back is None else back for lost, back in mine)])
        gaps += [[offset + lost, offset + (length if back is None else back)] for lost, back in mine]
        sessions.append({"session_id": str(part.id), "from_s": offset, "to_s": offset + length})
        offset += length
    return {
        "sessions": sessions,
        "points": merged(points),
        "steps": [
            {"step": i, "zone": steps[i]["zone"], "prescribed_ua": steps[i]["prescribed_current_ua"], "span": span}
            for i, span in sorted(spans.items())
            if i < len(steps)
        ],
        "contact_losses": gaps,
        "cap_ua": max((p.max_current_ua for p in parts), default=0),
    }


def merged(points: list[list[float]]) -> list[list[float]]:
    """At most about CHART_POINTS points: neighbouring blocks of one step, with no gap between them, averaged
    (time-weighted) with their highest peak, so a long treatment keeps its shape and every over-current shows."""
    if len(points) <= CHART_POINTS:
        return points
    size = -(-len(points) // CHART_POINTS)
    out: list[list[float]] = []
    group: list[list[float]] = []
    for point in points:
        if group and (len(group) == size or point[4] != group[0][4] or point[0] - sum(group[-1][:2]) > GAP_S):
            out.append(_merge(group))
            group = []
        group.append(point)
    return [*out, _merge(group)] if group else out


def _merge(group: list[list[float]]) -> list[float]:
    seconds = sum(p[1] for p in group) or 1
    return [
        group[0][0],
        sum(group[-1][:2]) - group[0][0],
        round(sum(p[2] * p[1] for p in group) / seconds, 2),
        max(p[3] for p in group),
        group[0][4],
    ]
