"""Screening a client, the eligibility check, and physicians' approvals."""

import uuid

from fastapi import APIRouter, status

from api.deps import (
    ApprovalRecorder,
    ApprovalRevoker,
    ApprovalsReader,
    ClinicToday,
    EligibilityChecker,
    Screener,
    ScreeningsReader,
    SessionDep,
    sees_health_data,
)
from api.openapi import CONFLICT
from api.schemas.screening import (
    ApprovalCreate,
    ApprovalRead,
    ApprovalRevoke,
    EligibilityQuery,
    EligibilityRead,
    EligibilitySummary,
    ReasonRead,
    ScreeningCreate,
    ScreeningRead,
    ScreeningSummary,
)
from api.services import approvals, screenings
from api.services.screening_engine import Reason

router = APIRouter(prefix="/clients/{client_id}", tags=["screening"])


@router.post("/screenings", status_code=status.HTTP_201_CREATED)
def screen_client(
    client_id: uuid.UUID, data: ScreeningCreate, session: SessionDep, actor: Screener, today: ClinicToday
) -> ScreeningRead:
    """Judge the client's answers by the current rules and keep answers and result."""
    judged = screenings.create(session, actor=actor, client_id=client_id, answers=data.answers, today=today)
    return _full(judged)


@router.get("/screenings")
def list_screenings(
    client_id: uuid.UUID, session: SessionDep, actor: ScreeningsReader, today: ClinicToday
) -> list[ScreeningRead | ScreeningSummary]:
    """Newest first. The front desk sees outcomes and dates only; clinical staff see the answers."""
    with_answers = sees_health_data(actor)
    found = screenings.list_for(session, actor=actor, client_id=client_id, today=today, with_answers=with_answers)
    return [_full(j) if with_answers else _summary(j) for j in found]


@router.post("/eligibility")
def check_eligibility(
    client_id: uuid.UUID, query: EligibilityQuery, session: SessionDep, actor: EligibilityChecker, today: ClinicToday
) -> EligibilityRead | EligibilitySummary:
    """Whether the client may be treated on a day, with the day-of answers re-confirmed."""
    result = screenings.check_eligibility(
        session, actor=actor, client_id=client_id, on=query.on, day_of=query.day_of, today=today
    )
    summary = EligibilitySummary(
        eligible=result.eligible,
        on=result.on,
        screening_id=result.screening_id,
        outcome=result.verdict.outcome if result.verdict else None,
        eligible_from=result.verdict.eligible_from if result.verdict else None,
    )
    if not sees_health_data(actor):
        return summary
    return EligibilityRead(
        **summary.model_dump(),
        reasons=[_reason(r) for r in result.reasons],
        excluded_zones=result.verdict.excluded_zones if result.verdict else [],
        rule_set_version=result.rule_set_version,
    )


@router.post("/physician-approvals", status_code=status.HTTP_201_CREATED)
def record_approval(
    client_id: uuid.UUID, data: ApprovalCreate, session: SessionDep, actor: ApprovalRecorder, today: ClinicToday
) -> ApprovalRead:
    """Record a physician's written approval for one scope."""
    return ApprovalRead.model_validate(
        approvals.record(session, actor=actor, client_id=client_id, data=data, today=today)
    )


@router.get("/physician-approvals")
def list_approvals(client_id: uuid.UUID, session: SessionDep, actor: ApprovalsReader) -> list[ApprovalRead]:
    """The client's approvals, newest first, revoked ones included."""
    return [ApprovalRead.model_validate(a) for a in approvals.list_for(session, actor=actor, client_id=client_id)]


@router.post("/physician-approvals/{approval_id}/revoke", responses=CONFLICT)
def revoke_approval(
    client_id: uuid.UUID, approval_id: uuid.UUID, data: ApprovalRevoke, session: SessionDep, actor: ApprovalRevoker
) -> ApprovalRead:
    """Withdraw an approval (medical director only); screenings that needed it stop clearing the client."""
    return ApprovalRead.model_validate(
        approvals.revoke(session, actor=actor, client_id=client_id, approval_id=approval_id, reason=data.reason)
    )


def _summary(judged: screenings.Judged) -> ScreeningSummary:
    s = judged.screening
    return ScreeningSummary(
        id=s.id,
        client_id=s.client_id,
        outcome=judged.verdict.outcome,
        eligible_from=s.eligible_from,
        valid_until=s.valid_until,
        screened_on=s.screened_on,
        created_at=s.created_at,
    )


def _full(judged: screenings.Judged) -> ScreeningRead:
    s = judged.screening
    return ScreeningRead(
        **_summary(judged).model_dump(),
        answers=s.answers,
        reasons=[_reason(r) for r in judged.verdict.reasons],
        excluded_zones=judged.verdict.excluded_zones,
        rule_set_version=s.rule_set_version,
        created_by_id=s.created_by_id,
    )


def _reason(reason: Reason) -> ReasonRead:
    return ReasonRead(
        code=reason.code,
        kind=reason.kind.value,
        rule=reason.rule,
        message=reason.message,
        until=reason.until,
        zones=list(reason.zones),
        approval_scope=reason.approval_scope,
        approved_by=reason.approved_by,
    )
