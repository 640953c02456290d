"""Treatment protocols."""

import uuid

from fastapi import APIRouter, status

from api.deps import ClinicDep, ProtocolApprover, ProtocolDrafter, ProtocolsReader, RulesDep, SessionDep
from api.openapi import CONFLICT
from api.schemas.protocols import (
    AppointmentBrief,
    ProtocolCreate,
    ProtocolRead,
    ProtocolUpdate,
    Withdrawal,
    WithdrawnProtocol,
)
from api.services import protocols
from db.models import ProtocolStatus

router = APIRouter(prefix="/protocols", tags=["protocols"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_protocol(
    data: ProtocolCreate, session: SessionDep, actor: ProtocolDrafter, clinic: ClinicDep, rules: RulesDep
) -> ProtocolRead:
    """Write a draft; steps are checked against the clinic's maximum, the zone caps and 10 minutes of output."""
    return ProtocolRead.model_validate(protocols.create(session, actor=actor, data=data, clinic=clinic, rules=rules))


@router.get("")
def list_protocols(
    session: SessionDep, _actor: ProtocolsReader, status: ProtocolStatus | None = None
) -> list[ProtocolRead]:
    """Every version, by name, newest version first."""
    return [ProtocolRead.model_validate(p) for p in protocols.list_all(session, status=status)]


@router.get("/{protocol_id}")
def read_protocol(protocol_id: uuid.UUID, session: SessionDep, _actor: ProtocolsReader) -> ProtocolRead:
    """One version."""
    return ProtocolRead.model_validate(protocols.get(session, protocol_id=protocol_id))


@router.patch("/{protocol_id}")
def edit_protocol(
    protocol_id: uuid.UUID,
    data: ProtocolUpdate,
    session: SessionDep,
    actor: ProtocolDrafter,
    clinic: ClinicDep,
    rules: RulesDep,
) -> ProtocolRead:
    """Change a draft; for an approved version this makes the next draft version and leaves it alone."""
    changes = data.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    return ProtocolRead.model_validate(
        protocols.edit(session, actor=actor, protocol_id=protocol_id, changes=changes, clinic=clinic, rules=rules)
    )


@router.post("/{protocol_id}/approve", responses=CONFLICT)
def approve_protocol(
    protocol_id: uuid.UUID, session: SessionDep, actor: ProtocolApprover, clinic: ClinicDep, rules: RulesDep
) -> ProtocolRead:
    """Approve a draft (medical director only): it becomes bookable and immutable, with its sha256."""
    return ProtocolRead.model_validate(
        protocols.approve(session, actor=actor, protocol_id=protocol_id, clinic=clinic, rules=rules)
    )


@router.post("/{protocol_id}/withdraw", responses=CONFLICT)
def withdraw_protocol(
    protocol_id: uuid.UUID, data: Withdrawal, session: SessionDep, actor: ProtocolApprover
) -> WithdrawnProtocol:
    """Withdraw an approval: no new bookings or starts; lists the booked appointments to move to another."""
    protocol, affected = protocols.withdraw(session, actor=actor, protocol_id=protocol_id, reason=data.reason)
    return WithdrawnProtocol(
        protocol=ProtocolRead.model_validate(protocol),
        appointments_to_rebook=[AppointmentBrief.model_validate(a, from_attributes=True) for a in affected],
    )
