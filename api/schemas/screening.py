"""Screening answers (the fixed vocabulary of DESIGN.md), results, rules, approvals and eligibility."""

import uuid
from collections.abc import Collection
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints, create_model, model_validator

from api.schemas.common import Output, StrictInput
from db.vocabulary import ApprovalScope, Outcome, Zone


def _unique(zones: list[Zone]) -> list[Zone]:
    return sorted(set(zones), key=list(Zone).index)


Zones = Annotated[list[Zone], Field(max_length=len(Zone)), AfterValidator(_unique)]


class ScreeningAnswers(StrictInput):
    """Every answer is required; a date is null when it never happened."""

    implanted_electronic_device: StrictBool
    epilepsy: StrictBool
    pregnant: StrictBool
    active_cancer: StrictBool
    skin_infection: StrictBool
    recent_facial_surgery: StrictBool
    body_worn_electronics: StrictBool
    retinol_last_used_on: date | None
    prescription_retinoid_last_used_on: date | None
    chemical_peel_last_on: date | None
    laser_last_on: date | None
    isotretinoin_last_on: date | None
    botox_last_on: date | None
    filler_last_on: date | None
    botox_zones: Zones
    filler_zones: Zones
    metal_implant_zones: Zones


ANSWER_DATE_FIELDS = tuple(
    name for name, field in ScreeningAnswers.model_fields.items() if field.annotation == date | None
)


# Asked again on the day of each session: what may have changed since the screening. Their types are the
# screening's; each model of them (DayOfAnswers, DayOfConfirmation) says only which may be left out.
DAY_OF_ZONES = ("botox_zones", "filler_zones")
DAY_OF_QUESTIONS = ("pregnant", "skin_infection", *ANSWER_DATE_FIELDS, *DAY_OF_ZONES)


def day_of_fields(*, may_leave_out: Collection[str]) -> type[StrictInput]:
    """The day-of questions as fields, typed as in ScreeningAnswers; one that may be left out defaults to null.
    A model of them subclasses what this returns."""
    fields: dict[str, Any] = {}
    for question in DAY_OF_QUESTIONS:
        info = ScreeningAnswers.model_fields[question]
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[question] = (annotation | None, None) if question in may_leave_out else (annotation, ...)
    return create_model("DayOfFields", __base__=StrictInput, __module__=__name__, **fields)


class DayOfAnswers(day_of_fields(may_leave_out=DAY_OF_QUESTIONS)):  # type: ignore[misc]  # its base is made at import
    """What is re-confirmed on the day. Left out: the screening's answer stands; a date set to null: never."""


class ScreeningCreate(StrictInput):
    answers: ScreeningAnswers


class ReasonRead(BaseModel):
    code: str
    kind: str
    rule: str
    message: str
    until: date | None = None
    zones: list[Zone] = []
    approval_scope: ApprovalScope | None = None
    approved_by: str | None = None


class ScreeningSummary(Output):
    """What the front desk sees: whether and from when the client can be treated, never why."""

    id: uuid.UUID
    client_id: uuid.UUID
    outcome: Outcome
    eligible_from: date | None
    valid_until: date
    screened_on: date
    created_at: datetime


class ScreeningRead(ScreeningSummary):
    """The whole screening, with the answers: for clinical staff only."""

    answers: ScreeningAnswers
    reasons: list[ReasonRead]
    excluded_zones: list[Zone]
    rule_set_version: int
    created_by_id: uuid.UUID


class EligibilityQuery(StrictInput):
    on: date
    day_of: DayOfAnswers = Field(default_factory=DayOfAnswers)


class EligibilitySummary(BaseModel):
    eligible: bool
    on: date
    outcome: Outcome | None
    eligible_from: date | None
    screening_id: uuid.UUID | None


class EligibilityRead(EligibilitySummary):
    reasons: list[ReasonRead]
    excluded_zones: list[Zone]
    rule_set_version: int


PhysicianName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DocumentReference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ApprovalCreate(StrictInput):
    physician_name: PhysicianName
    scope: ApprovalScope
    approved_on: date
    valid_until: date
    document_reference: DocumentReference = Field(description="Where the signed approval is filed")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Self:
        if self.valid_until < self.approved_on:
            raise ValueError("valid_until cannot come before approved_on")
        return self


class ApprovalRevoke(StrictInput):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ApprovalRead(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    physician_name: str
    scope: ApprovalScope
    approved_on: date
    valid_until: date
    document_reference: str
    recorded_at: datetime
    recorded_by_id: uuid.UUID
    revoked_at: datetime | None
    revoked_by_id: uuid.UUID | None
    revocation_reason: str | None
