"""Screening through the API: results, who sees answers, approvals, rule versions, eligibility, bad input."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Role, Screening
from tests.api.clinic import register
from tests.factories import NOTHING

TODAY = datetime.now(ZoneInfo("Europe/London")).date()  # the test clinic's zone


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


@pytest.fixture
def client_id(client: TestClient, front_desk: dict[str, str]) -> str:
    return register(client, front_desk, email="screened@example.com")["id"]  # type: ignore[no-any-return]


def screen(client: TestClient, headers: dict[str, str], client_id: str, **answers: Any) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/clients/{client_id}/screenings", headers=headers, json={"answers": NOTHING | answers}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def approve(client: TestClient, headers: dict[str, str], client_id: str, **fields: Any) -> Any:
    body = {
        "physician_name": "Dr. Okafor",
        "scope": "pregnancy",
        "approved_on": days(-1),
        "valid_until": days(90),
        "document_reference": "scan 2026-114",
    } | fields
    return client.post(f"/api/v1/clients/{client_id}/physician-approvals", headers=headers, json=body)


def screenings_of(client: TestClient, headers: dict[str, str], client_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/clients/{client_id}/screenings", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def eligibility(client: TestClient, headers: dict[str, str], client_id: str, on: str, **day_of: Any) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/clients/{client_id}/eligibility", headers=headers, json={"on": on, "day_of": day_of}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_cleared_screening(client: TestClient, as_role: dict, client_id: str) -> None:
    result = screen(client, as_role[Role.ESTHETICIAN], client_id)
    assert result["outcome"] == "cleared"
    assert (result["screened_on"], result["valid_until"]) == (days(0), days(30))
    assert (result["reasons"], result["excluded_zones"], result["eligible_from"]) == ([], [], None)
    assert result["rule_set_version"] == 1
    assert result["answers"] == NOTHING


def test_reasons_carry_code_rule_words_and_dates(client: TestClient, as_role: dict, client_id: str) -> None:
    result = screen(
        client,
        as_role[Role.ESTHETICIAN],
        client_id,
        botox_last_on=days(-5),
        botox_zones=["forehead"],
        retinol_last_used_on=days(-1),
    )
    assert result["outcome"] == "deferred"
    assert result["eligible_from"] == days(9)
    assert result["excluded_zones"] == ["forehead"]
    botox = next(r for r in result["reasons"] if r["code"] == "botox")
    assert (botox["kind"], botox["until"], botox["zones"]) == ("zone_exclusion", days(9), ["forehead"])
    assert "forehead" in botox["message"] and botox["rule"]


def test_newest_first(client: TestClient, as_role: dict, client_id: str) -> None:
    first = screen(client, as_role[Role.ESTHETICIAN], client_id, epilepsy=True)
    second = screen(client, as_role[Role.ESTHETICIAN], client_id)
    assert [s["id"] for s in screenings_of(client, as_role[Role.ESTHETICIAN], client_id)] == [second["id"], first["id"]]


@pytest.mark.parametrize("role", [Role.ESTHETICIAN, Role.MEDICAL_DIRECTOR, Role.ADMIN])
def test_clinical_roles_see_the_answers(role: Role, client: TestClient, as_role: dict, client_id: str) -> None:
    screen(client, as_role[Role.ESTHETICIAN], client_id, pregnant=True)
    [seen] = screenings_of(client, as_role[role], client_id)
    assert seen["answers"]["pregnant"] is True
    assert seen["reasons"][0]["code"] == "pregnancy"


def test_front_desk_sees_only_outcome_and_dates(client: TestClient, as_role: dict, client_id: str) -> None:
    screen(client, as_role[Role.ESTHETICIAN], client_id, pregnant=True, metal_implant_zones=["jawline"])
    [seen] = screenings_of(client, as_role[Role.FRONT_DESK], client_id)
    assert seen["outcome"] == "physician_approval_required"
    assert set(seen) == {"id", "client_id", "outcome", "eligible_from", "valid_until", "screened_on", "created_at"}
    desk_eligibility = eligibility(client, as_role[Role.FRONT_DESK], client_id, days(1))
    assert set(desk_eligibility) == {"eligible", "on", "outcome", "eligible_from", "screening_id"}


def test_front_desk_cannot_screen(client: TestClient, as_role: dict, client_id: str, db: Session) -> None:
    response = client.post(
        f"/api/v1/clients/{client_id}/screenings", headers=as_role[Role.FRONT_DESK], json={"answers": NOTHING}
    )
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(Screening)) == 0


def test_every_read_of_answers_is_audited_without_them(
    client: TestClient, as_role: dict, staff: dict, client_id: str, db: Session
) -> None:
    made = screen(client, as_role[Role.ESTHETICIAN], client_id, pregnant=True)
    screenings_of(client, as_role[Role.MEDICAL_DIRECTOR], client_id)
    screenings_of(client, as_role[Role.FRONT_DESK], client_id)
    eligibility(client, as_role[Role.ESTHETICIAN], client_id, days(0), pregnant=True)
    events = db.scalars(select(AuditEvent).where(AuditEvent.action.like("screening.%")).order_by(AuditEvent.id)).all()
    assert [(e.action, e.user_id) for e in events] == [
        ("screening.create", staff[Role.ESTHETICIAN].id),
        ("screening.read", staff[Role.MEDICAL_DIRECTOR].id),
        ("screening.read_outcome", staff[Role.FRONT_DESK].id),
        ("screening.eligibility", staff[Role.ESTHETICIAN].id),
    ]
    assert events[1].record_ids == [made["id"]]
    assert "pregnan" not in " ".join(str(e.detail) for e in events)


def test_pregnancy_cleared_while_an_approval_is_valid(client: TestClient, as_role: dict, client_id: str) -> None:
    esthetician, director = as_role[Role.ESTHETICIAN], as_role[Role.MEDICAL_DIRECTOR]
    screen(client, esthetician, client_id, pregnant=True)
    approval = approve(client, esthetician, client_id)
    assert approval.status_code == 201, approval.text
    [seen] = screenings_of(client, esthetician, client_id)
    assert seen["outcome"] == "cleared"
    assert seen["reasons"][0]["approved_by"] == "Dr. Okafor"
    assert eligibility(client, esthetician, client_id, days(30))["eligible"] is True

    approval_url = f"/api/v1/clients/{client_id}/physician-approvals/{approval.json()['id']}/revoke"
    assert client.post(approval_url, headers=esthetician, json={"reason": "wrong client"}).status_code == 403
    revoked = client.post(approval_url, headers=director, json={"reason": "physician withdrew it"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert screenings_of(client, esthetician, client_id)[0]["outcome"] == "physician_approval_required"
    assert client.post(approval_url, headers=director, json={"reason": "again"}).status_code == 409


def test_an_approval_counts_only_while_it_is_valid(client: TestClient, as_role: dict, client_id: str) -> None:
    esthetician = as_role[Role.ESTHETICIAN]
    screen(client, esthetician, client_id, pregnant=True)
    approve(client, esthetician, client_id, approved_on=days(-60), valid_until=days(-1))  # expired yesterday
    assert screenings_of(client, esthetician, client_id)[0]["outcome"] == "physician_approval_required"
    approve(client, esthetician, client_id, scope="body_worn_electronics")  # another scope does not help
    assert screenings_of(client, esthetician, client_id)[0]["outcome"] == "physician_approval_required"
    approve(client, esthetician, client_id, valid_until=days(10))
    assert eligibility(client, esthetician, client_id, days(10))["eligible"] is True
    assert eligibility(client, esthetician, client_id, days(11))["eligible"] is False  # lapses on day 11


def test_approvals_are_health_data(client: TestClient, as_role: dict, client_id: str) -> None:
    approve(client, as_role[Role.MEDICAL_DIRECTOR], client_id)
    url = f"/api/v1/clients/{client_id}/physician-approvals"
    assert client.get(url, headers=as_role[Role.FRONT_DESK]).status_code == 403
    assert approve(client, as_role[Role.FRONT_DESK], client_id).status_code == 403
    assert approve(client, as_role[Role.ADMIN], client_id).status_code == 403
    listed = client.get(url, headers=as_role[Role.ESTHETICIAN]).json()
    assert [a["scope"] for a in listed] == ["pregnancy"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"approved_on": days(1)}, "approved_on"),
        ({"valid_until": days(-10), "approved_on": days(-1)}, "body"),
        ({"scope": "epilepsy"}, "scope"),
        ({"physician_name": ""}, "physician_name"),
        ({"document_reference": None}, "document_reference"),
    ],
)
def test_bad_approvals(client: TestClient, as_role: dict, client_id: str, fields: dict, field: str) -> None:
    response = approve(client, as_role[Role.ESTHETICIAN], client_id, **fields)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_rules_change_by_version_and_old_results_stay(client: TestClient, as_role: dict, client_id: str) -> None:
    esthetician, admin = as_role[Role.ESTHETICIAN], as_role[Role.ADMIN]
    before = screen(client, esthetician, client_id, retinol_last_used_on=days(-2))
    assert before["outcome"] == "cleared"
    changed = client.put("/api/v1/screening-rules", headers=admin, json={"retinol_deferral_days": 3})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.json()["parameters"]["retinol_deferral_days"]) == (2, 3)
    after = screen(client, esthetician, client_id, retinol_last_used_on=days(-2))
    assert (after["outcome"], after["rule_set_version"], after["eligible_from"]) == ("deferred", 2, days(1))
    old = next(s for s in screenings_of(client, esthetician, client_id) if s["id"] == before["id"])
    assert (old["outcome"], old["rule_set_version"]) == ("cleared", 1)
    assert (
        client.get("/api/v1/screening-rules/1", headers=esthetician).json()["parameters"]["retinol_deferral_days"] == 2
    )
    assert client.get("/api/v1/screening-rules", headers=as_role[Role.FRONT_DESK]).json()["version"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retinol_deferral_days": 1}, "retinol_deferral_days"),
        ({"chemical_peel_deferral_days": 13}, "chemical_peel_deferral_days"),
        ({"screening_validity_days": 31}, "screening_validity_days"),
        ({"minimum_age_years": 16}, "minimum_age_years"),
        ({"zone_caps_percent": {"lips": 60}}, "zone_caps_percent.lips"),
        ({"zone_caps_percent": {"ears": 10}}, "zone_caps_percent.ears"),
        ({"retinol_deferral_days": "two"}, "retinol_deferral_days"),
        ({"pacemaker_ok": True}, "pacemaker_ok"),
    ],
)
def test_rules_never_go_below_the_floors(client: TestClient, admin: dict, change: dict, field: str) -> None:
    response = client.put("/api/v1/screening-rules", headers=admin, json=change)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert client.get("/api/v1/screening-rules", headers=admin).json()["version"] == 1


def test_eligibility_needs_a_valid_screening(client: TestClient, as_role: dict, client_id: str) -> None:
    esthetician = as_role[Role.ESTHETICIAN]
    nothing_yet = eligibility(client, esthetician, client_id, days(0))
    assert (nothing_yet["eligible"], nothing_yet["outcome"]) == (False, None)
    assert nothing_yet["reasons"][0]["code"] == "no_valid_screening"
    screen(client, esthetician, client_id)
    assert eligibility(client, esthetician, client_id, days(30))["eligible"] is True
    assert eligibility(client, esthetician, client_id, days(31))["eligible"] is False  # expired


def test_day_of_answers_override_the_screening(client: TestClient, as_role: dict, client_id: str) -> None:
    esthetician = as_role[Role.ESTHETICIAN]
    screen(client, esthetician, client_id)
    assert eligibility(client, esthetician, client_id, days(0), pregnant=True)["outcome"] == (
        "physician_approval_required"
    )
    assert eligibility(client, esthetician, client_id, days(0), skin_infection=True)["eligible"] is False
    yesterday = eligibility(client, esthetician, client_id, days(0), retinol_last_used_on=days(-1))
    assert (yesterday["outcome"], yesterday["eligible_from"]) == ("deferred", days(1))
    assert eligibility(client, esthetician, client_id, days(1), retinol_last_used_on=days(-1))["eligible"] is True


def test_a_deferral_that_ends_before_the_day(client: TestClient, as_role: dict, client_id: str) -> None:
    esthetician = as_role[Role.ESTHETICIAN]
    assert screen(client, esthetician, client_id, chemical_peel_last_on=days(-10))["outcome"] == "deferred"
    assert eligibility(client, esthetician, client_id, days(3))["eligible"] is False
    assert eligibility(client, esthetician, client_id, days(4))["eligible"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"on": days(-1)}, "on"),
        ({"on": "tomorrow"}, "on"),
        ({"on": days(1), "day_of": {"pregnant": "no"}}, "day_of.pregnant"),
        ({"on": days(1), "day_of": {"retinol_last_used_on": days(1)}}, "day_of.retinol_last_used_on"),
        ({"on": days(1), "day_of": {"epilepsy": False}}, "day_of.epilepsy"),
        ({"on": days(1), "day_of": {"botox_zones": ["ears"]}}, "day_of.botox_zones.0"),
    ],
)
def test_bad_eligibility_questions(client: TestClient, as_role: dict, client_id: str, body: dict, field: str) -> None:
    screen(client, as_role[Role.ESTHETICIAN], client_id)
    response = client.post(f"/api/v1/clients/{client_id}/eligibility", headers=as_role[Role.ESTHETICIAN], json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        (NOTHING | {"pacemaker": True}, "answers.pacemaker"),
        (NOTHING | {"retinol_last_used_on": days(1)}, "answers.retinol_last_used_on"),
        (NOTHING | {"botox_zones": ["ears"]}, "answers.botox_zones.0"),
        ({k: v for k, v in NOTHING.items() if k != "epilepsy"}, "answers.epilepsy"),
        ({k: v for k, v in NOTHING.items() if k != "laser_last_on"}, "answers.laser_last_on"),
        (NOTHING | {"epilepsy": "yes"}, "answers.epilepsy"),
        (NOTHING | {"epilepsy": None}, "answers.epilepsy"),
        (NOTHING | {"laser_last_on": "last week"}, "answers.laser_last_on"),
        (NOTHING | {"botox_last_on": days(-3)}, "answers.botox_zones"),
        (NOTHING | {"metal_implant_zones": "jawline"}, "answers.metal_implant_zones"),
    ],
)
def test_bad_answers_name_the_field_and_store_nothing(
    client: TestClient, as_role: dict, client_id: str, db: Session, answers: dict, field: str
) -> None:
    response = client.post(
        f"/api/v1/clients/{client_id}/screenings", headers=as_role[Role.ESTHETICIAN], json={"answers": answers}
    )
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert db.scalar(select(func.count()).select_from(Screening)) == 0


def test_deleted_or_unknown_client_is_404(client: TestClient, as_role: dict, client_id: str) -> None:
    client.delete(f"/api/v1/clients/{client_id}", headers=as_role[Role.FRONT_DESK])
    for path in ("screenings", "physician-approvals"):
        url = f"/api/v1/clients/{client_id}/{path}"
        assert client.get(url, headers=as_role[Role.ESTHETICIAN]).status_code == 404
    response = client.post(
        f"/api/v1/clients/{client_id}/screenings", headers=as_role[Role.ESTHETICIAN], json={"answers": NOTHING}
    )
    assert response.status_code == 404


def test_screening_date_is_the_clinics_today(client: TestClient, as_role: dict, client_id: str) -> None:
    result = screen(client, as_role[Role.ESTHETICIAN], client_id)
    assert date.fromisoformat(result["screened_on"]) == TODAY
