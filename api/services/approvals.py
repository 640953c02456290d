"""Physicians' written approvals: recorded by clinical staff, revoked only by a medical director."""

import uuid
from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict, InvalidInput, NotFound
from api.schemas.screening import ApprovalCreate
from api.services import audit, clients
from db.base import utcnow
from db.id_lists import one_of
from db.models import PhysicianApproval
from db.vocabulary import ApprovalScope

RECORD = "physician_approval"


def record(
    session: Session, *, actor: Actor, client_id: uuid.UUID, data: ApprovalCreate, today: date
) -> PhysicianApproval:
    clients.get_live(session, client_id=client_id)
    if data.approved_on > today:
        raise InvalidInput("approved_on", "cannot be in the future")
    approval = PhysicianApproval(client_id=client_id, recorded_by_id=actor.user.id, **data.model_dump())
    session.add(approval)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="physician_approval.create",
        record_type=RECORD,
        record_id=approval.id,
        detail={"client_id": str(client_id)},
    )
    return approval


def list_for(session: Session, *, actor: Actor, client_id: uuid.UUID) -> Sequence[PhysicianApproval]:
    clients.get_live(session, client_id=client_id)
    found = session.scalars(
        select(PhysicianApproval)
        .where(PhysicianApproval.client_id == client_id)
        .order_by(PhysicianApproval.recorded_at.desc())
    ).all()
    audit.record_reads(
        session, actor=actor, action="physician_approval.read", record_type=RECORD, record_ids=(a.id for a in found)
    )
    return found


def revoke(
    session: Session, *, actor: Actor, client_id: uuid.UUID, approval_id: uuid.UUID, reason: str
) -> PhysicianApproval:
    approval = session.get(PhysicianApproval, approval_id)
    if approval is None or approval.client_id != client_id:
        raise NotFound("This client has no physician's approval with this id.")
    if approval.revoked_at is not None:
        raise Conflict("This approval was already revoked.")
    approval.revoked_at = utcnow()
    approval.revoked_by_id = actor.user.id
    approval.revocation_reason = reason
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="physician_approval.revoke",
        record_type=RECORD,
        record_id=approval.id,
        detail={"client_id": str(client_id)},
    )
    return approval


def valid_on(session: Session, *, client_id: uuid.UUID, day: date) -> dict[ApprovalScope, str]:
    """Scope -> physician's name, for every approval of the client in force on `day`."""
    return valid_on_for(session, client_ids=[client_id], day=day).get(client_id, {})


def valid_on_for(
    session: Session, *, client_ids: Collection[uuid.UUID], day: date
) -> dict[uuid.UUID, dict[ApprovalScope, str]]:
    """`valid_on` for each of these clients, in one query; a client with none in force is left out. Of two
    approvals of one scope, the one recorded last names the physician."""
    found = session.execute(
        select(PhysicianApproval.client_id, PhysicianApproval.scope, PhysicianApproval.physician_name)
        .where(
            one_of(session, PhysicianApproval.client_id, client_ids),
            PhysicianApproval.revoked_at.is_(None),
            PhysicianApproval.approved_on <= day,
            PhysicianApproval.valid_until >= day,
        )
        .order_by(PhysicianApproval.recorded_at, PhysicianApproval.id)
    ).all()
    by_client: dict[uuid.UUID, dict[ApprovalScope, str]] = {}
    for approval in found:
        by_client.setdefault(approval.client_id, {})[approval.scope] = approval.physician_name
    return by_client
