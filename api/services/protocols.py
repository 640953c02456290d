"""Treatment protocols: drafted, checked against the clinic's limits, approved by a medical director, versioned."""

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict, InvalidInput
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.protocols import MAX_OUTPUT_S, ProtocolCreate, Step
from api.schemas.screening_rules import RuleParameters
from api.services import audit
from api.services.records import get_or_404
from db.base import utcnow
from db.models import Appointment, AppointmentStatus, Protocol, ProtocolStatus

RECORD = "protocol"


def steps_sha256(steps: list[dict[str, Any]]) -> str:
    """The hash devices check (device-protocol.md): SHA-256 of the compact JSON of steps, keys sorted."""
    return hashlib.sha256(json.dumps(steps, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def canonical_steps(steps: list[Step]) -> list[dict[str, Any]]:
    """Steps as stored and sent: whole numbers without a decimal point, so every JSON encoder agrees."""
    return [{k: _plain_number(v) for k, v in step.model_dump(mode="json").items()} for step in steps]


def _plain_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def check_limits(steps: list[Step], *, clinic: ClinicSettings, rules: RuleParameters) -> None:
    """Refuse, naming the step and the limit, anything past the clinic's maximum, a zone cap or 10 minutes."""
    if broken := broken_limits(steps, clinic=clinic, rules=rules):
        raise broken[0]


def broken_limits(steps: list[Step], *, clinic: ClinicSettings, rules: RuleParameters) -> list[InvalidInput]:
    """Every limit the steps break, each naming its step and the limit, in step order (check_limits refuses the
    first; a draft editor shows them all)."""
    maximum = clinic.current_limits.max_current_ua
    broken: list[InvalidInput] = []
    for index, step in enumerate(steps):
        where = f"steps.{index}"
        if step.mode not in clinic.modes:
            broken.append(
                InvalidInput(f"{where}.mode", f"must be one of the clinic's modes: {', '.join(clinic.modes)}")
            )
        percent = rules.zone_caps_percent.percent_for(step.zone)
        cap = maximum * percent / 100
        if step.current_ua > maximum:
            broken.append(
                InvalidInput(
                    f"{where}.current_ua", f"{step.current_ua:g} µA is above the clinic's maximum of {maximum} µA"
                )
            )
        elif step.current_ua > cap:
            broken.append(
                InvalidInput(
                    f"{where}.current_ua",
                    f"{step.current_ua:g} µA is above the {step.zone.value} cap "
                    f"of {percent}% of the clinic's maximum ({cap:g} µA)",
                )
            )
    total = sum(step.duration_s for step in steps)
    if total > MAX_OUTPUT_S:
        broken.append(
            InvalidInput("steps", f"the steps add up to {total} s of output; at most {MAX_OUTPUT_S} s (10 minutes)")
        )
    return broken


def create(
    session: Session, *, actor: Actor, data: ProtocolCreate, clinic: ClinicSettings, rules: RuleParameters
) -> Protocol:
    check_limits(data.steps, clinic=clinic, rules=rules)
    protocol = Protocol(
        lineage_id=uuid.uuid4(),
        version=1,
        name=data.name,
        target=data.target.model_dump(mode="json"),
        status=ProtocolStatus.DRAFT,
        created_by_id=actor.user.id,
        **_step_fields(data.steps),
    )
    session.add(protocol)
    session.flush()
    audit.record(session, actor=actor, action="protocol.create", record_type=RECORD, record_id=protocol.id)
    return protocol


def _step_fields(steps: list[Step]) -> dict[str, Any]:
    return {
        "steps": canonical_steps(steps),
        "total_output_s": sum(s.duration_s for s in steps),
        "max_current_ua": max(s.current_ua for s in steps),
    }


def get(session: Session, *, protocol_id: uuid.UUID) -> Protocol:
    return get_or_404(session, Protocol, protocol_id, "protocol")


def list_all(session: Session, *, status: ProtocolStatus | None) -> Sequence[Protocol]:
    query = select(Protocol).order_by(Protocol.name, Protocol.version.desc())
    if status is not None:
        query = query.where(Protocol.status == status)
    return session.scalars(query).all()


def edit(
    session: Session,
    *,
    actor: Actor,
    protocol_id: uuid.UUID,
    changes: dict[str, Any],
    clinic: ClinicSettings,
    rules: RuleParameters,
) -> Protocol:
    """Change a draft in place; an approved or withdrawn version stays as it is and a new draft version is made."""
    protocol = get(session, protocol_id=protocol_id)
    steps = [Step.model_validate(s) for s in changes.get("steps", protocol.steps)]
    check_limits(steps, clinic=clinic, rules=rules)
    if protocol.status != ProtocolStatus.DRAFT:
        protocol = _next_draft(session, actor=actor, source=protocol)
    if "name" in changes:
        protocol.name = changes["name"]
    if "target" in changes:
        protocol.target = changes["target"]
    for field, value in _step_fields(steps).items():
        setattr(protocol, field, value)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="protocol.edit",
        record_type=RECORD,
        record_id=protocol.id,
        detail={"fields": sorted(changes)},
    )
    return protocol


def versions_of(session: Session, *, lineage_id: uuid.UUID) -> Sequence[Protocol]:
    """Every version of one protocol, newest first."""
    query = select(Protocol).where(Protocol.lineage_id == lineage_id).order_by(Protocol.version.desc())
    return session.scalars(query).all()


def _next_draft(session: Session, *, actor: Actor, source: Protocol) -> Protocol:
    # Two people starting a new version at once: the second waits for the first to commit (PostgreSQL; SQLite's
    # writers take turns anyway), then numbers its own after it, instead of failing on the same number.
    session.execute(select(Protocol.id).where(Protocol.lineage_id == source.lineage_id).with_for_update())
    latest = session.scalar(select(func.max(Protocol.version)).where(Protocol.lineage_id == source.lineage_id))
    draft = Protocol(
        lineage_id=source.lineage_id,
        version=(latest or 0) + 1,
        name=source.name,
        target=source.target,
        steps=source.steps,
        total_output_s=source.total_output_s,
        max_current_ua=source.max_current_ua,
        status=ProtocolStatus.DRAFT,
        created_by_id=actor.user.id,
    )
    session.add(draft)
    return draft


def approve(
    session: Session, *, actor: Actor, protocol_id: uuid.UUID, clinic: ClinicSettings, rules: RuleParameters
) -> Protocol:
    """Make a draft bookable and immutable, under today's limits."""
    protocol = get(session, protocol_id=protocol_id)
    if protocol.status != ProtocolStatus.DRAFT:
        raise Conflict(f"Only a draft can be approved; this version is {protocol.status.value}.")
    check_limits([Step.model_validate(s) for s in protocol.steps], clinic=clinic, rules=rules)
    protocol.status = ProtocolStatus.APPROVED
    protocol.sha256 = steps_sha256(protocol.steps)
    protocol.approved_at = utcnow()
    protocol.approved_by_id = actor.user.id
    session.flush()
    audit.record(session, actor=actor, action="protocol.approve", record_type=RECORD, record_id=protocol.id)
    return protocol


def withdraw(
    session: Session, *, actor: Actor, protocol_id: uuid.UUID, reason: str
) -> tuple[Protocol, list[Appointment]]:
    """Stop an approved protocol being booked or started; returns its future appointments to rebook."""
    protocol = get(session, protocol_id=protocol_id)
    if protocol.status != ProtocolStatus.APPROVED:
        raise Conflict(f"Only an approved protocol can be withdrawn; this version is {protocol.status.value}.")
    protocol.status = ProtocolStatus.WITHDRAWN
    protocol.withdrawn_at = utcnow()
    protocol.withdrawn_by_id = actor.user.id
    protocol.withdrawal_reason = reason
    session.flush()
    audit.record(session, actor=actor, action="protocol.withdraw", record_type=RECORD, record_id=protocol.id)
    return protocol, future_booked(session, Appointment.protocol_id == protocol.id)


def future_booked(session: Session, condition: Any) -> list[Appointment]:
    """Booked appointments from now on that match `condition`, by time."""
    return list(
        session.scalars(
            select(Appointment)
            .where(
                condition,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.start_at >= utcnow(),
            )
            .order_by(Appointment.start_at)
        )
    )
