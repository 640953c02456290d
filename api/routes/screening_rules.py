"""The versioned screening rules."""

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import RulesReader, RulesWriter, SessionDep
from api.openapi import CONFLICT
from api.schemas.common import INT32_MAX
from api.schemas.screening_rules import RuleParametersUpdate, RuleSetRead
from api.services import rule_sets
from db.models import ScreeningRuleSet

router = APIRouter(prefix="/screening-rules", tags=["screening"])
RuleVersion = Annotated[int, Path(ge=1, le=INT32_MAX, description="A version number; the first is 1")]


@router.get("")
def read_current_rules(session: SessionDep, _actor: RulesReader) -> RuleSetRead:
    """The rules new screenings are judged by."""
    return _read(rule_sets.current(session))


@router.get("/{version}")
def read_rules_version(version: RuleVersion, session: SessionDep, _actor: RulesReader) -> RuleSetRead:
    """An earlier version, as the screenings judged by it saw it."""
    return _read(rule_sets.get(session, version=version))


@router.put("", responses=CONFLICT)
def change_rules(data: RuleParametersUpdate, session: SessionDep, actor: RulesWriter) -> RuleSetRead:
    """Change parameters within the safety bounds; this makes a new version and never alters old results."""
    return _read(rule_sets.change(session, actor=actor, changes=data.model_dump(exclude_unset=True)))


def _read(rule_set: ScreeningRuleSet) -> RuleSetRead:
    return RuleSetRead(
        version=rule_set.version,
        parameters=rule_sets.parameters(rule_set),
        created_at=rule_set.created_at,
        created_by_id=str(rule_set.created_by_id) if rule_set.created_by_id else None,
    )
