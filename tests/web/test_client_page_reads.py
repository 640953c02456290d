"""A client's page, read without a browser on each database: a fixed number of statements whatever the client's
history, the same audit trail as the API's reads of the same records, and forms that store nothing when refused."""

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from api.permissions import Permission, denied_message
from api.security import create_access_token
from db.base import utcnow
from db.models import (
    AuditEvent,
    Client,
    Device,
    PhysicianApproval,
    Role,
    Series,
    SessionStatus,
    TreatmentSession,
    User,
)
from tests.api.clinic import (
    LONDON,
    STEP,
    add_room,
    approved_protocol,
    booked,
    new_client,
    ok,
    statements,
    telemetry_row,
)
from tests.conftest import SECRET_KEY
from tests.factories import NOTHING
from web.session import CSRF_FIELD, SESSION_COOKIE, csrf_token

BLOCKS = 20  # telemetry blocks per session: enough to sum, few enough to write fast


def signed_in(client: TestClient, user: User) -> str:
    """The browser's session cookie for `user`; the CSRF token of its forms."""
    token = create_access_token(
        user_id=user.id, generation=user.token_generation, key=SECRET_KEY, now=utcnow(), minutes=60
    )
    client.cookies.set(SESSION_COOKIE, token)
    return csrf_token(token, key=SECRET_KEY)


@pytest.fixture
def history(client: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User], db: Session) -> Any:
    """A function that makes a screened client (pregnant, with a physician's approval) with `series` series, the
    first `sessions` of their appointments treated and measured."""
    room = add_room(client, as_role[Role.ADMIN])
    protocol = uuid.UUID(approved_protocol(client, as_role)["id"])
    device = db.scalar(select(Device).where(Device.room_id == uuid.UUID(room)))
    assert device is not None
    esthetician = staff[Role.ESTHETICIAN]
    made_before: list[str] = []

    def make(series: int, sessions: int) -> str:
        client_id = new_client(client, as_role[Role.FRONT_DESK], "Hist")
        clinical = as_role[Role.ESTHETICIAN]
        body = {"answers": NOTHING | {"pregnant": True}}
        ok(client.post(f"/api/v1/clients/{client_id}/screenings", headers=clinical, json=body), 201)
        approval = {
            "physician_name": "Dr. Okafor",
            "scope": "pregnancy",
            "approved_on": "2026-01-05",
            "valid_until": "2099-01-01",
            "document_reference": "scan 114",
        }
        ok(client.post(f"/api/v1/clients/{client_id}/physician-approvals", headers=clinical, json=approval), 201)
        first = datetime.combine(date(2026, 1, 5), time(8 + len(made_before)), tzinfo=LONDON)  # an hour of its own
        appointments = []
        for n in range(series):
            made = Series(
                client_id=uuid.UUID(client_id),
                protocol_id=protocol,
                esthetician_id=esthetician.id,
                room_id=device.room_id,
                plan={"intensive": {"sessions": 14, "per_week": 2}},
                created_by_id=esthetician.id,
            )
            db.add(made)
            db.flush()
            for sequence in range(1, 15):
                start = first + timedelta(days=60 * n + 3 * sequence)
                appointments.append(booked(made, device, start=start, sequence=sequence))
        db.add_all(appointments)
        db.flush()
        for appointment in appointments[:sessions]:
            treated(db, appointment.id, device.id, protocol, esthetician)
        db.commit()
        made_before.append(client_id)
        return client_id

    return make


def treated(db: Session, appointment_id: uuid.UUID, device_id: uuid.UUID, protocol_id: uuid.UUID, by: User) -> None:
    """A completed session of the appointment, with BLOCKS telemetry blocks of 10 samples at ±200 µA."""
    treatment = TreatmentSession(
        appointment_id=appointment_id,
        device_id=device_id,
        protocol_id=protocol_id,
        status=SessionStatus.COMPLETED,
        steps=[STEP],
        max_current_ua=220,
        max_output_s=330,
        tolerance_percent=10,
        day_of={},
        created_by_id=by.id,
    )
    db.add(treatment)
    db.flush()
    db.add_all(telemetry_row(treatment, seq, 0, [200.0, -200.0] * 5) for seq in range(1, BLOCKS + 1))


