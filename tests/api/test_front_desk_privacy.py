"""The front desk reads outcomes, never the health reasons behind them: every endpoint, walked with clients whose
screenings, approvals and refusals are full of health data."""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.alarms import raise_alarm
from db.models import Role, User
from tests.api.clinic import (
    APPROVAL,
    BODIES,
    LONDON,
    MATRIX,
    STEP,
    add_room,
    approved_protocol,
    armed_session,
    new_client,
    ok,
)
from tests.factories import NOTHING

# The screening vocabulary of DESIGN.md and the rules' own words (domain.md), as they could show in an answer;
# and what the approval on file says (its physician and its document).
HEALTH_WORDS = (
    "pregnan",
    "epilep",
    "seizure",
    "implant",
    "cancer",
    "lesion",
    "infection",
    "wound",
    "inflam",
    "surgery",
    "surgical",
    "pacemaker",
    "defibrillator",
    "neurostimulator",
    "cochlear",
    "insulin",
    "glucose",
    "electronic",
    "retino",
    "peel",
    "laser",
    "isotretinoin",
    "botox",
    "filler",
    "dermal",
    "piercing",
    "okafor",
    "scan 114",
)
# The clinic's screening rules name what they defer (`laser_deferral_days`): they are no client's data.
RULES = {("GET", "/api/v1/screening-rules"), ("GET", "/api/v1/screening-rules/{version}")}
# Run last: they remove what the other calls read.
LAST = [("POST", "/api/v1/appointments/{appointment_id}/cancel"), ("DELETE", "/api/v1/clients/{client_id}")]


def health_words(text: str) -> list[str]:
    return [word for word in HEALTH_WORDS if word in text.lower()]


def _at(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour), tzinfo=LONDON).isoformat()


@dataclass
class FrontDeskRecords:
    """The records whose health data the front desk must not read, and the client waiting for an approval."""

    ids: dict[str, str]
    waiting: str  # a client screened pregnant, with Botox zones and no approval: she needs one
    tomorrow: date


@pytest.fixture
def clinic(
    client: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User], db: Session
) -> FrontDeskRecords:
    """Two clients screened pregnant with Botox on the forehead a few days ago: one waits for a physician's
    approval, the other has it (Dr. Okafor, scan 114) but also had laser three days ago."""
    admin, esthetician, director = (as_role[r] for r in (Role.ADMIN, Role.ESTHETICIAN, Role.MEDICAL_DIRECTOR))
    today = datetime.now(LONDON).date()
    answers = NOTHING | {"pregnant": True, "botox_last_on": str(today - timedelta(days=5)), "botox_zones": ["forehead"]}
    waiting, approved = new_client(client, admin, "Wanda"), new_client(client, admin, "Ada")
    ok(client.post(f"/api/v1/clients/{waiting}/screenings", headers=esthetician, json={"answers": answers}), 201)
    ok(
        client.post(
            f"/api/v1/clients/{approved}/screenings",
            headers=esthetician,
            json={"answers": answers | {"laser_last_on": str(today - timedelta(days=3))}},
        ),
        201,
    )
    approval = ok(client.post(f"/api/v1/clients/{approved}/physician-approvals", headers=director, json=APPROVAL), 201)
    protocol = approved_protocol(client, as_role, steps=[STEP | {"zone": "forehead"}])
    room = add_room(client, admin)
    ids = {
        "client_id": approved,
        "approval_id": approval["id"],
        "approved_id": protocol["id"],
        "protocol_id": protocol["id"],
        "room_id": room,
        "esthetician_id": str(staff[Role.ESTHETICIAN].id),
        "user_id": str(staff[Role.ESTHETICIAN].id),
        "version": "1",
        "unique": uuid.uuid4().hex[:10],
    }
    ids["device_id"] = ok(client.get("/api/v1/devices", headers=admin, params={"room_id": room}))[0]["id"]
    later = ok(
        client.post(
            "/api/v1/series",
            headers=as_role[Role.FRONT_DESK],
            json=_booking(ids, approved, _at(today + timedelta(days=21), 10)),
        ),
        201,
    )  # once the deferral and the exclusion end
    ids["series_id"], ids["appointment_id"] = later["id"], later["appointments"][0]["id"]
    ids["session_id"] = _session(db, ids["appointment_id"], day_of=answers)
    ids["alarm_id"] = str(raise_alarm(db, device_id=uuid.UUID(ids["device_id"]), kind="fault", detail="a fault").id)
    db.commit()
    return FrontDeskRecords(ids=ids, waiting=waiting, tomorrow=today + timedelta(days=1))


