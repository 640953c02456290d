"""A medical director signs off a finished treatment's record; a signed record can no longer change (not by a late
message, a resumed session or a second sign-off), and a correction is an addendum beside it. All audited."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Role, SessionMessage, SessionStatus, TreatmentSession, User
from tests.api.clinic import DAY_OF, LONDON, Room, ok, ready_room, telemetry_row


@pytest.fixture
def room(client: TestClient, as_role: dict, staff: dict[Role, User], db: Session) -> Room:
    """A room, a client screened and an appointment due with a 20 s + 10 s protocol (200 and 150 µA)."""
    return ready_room(client, as_role, staff, db)


def ended(room: Room, status: SessionStatus = SessionStatus.COMPLETED, blocks: int = 3) -> TreatmentSession:
    """A session started through the API, which then delivered `blocks` seconds of step 0 and ended as `status`."""
    treatment = room.db.get(TreatmentSession, uuid.UUID(room.start()["session_id"]))
    assert treatment is not None
    for seq in range(1, blocks + 1):
        room.db.add(telemetry_row(treatment, seq, 0, [200.0] * 10))
    treatment.status, treatment.started_at, treatment.ended_at = status, utcnow(), utcnow()
    room.db.commit()
    return treatment


def as_(room: Room, role: Role) -> dict[str, str]:
    return room.as_role[role]  # type: ignore[no-any-return]


def sign(
    room: Room, treatment: TreatmentSession, status: int = 200, role: Role = Role.MEDICAL_DIRECTOR, **body: Any
) -> Any:
    return ok(room.http.post(f"/api/v1/sessions/{treatment.id}/sign-off", headers=as_(room, role), json=body), status)


def read(room: Room, treatment: TreatmentSession, role: Role = Role.MEDICAL_DIRECTOR) -> Any:
    return ok(room.http.get(f"/api/v1/sessions/{treatment.id}", headers=as_(room, role)))


def amend(room: Room, treatment: TreatmentSession, text: str, role: Role = Role.ESTHETICIAN, status: int = 201) -> Any:
    return ok(
        room.http.post(f"/api/v1/sessions/{treatment.id}/addenda", headers=as_(room, role), json={"text": text}),
        status,
    )


def trail(room: Room, treatment: TreatmentSession) -> list[str]:
    events = ok(
        room.http.get(
            "/api/v1/audit", headers=as_(room, Role.ADMIN), params={"record_type": "session", "record_id": treatment.id}
        )
    )
    return [e["action"] for e in reversed(events)]


def test_the_medical_director_signs_off_a_finished_record_with_a_note(room: Room, staff: dict[Role, User]) -> None:
    treatment = ended(room)
    signed = sign(room, treatment, note="  Well tolerated; no redness.  ")
    assert signed["sign_off"] | {"signed_at": None, "sha256": None} == {
        "session_id": str(treatment.id),
        "signed_by": {"id": str(staff[Role.MEDICAL_DIRECTOR].id), "full_name": staff[Role.MEDICAL_DIRECTOR].full_name},
        "signed_at": None,
        "note": "Well tolerated; no redness.",
        "sha256": None,
        "late_messages": 0,
    }
    assert len(signed["sign_off"]["sha256"]) == 64
    assert signed["steps"][0]["charge_uc"] == 600.0  # 3 s at 200 µA: the record as it stood is what was signed
    assert read(room, treatment)["sign_off"] == signed["sign_off"]
    assert "session.sign_off" in trail(room, treatment)


def test_a_note_is_optional(room: Room) -> None:
    assert sign(room, ended(room, SessionStatus.STOPPED))["sign_off"]["note"] is None


def test_signing_twice_is_refused_in_plain_words(room: Room, staff: dict[Role, User]) -> None:
    treatment = ended(room)
    sign(room, treatment, note="first")
    refused = sign(room, treatment, 409, note="second")
    assert f"signed off by {staff[Role.MEDICAL_DIRECTOR].full_name} on " in refused["detail"]
    assert "can no longer change" in refused["detail"] and "cannot be signed off again" in refused["detail"]
    assert read(room, treatment)["sign_off"]["note"] == "first"


@pytest.mark.parametrize("status", [SessionStatus.PENDING, SessionStatus.ARMED, SessionStatus.TREATING])
def test_a_session_still_running_cannot_be_signed(room: Room, status: SessionStatus) -> None:
    treatment = ended(room, status)
    treatment.ended_at = None
    room.db.commit()
    refused = sign(room, treatment, 409)
    assert refused["detail"] == (
        f"This session is still {status.value}: a record can be signed off once the session has ended."
    )
    assert read(room, treatment)["sign_off"] is None


def test_an_interrupted_session_cannot_be_signed(room: Room) -> None:
    refused = sign(room, ended(room, SessionStatus.INTERRUPTED), 409)
    assert refused["detail"].startswith("This session was interrupted: its device lost touch")


@pytest.mark.parametrize("role", [Role.ESTHETICIAN, Role.ADMIN, Role.FRONT_DESK])
def test_only_a_medical_director_signs_off(room: Room, role: Role) -> None:
    refused = sign(room, ended(room), 403, role=role)
    assert refused["detail"] == "Only a medical director can sign off a session's record."


def test_a_message_arriving_after_the_sign_off_changes_nothing_signed(room: Room) -> None:
    treatment = ended(room)
    signed = sign(room, treatment)
    room.db.add(telemetry_row(treatment, 9, 1, [150.0] * 10))  # a late block, as the gateway still stores it
    room.db.commit()
    now = read(room, treatment)
    assert (now["steps"], now["total_charge_uc"]) == (signed["steps"], signed["total_charge_uc"])
    assert now["sign_off"]["late_messages"] == 1


def test_a_signed_treatment_cannot_be_resumed(room: Room) -> None:
    treatment = ended(room, SessionStatus.STOPPED)  # 3 s of a 30 s protocol: a start would resume it
    sign(room, treatment)
    refused = room.start(409)
    assert refused["detail"].startswith("This treatment's record was signed off by ")
    assert "cannot be resumed with another session" in refused["detail"]
    assert "Add an addendum" in refused["detail"]
    assert len(room.commands()) == 1  # only the first arming: nothing sent


def test_nothing_to_stop_on_a_signed_record_says_so(room: Room) -> None:
    treatment = ended(room)
    sign(room, treatment)
    refused = ok(room.http.post(f"/api/v1/sessions/{treatment.id}/stop", headers=as_(room, Role.ESTHETICIAN)), 409)
    assert "there is nothing to stop" in refused["detail"] and "can no longer change" in refused["detail"]


def test_a_stop_while_the_device_may_give_current_still_goes_out_and_changes_no_signed_record(room: Room) -> None:
    treatment = ended(room)
    signed = sign(room, treatment)
    room.device_is("treating")
    ok(room.http.post(f"/api/v1/sessions/{treatment.id}/stop", headers=as_(room, Role.ESTHETICIAN)))
    assert [c.kind for c in room.commands()] == ["load_protocol", "stop"]
    assert read(room, treatment)["parts"] == signed["parts"]  # no stop asked for by anyone: it had ended


def test_an_addendum_keeps_the_original(room: Room, staff: dict[Role, User]) -> None:
    treatment = ended(room)
    sign(room, treatment, note="Well tolerated.")
    written = amend(room, treatment, "Client phoned next day: slight redness on the cheeks, gone by evening.")
    assert written["written_by"]["full_name"] == staff[Role.ESTHETICIAN].full_name
    assert written["after_sign_off"] is True
    amend(room, treatment, "Reviewed the call; nothing to change.", role=Role.MEDICAL_DIRECTOR)
    record = read(room, treatment)
    assert record["sign_off"]["note"] == "Well tolerated."
    assert [a["text"] for a in record["addenda"]] == [
        "Client phoned next day: slight redness on the cheeks, gone by evening.",
        "Reviewed the call; nothing to change.",
    ]
    assert trail(room, treatment).count("session.addendum") == 2


def test_an_addendum_before_the_sign_off_is_kept_too(room: Room) -> None:
    treatment = ended(room)
    assert amend(room, treatment, "Probe contact poor on the left.")["after_sign_off"] is False
    sign(room, treatment)
    assert [a["after_sign_off"] for a in read(room, treatment)["addenda"]] == [False]


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 403), (Role.FRONT_DESK, 403)])
def test_who_may_not_add_an_addendum(room: Room, role: Role, status: int) -> None:
    refused = amend(room, ended(room), "note", role=role, status=status)
    assert refused["detail"] == "Only an esthetician or a medical director can add an addendum to a session's record."


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_an_addendum_has_words(room: Room, text: str) -> None:
    assert amend(room, ended(room), text, status=422)["errors"][0]["field"] == "text"


def test_the_front_desk_sees_that_a_record_is_signed_but_no_health_data(room: Room) -> None:
    treatment = ended(room)
    sign(room, treatment, note="Mild redness.")
    amend(room, treatment, "Headache reported.")
    record = read(room, treatment, Role.FRONT_DESK)
    assert record["notes_withheld"] is True
    assert (record["day_of"], record["sign_off"]["note"], record["addenda"][0]["text"]) == (None, None, None)
    assert record["sign_off"]["signed_by"]["full_name"]
    clinical = read(room, treatment, Role.ESTHETICIAN)
    assert clinical["notes_withheld"] is False and clinical["day_of"]["pregnant"] is DAY_OF["pregnant"]


def test_the_record_names_who_started_and_who_asked_to_stop(room: Room, staff: dict[Role, User]) -> None:
    started = room.start()
    ok(room.http.post(f"/api/v1/sessions/{started['session_id']}/stop", headers=as_(room, Role.MEDICAL_DIRECTOR)))
    ok(room.http.post(f"/api/v1/sessions/{started['session_id']}/stop", headers=as_(room, Role.ESTHETICIAN)))
    [part] = ok(room.http.get(f"/api/v1/sessions/{started['session_id']}", headers=as_(room, Role.FRONT_DESK)))["parts"]
    assert part["started_by"]["full_name"] == staff[Role.ESTHETICIAN].full_name
    assert part["stop_requested_by"]["full_name"] == staff[Role.MEDICAL_DIRECTOR].full_name  # the first to ask
    assert part["stop_requested_at"] is not None


def test_contact_losses_are_in_the_record(room: Room) -> None:
    treatment = ended(room)
    for seq, (kind, t_ms) in enumerate([("contact_lost", 3000), ("contact_restored", 7500), ("contact_lost", 9000)]):
        room.db.add(
            SessionMessage(
                device_id=treatment.device_id,
                session_id=treatment.id,
                seq=10 + seq,
                kind="event",
                event_type=kind,
                step=0,
                t_ms=t_ms,
            )
        )
    room.db.commit()
    assert read(room, treatment)["contact_losses"] == [
        {"session_id": str(treatment.id), "step": 0, "lost_at_s": 3.0, "restored_at_s": 7.5},
        {"session_id": str(treatment.id), "step": 0, "lost_at_s": 9.0, "restored_at_s": None},
    ]


def test_a_record_of_several_sessions_is_signed_once_all_have_ended(room: Room) -> None:
    first = ended(room, SessionStatus.STOPPED)
    room.device_is("idle")
    second = room.db.get(TreatmentSession, uuid.UUID(room.start()["session_id"]))  # resumes the treatment
    assert second is not None and second.resumes_session_id == first.id
    second.status = SessionStatus.TREATING
    room.db.commit()
    assert "Another session of this treatment is still treating" in sign(room, first, 409)["detail"]
    second.status, second.ended_at = SessionStatus.COMPLETED, utcnow()
    room.db.commit()
    sign(room, first)
    assert read(room, second)["sign_off"]["session_id"] == str(first.id)  # one record, one sign-off
    assert "cannot be signed off again" in sign(room, second, 409)["detail"]


def listed(room: Room, **params: Any) -> list[str]:
    page = ok(room.http.get("/api/v1/sessions", headers=as_(room, Role.FRONT_DESK), params=params))
    return [item["id"] for item in page["items"]]


def test_sessions_are_listed_by_client_device_day_and_sign_off(room: Room) -> None:
    first = ended(room, SessionStatus.STOPPED)
    room.device_is("idle")
    second = ended(room)
    sign(room, second)
    assert listed(room) == [str(second.id), str(first.id)]  # newest first
    assert listed(room, client_id=room.client) == [str(second.id), str(first.id)]
    assert listed(room, client_id=str(uuid.uuid4())) == []
    assert listed(room, device_id=str(second.device_id), signed_off=True) == [str(second.id), str(first.id)]
    assert listed(room, signed_off=False) == []  # one treatment: signing it signed both its sessions
    today = datetime.now(LONDON).date()  # the clinic's day, in the tests' clinic's zone
    assert listed(room, day=str(today)) == [str(second.id), str(first.id)]
    assert listed(room, day=str(today - timedelta(days=1))) == listed(room, day=str(today + timedelta(days=1))) == []
    page = ok(room.http.get("/api/v1/sessions", headers=as_(room, Role.ADMIN), params={"limit": 1}))
    assert (len(page["items"]), page["has_more"]) == (1, True)
    item = page["items"][0]
    assert (item["signed_off"], item["status"], item["client_id"]) == (True, "completed", room.client)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "someday"])
def test_a_day_the_clinic_cannot_have_is_refused(room: Room, day: str) -> None:
    refused = ok(room.http.get("/api/v1/sessions", headers=as_(room, Role.FRONT_DESK), params={"day": day}), 422)
    assert refused["errors"][0]["field"] == "day"
