"""GET /api/v1/alarms and acknowledging an alarm, on each database: the active alarms by priority, who may
acknowledge, who and when kept and audited, a second acknowledgement refused in words, and an acknowledged alarm
kept in the history. The alarms are written as the gateway writes them (db/alarms.py)."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.permissions import Permission, denied_message
from db.alarms import raise_alarm
from db.base import utcnow
from db.models import Alarm, AuditEvent, Device, GatewayPresence, Role, User
from tests.api.clinic import add_room, ok

ALARMS = "/api/v1/alarms"


@pytest.fixture
def device(client: TestClient, admin: dict[str, str], db: Session) -> Device:
    room = add_room(client, admin, name="Rose room")
    found = db.scalar(select(Device).where(Device.room_id == uuid.UUID(room)))
    assert found is not None
    return found


def raised(db: Session, device: Device, kind: str, *, minutes_ago: int = 1) -> str:
    alarm = raise_alarm(
        db, device_id=device.id, kind=kind, detail=f"a {kind}", began_at=utcnow() - timedelta(minutes=minutes_ago)
    )
    db.commit()
    return str(alarm.id)


def acknowledge(client: TestClient, alarm_id: str, headers: dict[str, str]) -> Any:
    return client.post(f"{ALARMS}/{alarm_id}/acknowledge", headers=headers)


def test_active_alarms_come_most_severe_first_then_newest(
    client: TestClient, db: Session, device: Device, front_desk: dict[str, str]
) -> None:
    low = raised(db, device, "rejected", minutes_ago=1)
    old_high = raised(db, device, "over_time", minutes_ago=30)
    medium = raised(db, device, "fault", minutes_ago=2)
    new_high = raised(db, device, "over_current", minutes_ago=3)
    listed = ok(client.get(ALARMS, headers=front_desk))  # every role sees the alarms
    assert [a["id"] for a in listed["active"]] == [new_high, old_high, medium, low]
    assert [a["severity"] for a in listed["active"]] == ["high", "high", "medium", "low"]
    first = listed["active"][0]
    assert (first["title"], first["device_serial"], first["room"], first["active"]) == (
        "Over-current: stopped by the interlock",
        device.serial,
        "Rose room",
        True,
    )
    assert listed["history"] == []


@pytest.mark.parametrize("role", [Role.MEDICAL_DIRECTOR, Role.ESTHETICIAN])
def test_clinical_staff_acknowledge_who_and_when_kept_audited_and_kept_in_the_history(
    client: TestClient,
    db: Session,
    device: Device,
    staff: dict[Role, User],
    as_role: dict[Role, dict[str, str]],
    role: Role,
) -> None:
    alarm_id = raised(db, device, "over_current")
    before = utcnow()
    answer = ok(acknowledge(client, alarm_id, as_role[role]))
    assert (answer["acknowledged_by"], answer["active"]) == (staff[role].full_name, False)

    listed = ok(client.get(ALARMS, headers=as_role[Role.FRONT_DESK]))
    assert listed["active"] == []
    [kept] = listed["history"]
    assert (kept["id"], kept["severity"], kept["acknowledged_by"]) == (alarm_id, "high", staff[role].full_name)
    assert kept["acknowledged_at"] == answer["acknowledged_at"]

    stored = db.get(Alarm, uuid.UUID(alarm_id))
    assert stored is not None
    db.refresh(stored)
    assert stored.acknowledged_by_id == staff[role].id
    assert stored.acknowledged_at is not None and before <= stored.acknowledged_at <= utcnow()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "alarm.acknowledge")).all()
    assert (event.user_id, event.record_type, event.record_id) == (staff[role].id, "alarm", alarm_id)
    assert event.detail == {"kind": "over_current", "severity": "high"}


def test_a_second_acknowledgement_is_refused_in_words_and_the_first_stands(
    client: TestClient, db: Session, device: Device, staff: dict[Role, User], as_role: dict[Role, dict[str, str]]
) -> None:
    alarm_id = raised(db, device, "fault")
    first = ok(acknowledge(client, alarm_id, as_role[Role.MEDICAL_DIRECTOR]))
    second = acknowledge(client, alarm_id, as_role[Role.ESTHETICIAN])
    assert second.status_code == 409
    director = staff[Role.MEDICAL_DIRECTOR].full_name
    assert (
        second.json()["detail"] == f"This alarm was acknowledged already by {director}; the alarm history shows when."
    )
    [kept] = ok(client.get(ALARMS, headers=as_role[Role.ESTHETICIAN]))["history"]
    assert (kept["acknowledged_by"], kept["acknowledged_at"]) == (first["acknowledged_by"], first["acknowledged_at"])
    assert len(db.scalars(select(AuditEvent).where(AuditEvent.action == "alarm.acknowledge")).all()) == 1


@pytest.mark.parametrize("role", [Role.ADMIN, Role.FRONT_DESK])
def test_roles_that_do_not_treat_may_not_acknowledge(
    client: TestClient, db: Session, device: Device, as_role: dict[Role, dict[str, str]], role: Role
) -> None:
    alarm_id = raised(db, device, "over_current")
    refused = acknowledge(client, alarm_id, as_role[role])
    assert refused.status_code == 403
    assert refused.json()["detail"] == denied_message(Permission.ALARMS_ACKNOWLEDGE)
    [still] = ok(client.get(ALARMS, headers=as_role[role]))["active"]
    assert (still["id"], still["acknowledged_by"]) == (alarm_id, None)


def test_an_unknown_alarm_is_a_404_in_words(client: TestClient, as_role: dict[Role, dict[str, str]]) -> None:
    missing = acknowledge(client, str(uuid.uuid4()), as_role[Role.ESTHETICIAN])
    assert missing.status_code == 404
    assert "alarm" in missing.json()["detail"].lower()
    assert acknowledge(client, "not-an-id", as_role[Role.ESTHETICIAN]).status_code == 422


def test_a_cleared_alarm_leaves_the_active_list_without_an_acknowledgement(
    client: TestClient, db: Session, device: Device, front_desk: dict[str, str]
) -> None:
    """The offline alarm clears by itself (the gateway ends it)."""
    alarm_id = raised(db, device, "device_offline")
    assert [a["id"] for a in ok(client.get(ALARMS, headers=front_desk))["active"]] == [alarm_id]
    stored = db.get(Alarm, uuid.UUID(alarm_id))
    assert stored is not None
    stored.ended_at = utcnow()
    db.commit()
    listed = ok(client.get(ALARMS, headers=front_desk))
    assert listed["active"] == []
    assert [(a["id"], a["acknowledged_by"]) for a in listed["history"]] == [(alarm_id, None)]
    assert len(db.scalars(select(Alarm).where(Alarm.device_id == device.id)).all()) == 1


def test_reading_the_alarms_raises_none_the_gateway_does(
    client: TestClient, db: Session, device: Device, admin: dict[str, str]
) -> None:
    """A device never heard, a gateway connected, the clinic open all day: the list is only read."""
    all_day = {"open": "00:00", "close": "23:59"}
    week = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), all_day)
    ok(client.put("/api/v1/settings", headers=admin, json={"opening_hours": week}))
    db.merge(GatewayPresence(client_id="galvani-gateway", connected=True, seen_at=utcnow()))
    db.commit()
    assert ok(client.get(ALARMS, headers=admin)) == {"active": [], "history": []}
    assert db.scalars(select(Alarm)).all() == []
