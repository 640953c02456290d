"""Screening clients, and the day-of eligibility check every later step asks. Every read is audited."""

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import InvalidInput
from api.schemas.screening import ANSWER_DATE_FIELDS, DayOfAnswers, ScreeningAnswers
from api.schemas.screening_rules import RuleParameters
from api.services import approvals, audit, clients, rule_sets
from api.services.screening_engine import IncompleteAnswers, Kind, Reason, Verdict, evaluate, judge
from db.id_lists import one_of
from db.models import Screening
from db.vocabulary import TREATABLE, ApprovalScope

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


class Answered(NamedTuple):
    """A stored screening as the eligibility check reads it: its answers as the JSON stored (validated on write)."""

    id: uuid.UUID
    answers_json: str


class Screenable(Protocol):
    """What the rules need of a live client (a Client, or the columns of one)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def date_of_birth(self) -> date: ...


def latest_valid(session: Session, *, client_ids: Collection[uuid.UUID], on: date) -> dict[uuid.UUID, Answered]:
    """Each client's newest screening that is valid on `on`, in one query; a client with none is left out."""
    newest = (
        select(
            Screening.id,
            func.row_number()
            .over(partition_by=Screening.client_id, order_by=(Screening.created_at.desc(), Screening.id))
            .label("rank"),
        )
        .where(
            one_of(session, Screening.client_id, client_ids), Screening.screened_on <= on, Screening.valid_until >= on
        )
        .subquery()
    )
    found = session.execute(
        select(Screening.client_id, Screening.id, cast(Screening.answers, String).label("answers"))
        .join(newest, newest.c.id == Screening.id)
        .where(newest.c.rank == 1)
    )
    return {row.client_id: Answered(row.id, row.answers) for row in found}


def check_eligibility(
    session: Session, *, actor: Actor, client_id: uuid.UUID, on: date, day_of: DayOfAnswers, today: date
) -> Eligibility:
    """Whether the client may be treated on `on`: the latest valid screening, with the day-of answers."""
    client = clients.get_live(session, client_id=client_id)
    return check_eligibility_of(session, actor=actor, live=[client], on=on, day_of=day_of, today=today)[client.id]


def check_eligibility_of(
    session: Session, *, actor: Actor, live: Sequence[Screenable], on: date, day_of: DayOfAnswers, today: date
) -> dict[uuid.UUID, Eligibility]:
    """`check_eligibility` of each of these live clients, in the same few statements however many they are,
    audited as one event naming the clients checked and the screening each check used."""
    if on < today:
        raise InvalidInput("on", "cannot be in the past")
    changes = _day_of_changes(day_of)
    _refuse_future_dates(changes, today=today, prefix="day_of.")
    if not live:
        return {}
    rule_set = rule_sets.current(session)
    newest = latest_valid(session, client_ids=[c.id for c in live], on=on)
    audit.record_reads(
        session,
        actor=actor,
        action="screening.eligibility",
        record_type=clients.RECORD,
        record_ids=(c.id for c in live),
        detail={"screening_ids": {str(c.id): str(newest[c.id].id) if c.id in newest else None for c in live}},
    )
    approved = approvals.valid_on_for(session, client_ids=list(newest), day=on) if newest else {}
    judging = _Judging(on=on, changes=changes, rules=rule_sets.parameters(rule_set))
    return {
        c.id: Eligibility(
            on=on,
            verdict=judging.verdict(c, newest.get(c.id), approved=approved.get(c.id, {})),
            screening_id=newest[c.id].id if c.id in newest else None,
            rule_set_version=rule_set.version,
        )
        for c in live
    }


class _Judging:
    """The rules on many clients' stored answers with the day-of changes, on one day. Many clients answer alike, so
    each distinct stored JSON is read once and each distinct set of reasons and approvals judged once."""

    def __init__(self, *, on: date, changes: dict[str, Any], rules: RuleParameters) -> None:
        self.on, self.changes, self.rules = on, changes, rules
        self.answers: dict[str, ScreeningAnswers] = {}
        self.verdicts: dict[tuple[tuple[Reason, ...], tuple[tuple[ApprovalScope, str], ...]], Verdict] = {}

    def verdict(
        self, client: Screenable, screening: Answered | None, *, approved: dict[ApprovalScope, str]
    ) -> Verdict | None:
        """The rules' verdict on the screening's answers with the day-of changes, given the approvals in force."""
        if screening is None:
            return None
        reasons = _evaluate(self._answers(screening.answers_json), client=client, on=self.on, rules=self.rules)
        key = (tuple(reasons), tuple(sorted(approved.items())))
        if key not in self.verdicts:
            self.verdicts[key] = judge(reasons, approved)
        return self.verdicts[key]

    def _answers(self, stored: str) -> ScreeningAnswers:
        """The stored answers (validated when written) with the day's changes; JSON straight to the model when none."""
        if stored not in self.answers:
            if self.changes:
                self.answers[stored] = ScreeningAnswers.model_validate(json.loads(stored) | self.changes)
            else:
                self.answers[stored] = ScreeningAnswers.model_validate_json(stored)
        return self.answers[stored]


def _judged(session: Session, screening: Screening, *, today: date) -> Judged:
    reasons = [Reason.from_json(r) for r in screening.reasons]
    return Judged(screening, judge(reasons, approvals.valid_on(session, client_id=screening.client_id, day=today)))


def _evaluate(
    answers: ScreeningAnswers, *, client: Screenable, on: date, rules: Any, prefix: str = "day_of."
) -> list[Reason]:
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
