"""A list, and the checks of a whole series, run a fixed number of SQL statements whatever their length."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from db.models import Device, Role, Series, SessionStatus, User
from tests.api.clinic import LONDON, add_room, approved_protocol, armed_session, booked, due, new_client, ok, statements

TWO, THREE = {"intensive": {"sessions": 2, "per_week": 2}}, {"intensive": {"sessions": 3, "per_week": 3}}
FOUR, TWELVE = {"intensive": {"sessions": 4, "per_week": 2}}, {"intensive": {"sessions": 12, "per_week": 2}}
FIFTEEN = {"intensive": {"sessions": 12, "per_week": 2}, "maintenance": {"sessions": 3, "interval_weeks": 4}}


@dataclass
class TwoRoomBooking:
    """Two rooms of two devices each, an approved protocol and an esthetician, for the front desk to book in."""

    http: TestClient
    desk: dict[str, str]
    rooms: list[str]
    protocol: str
    esthetician: User

    def body(self, client_id: str, start: datetime, plan: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "protocol_id": self.protocol,
            "esthetician_id": str(self.esthetician.id),
            "room_id": self.rooms[0],
            "start_at": start.isoformat(),
            "plan": plan,
        } | fields

    def book(self, client_id: str, start: datetime, plan: dict[str, Any], status: int = 201, **fields: Any) -> Any:
        body = self.body(client_id, start, plan, **fields)
        return ok(self.http.post("/api/v1/series", headers=self.desk, json=body), status)

    def preview(self, client_id: str, start: datetime, plan: dict[str, Any]) -> Any:
        body = self.body(client_id, start, plan)
        return ok(self.http.post("/api/v1/series/preview", headers=self.desk, json=body))


@pytest.fixture
def clinic(client: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User]) -> TwoRoomBooking:
    """Two rooms with two devices each: every room and device is a candidate the checks must weigh."""
    admin = as_role[Role.ADMIN]
    rooms = [add_room(client, admin, name) for name in ("Room 1", "Room 2")]
    for room in rooms:
        ok(
            client.post(
                "/api/v1/devices",
                headers=admin,
                json={"serial": f"SN-{uuid.uuid4().hex[:8]}", "room_id": room, "probe_area_cm2": 0.5},
            ),
            201,
        )
    return TwoRoomBooking(
        http=client,
        desk=as_role[Role.FRONT_DESK],
        rooms=rooms,
        protocol=approved_protocol(client, as_role)["id"],
        esthetician=staff[Role.ESTHETICIAN],
    )


def monday_at(hour: int, minute: int = 0) -> datetime:
    today = datetime.now(LONDON).date()
    return datetime.combine(today + timedelta(days=14 - today.weekday()), time(hour, minute), tzinfo=LONDON)


def add_series(db: Session, clinic: TwoRoomBooking, count: int, first_day: date) -> None:
    """`count` series of two appointments each, written straight to the tables, each on its own days."""
    client_id = uuid.UUID(new_client(clinic.http, clinic.desk, "Lister"))
    device = db.scalar(select(Device).where(Device.room_id == uuid.UUID(clinic.rooms[0])).limit(1))
    assert device is not None
    for n in range(count):
        series = Series(
            client_id=client_id,
            protocol_id=uuid.UUID(clinic.protocol),
            esthetician_id=clinic.esthetician.id,
            room_id=device.room_id,
            plan=TWO,
            created_by_id=clinic.esthetician.id,
        )
        db.add(series)
        db.flush()
        for sequence in (1, 2):
            start = datetime.combine(first_day + timedelta(days=4 * n + 2 * sequence), time(10), tzinfo=LONDON)
            db.add(booked(series, device, start=start, sequence=sequence))
    db.commit()


def test_listing_series_runs_the_same_statements_for_1_or_50(
    clinic: TwoRoomBooking, db: Session, connection: Connection
) -> None:
    add_series(db, clinic, 1, monday_at(10).date())
    with statements(connection) as one:
        assert [len(s["appointments"]) for s in ok(clinic.http.get("/api/v1/series", headers=clinic.desk))] == [2]
    add_series(db, clinic, 49, monday_at(10).date() + timedelta(days=7))
    with statements(connection) as fifty:
        listed = ok(clinic.http.get("/api/v1/series", headers=clinic.desk))
    assert len(listed) == 50 and {len(s["appointments"]) for s in listed} == {2}
    assert len(fifty) == len(one)


@pytest.mark.parametrize("room", ["asked", "any"])
@pytest.mark.parametrize(
    ("short", "short_n", "long", "long_n"), [(THREE, 3, FIFTEEN, 15), (FOUR, 4, TWELVE, 12)], ids=["3-15", "4-12"]
)
def test_booking_a_long_series_runs_the_same_statements_as_a_short_one_with_one_insert_per_table(
    clinic: TwoRoomBooking, connection: Connection, room: str, short: Any, short_n: int, long: Any, long_n: int
) -> None:
    fields: dict[str, Any] = {"room_id": None} if room == "any" else {}
    ada, bea = new_client(clinic.http, clinic.desk, "Ada"), new_client(clinic.http, clinic.desk, "Bea")
    with statements(connection) as few:
        assert len(clinic.book(ada, monday_at(10), short, **fields)["appointments"]) == short_n
    with statements(connection) as many:
        assert len(clinic.book(bea, monday_at(14), long, **fields)["appointments"]) == long_n
    assert len(many) == len(few)
    inserts = [" ".join(s.split()[:3]).upper() for s in many if s.lstrip().upper().startswith("INSERT")]
    assert inserts == ["INSERT INTO SERIES", "INSERT INTO APPOINTMENTS", "INSERT INTO AUDIT_EVENTS"]


def test_alternatives_for_15_conflicts_run_the_same_statements_as_for_1(
    clinic: TwoRoomBooking, connection: Connection
) -> None:
    ada, bea, cy = (new_client(clinic.http, clinic.desk, name) for name in ("Ada", "Bea", "Cy"))
    clinic.book(ada, monday_at(10), FIFTEEN)  # the room, its first device and the esthetician, at 10:00
    with statements(connection) as one:
        conflict = clinic.book(
            bea, monday_at(10), {"intensive": {"sessions": 1, "per_week": 1}}, 409, alternatives=True
        )
    assert [c["alternative_start_at"] for c in conflict["conflicts"]] == [monday_at(10, 45).isoformat()]
    with statements(connection) as fifteen:
        conflict = clinic.book(cy, monday_at(10), FIFTEEN, 409, alternatives=True)
    assert len(conflict["conflicts"]) == 15
    assert all(datetime.fromisoformat(c["alternative_start_at"]).time() == time(10, 45) for c in conflict["conflicts"])
    assert len(fifteen) == len(one)


def test_a_preview_of_15_sessions_runs_the_same_statements_as_of_3_and_writes_nothing(
    clinic: TwoRoomBooking, connection: Connection
) -> None:
    ada, bea, cy = (new_client(clinic.http, clinic.desk, name) for name in ("Ada", "Bea", "Cy"))
    clinic.book(ada, monday_at(10), FIFTEEN)
    with statements(connection) as three:
        assert clinic.preview(bea, monday_at(14), THREE)["bookable"]
    with statements(connection) as fifteen:
        found = clinic.preview(cy, monday_at(10), FIFTEEN)  # every session conflicts: 15 alternatives
    assert [o["alternative_start_at"] is not None for o in found["occurrences"]] == [True] * 15
    assert len(fifteen) == len(three)
    verbs = {s.split()[0].upper() for s in three + fifteen}
    assert verbs <= {"SAVEPOINT", "RELEASE", "ROLLBACK", "SELECT"}, verbs  # the test's transaction, and reads


def test_booking_15_sessions_with_moved_ones_runs_the_same_statements_as_3(
    clinic: TwoRoomBooking, connection: Connection
) -> None:
    ada, bea, cy = (new_client(clinic.http, clinic.desk, name) for name in ("Ada", "Bea", "Cy"))
    clinic.book(ada, monday_at(10), FIFTEEN)
    moved = {
        str(o["sequence"]): o["alternative_start_at"] for o in clinic.preview(cy, monday_at(10), FIFTEEN)["occurrences"]
    }
    with statements(connection) as three:
        clinic.book(bea, monday_at(14), THREE)
    with statements(connection) as fifteen:
        assert len(clinic.book(cy, monday_at(10), FIFTEEN, moved=moved)["appointments"]) == 15
    assert len(fifteen) == len(three)


def test_listing_sessions_runs_the_same_statements_for_1_or_30(
    clinic: TwoRoomBooking, db: Session, connection: Connection
) -> None:
    appointment = due(
        db,
        client_id=new_client(clinic.http, clinic.desk, "Lister"),
        protocol_id=clinic.protocol,
        room_id=clinic.rooms[0],
        esthetician=clinic.esthetician,
    )
    armed_session(db, str(appointment), status=SessionStatus.COMPLETED)
    with statements(connection) as one:
        assert len(ok(clinic.http.get("/api/v1/sessions", headers=clinic.desk))["items"]) == 1
    for _ in range(29):
        armed_session(db, str(appointment), status=SessionStatus.STOPPED)
    with statements(connection) as thirty:
        listed = ok(clinic.http.get("/api/v1/sessions", headers=clinic.desk, params={"signed_off": False}))
    assert len(listed["items"]) == 30
    assert len(thirty) == len(one)