def _booking(ids: dict[str, str], client_id: str, start_at: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "protocol_id": ids["approved_id"],
        "esthetician_id": ids["esthetician_id"],
        "room_id": ids["room_id"],
        "start_at": start_at,
        "plan": {"intensive": {"sessions": 1, "per_week": 1}},
    }


def _session(db: Session, appointment_id: str, day_of: dict[str, Any]) -> str:
    """A session as the treatment room leaves it, with its day-of answers (health data) stored."""
    return armed_session(db, appointment_id, day_of)


def _calls(clinic: FrontDeskRecords) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every endpoint once, with the refusals that would carry health reasons, the destructive ones last."""
    ids, tomorrow = clinic.ids, clinic.tomorrow
    bodies = BODIES | {
        ("POST", "/api/v1/series"): _booking(ids, ids["client_id"], _at(tomorrow, 10)),  # deferred, zone excluded
        ("POST", "/api/v1/clients/{client_id}/eligibility"): {"on": str(tomorrow)},
        ("PATCH", "/api/v1/appointments/{appointment_id}"): {"start_at": _at(tomorrow, 10)},
    }
    endpoints = [e for e in MATRIX if e not in LAST and e not in RULES] + LAST
    calls = []
    for method, path in endpoints:
        body = json.loads(re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], json.dumps(bodies.get((method, path)))))
        calls.append((method, re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path), body))
    waiting = clinic.waiting  # needs an approval: refused outright
    extra = [
        ("POST", "/api/v1/series", _booking(ids, waiting, _at(tomorrow, 10))),
        ("POST", f"/api/v1/clients/{waiting}/eligibility", {"on": str(tomorrow), "day_of": {"pregnant": True}}),
        ("GET", f"/api/v1/clients/{waiting}/screenings", None),
        ("GET", f"/api/v1/appointments?client_id={ids['client_id']}", None),
        ("GET", f"/api/v1/series?client_id={ids['client_id']}", None),
    ]
    return extra + calls


def test_the_refusals_do_carry_health_reasons_for_clinical_staff(
    client: TestClient, clinic: FrontDeskRecords, as_role: dict[Role, dict[str, str]]
) -> None:
    """The data is as rich as it looks: an esthetician's answers to the same calls name the reasons."""
    esthetician = as_role[Role.ESTHETICIAN]
    waiting = client.post(
        "/api/v1/series", headers=esthetician, json=_booking(clinic.ids, clinic.waiting, _at(clinic.tomorrow, 10))
    )
    assert waiting.status_code == 409 and "pregnan" in health_words(waiting.text)
    deferred = client.post(
        "/api/v1/series",
        headers=esthetician,
        json=_booking(clinic.ids, clinic.ids["client_id"], _at(clinic.tomorrow, 10)),
    )
    assert deferred.status_code == 409 and {"laser", "botox"} <= set(health_words(deferred.text))


def test_the_front_desk_reads_no_health_data_anywhere(
    client: TestClient, clinic: FrontDeskRecords, as_role: dict[Role, dict[str, str]]
) -> None:
    desk = as_role[Role.FRONT_DESK]
    answers = []
    for method, path, body in _calls(clinic):
        response = client.request(method, path, headers=desk, json=body)
        assert response.status_code < 500, (method, path, response.text)
        answers.append((f"{method} {path}", response.status_code, response.text))
    assert [(call, text) for call, _, text in answers if health_words(text)] == []
    bookings = [(status, text) for call, status, text in answers if call == "POST /api/v1/series"]
    assert [status for status, _ in bookings] == [409, 409]
    assert "does not allow this treatment yet (approval required)" in bookings[0][1]
    assert "screening_deferred" in bookings[1][1] and "excluded_zone" in bookings[1][1]
    checks = [json.loads(text) for call, _, text in answers if call.endswith("/eligibility")]
    assert [(c["eligible"], c["outcome"]) for c in checks] == [
        (False, "physician_approval_required"),
        (False, "deferred"),
    ]
    moved = [(status, text) for call, status, text in answers if call.startswith("PATCH /api/v1/appointments/")]
    assert moved[0][0] == 409 and "excluded_zone" in moved[0][1]
