"""Starting a session: every reason to refuse is checked, and nothing is sent unless all pass."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import (
    Appointment,
    Device,
    Role,
    SessionStatus,
    TreatmentSession,
    User,
)
from tests.api.clinic import DAY_OF, Room, add_room, due, new_client, ok
from tests.conftest import add_user


@pytest.fixture
def room(client: TestClient, as_role: dict, staff: dict[Role, User], db: Session) -> Room:
    ready = Room(client, as_role, staff, db)
    ready.gateway_is(connected=True)
    ready.device_is("idle")
    ready.screen()
    return ready


def test_start_queues_the_arming_command(room: Room) -> None:
    started = room.start()
    assert started["status"] == "pending"
    [command] = room.commands()
    payload = command.payload
    assert (command.kind, command.status.value, payload["type"]) == ("load_protocol", "queued", "load_protocol")
    assert payload["session_id"] == started["session_id"] and payload["command_id"] == str(command.id)
    assert payload["protocol"]["sha256"] == room.protocol["sha256"]
    assert payload["protocol"]["steps"] == room.protocol["steps"]
    assert payload["limits"] == {"max_current_ua": 220.0, "max_output_s": 330}  # 200 µA and 300 s, plus 10%
    assert payload["expires_at"] > payload["issued_at"]
    assert room.start(status=409)["detail"] == "A session for this appointment is already under way."


def _refused(room: Room, **day_of: Any) -> list[str]:
    body = room.start(status=409, **day_of)
    assert room.commands() == []  # nothing sent
    assert room.db.scalar(select(func.count()).select_from(TreatmentSession)) == 0
    return [r["code"] for r in body["reasons"]]


def test_a_contraindicated_client_is_never_armed(room: Room) -> None:
    room.screen(implanted_electronic_device=True)
    assert _refused(room) == ["implanted_electronic_device"]


def test_the_day_of_answers_are_asked_again(room: Room) -> None:
    assert _refused(room, pregnant=True) == ["pregnancy"]
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    assert _refused(room, retinol_last_used_on=yesterday) == ["retinol"]


def test_no_valid_screening(
    room: Room, client: TestClient, as_role: dict, staff: dict[Role, User], db: Session
) -> None:
    unscreened = new_client(client, as_role[Role.FRONT_DESK], "Bea")
    other = due(
        db,
        client_id=unscreened,
        protocol_id=room.protocol["id"],
        room_id=add_room(client, as_role[Role.ADMIN], "Room 2"),
        esthetician=add_user(db, Role.ESTHETICIAN),
    )
    db.execute(Device.__table__.update().values(state="idle"))
    body = room.start(status=409, appointment=other)
    assert [r["code"] for r in body["reasons"]] == ["no_valid_screening"]


@pytest.mark.parametrize("state", ["offline", "armed", "treating", "fault"])
def test_the_device_must_be_online_and_idle(room: Room, state: str) -> None:
    room.device_is(state)
    assert _refused(room) == ["device_not_ready"]


@pytest.mark.parametrize(("connected", "seconds_ago"), [(False, 0), (True, 11)], ids=["lost-broker", "silent"])
def test_without_a_gateway_nothing_is_armed(room: Room, connected: bool, seconds_ago: int) -> None:
    room.gateway_is(connected, seen_at=utcnow() - timedelta(seconds=seconds_ago))
    assert _refused(room) == ["gateway_offline"]  # the device's "idle" is stale: nobody is listening to it


def test_only_around_the_appointment(room: Room, db: Session) -> None:
    later = due(
        db,
        client_id=room.client,
        protocol_id=room.protocol["id"],
        room_id=room.room,
        esthetician=add_user(db, Role.ESTHETICIAN),
        minutes=31 + 60 * 24 * 3,
    )
    assert "can be started from" in room.start(status=409, appointment=later)["detail"]


def test_a_withdrawn_protocol_cannot_start(room: Room) -> None:
    ok(
        room.http.post(
            f"/api/v1/protocols/{room.protocol['id']}/withdraw",
            headers=room.as_role[Role.MEDICAL_DIRECTOR],
            json={"reason": "recall"},
        )
    )
    assert room.start(status=422)["errors"][0]["field"] == "protocol_id"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pregnant": None}, "day_of.pregnant"),
        ({"skin_infection": "no"}, "day_of.skin_infection"),
        ({"retinol_last_used_on": "2999-01-01"}, "day_of.retinol_last_used_on"),
    ],
)
def test_day_of_answers_must_be_complete_and_sane(room: Room, change: dict, field: str) -> None:
    body = room.start(status=422, **change)
    assert field in [e["field"] for e in body["errors"]]
    assert room.commands() == []


def test_a_missing_day_of_answer(room: Room) -> None:
    answers = {k: v for k, v in DAY_OF.items() if k != "laser_last_on"}
    response = room.http.post(
        f"/api/v1/appointments/{room.appointment}/start",
        headers=room.as_role[Role.ESTHETICIAN],
        json={"day_of": answers},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "day_of.laser_last_on", "message": "is required"}]


def test_reading_a_session_is_audited(room: Room) -> None:
    started = room.start()
    ok(room.http.get(f"/api/v1/sessions/{started['session_id']}", headers=room.as_role[Role.FRONT_DESK]))
    trail = ok(
        room.http.get(
            "/api/v1/audit",
            headers=room.as_role[Role.ADMIN],
            params={"record_type": "session", "record_id": started["session_id"]},
        )
    )
    assert [e["action"] for e in trail] == ["session.read", "session.start"]


def test_stop_queues_a_stop(room: Room) -> None:
    started = room.start()
    stopped = ok(
        room.http.post(f"/api/v1/sessions/{started['session_id']}/stop", headers=room.as_role[Role.ESTHETICIAN])
    )
    assert stopped["session_id"] == started["session_id"]
    assert [c.kind for c in room.commands()] == ["load_protocol", "stop"]


def _ended(room: Room, status: SessionStatus, device_state: str) -> str:
    """A session started, then ended as `status`, while its device last said `device_state`."""
    session_id = room.start()["session_id"]
    treatment = room.db.get(TreatmentSession, uuid.UUID(session_id))
    assert treatment is not None
    treatment.status = status
    room.device_is(device_state)  # commits both
    return session_id  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("status", "device_state"),
    [
        (SessionStatus.INTERRUPTED, "offline"),  # a broker restart: the device may still be treating
        (SessionStatus.INTERRUPTED, "idle"),
        (SessionStatus.COMPLETED, "treating"),
        (SessionStatus.STOPPED, "armed"),
        (SessionStatus.REJECTED, "paused"),
    ],
)
def test_stop_is_accepted_while_the_device_may_give_current(
    room: Room, status: SessionStatus, device_state: str
) -> None:
    session_id = _ended(room, status, device_state)
    stopped = ok(room.http.post(f"/api/v1/sessions/{session_id}/stop", headers=room.as_role[Role.ESTHETICIAN]))
    assert (stopped["session_id"], stopped["status"]) == (session_id, status.value)
    load, stop = room.commands()
    assert (stop.kind, stop.status.value, stop.device_id) == ("stop", "queued", load.device_id)
    assert (stop.payload["session_id"], stop.payload["reason"]) == (session_id, "operator")
    trail = ok(
        room.http.get(
            "/api/v1/audit",
            headers=room.as_role[Role.ADMIN],
            params={"record_type": "session", "record_id": session_id},
        )
    )
    assert [e["action"] for e in trail] == ["session.stop", "session.start"]


@pytest.mark.parametrize(
    ("status", "device_state", "words"),
    [
        (SessionStatus.COMPLETED, "idle", "idle"),
        (SessionStatus.STOPPED, "offline", "offline"),
        (SessionStatus.REJECTED, "fault", "reporting a fault"),
    ],
)
def test_nothing_to_stop_once_ended_and_the_device_cannot_give_current(
    room: Room, status: SessionStatus, device_state: str, words: str
) -> None:
    session_id = _ended(room, status, device_state)
    refused = ok(room.http.post(f"/api/v1/sessions/{session_id}/stop", headers=room.as_role[Role.ESTHETICIAN]), 409)
    assert refused["detail"] == (
        f"This session already ended ({status.value}) and its device is {words}: there is nothing to stop."
    )
    assert [c.kind for c in room.commands()] == ["load_protocol"]


def another_device(room: Room, *, probe_area_cm2: float = 0.5, state: str = "idle") -> Device:
    """A device registered into the room after its first one, in `state`."""
    made = ok(
        room.http.post(
            "/api/v1/devices",
            headers=room.as_role[Role.ADMIN],
            json={"serial": f"SN-{uuid.uuid4().hex[:8]}", "room_id": room.room, "probe_area_cm2": probe_area_cm2},
        ),
        201,
    )
    device = room.db.get(Device, uuid.UUID(made["id"]))
    assert device is not None
    device.state = state
    room.db.commit()
    return device


def test_start_arms_the_device_the_appointment_holds(room: Room) -> None:
    """An old 0.05 cm² device and a new 0.5 cm² one in the room: the appointment holds the new one, which is armed."""
    assert room.device is not None
    room.device.probe_area_cm2 = 0.05  # 200 µA would be 4 mA/cm² on its probes
    held = another_device(room)
    appointment = room.db.get(Appointment, room.appointment)
    assert appointment is not None
    appointment.device_id = held.id
    room.db.commit()
    started = room.start()
    assert [(c.kind, c.device_id) for c in room.commands()] == [("load_protocol", held.id)]
    treatment = room.db.get(TreatmentSession, uuid.UUID(started["session_id"]))
    assert treatment is not None and treatment.device_id == held.id


def test_a_device_out_of_service_is_not_swapped_silently(room: Room) -> None:
    """The reason names the appointment's device and offers the room's free one; nothing is armed."""
    assert room.device is not None
    spare = another_device(room)
    ok(
        room.http.patch(
            f"/api/v1/devices/{room.device.id}", headers=room.as_role[Role.ADMIN], json={"status": "out_of_service"}
        )
    )
    body = room.start(status=409)
    assert [r["code"] for r in body["reasons"]] == ["device_out_of_service"]
    message = body["reasons"][0]["message"]
    assert f"device {room.device.serial} is out of service" in message and spare.serial in message
    assert room.commands() == []


@pytest.mark.parametrize(
    ("state", "probe_area_cm2", "offered"),
    [
        ("idle", 0.5, True),
        ("offline", 0.5, False),
        ("idle", 0.05, False),
    ],
    ids=["idle-and-fits", "offline", "too-small"],
)
def test_a_busy_device_is_named_with_a_spare_only_if_it_could_be_armed(
    room: Room, state: str, probe_area_cm2: float, offered: bool
) -> None:
    spare = another_device(room, probe_area_cm2=probe_area_cm2, state=state)
    room.device_is("treating")
    assert _refused(room) == ["device_not_ready"]
    message = room.start(status=409)["reasons"][0]["message"]
    assert "is treating, not idle" in message and (spare.serial in message) == offered


def test_a_device_moved_to_another_room_is_not_armed(room: Room) -> None:
    assert room.device is not None
    elsewhere = ok(room.http.post("/api/v1/rooms", headers=room.as_role[Role.ADMIN], json={"name": "Room 2"}), 201)
    ok(
        room.http.patch(
            f"/api/v1/devices/{room.device.id}", headers=room.as_role[Role.ADMIN], json={"room_id": elsewhere["id"]}
        )
    )
    assert _refused(room) == ["device_moved"]
