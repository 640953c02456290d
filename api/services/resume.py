"""What is left of a protocol after the appointment's earlier sessions: a resumed session arms only that."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api.services.delivery import appointment_parts, contact_blocks, delivered_ms
from db.models import Protocol, SessionStatus


@dataclass(frozen=True)
class Remaining:
    """The steps to arm, the protocol's index of the first of them, and the session they resume (None: fresh)."""

    steps: list[dict[str, Any]]
    first_step: int
    resumes_session_id: uuid.UUID | None


def remaining(session: Session, *, appointment_id: uuid.UUID, protocol: Protocol) -> Remaining:
    """What the appointment's earlier sessions left of the protocol, from the telemetry they stored; [] if nothing."""
    parts = appointment_parts(session, appointment_id=appointment_id)
    if not parts:
        return Remaining(protocol.steps, 0, None)
    latest = parts[-1].id
    if any(part.status == SessionStatus.COMPLETED for part in parts):
        return Remaining([], len(protocol.steps), latest)
    delivered = contact_blocks(session, parts)
    per_step = {
        index: sum(delivered_ms(delivered[part.id].get(index, [])) for part in parts)
        for index in range(len(protocol.steps))
    }
    first_step, steps = left_of(protocol.steps, delivered_ms_per_step=per_step)
    return Remaining(steps, first_step, latest)


def left_of(steps: list[dict[str, Any]], *, delivered_ms_per_step: dict[int, int]) -> tuple[int, list[dict[str, Any]]]:
    """The protocol's index of the first step left, and the steps left: the step reached is shortened."""
    # A device runs the steps in order, so every step before the furthest one that delivered anything is done,
    # even if some of its telemetry was lost: it is never given again.
    reached = max((index for index, ms in delivered_ms_per_step.items() if ms > 0), default=None)
    if reached is None:
        return 0, steps
    left_ms = steps[reached]["duration_s"] * 1000 - delivered_ms_per_step[reached]
    if left_ms <= 0:
        return reached + 1, steps[reached + 1 :]
    # Rounded up to a whole second: less than a second more of a step approved at that current, well within the
    # tolerance of the device limits, rather than cutting the prescribed time short at every interruption (a
    # remainder under a second would vanish altogether).
    return reached, [steps[reached] | {"duration_s": -(-left_ms // 1000)}, *steps[reached + 1 :]]
