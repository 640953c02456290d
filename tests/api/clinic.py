"""Helpers that tests of several modules share, and the gateway's tests and the benchmarks too: a bookable clinic
set up through the API (rooms, devices, approved protocols, clients), appointments due now, log-ins, dates of the
clinic's week, the role matrix with a body that succeeds for each endpoint, and the SQL statements a block sends.

Only test data that needs neither the API nor the database lives in `tests.factories`."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, select
from sqlalchemy.orm import Session

from api.schemas.screening import ANSWER_DATE_FIELDS
from db.base import utcnow
from db.models import (
    Appointment,
    AppointmentStatus,
    Device,
    DeviceCommand,
    GatewayPresence,
    Role,
    Series,
    SessionMessage,
    SessionStatus,
    TreatmentSession,
    User,
)
from tests.conftest import add_user
from tests.factories import NOTHING

STEP = {
    "zone": "cheeks",
    "mode": "LIFT",
    "current_ua": 200,
    "frequency_hz": 30,
    "waveform": "square",
    "polarity": "alternating",
    "duration_s": 300,
}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def add_room(client: TestClient, admin: dict[str, str], name: str = "Room 1", probe_area_cm2: float = 0.5) -> str:
    room = ok(client.post("/api/v1/rooms", headers=admin, json={"name": name}), 201)
    ok(
        client.post(
            "/api/v1/devices",
            headers=admin,
            json={"serial": f"SN-{uuid.uuid4().hex[:8]}", "room_id": room["id"], "probe_area_cm2": probe_area_cm2},
        ),
        201,
    )
    return room["id"]  # type: ignore[no-any-return]


def approved_protocol(client: TestClient, as_role: dict[Role, dict[str, str]], **changes: Any) -> dict[str, Any]:
    body = {"name": "Lift and tone", "target": {"areas": ["cheeks"], "goal": "lift"}, "steps": [STEP]} | changes
    draft = ok(client.post("/api/v1/protocols", headers=as_role[Role.MEDICAL_DIRECTOR], json=body), 201)
    return ok(
        client.post(
            f"/api/v1/protocols/{draft['id']}/approve",  # type: ignore[no-any-return]
            headers=as_role[Role.MEDICAL_DIRECTOR],
        )
    )


def new_client(client: TestClient, headers: dict[str, str], name: str = "Ada") -> str:
    made = ok(
        client.post(
            "/api/v1/clients",
            headers=headers,
            json={
                "first_name": name,
                "last_name": "Client",
                "date_of_birth": "1985-01-01",
                "email": f"{name.lower()}.{uuid.uuid4().hex[:6]}@example.com",
            },
        ),
        201,
    )
    return made["id"]  # type: ignore[no-any-return]


# Log-ins and clients registered at the front desk.


def log_in(client: TestClient, email: str, password: str) -> tuple[int, dict]:
    response = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    return response.status_code, response.json()


def register(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10"} | fields
    if "email" not in fields and "phone" not in fields:
        body["email"] = f"{body['first_name']}.{body['last_name']}@example.com".lower()
    response = client.post("/api/v1/clients", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# The clinic's week, in London.

LONDON = ZoneInfo("Europe/London")


def next_monday(weeks: int = 1) -> date:
    today = datetime.now(LONDON).date()
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = LONDON) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).isoformat()


# An appointment due now, and a room ready to start it: for starting, recording and resuming sessions.

DAY_OF = {key: NOTHING[key] for key in ("pregnant", "skin_infection", *ANSWER_DATE_FIELDS)}


def due(
    db: Session,
    *,
    client_id: str,
    protocol_id: str,
    room_id: str,
    esthetician: User,
    minutes: int = 5,
) -> uuid.UUID:
    """An appointment starting in `minutes`, written straight to the table (booking refuses the past)."""
    device = db.scalar(select(Device).where(Device.room_id == uuid.UUID(room_id)))
    assert device is not None
    series = Series(
        client_id=uuid.UUID(client_id),
        protocol_id=uuid.UUID(protocol_id),
        esthetician_id=esthetician.id,
        room_id=device.room_id,
        plan={},
        created_by_id=esthetician.id,
    )
    db.add(series)
    db.flush()
    appointment = booked(series, device, start=utcnow() + timedelta(minutes=minutes))
    db.add(appointment)
    db.commit()
    return appointment.id


def booked(series: Series, device: Device, *, start: datetime, sequence: int = 1) -> Appointment:
    """A booked appointment of `series` on `device`, 35 minutes long, ready to be added to a session."""
    return Appointment(
        series_id=series.id,
        sequence=sequence,
        client_id=series.client_id,
        protocol_id=series.protocol_id,
        esthetician_id=series.esthetician_id,
        room_id=device.room_id,
        device_id=device.id,
        start_at=start,
        end_at=start + timedelta(minutes=35),
        occupied_until=start + timedelta(minutes=35),
        status=AppointmentStatus.BOOKED,
    )


class Room:
    def __init__(
        self, client: TestClient, as_role: dict, staff: dict[Role, User], db: Session, **protocol: Any
    ) -> None:
        self.http, self.as_role, self.db = client, as_role, db
        self.room = add_room(client, as_role[Role.ADMIN])
        self.protocol = approved_protocol(client, as_role, **protocol)
        self.client = new_client(client, as_role[Role.FRONT_DESK])
        self.device = db.scalar(select(Device).where(Device.room_id == uuid.UUID(self.room)))
        self.appointment = due(
            db,
            client_id=self.client,
            protocol_id=self.protocol["id"],
            room_id=self.room,
            esthetician=staff[Role.ESTHETICIAN],
        )

    def device_is(self, state: str) -> None:
        assert self.device is not None
        self.device.state = state
        self.db.commit()

    def gateway_is(self, connected: bool, seen_at: datetime | None = None) -> None:
        self.db.merge(GatewayPresence(client_id="galvani-gateway", connected=connected, seen_at=seen_at or utcnow()))
        self.db.commit()

    def screen(self, **answers: Any) -> None:
        ok(
            self.http.post(
                f"/api/v1/clients/{self.client}/screenings",
                headers=self.as_role[Role.ESTHETICIAN],
                json={"answers": NOTHING | answers},
            ),
            201,
        )

    def start(self, status: int = 201, appointment: uuid.UUID | None = None, **day_of: Any) -> Any:
        return ok(
            self.http.post(
                f"/api/v1/appointments/{appointment or self.appointment}/start",
                headers=self.as_role[Role.ESTHETICIAN],
                json={"day_of": DAY_OF | day_of},
            ),
            status,
        )

    def commands(self) -> list[DeviceCommand]:
        return list(self.db.scalars(select(DeviceCommand).order_by(DeviceCommand.created_at)))


# Two short steps, 20 s at 200 µA then 10 s at 150 µA: a treatment whose telemetry a test writes out in full.
SHORT_STEPS = [STEP | {"duration_s": 20}, STEP | {"zone": "jawline", "current_ua": 150, "duration_s": 10}]


def ready_room(client: TestClient, as_role: dict, staff: dict[Role, User], db: Session) -> Room:
    """A room whose device is idle with the gateway online, a client screened, and an appointment due with the
    SHORT_STEPS protocol: a session can start at once."""
    ready = Room(client, as_role, staff, db, steps=SHORT_STEPS)
    ready.gateway_is(connected=True)
    ready.device_is("idle")
    ready.screen()
    return ready


# Who may call what, and a body that succeeds for each endpoint that takes one.

ALL = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
CLINICAL = frozenset({Role.ADMIN, Role.MEDICAL_DIRECTOR, Role.ESTHETICIAN})  # may see health data
WRITERS = frozenset({Role.MEDICAL_DIRECTOR, Role.ESTHETICIAN})  # of protocols
DIRECTOR = frozenset({Role.MEDICAL_DIRECTOR})

# (method, path) -> roles allowed. Paths are the OpenAPI templates.
MATRIX: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users"): ALL,
    ("GET", "/api/v1/users/me"): ALL,
    ("GET", "/api/v1/users/{user_id}"): ALL,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/clients"): ALL,
    ("GET", "/api/v1/clients"): ALL,
    ("GET", "/api/v1/clients/{client_id}"): ALL,
    ("PATCH", "/api/v1/clients/{client_id}"): ALL,
    ("DELETE", "/api/v1/clients/{client_id}"): frozenset({Role.ADMIN, Role.FRONT_DESK}),
    ("GET", "/api/v1/audit"): ADMIN,
    ("GET", "/api/v1/settings"): ALL,
    ("PUT", "/api/v1/settings"): ADMIN,
    ("POST", "/api/v1/clients/{client_id}/screenings"): CLINICAL,
    ("GET", "/api/v1/clients/{client_id}/screenings"): ALL,  # the front desk sees outcomes only
    ("POST", "/api/v1/clients/{client_id}/eligibility"): ALL,  # the front desk sees eligible or not only
    ("POST", "/api/v1/clients/{client_id}/physician-approvals"): frozenset({Role.MEDICAL_DIRECTOR, Role.ESTHETICIAN}),
    ("GET", "/api/v1/clients/{client_id}/physician-approvals"): CLINICAL,
    ("POST", "/api/v1/clients/{client_id}/physician-approvals/{approval_id}/revoke"): frozenset(
        {Role.MEDICAL_DIRECTOR}
    ),
    ("GET", "/api/v1/screening-rules"): ALL,
    ("GET", "/api/v1/screening-rules/{version}"): ALL,
    ("PUT", "/api/v1/screening-rules"): ADMIN,
    ("POST", "/api/v1/protocols"): WRITERS,
    ("GET", "/api/v1/protocols"): ALL,
    ("GET", "/api/v1/protocols/{protocol_id}"): ALL,
    ("PATCH", "/api/v1/protocols/{protocol_id}"): WRITERS,
    ("POST", "/api/v1/protocols/{protocol_id}/approve"): DIRECTOR,
    ("POST", "/api/v1/protocols/{protocol_id}/withdraw"): DIRECTOR,
    ("POST", "/api/v1/rooms"): ADMIN,
    ("GET", "/api/v1/rooms"): ALL,
    ("POST", "/api/v1/devices"): ADMIN,
    ("GET", "/api/v1/devices"): ALL,
    ("GET", "/api/v1/devices/{device_id}"): ALL,
    ("PATCH", "/api/v1/devices/{device_id}"): ADMIN,
    ("POST", "/api/v1/devices/{device_id}/mqtt-password"): ADMIN,
    ("POST", "/api/v1/series"): ALL,
    ("POST", "/api/v1/series/preview"): ALL,
    ("GET", "/api/v1/series"): ALL,
    ("GET", "/api/v1/series/{series_id}"): ALL,
    ("GET", "/api/v1/appointments"): ALL,
    ("PATCH", "/api/v1/appointments/{appointment_id}"): ALL,
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): ALL,
    ("POST", "/api/v1/appointments/{appointment_id}/start"): WRITERS,
    ("GET", "/api/v1/sessions"): ALL,
    ("GET", "/api/v1/sessions/{session_id}"): ALL,
    ("POST", "/api/v1/sessions/{session_id}/stop"): WRITERS,
    ("POST", "/api/v1/sessions/{session_id}/sign-off"): DIRECTOR,
    ("POST", "/api/v1/sessions/{session_id}/addenda"): WRITERS,  # clinical staff who treat: not admin, not desk
    ("GET", "/api/v1/alarms"): ALL,
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): WRITERS,
}


APPROVAL = {
    "physician_name": "Dr. Okafor",
    "scope": "pregnancy",
    "approved_on": "2026-01-05",
    "valid_until": "2099-01-01",
    "document_reference": "scan 114",
}
# A body that succeeds, for each endpoint that takes one.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/users"): {
        "email": "{unique}@clinic.example.com",
        "password": "long-enough-pw",
        "full_name": "New Hire",
        "role": "esthetician",
    },
    ("PATCH", "/api/v1/users/{user_id}"): {"full_name": "Renamed"},
    ("POST", "/api/v1/clients"): {
        "first_name": "New",
        "last_name": "Client",
        "date_of_birth": "1990-01-01",
        "phone": "+1 555 0100 200",
    },
    ("PATCH", "/api/v1/clients/{client_id}"): {"phone": "+1 555 0100 201"},
    ("PUT", "/api/v1/settings"): {"timezone": "Europe/Paris"},
    ("POST", "/api/v1/clients/{client_id}/screenings"): {"answers": NOTHING},
    ("POST", "/api/v1/clients/{client_id}/eligibility"): {"on": "2099-01-01"},
    ("POST", "/api/v1/clients/{client_id}/physician-approvals"): APPROVAL,
    ("POST", "/api/v1/clients/{client_id}/physician-approvals/{approval_id}/revoke"): {"reason": "withdrawn"},
    ("PUT", "/api/v1/screening-rules"): {"retinol_deferral_days": 3},
    ("POST", "/api/v1/protocols"): {"name": "Lift", "steps": [STEP]},
    ("PATCH", "/api/v1/protocols/{protocol_id}"): {"name": "Lift again"},
    ("POST", "/api/v1/protocols/{protocol_id}/withdraw"): {"reason": "recall"},
    ("POST", "/api/v1/rooms"): {"name": "{unique}"},
    ("POST", "/api/v1/devices"): {"serial": "{unique}", "room_id": "{room_id}", "probe_area_cm2": 0.5},
    ("PATCH", "/api/v1/devices/{device_id}"): {"status": "out_of_service"},
    ("POST", "/api/v1/series"): {
        "client_id": "{client_id}",
        "protocol_id": "{approved_id}",
        "esthetician_id": "{esthetician_id}",
        "room_id": "{room_id}",
        "start_at": "2099-06-01T10:00:00+00:00",
        "plan": {"intensive": {"sessions": 1, "per_week": 1}},
    },
    ("PATCH", "/api/v1/appointments/{appointment_id}"): {},
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): {"scope": "this"},
    ("POST", "/api/v1/appointments/{appointment_id}/start"): {"day_of": DAY_OF},
    ("POST", "/api/v1/sessions/{session_id}/sign-off"): {"note": "Reviewed: as prescribed."},
    ("POST", "/api/v1/sessions/{session_id}/addenda"): {"text": "Client phoned: no redness the next day."},
}
BODIES[("POST", "/api/v1/series/preview")] = BODIES[("POST", "/api/v1/series")]  # a preview takes a booking's body


def armed_session(
    db: Session,
    appointment_id: str,
    day_of: dict[str, Any] | None = None,
    status: SessionStatus = SessionStatus.ARMED,
) -> str:
    """An armed session of the appointment (200 µA for 300 s, 10 % tolerance), written straight to the table:
    starting one needs a device online. Its day-of answers are health data when given; `status`: another, as if
    it had got there."""
    appointment = db.get(Appointment, uuid.UUID(appointment_id))
    assert appointment is not None
    treatment = session_of(appointment, add_user(db, Role.ESTHETICIAN).id, status, day_of)
    db.add(treatment)
    db.commit()
    return str(treatment.id)


def session_of(
    appointment: Appointment,
    created_by_id: uuid.UUID,
    status: SessionStatus = SessionStatus.ARMED,
    day_of: dict[str, Any] | None = None,
) -> TreatmentSession:
    """A session of the appointment on its device (200 µA for 300 s, 10 % tolerance), not yet added."""
    return TreatmentSession(
        appointment_id=appointment.id,
        device_id=appointment.device_id,
        protocol_id=appointment.protocol_id,
        status=status,
        steps=[STEP],
        max_current_ua=220,
        max_output_s=330,
        tolerance_percent=10,
        day_of=day_of or {},
        created_by_id=created_by_id,
    )


def telemetry_row(
    treatment: TreatmentSession, seq: int, step: int, samples: list[float], contact: bool = True
) -> SessionMessage:
    """A telemetry block as the gateway stores it: samples 100 ms apart, a block a second."""
    return SessionMessage(
        device_id=treatment.device_id,
        session_id=treatment.id,
        seq=seq,
        kind="telemetry",
        step=step,
        t_ms=seq * 1000,
        interval_ms=100,
        samples=samples,
        contact=contact,
    )


@contextmanager
def statements(connection: Connection) -> Iterator[list[str]]:
    """Every statement sent on the test's connection (which the app's sessions share) while the block runs."""
    sent: list[str] = []

    def count(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", count)


def screened_client(
    client: TestClient,
    as_role: dict[Role, dict[str, str]],
    name: str,
    approval: dict[str, Any] | None = None,
    **answers: Any,
) -> str:
    """A client registered at the front desk and screened by an esthetician with nothing to hold treatment back but
    `answers`; with a physician's `approval` recorded when one is given."""
    client_id = new_client(client, as_role[Role.FRONT_DESK], name)
    esthetician, url = as_role[Role.ESTHETICIAN], f"/api/v1/clients/{client_id}"
    ok(client.post(f"{url}/screenings", headers=esthetician, json={"answers": NOTHING | answers}), 201)
    if approval is not None:
        ok(client.post(f"{url}/physician-approvals", headers=esthetician, json=approval), 201)
    return client_id
