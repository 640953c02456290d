"""Protocols: checked against the clinic's limits, approved by a medical director, immutable, versioned."""

import hashlib
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from db.models import Role
from tests.api.clinic import STEP, add_room, approved_protocol, at, new_client, next_monday, ok

URL = "/api/v1/protocols"


def draft(client: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    return client.post(URL, headers=headers, json={"name": "Lift", "steps": [STEP]} | changes)


def test_a_draft_then_its_approval(client: TestClient, as_role: dict) -> None:
    made = ok(draft(client, as_role[Role.ESTHETICIAN], steps=[STEP | {"current_ua": 150.0}, STEP]), 201)
    assert (made["status"], made["sha256"], made["version"]) == ("draft", None, 1)
    assert (made["total_output_s"], made["max_current_ua"]) == (600, 200)
    assert client.post(f"{URL}/{made['id']}/approve", headers=as_role[Role.ESTHETICIAN]).status_code == 403
    approved = ok(client.post(f"{URL}/{made['id']}/approve", headers=as_role[Role.MEDICAL_DIRECTOR]))
    assert approved["status"] == "approved" and approved["approved_by_id"]
    # device-protocol.md: SHA-256 of the compact JSON of steps with sorted keys; 150.0 is sent as 150.
    steps = [STEP | {"current_ua": 150}, STEP]
    expected = hashlib.sha256(json.dumps(steps, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert approved["sha256"] == expected
    assert approved["steps"][0]["current_ua"] == 150
    again = client.post(f"{URL}/{made['id']}/approve", headers=as_role[Role.MEDICAL_DIRECTOR])
    assert again.status_code == 409


def test_editing_an_approved_protocol_makes_a_new_draft_version(client: TestClient, as_role: dict) -> None:
    approved = approved_protocol(client, as_role)
    changed = ok(
        client.patch(
            f"{URL}/{approved['id']}", headers=as_role[Role.ESTHETICIAN], json={"steps": [STEP | {"current_ua": 180}]}
        )
    )
    assert (changed["version"], changed["status"], changed["lineage_id"]) == (2, "draft", approved["lineage_id"])
    assert changed["id"] != approved["id"]
    unchanged = ok(client.get(f"{URL}/{approved['id']}", headers=as_role[Role.FRONT_DESK]))
    assert unchanged == approved  # an approved version never changes
    edited_again = ok(
        client.patch(f"{URL}/{changed['id']}", headers=as_role[Role.ESTHETICIAN], json={"name": "Lift 2"})
    )
    assert (edited_again["id"], edited_again["version"], edited_again["name"]) == (changed["id"], 2, "Lift 2")


def test_withdrawal(client: TestClient, as_role: dict) -> None:
    approved = approved_protocol(client, as_role)
    url = f"{URL}/{approved['id']}/withdraw"
    assert client.post(url, headers=as_role[Role.ESTHETICIAN], json={"reason": "x"}).status_code == 403
    withdrawn = ok(client.post(url, headers=as_role[Role.MEDICAL_DIRECTOR], json={"reason": "new evidence"}))
    assert withdrawn["protocol"]["status"] == "withdrawn"
    assert withdrawn["appointments_to_rebook"] == []
    listed = ok(client.get(URL, headers=as_role[Role.FRONT_DESK], params={"status": "approved"}))
    assert approved["id"] not in [p["id"] for p in listed]


@pytest.mark.parametrize(
    ("step", "field", "words"),
    [
        ({"current_ua": 700}, "steps.0.current_ua", "clinic's maximum of 600"),
        ({"zone": "lips", "current_ua": 301}, "steps.0.current_ua", "lips cap of 50%"),
        ({"zone": "eyes", "current_ua": 301}, "steps.0.current_ua", "eyes cap"),
        ({"zone": "forehead", "current_ua": 451}, "steps.0.current_ua", "forehead cap of 75%"),
        ({"frequency_hz": 0.4}, "steps.0.frequency_hz", "at least 0.5"),
        ({"frequency_hz": 401}, "steps.0.frequency_hz", "at most 400"),
        ({"zone": "chest"}, "steps.0.zone", "one of"),
        ({"mode": "ZAP"}, "steps.0.mode", "LIFT"),
        ({"waveform": "triangle"}, "steps.0.waveform", "square"),
        ({"polarity": "both"}, "steps.0.polarity", "alternating"),
        ({"duration_s": 0}, "steps.0.duration_s", "at least 1"),
        ({"current_ua": -5}, "steps.0.current_ua", "more than 0"),
        ({"amplitude": 3}, "steps.0.amplitude", "not a field"),
    ],
)
def test_steps_past_a_limit_are_refused(client: TestClient, as_role: dict, step: dict, field: str, words: str) -> None:
    response = draft(client, as_role[Role.ESTHETICIAN], steps=[STEP | step])
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == field and words in error["message"], error


def test_a_second_step_is_named_and_lips_at_the_cap_pass(client: TestClient, as_role: dict) -> None:
    at_cap = ok(
        draft(client, as_role[Role.ESTHETICIAN], steps=[STEP | {"zone": "lips", "current_ua": 300, "duration_s": 60}]),
        201,
    )
    assert at_cap["max_current_ua"] == 300
    response = draft(client, as_role[Role.ESTHETICIAN], steps=[STEP, STEP | {"current_ua": 650}])
    assert response.json()["errors"][0]["field"] == "steps.1.current_ua"


def test_at_most_ten_minutes_of_output(client: TestClient, as_role: dict) -> None:
    response = draft(client, as_role[Role.ESTHETICIAN], steps=[STEP, STEP, STEP | {"duration_s": 1}])
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "steps", "message": ("the steps add up to 601 s of output; at most 600 s (10 minutes)")}
    ]


def test_lower_clinic_maximum_applies_at_approval(client: TestClient, as_role: dict) -> None:
    made = ok(draft(client, as_role[Role.ESTHETICIAN]), 201)
    ok(client.put("/api/v1/settings", headers=as_role[Role.ADMIN], json={"current_limits": {"max_current_ua": 150}}))
    response = client.post(f"{URL}/{made['id']}/approve", headers=as_role[Role.MEDICAL_DIRECTOR])
    assert response.status_code == 422
    assert "maximum of 150" in response.json()["detail"]


def test_bad_protocols(client: TestClient, as_role: dict) -> None:
    for body, field in [
        ({"name": "", "steps": [STEP]}, "name"),
        ({"name": "x", "steps": []}, "steps"),
        ({"name": "x"}, "steps"),
        ({"name": "x", "steps": [STEP], "target": {"areas": ["toes"]}}, "target.areas.0"),
    ]:
        response = client.post(URL, headers=as_role[Role.ESTHETICIAN], json=body)
        assert response.status_code == 422
        assert field in [e["field"] for e in response.json()["errors"]], body
    assert client.get(f"{URL}/3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b", headers=as_role[Role.ADMIN]).status_code == 404


def test_an_empty_edit_of_an_approved_version_copies_it_as_the_next_draft(client: TestClient, as_role: dict) -> None:
    approved = approved_protocol(client, as_role, steps=[STEP, STEP | {"zone": "forehead", "duration_s": 60}])
    copied = ok(client.patch(f"{URL}/{approved['id']}", headers=as_role[Role.MEDICAL_DIRECTOR], json={}))
    assert (copied["version"], copied["status"], copied["sha256"]) == (2, "draft", None)
    kept = ("lineage_id", "name", "target", "steps", "total_output_s", "max_current_ua")
    assert {k: copied[k] for k in kept} == {k: approved[k] for k in kept}
    assert ok(client.get(f"{URL}/{approved['id']}", headers=as_role[Role.FRONT_DESK])) == approved


def test_a_withdrawn_version_is_started_again_as_a_new_draft(client: TestClient, as_role: dict) -> None:
    approved = approved_protocol(client, as_role)
    director = as_role[Role.MEDICAL_DIRECTOR]
    ok(client.post(f"{URL}/{approved['id']}/withdraw", headers=director, json={"reason": "too strong"}))
    gentler = [STEP | {"current_ua": 120}]
    again = ok(client.patch(f"{URL}/{approved['id']}", headers=as_role[Role.ESTHETICIAN], json={"steps": gentler}))
    assert (again["version"], again["status"], again["steps"][0]["current_ua"]) == (2, "draft", 120)
    assert ok(client.get(f"{URL}/{approved['id']}", headers=director))["status"] == "withdrawn"
    refused = client.patch(f"{URL}/{approved['id']}", headers=as_role[Role.FRONT_DESK], json={})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only an esthetician or a medical director can write a protocol."


def test_approving_the_next_version_leaves_the_previous_one_and_its_appointments(
    client: TestClient, as_role: dict, staff: dict
) -> None:
    first = approved_protocol(client, as_role)
    booking = {
        "client_id": new_client(client, as_role[Role.FRONT_DESK]),
        "protocol_id": first["id"],
        "esthetician_id": str(staff[Role.ESTHETICIAN].id),
        "room_id": add_room(client, as_role[Role.ADMIN]),
        "start_at": at(next_monday(), 10),
        "plan": {"intensive": {"sessions": 2, "per_week": 2}},
    }
    series = ok(client.post("/api/v1/series", headers=as_role[Role.FRONT_DESK], json=booking), 201)
    director = as_role[Role.MEDICAL_DIRECTOR]
    second = ok(client.patch(f"{URL}/{first['id']}", headers=director, json={"steps": [STEP | {"current_ua": 150}]}))
    ok(client.post(f"{URL}/{second['id']}/approve", headers=director))

    # Both versions are approved and bookable; what was booked keeps the version it was booked with.
    assert ok(client.get(f"{URL}/{first['id']}", headers=director)) == first
    listed = ok(client.get(URL, headers=as_role[Role.FRONT_DESK], params={"status": "approved"}))
    assert [(p["name"], p["version"]) for p in listed] == [("Lift and tone", 2), ("Lift and tone", 1)]
    kept = ok(client.get(f"/api/v1/series/{series['id']}", headers=as_role[Role.FRONT_DESK]))
    assert {a["protocol_id"] for a in kept["appointments"]} == {first["id"]}
    # Withdrawing the first is the medical director's own decision, and names the appointments to move.
    withdrawn = ok(client.post(f"{URL}/{first['id']}/withdraw", headers=director, json={"reason": "version 2"}))
    assert [a["id"] for a in withdrawn["appointments_to_rebook"]] == [a["id"] for a in series["appointments"]]


def test_a_copy_under_lowered_limits_names_the_step_to_change(client: TestClient, as_role: dict) -> None:
    approved = approved_protocol(client, as_role)  # 200 µA on the cheeks
    ok(client.put("/api/v1/settings", headers=as_role[Role.ADMIN], json={"current_limits": {"max_current_ua": 150}}))
    url, esthetician = f"{URL}/{approved['id']}", as_role[Role.ESTHETICIAN]
    refused = client.patch(url, headers=esthetician, json={})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "steps.0.current_ua", "message": "200 µA is above the clinic's maximum of 150 µA"}
    ]
    assert [p["version"] for p in ok(client.get(URL, headers=esthetician))] == [1]  # nothing was made
    fixed = ok(client.patch(url, headers=esthetician, json={"steps": [STEP | {"current_ua": 150}]}))
    assert (fixed["version"], fixed["status"]) == (2, "draft")


def test_each_new_version_gets_the_next_number(client: TestClient, as_role: dict) -> None:
    approved = approved_protocol(client, as_role)
    url, esthetician = f"{URL}/{approved['id']}", as_role[Role.ESTHETICIAN]
    drafts = [ok(client.patch(url, headers=esthetician, json={})) for _ in range(2)]
    assert [d["version"] for d in drafts] == [2, 3]  # a second start from version 1 is a draft of its own
    assert len({d["lineage_id"] for d in drafts} | {approved["lineage_id"]}) == 1
