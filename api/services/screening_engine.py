"""The contraindication rules of shared/domain.md as pure functions: answers in, reasons and an outcome out."""

import calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from api.schemas.screening import ScreeningAnswers
from api.schemas.screening_rules import RuleParameters
from db.vocabulary import ApprovalScope, Outcome, Zone


class Kind(StrEnum):
    CONTRAINDICATION = "contraindication"
    APPROVAL_REQUIRED = "approval_required"
    DEFERRAL = "deferral"
    ZONE_EXCLUSION = "zone_exclusion"


@dataclass(frozen=True)
class Reason:
    code: str
    kind: Kind
    rule: str
    message: str
    until: date | None = None
    zones: tuple[Zone, ...] = ()
    approval_scope: ApprovalScope | None = None
    approved_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind.value,
            "rule": self.rule,
            "message": self.message,
            "until": self.until.isoformat() if self.until else None,
            "zones": [z.value for z in self.zones],
            "approval_scope": self.approval_scope.value if self.approval_scope else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Reason":
        return cls(
            code=data["code"],
            kind=Kind(data["kind"]),
            rule=data["rule"],
            message=data["message"],
            until=date.fromisoformat(data["until"]) if data.get("until") else None,
            zones=tuple(Zone(z) for z in data.get("zones", ())),
            approval_scope=ApprovalScope(data["approval_scope"]) if data.get("approval_scope") else None,
        )


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reasons: list[Reason]
    excluded_zones: list[Zone] = field(default_factory=list)
    eligible_from: date | None = None


class IncompleteAnswers(ValueError):
    """The answers leave out something the rules need (e.g. which zones had Botox)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def evaluate(answers: ScreeningAnswers, *, birth_date: date, on: date, rules: RuleParameters) -> list[Reason]:
    """Every rule that applies on `on`, before any physician's approval is taken into account."""
    return [
        *_absolute(answers, birth_date, on, rules),
        *_approval_needed(answers),
        *_deferrals(answers, on, rules),
        *_zone_exclusions(answers, on, rules),
    ]


def judge(reasons: list[Reason], approvals: Mapping[ApprovalScope, str]) -> Verdict:
    """The outcome, given the physicians' approvals valid that day (scope -> physician's name)."""
    judged = [replace(r, approved_by=approvals.get(r.approval_scope)) if r.approval_scope else r for r in reasons]
    kinds = {r.kind for r in judged if not r.approved_by}
    excluded = sorted({z for r in judged if r.kind == Kind.ZONE_EXCLUSION for z in r.zones}, key=list(Zone).index)
    if Kind.CONTRAINDICATION in kinds:
        outcome = Outcome.CONTRAINDICATED
    elif Kind.APPROVAL_REQUIRED in kinds:
        outcome = Outcome.PHYSICIAN_APPROVAL_REQUIRED
    elif Kind.DEFERRAL in kinds:
        outcome = Outcome.DEFERRED
    elif excluded:
        outcome = Outcome.CLEARED_WITH_EXCLUSIONS
    else:
        outcome = Outcome.CLEARED
    return Verdict(outcome=outcome, reasons=judged, excluded_zones=excluded, eligible_from=_eligible_from(judged))


def _eligible_from(reasons: list[Reason]) -> date | None:
    """The day every time-boxed reason has passed; None when none is time-boxed or one waits on healing."""
    if any(r.kind == Kind.DEFERRAL and r.until is None for r in reasons):
        return None
    ends = [r.until for r in reasons if r.until is not None]
    return max(ends) if ends else None


def _absolute(answers: ScreeningAnswers, birth_date: date, on: date, rules: RuleParameters) -> Iterator[Reason]:
    never = Kind.CONTRAINDICATION
    if answers.implanted_electronic_device:
        yield Reason(
            "implanted_electronic_device",
            never,
            "Implanted electronic device (pacemaker, defibrillator, neurostimulator, cochlear implant)",
            "Microcurrent can interfere with an implanted electronic device, so we cannot treat you.",
        )
    if answers.epilepsy:
        yield Reason(
            "epilepsy",
            never,
            "Epilepsy or a seizure disorder",
            "With epilepsy or a seizure disorder, microcurrent treatment is not safe for you.",
        )
    if answers.active_cancer:
        yield Reason(
            "active_cancer",
            never,
            "Active cancer or suspicious lesions",
            "We do not treat while there is active cancer or a suspicious lesion.",
        )
    if age_on(birth_date, on) < rules.minimum_age_years:
        yield Reason(
            "under_minimum_age",
            never,
            f"Clients under {rules.minimum_age_years}",
            f"We treat clients from the age of {rules.minimum_age_years}.",
        )


