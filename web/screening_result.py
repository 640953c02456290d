"""A screening's result as the esthetician reads it: the outcome in words, why, and which zones are left out until
when. Everything is the screening service's verdict; this module only words it."""

from dataclasses import dataclass
from datetime import date

from api.services.screening_engine import Kind, Reason
from api.services.screenings import Judged
from db.vocabulary import ApprovalScope, Outcome, Zone
from web.templating import long_date
from web.today import Badge

SCOPE_WORDS = {
    ApprovalScope.PREGNANCY: "Pregnancy",
    ApprovalScope.BODY_WORN_ELECTRONICS: "Body-worn electronics",
    ApprovalScope.RECENT_FACIAL_SURGERY: "Recent facial surgery",
}
KIND_WORDS = {
    Kind.CONTRAINDICATION: "Rules out treatment",
    Kind.APPROVAL_REQUIRED: "Needs a physician's approval",
    Kind.DEFERRAL: "Wait",
    Kind.ZONE_EXCLUSION: "Zone left out",
}


@dataclass(frozen=True)
class ReasonView:
    kind: str
    rule: str  # the rule, for staff
    message: str  # what to tell the client
    until: date | None
    zones: str
    approved_by: str | None


@dataclass(frozen=True)
class Exclusion:
    zones: str
    until: date | None  # None: no end date (metal implants)


@dataclass(frozen=True)
class Result:
    badge: Badge
    advice: str
    reasons: list[ReasonView]
    exclusions: list[Exclusion]
    screened_on: date
    valid_until: date
    needs_approval: bool


def result_of(judged: Judged) -> Result:
    """The stored screening's verdict (with the physicians' approvals in force today), in words."""
    verdict = judged.verdict
    badge, advice = _outcome(verdict.outcome, verdict.eligible_from)
    return Result(
        badge=badge,
        advice=advice,
        reasons=[_reason(r) for r in verdict.reasons],
        exclusions=[
            Exclusion(_zones(r.zones).capitalize(), r.until) for r in verdict.reasons if r.kind == Kind.ZONE_EXCLUSION
        ],
        screened_on=judged.screening.screened_on,
        valid_until=judged.screening.valid_until,
        needs_approval=verdict.outcome == Outcome.PHYSICIAN_APPROVAL_REQUIRED,
    )


def _outcome(outcome: Outcome, eligible_from: date | None) -> tuple[Badge, str]:
    if outcome == Outcome.DEFERRED:
        if eligible_from is None:
            return Badge("Deferred", "caution", "◷"), "Do not treat yet: see why below."
        return (
            Badge(f"Deferred until {long_date(eligible_from)}", "caution", "◷"),
            f"Do not treat yet. The client can be treated from {long_date(eligible_from)}.",
        )
    return {
        Outcome.CLEARED: (Badge("Cleared", "ok", "✓"), "The client can be treated."),
        Outcome.CLEARED_WITH_EXCLUSIONS: (
            Badge("Cleared with exclusions", "caution", "✓"),
            "The client can be treated, leaving out the zones below.",
        ),
        Outcome.PHYSICIAN_APPROVAL_REQUIRED: (
            Badge("Physician's approval needed", "stop", "!"),
            "Do not treat until a physician's written approval is recorded.",
        ),
        Outcome.CONTRAINDICATED: (Badge("Contraindicated", "stop", "✕"), "Do not treat this client."),
    }[outcome]


def _reason(reason: Reason) -> ReasonView:
    return ReasonView(
        kind=KIND_WORDS[reason.kind],
        rule=reason.rule,
        message=reason.message,
        until=reason.until,
        zones=_zones(reason.zones),
        approved_by=reason.approved_by,
    )


def _zones(zones: tuple[Zone, ...]) -> str:
    """forehead, brows and lips."""
    names = [z.value for z in zones]
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
