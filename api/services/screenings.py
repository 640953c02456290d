"""Screening clients, and the day-of eligibility check every later step asks. Every read is audited."""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import InvalidInput
from api.schemas.screening import ANSWER_DATE_FIELDS, DayOfAnswers, ScreeningAnswers
from api.services import approvals, audit, clients, rule_sets
from api.services.screening_engine import IncompleteAnswers, Kind, Reason, Verdict, evaluate, judge
from db.models import Client, Screening
from db.vocabulary import TREATABLE

RECORD = "screening"
NO_VALID_SCREENING = Reason(
    "no_valid_screening",
    Kind.DEFERRAL,
    "A screening must be valid on the day of treatment",
    "There is no screening valid on that day: screen the client first.",
)


@dataclass(frozen=True)
class Judged:
    """A stored screening and its verdict with the physicians' approvals in force today."""

    screening: Screening
    verdict: Verdict


@dataclass(frozen=True)
class Eligibility:
    on: date
    verdict: Verdict | None  # None: no screening is valid that day
    screening_id: uuid.UUID | None
    rule_set_version: int

    @property
    def eligible(self) -> bool:
        return self.verdict is not None and self.verdict.outcome in TREATABLE

    @property
    def reasons(self) -> list[Reason]:
        return self.verdict.reasons if self.verdict else [NO_VALID_SCREENING]


def create(session: Session, *, actor: Actor, client_id: uuid.UUID, answers: ScreeningAnswers, today: date) -> Judged:
    """Judge the answers by the current rules as of today, and store answers and verdict."""
    client = clients.get_live(session, client_id=client_id)
    _refuse_future_dates(answers.model_dump(), today=today, prefix="answers.")
    rule_set = rule_sets.current(session)
    rules = rule_sets.parameters(rule_set)
    reasons = _evaluate(answers, client=client, on=today, rules=rules, prefix="answers.")
    before_approvals = judge(reasons, {})
    screening = Screening(
        client_id=client.id,
        screened_on=today,
        answers=answers.model_dump(mode="json"),
        reasons=[r.as_json() for r in reasons],
        excluded_zones=[z.value for z in before_approvals.excluded_zones],
        eligible_from=before_approvals.eligible_from,
        valid_until=today + timedelta(days=rules.screening_validity_days),
        rule_set_version=rule_set.version,
        created_by_id=actor.user.id,
    )
    session.add(screening)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="screening.create",
        record_type=RECORD,
        record_id=screening.id,
        detail={"client_id": str(client.id)},
    )
    return _judged(session, screening, today=today)


def list_for(session: Session, *, actor: Actor, client_id: uuid.UUID, today: date, with_answers: bool) -> list[Judged]:
    """The client's screenings, newest first; each read is audited, saying whether answers were shown."""
    clients.get_live(session, client_id=client_id)
    found = session.scalars(
        select(Screening).where(Screening.client_id == client_id).order_by(Screening.created_at.desc(), Screening.id)
    ).all()
    action = "screening.read" if with_answers else "screening.read_outcome"
    audit.record_reads(session, actor=actor, action=action, record_type=RECORD, record_ids=(s.id for s in found))
    return [_judged(session, s, today=today) for s in found]


def latest_valid(session: Session, *, client_id: uuid.UUID, on: date) -> Screening | None:
    """The newest screening of the client that is valid on `on`."""
    return session.scalar(
        select(Screening)
        .where(
            Screening.client_id == client_id,
            Screening.screened_on <= on,
            Screening.valid_until >= on,
        )
        .order_by(Screening.created_at.desc())
        .limit(1)
    )


def check_eligibility(
    session: Session, *, actor: Actor, client_id: uuid.UUID, on: date, day_of: DayOfAnswers, today: date
) -> Eligibility:
    """Whether the client may be treated on `on`: the latest valid screening, with the day-of answers."""
    client = clients.get_live(session, client_id=client_id)
    if on < today:
        raise InvalidInput("on", "cannot be in the past")
    changes = _day_of_changes(day_of)
    _refuse_future_dates(changes, today=today, prefix="day_of.")
    rule_set = rule_sets.current(session)
    screening = latest_valid(session, client_id=client.id, on=on)
    audit.record(
        session,
        actor=actor,
        action="screening.eligibility",
        record_type="client",
        record_id=client.id,
        detail={"screening_id": str(screening.id) if screening else None},
    )
    if screening is None:
        return Eligibility(on=on, verdict=None, screening_id=None, rule_set_version=rule_set.version)
    answers = ScreeningAnswers.model_validate(screening.answers | changes)
    reasons = _evaluate(answers, client=client, on=on, rules=rule_sets.parameters(rule_set), prefix="day_of.")
    verdict = judge(reasons, approvals.valid_on(session, client_id=client.id, day=on))
    return Eligibility(on=on, verdict=verdict, screening_id=screening.id, rule_set_version=rule_set.version)


def _judged(session: Session, screening: Screening, *, today: date) -> Judged:
    reasons = [Reason.from_json(r) for r in screening.reasons]
    return Judged(screening, judge(reasons, approvals.valid_on(session, client_id=screening.client_id, day=today)))


def _evaluate(answers: ScreeningAnswers, *, client: Client, on: date, rules: Any, prefix: str) -> list[Reason]:
    try:
        return evaluate(answers, birth_date=client.date_of_birth, on=on, rules=rules)
    except IncompleteAnswers as exc:
        raise InvalidInput(prefix + exc.field_name, str(exc)) from exc


def _day_of_changes(day_of: DayOfAnswers) -> dict[str, Any]:
    """The answers given on the day; a yes/no left null is taken as not given."""
    given = day_of.model_dump(mode="json", exclude_unset=True)
    return {k: v for k, v in given.items() if v is not None or k in ANSWER_DATE_FIELDS}


def _refuse_future_dates(answers: dict[str, Any], *, today: date, prefix: str) -> None:
    for name in ANSWER_DATE_FIELDS:
        value = answers.get(name)
        if value is not None and date.fromisoformat(str(value)) > today:
            raise InvalidInput(prefix + name, "cannot be in the future")
