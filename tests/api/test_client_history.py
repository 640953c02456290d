"""A client's treatments so far: the sums of what each session delivered are its record's own, and a block that
arrives late is counted."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from api.services import client_history
from api.services.delivery import session_record
from db.models import AuditEvent, Role, TreatmentSession, User
from tests.api.clinic import Room, armed_session, telemetry_row


def test_a_sessions_sums_are_its_records_and_a_late_block_counts(
    client: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User], db: Session
) -> None:
    room = Room(client, as_role, staff, db)
    treatment = db.get(TreatmentSession, uuid.UUID(armed_session(db, str(room.appointment))))
    assert treatment is not None
    db.add_all(
        [
            telemetry_row(treatment, 1, 0, [200.0, -210.5, 190.0]),
            telemetry_row(treatment, 2, 0, [50.0] * 10, contact=False),  # probes off the skin: nothing delivered
            telemetry_row(treatment, 3, 4, [999.0]),  # a step the session was not armed with: no step at all
            telemetry_row(treatment, 4, 0, [-230.25, 20.0]),
        ]
    )
    db.commit()
    actor = Actor(staff[Role.FRONT_DESK], Origin(None, None))

    [shown] = client_history.treatments(db, actor=actor, client_id=uuid.UUID(room.client))
    record = session_record(db, treatment)
    assert shown.appointment_id == room.appointment and [p.id for p in shown.parts] == [treatment.id]
    assert (shown.output_s, shown.charge_uc) == (record["total_output_s"], record["total_charge_uc"]) == (0.5, 85.075)
    assert shown.peak_ua == max(step["delivered_peak_ua"] for step in record["steps"]) == 230.25
    listed = db.scalars(select(AuditEvent).where(AuditEvent.action == "session.list")).all()
    assert [e.record_ids for e in listed] == [[str(treatment.id)]]

    db.add(telemetry_row(treatment, 5, 0, [300.0]))  # sent again by the device after a reconnection
    db.commit()
    [again] = client_history.treatments(db, actor=actor, client_id=uuid.UUID(room.client))
    assert (again.output_s, again.charge_uc, again.peak_ua) == (0.6, 115.075, 300.0)
