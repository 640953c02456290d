"""Session incidents that are alarms, on each database: each raises its kind at its priority with the session's
facts, a device that comes back ends its "lost" alarm (which still waits for someone to acknowledge it), and an
over-current stop names the step as staff count it, in a resumed session too."""

import json
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import alarms
from db.alarms import record_incident
from db.base import utcnow
from db.models import Alarm, AlarmSeverity, SessionIncident
from device_gateway.interlock import Interlock
from device_gateway.messages import Telemetry
from tests.api.clinic import STEP
from tests.device_gateway.conftest import Armed


def session_alarms(db: Session, armed: Armed) -> list[Alarm]:
    return list(db.scalars(select(Alarm).where(Alarm.session_id == armed.treatment.id).order_by(Alarm.began_at)))


@pytest.mark.parametrize(
    ("incident", "kind", "severity"),
    [
        ("over_current", "over_current", AlarmSeverity.HIGH),
        ("over_time", "over_time", AlarmSeverity.HIGH),
        ("device_offline", "device_lost", AlarmSeverity.HIGH),
        ("fault", "fault", AlarmSeverity.MEDIUM),
        ("rejected", "rejected", AlarmSeverity.LOW),
        ("command_expired", "rejected", AlarmSeverity.LOW),
    ],
)
def test_an_incident_that_is_an_alarm_raises_its_kind_at_its_priority(
    db: Session, armed: Armed, incident: str, kind: str, severity: AlarmSeverity
) -> None:
    at = utcnow() - timedelta(seconds=3)
    record_incident(
        db, session_id=armed.treatment.id, device_id=armed.device.id, kind=incident, detail="what happened", at=at
    )
    db.flush()
    [alarm] = session_alarms(db, armed)
    assert (alarm.kind, alarm.severity, alarm.device_id, alarm.began_at, alarm.detail) == (
        kind,
        severity,
        armed.device.id,
        at,
        "what happened",
    )


def test_an_incident_that_is_no_alarm_raises_none(db: Session, armed: Armed) -> None:
    record_incident(db, session_id=armed.treatment.id, device_id=armed.device.id, kind="contact_lost", detail="x")
    db.flush()
    assert session_alarms(db, armed) == []
    assert db.scalar(select(SessionIncident.kind).where(SessionIncident.session_id == armed.treatment.id))


def test_a_device_that_comes_back_ends_its_lost_alarm_which_waits_for_an_acknowledgement(
    db: Session, armed: Armed
) -> None:
    lost_at, back_at = utcnow() - timedelta(seconds=40), utcnow() - timedelta(seconds=5)
    ids = {"session_id": armed.treatment.id, "device_id": armed.device.id}
    record_incident(db, **ids, kind="device_offline", detail="gone", at=lost_at)
    record_incident(db, **ids, kind="device_back", detail="back", at=back_at)
    db.flush()
    [lost] = session_alarms(db, armed)
    assert (lost.kind, lost.began_at, lost.ended_at) == ("device_lost", lost_at, back_at)
    assert db.scalar(select(Alarm.id).where(Alarm.id == lost.id, alarms.is_active())) == lost.id


@pytest.mark.parametrize(("first_step", "step", "said"), [(0, 0, "step 1"), (0, 1, "step 2"), (2, 0, "step 3")])
def test_an_over_current_names_the_step_as_staff_count_it(
    db: Session, armed: Armed, first_step: int, step: int, said: str
) -> None:
    """The device counts the steps it was armed with from 0; a session resumed at the protocol's third step was
    armed with the steps from there on."""
    armed.treatment.first_step = first_step
    armed.treatment.steps = [STEP, STEP | {"zone": "jawline", "current_ua": 150}]
    db.commit()
    published: list[tuple[str, bytes]] = []
    interlock = Interlock(Counter(), lambda topic, payload: published.append((topic, payload)) is None)
    interlock.watch(db, [armed.treatment.id])
    interlock.check(Telemetry(armed.mqtt_id, armed.treatment.id, 1, step, 0, 100, (120.0, 900.0), True))
    assert [json.loads(payload)["reason"] for _topic, payload in published] == ["over_current"]
    interlock.record(db)
    db.flush()
    [alarm] = session_alarms(db, armed)
    cap = 220 if step == 0 else 165  # the step's current and the session's 10% tolerance
    assert (alarm.kind, alarm.severity) == ("over_current", AlarmSeverity.HIGH)
    assert alarm.detail == f"a sample of 900 µA in {said} is above its cap of {cap} µA"
