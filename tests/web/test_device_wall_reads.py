"""The device wall, read without a browser on each database: the name of the client being treated is a read of
their record, audited as one list read naming the clients shown, each time the wall is shown or refreshed."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import alarms
from db.base import utcnow
from db.models import AuditEvent, Client, Device, Role, SessionStatus, TreatmentSession, User
from tests.api.clinic import add_room, approved_protocol, due, new_client
from tests.web.test_client_page_reads import signed_in


def list_reads(db: Session, user: User) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user.id, AuditEvent.action == "client.list")
            .order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def person(client: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User], db: Session) -> Client:
    """A client treated now in a room of their own (the session written as the API starts one)."""
    room = add_room(client, as_role[Role.ADMIN])
    protocol = approved_protocol(client, as_role)
    client_id = new_client(client, as_role[Role.FRONT_DESK], name="Rosalind")
    esthetician = staff[Role.ESTHETICIAN]
    appointment = due(db, client_id=client_id, protocol_id=protocol["id"], room_id=room, esthetician=esthetician)
    device = db.scalar(select(Device).where(Device.room_id == uuid.UUID(room)))
    assert device is not None
    db.add(
        TreatmentSession(
            appointment_id=appointment,
            device_id=device.id,
            protocol_id=uuid.UUID(protocol["id"]),
            status=SessionStatus.TREATING,
            steps=protocol["steps"],
            max_current_ua=220,
            max_output_s=330,
            tolerance_percent=10,
            day_of={},
            created_by_id=esthetician.id,
        )
    )
    db.commit()
    found = db.get(Client, uuid.UUID(client_id))
    assert found is not None
    return found


@pytest.mark.parametrize("path", ["/devices", "/devices/wall"])
def test_the_names_on_the_wall_are_audited_as_one_list_read(
    client: TestClient, db: Session, person: Client, staff: dict[Role, User], path: str
) -> None:
    desk = staff[Role.FRONT_DESK]
    signed_in(client, desk)
    for _ in range(2):  # the page, then its refresh
        shown = client.get(path)
        assert shown.status_code == 200, shown.text
        assert f"Treating {person.first_name} {person.last_name}" in shown.text
    reads = list_reads(db, desk)
    assert [(event.record_type, event.record_ids, event.record_id) for event in reads] == [
        ("client", [str(person.id)], None)
    ] * 2


def test_a_deleted_client_is_not_named_nor_counted_as_read(
    client: TestClient, db: Session, person: Client, staff: dict[Role, User]
) -> None:
    person.deleted_at = utcnow()
    db.commit()
    esthetician = staff[Role.ESTHETICIAN]
    signed_in(client, esthetician)
    shown = client.get("/devices/wall")
    assert shown.status_code == 200, shown.text
    assert "Treating (client record deleted)" in shown.text and person.last_name not in shown.text
    assert list_reads(db, esthetician) == []


def test_a_wall_with_nobody_treated_reads_no_client(client: TestClient, db: Session, staff: dict[Role, User]) -> None:
    director = staff[Role.MEDICAL_DIRECTOR]
    signed_in(client, director)
    assert client.get("/devices/wall").status_code == 200
    assert list_reads(db, director) == []


def test_an_acknowledged_alarm_that_goes_on_is_said_on_its_tile_not_no_alarm(
    client: TestClient, as_role: dict[Role, dict[str, str]], db: Session, staff: dict[Role, User]
) -> None:
    room = add_room(client, as_role[Role.ADMIN])
    device = db.scalar(select(Device).where(Device.room_id == uuid.UUID(room)))
    assert device is not None
    offline = alarms.raise_alarm(db, device_id=device.id, kind="device_offline", detail="never heard from")
    db.commit()
    director = staff[Role.MEDICAL_DIRECTOR]
    signed_in(client, director)
    tile = client.get("/devices/wall").text.split(f'id="tile-{device.id}"')[1].split("</li>")[0]
    assert f'id="acknowledge-{offline.id}"' in tile and "No alarm" not in tile
    assert alarms.acknowledge(db, offline, user_id=director.id)
    db.commit()
    tile = client.get("/devices/wall").text.split(f'id="tile-{device.id}"')[1].split("</li>")[0]
    assert "acknowledged by " + director.full_name in tile and "not cleared yet" in tile
    assert "No alarm" not in tile and f'id="acknowledge-{offline.id}"' not in tile
    alarms.end_alarms(db, device_id=device.id, kind="device_offline")
    db.commit()
    tile = client.get("/devices/wall").text.split(f'id="tile-{device.id}"')[1].split("</li>")[0]
    assert "No alarm" in tile and "not cleared yet" not in tile
