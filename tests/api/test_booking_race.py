"""Race safety: many desks booking one slot at the same moment, on databases that really commit."""

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.actor import Actor, Origin
from api.errors import Conflict
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.protocols import ProtocolCreate
from api.schemas.rooms import DeviceCreate, RoomCreate
from api.schemas.screening_rules import RuleParameters
from api.schemas.series import SeriesCreate
from api.services import protocols, rooms, series
from db.migrate import upgrade
from db.models import Appointment, AppointmentStatus, Client, Role, Series, User
from db.session import make_engine, make_session_factory, transaction
from tests.api.clinic import STEP
from tests.services import BACKENDS, fresh_postgres_database, migrated_database

DESKS = 50
SLOT = datetime(2099, 6, 1, 10, 0, tzinfo=UTC)  # a Monday, inside opening hours in UTC


@pytest.fixture(params=BACKENDS)
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated database of its own, where every transaction commits for real."""
    with migrated_database(request.param, tmp_path) as url:
        engine = make_engine(url, **({"pool_size": DESKS, "max_overflow": 0} if request.param == "postgresql" else {}))
        yield make_session_factory(engine)
        engine.dispose()


def _user(session: Session, role: Role) -> User:
    user = User(
        email=f"{uuid.uuid4().hex[:8]}@clinic.example.com", full_name=role.value, role=role, password_hash="unused"
    )
    session.add(user)
    session.flush()
    return user


def _clinic(factory: sessionmaker[Session]) -> tuple[dict[str, uuid.UUID], list[uuid.UUID]]:
    """A room with a device, an approved protocol, an esthetician and DESKS clients, committed."""
    clinic, rules = ClinicSettings(), RuleParameters()
    with transaction(factory) as session:
        director = Actor(_user(session, Role.MEDICAL_DIRECTOR), Origin(None, None))
        admin = Actor(_user(session, Role.ADMIN), Origin(None, None))
        room = rooms.create_room(session, actor=admin, data=RoomCreate(name="Room 1"))
        rooms.register_device(session, actor=admin, data=DeviceCreate(serial="S1", room_id=room.id, probe_area_cm2=0.5))
        draft = protocols.create(
            session, actor=director, data=ProtocolCreate(name="Lift", steps=[STEP]), clinic=clinic, rules=rules
        )
        protocols.approve(session, actor=director, protocol_id=draft.id, clinic=clinic, rules=rules)
        clients = [
            Client(
                first_name=f"C{i}",
                last_name="Race",
                date_of_birth=date(1980, 1, 1),
                email=f"c{i}@example.com",
                search_text=f"c{i} race",
            )
            for i in range(DESKS)
        ]
        session.add_all(clients)
        session.flush()
        ids = {
            "room": room.id,
            "protocol": draft.id,
            "esthetician": _user(session, Role.ESTHETICIAN).id,
            "desk": _user(session, Role.FRONT_DESK).id,
        }
        return ids, [c.id for c in clients]


def test_fifty_desks_one_slot_exactly_one_booking(factory: sessionmaker[Session]) -> None:
    ids, clients = _clinic(factory)
    start = threading.Barrier(DESKS)
    outcomes: list[str] = []

    def desk(client_id: uuid.UUID) -> None:
        request = SeriesCreate(
            client_id=client_id,
            protocol_id=ids["protocol"],
            esthetician_id=ids["esthetician"],
            room_id=ids["room"],
            start_at=SLOT,
            plan={"intensive": {"sessions": 1, "per_week": 1}},
        )
        start.wait()  # every desk presses "book" at once, each on its own connection
        try:
            with transaction(factory) as session:
                actor = Actor(session.get(User, ids["desk"]), Origin("desk", None))  # type: ignore[arg-type]
                series.book(session, actor=actor, data=request, clinic=ClinicSettings(), today=SLOT.date())
            outcomes.append("booked")
        except Conflict as refused:
            outcomes.append(f"{refused.status_code}")

    threads = [threading.Thread(target=desk, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["409"] * (DESKS - 1) + ["booked"]
    with factory() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.room_id == ids["room"], Appointment.start_at == SLOT)
        )
    assert stored == 1


def test_postgresql_refuses_overlaps_the_application_did_not_check() -> None:
    with fresh_postgres_database() as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            ids, clients = _clinic(factory)
            with transaction(factory) as session:
                booked = _raw_appointment(session, ids, clients[0], SLOT)
            with pytest.raises(IntegrityError, match="ex_appointments_room_overlap"), transaction(factory) as session:
                _raw_appointment(session, ids, clients[1], SLOT + timedelta(minutes=20))
            with transaction(factory) as session:  # once cancelled, the time is free again
                session.get(Appointment, booked).status = AppointmentStatus.CANCELLED  # type: ignore[union-attr]
            with transaction(factory) as session:
                _raw_appointment(session, ids, clients[1], SLOT + timedelta(minutes=20))
        finally:
            engine.dispose()


def _raw_appointment(session: Session, ids: dict[str, uuid.UUID], client_id: uuid.UUID, start: datetime) -> uuid.UUID:
    """An appointment written straight to the table, past every check in Python."""
    [device] = rooms.devices_in_service(session, room_ids=[ids["room"]])
    other_esthetician = _user(session, Role.ESTHETICIAN)
    parent = Series(
        client_id=client_id,
        protocol_id=ids["protocol"],
        esthetician_id=other_esthetician.id,
        room_id=ids["room"],
        plan={},
        created_by_id=ids["desk"],
    )
    session.add(parent)
    session.flush()
    appointment = Appointment(
        series_id=parent.id,
        sequence=1,
        client_id=client_id,
        protocol_id=ids["protocol"],
        esthetician_id=other_esthetician.id,
        room_id=ids["room"],
        device_id=device.id,
        start_at=start,
        end_at=start + timedelta(minutes=35),
        occupied_until=start + timedelta(minutes=35),
        status=AppointmentStatus.BOOKED,
    )
    session.add(appointment)
    session.flush()
    return appointment.id
