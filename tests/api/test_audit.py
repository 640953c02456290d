"""The audit trail: every write and every read of a client record, filterable by admins; a list read is one event
naming every record it returned."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import AuditEvent, Role, User
from tests.api.clinic import register

AUDIT = "/api/v1/audit"


def events(client: TestClient, admin: dict[str, str], **params: str) -> list[dict]:
    response = client.get(AUDIT, headers=admin, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_client_writes_and_reads_are_recorded(
    client: TestClient, staff: dict[Role, User], as_role: dict[Role, dict[str, str]]
) -> None:
    desk, esthetician = as_role[Role.FRONT_DESK], as_role[Role.ESTHETICIAN]
    made = register(client, desk, email="audited@example.com")
    client.get(f"/api/v1/clients/{made['id']}", headers=esthetician)
    client.get("/api/v1/clients", params={"q": "audited"}, headers=esthetician)
    client.patch(f"/api/v1/clients/{made['id']}", headers=desk, json={"first_name": "Augusta"})
    client.delete(f"/api/v1/clients/{made['id']}", headers=desk)

    trail = events(client, as_role[Role.ADMIN], record_type="client", record_id=made["id"])
    assert [(e["action"], e["user_id"]) for e in reversed(trail)] == [
        ("client.create", str(staff[Role.FRONT_DESK].id)),
        ("client.read", str(staff[Role.ESTHETICIAN].id)),
        ("client.list", str(staff[Role.ESTHETICIAN].id)),
        ("client.update", str(staff[Role.FRONT_DESK].id)),
        ("client.delete", str(staff[Role.FRONT_DESK].id)),
    ]
    assert trail[1]["detail"] == {"fields": ["first_name"]}  # which fields, never their values
    assert all(e["ip_address"] == "testclient" for e in trail)
    assert "Augusta" not in str(trail) and "audited@example.com" not in str(trail)


def test_a_search_is_one_event_naming_every_client_it_returned(
    client: TestClient, staff: dict[Role, User], as_role: dict[Role, dict[str, str]], db: Session
) -> None:
    desk, admin = as_role[Role.FRONT_DESK], as_role[Role.ADMIN]
    listed = [register(client, desk, first_name=n, last_name="Listed")["id"] for n in ("Ann", "Bea", "Cyd")]
    unlisted = register(client, desk, first_name="Dee", last_name="Elsewhere")["id"]
    found = client.get("/api/v1/clients", params={"q": "listed"}, headers=as_role[Role.ESTHETICIAN]).json()["items"]
    assert sorted(c["id"] for c in found) == sorted(listed)

    assert db.scalar(select(func.count()).where(AuditEvent.action == "client.list")) == 1
    [event] = events(client, admin, action="client.list")
    assert (event["user_id"], event["record_type"], event["record_id"]) == (
        str(staff[Role.ESTHETICIAN].id),
        "client",
        None,
    )
    assert event["record_ids"] == [c["id"] for c in found]  # in the order shown
    assert "Listed" not in str(event) and "ann.listed@example.com" not in str(event)
    for client_id in listed:  # each client's trail holds the search that showed it, after its creation
        trail = events(client, admin, record_type="client", record_id=client_id)
        assert [e["action"] for e in trail] == ["client.list", "client.create"]
        assert events(client, admin, record_id=client_id, action="client.list") == [event]
    assert [e["action"] for e in events(client, admin, record_type="client", record_id=unlisted)] == ["client.create"]
    assert events(client, admin, record_type="session", record_id=listed[0]) == []  # the record type still filters


def test_a_search_that_finds_nothing_reads_no_record(client: TestClient, as_role: dict[Role, dict[str, str]]) -> None:
    register(client, as_role[Role.FRONT_DESK])
    response = client.get("/api/v1/clients", params={"q": "nobody"}, headers=as_role[Role.ESTHETICIAN])
    assert response.status_code == 200 and response.json()["items"] == []
    assert events(client, as_role[Role.ADMIN], action="client.list") == []


def test_filters_by_user_and_time(
    client: TestClient, staff: dict[Role, User], as_role: dict[Role, dict[str, str]]
) -> None:
    register(client, as_role[Role.FRONT_DESK], email="one@example.com")
    register(client, as_role[Role.ESTHETICIAN], first_name="Two", email="two@example.com")
    admin = as_role[Role.ADMIN]
    by_esthetician = events(client, admin, user_id=str(staff[Role.ESTHETICIAN].id))
    assert [e["action"] for e in by_esthetician] == ["client.create"]

    now = utcnow()
    assert len(events(client, admin, start=(now - timedelta(minutes=1)).isoformat(), action="client.create")) == 2
    assert events(client, admin, start=(now + timedelta(minutes=1)).isoformat()) == []
    assert events(client, admin, end=(now - timedelta(minutes=1)).isoformat()) == []


def test_staff_and_settings_changes_are_recorded(client: TestClient, admin: dict[str, str]) -> None:
    made = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "email": "new@clinic.example.com",
            "password": "long-enough-pw",
            "full_name": "New",
            "role": "front_desk",
        },
    )
    client.put("/api/v1/settings", headers=admin, json={"timezone": "Europe/Paris"})
    trail = events(client, admin)
    assert [e["action"] for e in trail[:2]] == ["settings.update", "user.create"]
    assert trail[1]["record_id"] == made.json()["id"]
    assert "long-enough-pw" not in str(trail)


def test_audit_times_need_an_offset(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(AUDIT, headers=admin, params={"start": "2026-11-20T10:00:00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "start"
