"""Every rule of shared/domain.md, at its boundaries, and the combinations that matter."""

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.schemas.screening import ScreeningAnswers
from api.schemas.screening_rules import RuleParameters
from api.services.screening_engine import IncompleteAnswers, add_months, evaluate, judge
from db.vocabulary import TREATABLE, ApprovalScope, Outcome, Zone
from tests.factories import NOTHING

ON = date(2026, 6, 15)
ADULT = date(1990, 1, 1)
RULES = RuleParameters()


def verdict(on: date = ON, birth: date = ADULT, approvals: dict | None = None, **answers: Any):  # type: ignore[no-untyped-def]
    reasons = evaluate(ScreeningAnswers.model_validate(NOTHING | answers), birth_date=birth, on=on, rules=RULES)
    return judge(reasons, approvals or {})


def test_no_reason_clears() -> None:
    result = verdict()
    assert (result.outcome, result.reasons, result.excluded_zones, result.eligible_from) == (
        Outcome.CLEARED,
        [],
        [],
        None,
    )


@pytest.mark.parametrize("answer", ["implanted_electronic_device", "epilepsy", "active_cancer"])
def test_absolute_contraindications(answer: str) -> None:
    result = verdict(**{answer: True})
    assert result.outcome == Outcome.CONTRAINDICATED
    assert [r.code for r in result.reasons] == [answer]
    assert result.reasons[0].message and result.reasons[0].rule


@pytest.mark.parametrize(
    ("birth", "outcome"),
    [
        (date(2008, 6, 16), Outcome.CONTRAINDICATED),  # 18 tomorrow
        (date(2008, 6, 15), Outcome.CLEARED),  # 18 today
        (date(2012, 1, 1), Outcome.CONTRAINDICATED),
    ],
)
def test_minimum_age(birth: date, outcome: Outcome) -> None:
    assert verdict(birth=birth).outcome == outcome


@pytest.mark.parametrize(
    ("answer", "scope"),
    [
        ("pregnant", ApprovalScope.PREGNANCY),
        ("body_worn_electronics", ApprovalScope.BODY_WORN_ELECTRONICS),
        ("recent_facial_surgery", ApprovalScope.RECENT_FACIAL_SURGERY),
    ],
)
def test_approval_needed_and_given(answer: str, scope: ApprovalScope) -> None:
    assert verdict(**{answer: True}).outcome == Outcome.PHYSICIAN_APPROVAL_REQUIRED
    approved = verdict(approvals={scope: "Dr. Okafor"}, **{answer: True})
    assert approved.outcome == Outcome.CLEARED
    assert approved.reasons[0].approved_by == "Dr. Okafor"
    other_scope = next(s for s in ApprovalScope if s != scope)
    assert verdict(approvals={other_scope: "Dr. Okafor"}, **{answer: True}).outcome == (
        Outcome.PHYSICIAN_APPROVAL_REQUIRED
    )


def test_skin_infection_defers_until_healed() -> None:
    result = verdict(skin_infection=True)
    assert result.outcome == Outcome.DEFERRED
    assert result.eligible_from is None  # no date: a new screening once healed


# (answer, what happened on day D, first eligible day)
DEFERRALS = [
    ("retinol_last_used_on", date(2026, 6, 10), date(2026, 6, 12)),  # D+2: not the night before
    ("prescription_retinoid_last_used_on", date(2026, 6, 10), date(2026, 6, 17)),  # D+7
    ("chemical_peel_last_on", date(2026, 6, 10), date(2026, 6, 24)),  # D+14
    ("laser_last_on", date(2026, 6, 10), date(2026, 6, 24)),  # D+14
    ("isotretinoin_last_on", date(2026, 1, 31), date(2026, 7, 31)),  # 6 months
    ("isotretinoin_last_on", date(2025, 8, 31), date(2026, 2, 28)),  # 6 months into a shorter month
]


@pytest.mark.parametrize(("answer", "happened", "eligible"), DEFERRALS)
def test_deferral_boundaries(answer: str, happened: date, eligible: date) -> None:
    day_before = verdict(on=eligible - timedelta(days=1), **{answer: happened})
    assert day_before.outcome == Outcome.DEFERRED
    assert day_before.eligible_from == eligible
    assert day_before.reasons[0].until == eligible
    assert verdict(on=eligible, **{answer: happened}).outcome == Outcome.CLEARED
    assert verdict(on=happened, **{answer: happened}).outcome == Outcome.DEFERRED  # used that very day


@pytest.mark.parametrize(
    ("answer", "zones_answer", "happened", "free_from"),
    [
        ("botox_last_on", "botox_zones", date(2026, 6, 10), date(2026, 6, 24)),  # 14 days
        ("filler_last_on", "filler_zones", date(2026, 3, 31), date(2026, 6, 30)),  # 3 months
    ],
)
def test_injections_exclude_only_the_treated_zones(
    answer: str, zones_answer: str, happened: date, free_from: date
) -> None:
    treated = {answer: happened, zones_answer: ["lips", "forehead"]}
    day_before = verdict(on=free_from - timedelta(days=1), **treated)
    assert day_before.outcome == Outcome.CLEARED_WITH_EXCLUSIONS
    assert day_before.excluded_zones == [Zone.FOREHEAD, Zone.LIPS]
    assert day_before.eligible_from == free_from
    assert verdict(on=free_from, **treated).outcome == Outcome.CLEARED