_APPROVAL_RULES = (
    (
        "pregnant",
        ApprovalScope.PREGNANCY,
        "Pregnancy: only with a physician's written approval",
        "During pregnancy we can treat you only with your physician's written approval on file.",
    ),
    (
        "body_worn_electronics",
        ApprovalScope.BODY_WORN_ELECTRONICS,
        "Body-worn electronics (insulin pump, glucose monitor): only with a physician's approval",
        "Because you wear a medical electronic device, we need your physician's written approval first.",
    ),
    (
        "recent_facial_surgery",
        ApprovalScope.RECENT_FACIAL_SURGERY,
        "Recent facial surgery: only once a physician has cleared it",
        "After facial surgery we can treat you once your physician has cleared it in writing.",
    ),
)


def _approval_needed(answers: ScreeningAnswers) -> Iterator[Reason]:
    for answer, scope, rule, message in _APPROVAL_RULES:
        if getattr(answers, answer):
            yield Reason(scope.value, Kind.APPROVAL_REQUIRED, rule, message, approval_scope=scope)


def _deferrals(answers: ScreeningAnswers, on: date, rules: RuleParameters) -> Iterator[Reason]:
    if answers.skin_infection:
        yield Reason(
            "skin_infection",
            Kind.DEFERRAL,
            "Active skin infection, open wound or severe inflammation: wait until healed",
            "We will treat you once the skin has healed; we will ask again then.",
        )
    waits = (
        (
            "retinol",
            answers.retinol_last_used_on,
            timedelta(days=rules.retinol_deferral_days),
            "cosmetic retinol",
            "Microcurrent pushes retinol deeper into the skin and irritates it",
        ),
        (
            "prescription_retinoid",
            answers.prescription_retinoid_last_used_on,
            timedelta(days=rules.prescription_retinoid_deferral_days),
            "a prescription retinoid",
            "Microcurrent pushes retinoids deeper into the skin and irritates it",
        ),
        (
            "chemical_peel",
            answers.chemical_peel_last_on,
            timedelta(days=rules.chemical_peel_deferral_days),
            "a chemical peel",
            "The skin needs time to recover from a peel",
        ),
        (
            "laser",
            answers.laser_last_on,
            timedelta(days=rules.laser_deferral_days),
            "a laser treatment",
            "The skin needs time to recover from laser treatment",
        ),
    )
    for code, last, wait, what, why in waits:
        if last is not None and last + wait > on:
            yield Reason(
                code,
                Kind.DEFERRAL,
                f"After {what}: wait {wait.days} days",
                f"{why}; you can be treated from {last + wait:%d %B %Y}.",
                until=last + wait,
            )
    if answers.isotretinoin_last_on is not None:
        until = add_months(answers.isotretinoin_last_on, rules.isotretinoin_deferral_months)
        if until > on:
            yield Reason(
                "isotretinoin",
                Kind.DEFERRAL,
                f"After isotretinoin: wait {rules.isotretinoin_deferral_months} months",
                f"The skin stays fragile after isotretinoin; you can be treated from {until:%d %B %Y}.",
                until=until,
            )


def _zone_exclusions(answers: ScreeningAnswers, on: date, rules: RuleParameters) -> Iterator[Reason]:
    injections = (
        (
            "botox",
            answers.botox_last_on,
            answers.botox_zones,
            "botox_zones",
            lambda d: d + timedelta(days=rules.botox_exclusion_days),
            f"{rules.botox_exclusion_days} days",
            "Botox",
        ),
        (
            "filler",
            answers.filler_last_on,
            answers.filler_zones,
            "filler_zones",
            lambda d: add_months(d, rules.filler_exclusion_months),
            f"{rules.filler_exclusion_months} months",
            "dermal filler",
        ),
    )
    for code, last, zones, zones_field, end, wait, what in injections:
        if last is None or end(last) <= on:
            continue
        if not zones:
            raise IncompleteAnswers(zones_field, f"name the zones treated with {what} on {last.isoformat()}")
        yield Reason(
            code,
            Kind.ZONE_EXCLUSION,
            f"After {what}: leave the treated zones alone for {wait}",
            f"We will not work on the {_listed(zones)} until {end(last):%d %B %Y}, after your {what}.",
            until=end(last),
            zones=tuple(zones),
        )
    if answers.metal_implant_zones:
        zones = answers.metal_implant_zones
        yield Reason(
            "metal_implant",
            Kind.ZONE_EXCLUSION,
            "Metal implants or piercings: leave that zone alone",
            f"We will not work on the {_listed(zones)} because of metal implants or piercings there.",
            zones=tuple(zones),
        )


def _listed(zones: list[Zone]) -> str:
    names = [z.value for z in zones]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