def test_a_client_page_runs_the_same_statements_for_1_or_40_sessions(
    client: TestClient, staff: dict[Role, User], history: Any, connection: Connection
) -> None:
    small, large = history(series=1, sessions=1), history(series=3, sessions=40)
    signed_in(client, staff[Role.ESTHETICIAN])
    counted = {}
    for name, client_id in (("small", small), ("large", large)):
        for visit in ("first", "again"):  # a session's sums are worked out once, then kept
            with statements(connection) as sent:
                page = client.get(f"/clients/{client_id}")
            assert page.status_code == 200, page.text
            counted[name, visit] = len(sent)
    assert counted["large", "first"] == counted["small", "first"]
    assert counted["large", "again"] == counted["small", "again"]
    assert page.text.count("Lift and tone (version 1), session") == 40
    assert "20 s" in page.text and "4,000 µC" in page.text and "200 µA" in page.text  # 20 blocks of 1 s at 200 µA


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.ESTHETICIAN, Role.MEDICAL_DIRECTOR])
def test_the_page_audits_what_the_apis_reads_audit(
    client: TestClient,
    staff: dict[Role, User],
    as_role: dict[Role, dict[str, str]],
    history: Any,
    db: Session,
    role: Role,
) -> None:
    client_id = history(series=1, sessions=2)
    actor = staff[role]
    signed_in(client, actor)

    def page_read() -> None:
        assert client.get(f"/clients/{client_id}").status_code == 200

    page_reads = trail(db, actor, page_read)
    headers = as_role[role]
    base = f"/api/v1/clients/{client_id}"

    def api_reads() -> None:
        ok(client.get(base, headers=headers))
        ok(client.get(f"{base}/screenings", headers=headers))
        ok(client.post(f"{base}/eligibility", headers=headers, json={"on": datetime.now(LONDON).date().isoformat()}))
        if role != Role.FRONT_DESK:
            ok(client.get(f"{base}/physician-approvals", headers=headers))

    api = trail(db, actor, api_reads)
    sessions = {event for event in page_reads if event[0] == "session.list"}
    assert len(sessions) == 1 and len(next(iter(sessions))[2]) == 2  # one event naming both sessions
    assert page_reads - sessions == api
    outcome_only = {"screening.read_outcome"} if role == Role.FRONT_DESK else {"screening.read"}
    assert {action for action, _, _ in api} == {"client.read", "screening.eligibility"} | outcome_only | (
        set() if role == Role.FRONT_DESK else {"physician_approval.read"}
    )


def trail(db: Session, actor: User, reads: Any) -> set[tuple[str, str | None, tuple[str, ...]]]:
    """The audit events `reads` writes for `actor`: action, record type and the records it names."""
    before = {e.id for e in db.scalars(select(AuditEvent).where(AuditEvent.user_id == actor.id))}
    reads()
    db.expire_all()
    found = db.scalars(select(AuditEvent).where(AuditEvent.user_id == actor.id)).all()
    return {(e.action, e.record_type, tuple(e.record_ids or [e.record_id or ""])) for e in found if e.id not in before}


def test_a_refused_change_stores_nothing(
    client: TestClient, staff: dict[Role, User], history: Any, db: Session
) -> None:
    taken = history(series=0, sessions=0)
    client_id = history(series=0, sessions=0)
    form = signed_in(client, staff[Role.FRONT_DESK])
    taken_email = db.get(Client, uuid.UUID(taken))
    assert taken_email is not None and taken_email.email
    change = {
        CSRF_FIELD: form,
        "first_name": "Renamed",
        "last_name": "Client",
        "date_of_birth": "1985-01-01",
        "email": taken_email.email,
        "phone": "",
    }
    refused = client.post(f"/clients/{client_id}/edit", data=change)
    assert refused.status_code == 409
    assert f"Another client already has the email {taken_email.email}." in refused.text
    db.expire_all()
    kept = db.get(Client, uuid.UUID(client_id))
    assert kept is not None and kept.first_name == "Hist"

    future = client.post(
        f"/clients/{client_id}/edit",
        data=change | {"email": "", "phone": "+44 20 7946 0958", "date_of_birth": "2999-01-01"},
    )
    assert future.status_code == 422
    assert "Date of birth: cannot be in the future." in future.text


@pytest.mark.parametrize(
    ("role", "path", "permission"),
    [
        (Role.ESTHETICIAN, "/delete", Permission.CLIENTS_DELETE),
        (Role.FRONT_DESK, "/approvals", Permission.APPROVALS_RECORD),
        (Role.ADMIN, "/approvals", Permission.APPROVALS_RECORD),
        (Role.ESTHETICIAN, "/approvals/{approval}/revoke", Permission.APPROVALS_REVOKE),
    ],
)
def test_what_a_role_may_not_do_is_not_offered_and_answers_403(
    client: TestClient,
    staff: dict[Role, User],
    history: Any,
    db: Session,
    role: Role,
    path: str,
    permission: Permission,
) -> None:
    client_id = history(series=0, sessions=0)
    approval = db.scalar(select(PhysicianApproval.id).where(PhysicianApproval.client_id == uuid.UUID(client_id)))
    form = signed_in(client, staff[role])
    address = f"/clients/{client_id}" + path.format(approval=approval)
    page = client.get(f"/clients/{client_id}")
    assert page.status_code == 200
    assert f'"{address}' not in page.text  # neither a link nor a form's action
    refused = client.get(address) if path == "/delete" else client.post(address, data={CSRF_FIELD: form})
    assert refused.status_code == 403
    assert denied_message(permission).replace("'", "&#39;") in refused.text