def test_recent_injection_must_name_its_zones() -> None:
    with pytest.raises(IncompleteAnswers) as raised:
        verdict(botox_last_on=ON - timedelta(days=3))
    assert raised.value.field_name == "botox_zones"
    assert verdict(botox_last_on=ON - timedelta(days=400)).outcome == Outcome.CLEARED  # long past: no zones needed


def test_metal_implants_exclude_their_zone_for_good() -> None:
    result = verdict(metal_implant_zones=["jawline"])
    assert (result.outcome, result.excluded_zones, result.eligible_from) == (
        Outcome.CLEARED_WITH_EXCLUSIONS,
        [Zone.JAWLINE],
        None,
    )


def test_botox_five_days_ago_and_retinol_yesterday() -> None:
    result = verdict(
        botox_last_on=ON - timedelta(days=5), botox_zones=["forehead"], retinol_last_used_on=ON - timedelta(days=1)
    )
    assert result.outcome == Outcome.DEFERRED
    assert result.excluded_zones == [Zone.FOREHEAD]
    assert result.eligible_from == ON + timedelta(days=9)  # the later of botox (D+14) and retinol (D+2)
    assert {r.code for r in result.reasons} == {"botox", "retinol"}


@pytest.mark.parametrize(
    ("approvals", "outcome"),
    [
        ({}, Outcome.PHYSICIAN_APPROVAL_REQUIRED),
        ({ApprovalScope.PREGNANCY: "Dr. Okafor"}, Outcome.DEFERRED),  # approved, yet retinol still defers
    ],
)
def test_pregnancy_with_and_without_approval(approvals: dict, outcome: Outcome) -> None:
    assert verdict(approvals=approvals, pregnant=True, retinol_last_used_on=ON).outcome == outcome


def test_an_approval_never_lifts_an_absolute_contraindication() -> None:
    every_approval = dict.fromkeys(ApprovalScope, "Dr. Okafor")
    assert verdict(approvals=every_approval, pregnant=True, epilepsy=True).outcome == Outcome.CONTRAINDICATED


def test_longer_deferrals_from_the_rules() -> None:
    stricter = RULES.model_copy(update={"retinol_deferral_days": 5})
    answers = ScreeningAnswers.model_validate(NOTHING | {"retinol_last_used_on": ON - timedelta(days=3)})
    assert judge(evaluate(answers, birth_date=ADULT, on=ON, rules=stricter), {}).outcome == Outcome.DEFERRED
    assert judge(evaluate(answers, birth_date=ADULT, on=ON, rules=RULES), {}).outcome == Outcome.CLEARED


def test_add_months() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


past_dates = st.none() | st.dates(min_value=ON - timedelta(days=800), max_value=ON)
zone_lists = st.lists(st.sampled_from(list(Zone)), min_size=1, max_size=3, unique=True)
answers_strategy = st.fixed_dictionaries(
    {
        **{name: st.booleans() for name, value in NOTHING.items() if isinstance(value, bool)},
        **{name: past_dates for name, value in NOTHING.items() if value is None},
        **{name: zone_lists | st.just([]) for name, value in NOTHING.items() if isinstance(value, list)},
    }
)
births = st.dates(min_value=date(1920, 1, 1), max_value=ON)
approval_sets = st.dictionaries(st.sampled_from(list(ApprovalScope)), st.just("Dr. Okafor"))


def _judged(answers: dict, birth: date, approvals: dict):  # type: ignore[no-untyped-def]
    for zones, when in (("botox_zones", "botox_last_on"), ("filler_zones", "filler_last_on")):
        if answers[when] is not None and not answers[zones]:
            answers[zones] = ["cheeks"]  # a recent injection always names its zones
    return verdict(birth=birth, approvals=approvals, **answers)


@given(answers=answers_strategy, birth=births, approvals=approval_sets)
def test_absolute_contraindications_are_never_cleared(answers: dict, birth: date, approvals: dict) -> None:
    result = _judged(answers, birth, approvals)
    absolute = (
        answers["implanted_electronic_device"]
        or answers["epilepsy"]
        or answers["active_cancer"]
        or (ON.year - birth.year - ((ON.month, ON.day) < (birth.month, birth.day))) < 18
    )
    if absolute:
        assert result.outcome == Outcome.CONTRAINDICATED
        assert result.outcome not in TREATABLE


@given(answers=answers_strategy, birth=births, approvals=approval_sets)
def test_pregnancy_is_never_cleared_without_its_approval(answers: dict, birth: date, approvals: dict) -> None:
    result = _judged(answers | {"pregnant": True}, birth, approvals)
    if ApprovalScope.PREGNANCY not in approvals:
        assert result.outcome not in TREATABLE


@given(answers=answers_strategy, birth=births, approvals=approval_sets)
def test_cleared_means_nothing_stands_in_the_way(answers: dict, birth: date, approvals: dict) -> None:
    result = _judged(answers, birth, approvals)
    unapproved = [r for r in result.reasons if not r.approved_by]
    if result.outcome == Outcome.CLEARED:
        assert unapproved == []
    if result.outcome in TREATABLE:
        assert all(r.kind == "zone_exclusion" for r in unapproved)
