"""Starting an appointment again after an interrupted or stopped session arms only what is left of the protocol,
and the record shows every part as one treatment."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.services.protocols import steps_sha256
from db.base import utcnow
from db.models import Role, SessionIncident, SessionStatus, TreatmentSession, User
from tests.api.clinic import SHORT_STEPS, Room, ok, ready_room, telemetry_row

Block = tuple[int, int, float]  # the step as the device numbers it, samples at 100 ms, current (0: no contact)


@pytest.fixture
def room(client: TestClient, as_role: dict, staff: dict[Role, User], db: Session) -> Room:
    """A room, a client screened and an appointment due with a 20 s + 10 s protocol (200 and 150 µA)."""
    return ready_room(client, as_role, staff, db)


@pytest.fixture
def esthetician(staff: dict[Role, User]) -> User:
    return staff[Role.ESTHETICIAN]


def earlier(
    room: Room,
    by: User,
    status: SessionStatus,
    blocks: list[Block],
    *,
    first_step: int = 0,
    resumes: TreatmentSession | None = None,
) -> TreatmentSession:
    """A session of the appointment that ended as `status`, with the telemetry it stored, written to the tables."""
    assert room.device is not None
    steps = room.protocol["steps"][first_step:]
    part = TreatmentSession(
        appointment_id=room.appointment,
        device_id=room.device.id,
        steps=steps,
        protocol_id=uuid.UUID(room.protocol["id"]),
        status=status,
        first_step=first_step,
        resumes_session_id=resumes.id if resumes else None,
        max_current_ua=220,
        max_output_s=33,
        tolerance_percent=10,
        day_of={},
        created_by_id=by.id,
        started_at=utcnow(),
        ended_at=utcnow(),
    )
    room.db.add(part)
    room.db.flush()
    telemetry(room.db, part, blocks)
    return part


def telemetry(db: Session, part: TreatmentSession, blocks: list[Block], seqs: list[int] | None = None) -> None:
    """Blocks as the gateway stores them, one message each (seq from 1 unless given)."""
    for seq, (step, count, current) in zip(seqs or range(1, len(blocks) + 1), blocks, strict=True):
        db.add(telemetry_row(part, seq, step, [current] * count, contact=current > 0))
    db.commit()


def seconds(step: int, count: int, current: float = 200) -> list[Block]:
    return [(step, 10, current)] * count


def load(room: Room) -> dict[str, Any]:
    [command] = [c for c in room.commands() if c.kind == "load_protocol"]
    return command.payload


@pytest.mark.parametrize(
    ("blocks", "first_step", "left", "max_output_s"),
    [
        (seconds(0, 20) + seconds(1, 5, 150), 1, [SHORT_STEPS[1] | {"duration_s": 5}], 6),  # ceil(5 × 1.1)
        # 2.3 s of step 1 (a block without contact gives nothing): 7.7 s left, rounded up to 8 s
        (seconds(0, 20) + seconds(1, 2, 150) + [(1, 3, 150), (1, 10, 0)], 1, [SHORT_STEPS[1] | {"duration_s": 8}], 9),
        (seconds(0, 12), 0, [SHORT_STEPS[0] | {"duration_s": 8}, SHORT_STEPS[1]], 20),  # ceil(18 × 1.1)
    ],
    ids=["25s", "22.3s", "12s"],
)
def test_a_resumed_session_arms_only_what_is_left(
    room: Room, esthetician: User, blocks: list[Block], first_step: int, left: list[dict], max_output_s: int
) -> None:
    first = earlier(room, esthetician, SessionStatus.INTERRUPTED, blocks)
    started = room.start()
    payload = load(room)
    assert payload["protocol"]["steps"] == left and payload["protocol"]["sha256"] == steps_sha256(left)
    assert payload["protocol"]["id"] == room.protocol["id"]
    current = max(step["current_ua"] for step in left) * 1.1
    assert payload["limits"] == {"max_current_ua": round(current, 1), "max_output_s": max_output_s}
    resumed = room.db.get(TreatmentSession, uuid.UUID(started["session_id"]))
    assert resumed is not None
    assert (resumed.steps, resumed.first_step, resumed.resumes_session_id) == (left, first_step, first.id)


def test_each_part_counts_in_the_protocol_steps_it_was_armed_with(room: Room, esthetician: User) -> None:
    first = earlier(room, esthetician, SessionStatus.STOPPED, seconds(0, 20) + seconds(1, 2, 150))
    second = earlier(room, esthetician, SessionStatus.INTERRUPTED, seconds(0, 3, 150), first_step=1, resumes=first)
    started = room.start()  # step 1 of the protocol: 2 s then 3 s given, 5 s left
    left = [SHORT_STEPS[1] | {"duration_s": 5}]
    assert load(room)["protocol"]["steps"] == left
    resumed = room.db.get(TreatmentSession, uuid.UUID(started["session_id"]))
    assert resumed is not None and (resumed.first_step, resumed.resumes_session_id) == (1, second.id)


def test_a_resume_after_nothing_was_delivered_arms_the_whole_protocol(room: Room, esthetician: User) -> None:
    first = earlier(room, esthetician, SessionStatus.INTERRUPTED, [(0, 10, 0)])  # no contact: nothing given
    started = room.start()
    payload = load(room)
    assert payload["protocol"]["steps"] == room.protocol["steps"]
    assert payload["protocol"]["sha256"] == room.protocol["sha256"]
    assert payload["limits"] == {"max_current_ua": 220.0, "max_output_s": 33}  # ceil(30 × 1.1)
    resumed = room.db.get(TreatmentSession, uuid.UUID(started["session_id"]))
    assert resumed is not None and (resumed.first_step, resumed.resumes_session_id) == (0, first.id)


@pytest.mark.parametrize(
    ("status", "blocks"),
    [
        (SessionStatus.COMPLETED, seconds(0, 20)),  # the device said so, whatever reached the gateway
        (SessionStatus.INTERRUPTED, seconds(0, 20) + seconds(1, 10, 150)),  # lost just after its last second
    ],
    ids=["completed", "all-delivered"],
)
def test_a_protocol_delivered_in_full_cannot_start_again(
    room: Room, esthetician: User, status: SessionStatus, blocks: list[Block]
) -> None:
    earlier(room, esthetician, status, blocks)
    refused = room.start(status=409)
    assert refused["reasons"] == [
        {
            "code": "delivered_in_full",
            "message": "the protocol was already delivered in full in an earlier session of this appointment",
        }
    ]
    assert room.commands() == []
    assert room.db.scalar(select(func.count()).select_from(TreatmentSession)) == 1


def test_the_record_shows_every_part_as_one_treatment(room: Room, esthetician: User) -> None:
    first = earlier(room, esthetician, SessionStatus.INTERRUPTED, seconds(0, 20) + seconds(1, 5, 150))
    room.db.add(SessionIncident(session_id=first.id, kind="device_offline", detail="the device went offline"))
    started = room.start()
    second = room.db.get(TreatmentSession, uuid.UUID(started["session_id"]))
    assert second is not None
    telemetry(room.db, second, seconds(0, 3, 150), seqs=[1, 2, 4])  # its step 0 is the protocol's step 1
    record = ok(room.http.get(f"/api/v1/sessions/{second.id}", headers=room.as_role[Role.ESTHETICIAN]))
    assert [(p["session_id"], p["status"], p["output_s"], p["charge_uc"]) for p in record["parts"]] == [
        (str(first.id), "interrupted", 25.0, 200 * 20 + 150 * 5),
        (str(second.id), "pending", 3.0, 150 * 3),
    ]
    assert [
        (s["step"], s["prescribed_duration_s"], s["output_s"], s["charge_uc"], s["delivered_mean_ua"])
        for s in record["steps"]
    ] == [(0, 20, 20.0, 4000.0, 200.0), (1, 10, 8.0, 1200.0, 150.0)]
    assert (record["total_output_s"], record["total_charge_uc"]) == (28.0, 5200.0)
    assert record["limits"] == {"max_current_ua": 165.0, "max_output_s": 6}  # this part's own
    assert record["missing_seqs"] == [3]
    assert [(i["session_id"], i["kind"]) for i in record["incidents"]] == [(str(first.id), "device_offline")]
    earlier_record = ok(room.http.get(f"/api/v1/sessions/{first.id}", headers=room.as_role[Role.ESTHETICIAN]))
    assert earlier_record["parts"] == record["parts"] and earlier_record["steps"] == record["steps"]
    assert earlier_record["missing_seqs"] == [] and earlier_record["limits"]["max_output_s"] == 33


def test_a_session_in_one_part_is_its_own_treatment(room: Room) -> None:
    started = room.start()
    record = ok(room.http.get(f"/api/v1/sessions/{started['session_id']}", headers=room.as_role[Role.ESTHETICIAN]))
    [part] = record["parts"]
    assert (part["session_id"], part["status"], part["output_s"], part["charge_uc"]) == (
        started["session_id"],
        "pending",
        0.0,
        0.0,
    )
    assert [s["prescribed_duration_s"] for s in record["steps"]] == [20, 10]
