"""Versioned screening rules: reading them, and changing them by adding a version."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict, NotFound
from api.schemas.screening_rules import RuleParameters
from api.services import audit
from db.models import ScreeningRuleSet


def current(session: Session) -> ScreeningRuleSet:
    """The newest version: the one new screenings are judged by."""
    rule_set = session.scalar(select(ScreeningRuleSet).order_by(ScreeningRuleSet.version.desc()).limit(1))
    if rule_set is None:  # the first migration seeds version 1
        raise RuntimeError("no screening rule set: run `galvani migrate`")
    return rule_set


def get(session: Session, *, version: int) -> ScreeningRuleSet:
    rule_set = session.get(ScreeningRuleSet, version)
    if rule_set is None:
        raise NotFound(f"There is no screening rule set version {version}.")
    return rule_set


def parameters(rule_set: ScreeningRuleSet) -> RuleParameters:
    return RuleParameters.model_validate(rule_set.parameters)


def change(session: Session, *, actor: Actor, changes: dict[str, Any]) -> ScreeningRuleSet:
    """Add a version with the changed parameters; bounds are checked on the merged whole."""
    latest = current(session)
    merged = RuleParameters.model_validate(latest.parameters | changes)
    rule_set = ScreeningRuleSet(
        version=latest.version + 1, parameters=merged.model_dump(mode="json"), created_by_id=actor.user.id
    )
    session.add(rule_set)
    try:
        session.flush()
    except IntegrityError as exc:  # another admin saved a version at the same moment
        raise Conflict("The screening rules were changed by someone else just now; reload and try again.") from exc
    audit.record(
        session,
        actor=actor,
        action="screening_rules.update",
        record_type="screening_rules",
        record_id=str(rule_set.version),
        detail={"fields": sorted(changes)},
    )
    return rule_set
