"""Today runs the same SQL statements for a day of 2 appointments as for a day of 20, each with a client of its own
who has been screened (and approved by a physician): names, screening states, series and rooms are read for all
the appointments at once, and audited as two events (the names shown, the screening states) whatever their number
(in-process, on each database of tests.services.BACKENDS)."""

import uuid
from datetime import datetime, time, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Device, Role, Series, User
from tests.api.clinic import LONDON, add_room, approved_protocol, booked, new_client, screened_client, statements
from tests.conftest import add_user, bearer
from web.session import SESSION_COOKIE

PLAN = {"intensive": {"sessions": 4, "per_week": 2}}


class BusyDay:
    """Two rooms with a device and an esthetician each; appointments today in both, on the hour from 08:00."""

    def __init__(self, http: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User], db: Session):
        self.http, self.as_role, self.db = http, as_role, db
        self.protocol = uuid.UUID(approved_protocol(http, as_role)["id"])
        rooms = [uuid.UUID(add_room(http, as_role[Role.ADMIN], name)) for name in ("Room 1", "Room 2")]
        self.devices = [db.scalars(select(Device).where(Device.room_id == room)).one() for room in rooms]
        self.estheticians = [staff[Role.ESTHETICIAN], add_user(db, Role.ESTHETICIAN)]
        self.booked = 0

    def client(self, n: int) -> str:
        """The n-th client: screened pregnant with a physician's approval, with a zone excluded, contraindicated, or
        never screened."""
        today = datetime.now(LONDON).date()
        approval = {
            "physician_name": "Dr. Okafor",
            "scope": "pregnancy",
            "approved_on": today.isoformat(),
            "valid_until": (today + timedelta(days=90)).isoformat(),
            "document_reference": "scan 114",
        }
        approved, answers = [
            (approval, {"pregnant": True}),
            (None, {"botox_last_on": today.isoformat(), "botox_zones": ["forehead"]}),
            (None, {"epilepsy": True}),
            (None, None),
        ][n % 4]
        if answers is None:
            return new_client(self.http, self.as_role[Role.FRONT_DESK], f"Client{n}")
        return screened_client(self.http, self.as_role, f"Client{n}", approved, **answers)

    def book(self, count: int) -> None:
        """`count` more appointments, each the first of a 4-session series of a new client."""
        today = datetime.now(LONDON).date()
        for n in range(self.booked, self.booked + count):
            room = n % 2
            series = Series(
                client_id=uuid.UUID(self.client(n)),
                protocol_id=self.protocol,
                esthetician_id=self.estheticians[room].id,
                room_id=self.devices[room].room_id,
                plan=PLAN,
                created_by_id=self.estheticians[room].id,
            )
            self.db.add(series)
            self.db.flush()
            start = datetime.combine(today, time(8 + n // 2), tzinfo=LONDON)
            self.db.add(booked(series, self.devices[room], start=start))
        self.db.commit()
        self.booked += count


def today_page(http: TestClient, user: User) -> str:
    token = bearer(user)["Authorization"].removeprefix("Bearer ")
    response = http.get("/today", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
    assert response.status_code == 200, response.text
    return response.text


def test_today_runs_the_same_statements_for_2_or_20_appointments(
    client: TestClient,
    as_role: dict[Role, dict[str, str]],
    staff: dict[Role, User],
    db: Session,
    connection: Connection,
) -> None:
    day = BusyDay(client, as_role, staff, db)
    desk = staff[Role.FRONT_DESK]
    day.book(2)
    with statements(connection) as two:
        shown = today_page(client, desk)
    assert shown.count('<article class="appt') == 2
    day.book(18)
    with statements(connection) as twenty:
        shown = today_page(client, desk)
    assert shown.count('<article class="appt') == 20
    assert shown.count("Session 1 of 4") == 20
    assert (shown.count("Cleared</span>"), shown.count("Cleared, with zone exclusions")) == (5, 5)
    assert (shown.count("Contraindicated"), shown.count("Needs a new screening")) == (5, 5)
    assert len(twenty) == len(two), "\n".join(twenty)
    assert len([s for s in twenty if s.startswith("INSERT INTO audit_events")]) == 2
    read = db.scalars(select(AuditEvent).where(AuditEvent.user_id == desk.id).order_by(AuditEvent.id.desc()).limit(2))
    named = {e.action: set(e.record_ids or []) for e in read}  # one event each, naming every client of the day
    clients = {str(s.client_id) for s in db.scalars(select(Series))}
    assert named == {"client.list": clients, "screening.eligibility": clients} and len(clients) == 20
