"""The benchmark's rows: staff, rooms and devices, appointments due now, treating sessions."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from api.security import hash_password
from bench.gateway.settings import DAY_OF, MAX_CURRENT_UA, MAX_OUTPUT_S, STEPS, TOLERANCE
from db.models import (
    Appointment,
    AppointmentStatus,
    Device,
    DeviceStatus,
    Role,
    Room,
    Series,
    SessionStatus,
    TreatmentSession,
    User,
)


@dataclass
class Staff:
    medical_director: uuid.UUID
    front_desk: uuid.UUID
    esthetician: uuid.UUID
    appointment_estheticians: list[uuid.UUID]  # one per appointment due now: they overlap in time


def add_staff(engine: Engine, appointments_due: int) -> Staff:
    password_hash = hash_password(secrets.token_urlsafe(16))  # nobody logs in: the tokens are signed here
    ids = {role: uuid.uuid4() for role in (Role.MEDICAL_DIRECTOR, Role.FRONT_DESK, Role.ESTHETICIAN)}
    extra = [uuid.uuid4() for _ in range(appointments_due)]
    rows = [
        {
            "id": user_id,
            "email": f"bench.{role.value}@example.com",
            "full_name": f"Bench {role.value}",
            "role": role,
            "password_hash": password_hash,
        }
        for role, user_id in ids.items()
    ]
    rows += [
        {
            "id": user_id,
            "email": f"bench.esthetician.{i}@example.com",
            "full_name": f"Esthetician {i}",
            "role": Role.ESTHETICIAN,
            "password_hash": password_hash,
        }
        for i, user_id in enumerate(extra)
    ]
    with engine.begin() as conn:
        conn.execute(insert(User), rows)
    return Staff(ids[Role.MEDICAL_DIRECTOR], ids[Role.FRONT_DESK], ids[Role.ESTHETICIAN], extra)


def add_rooms(engine: Engine, prefix: str, count: int) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """`count` rooms, each with one device in service: (room id, device row id, device_id)."""
    made = [(uuid.uuid4(), uuid.uuid4(), f"{prefix}-{i:05d}") for i in range(count)]
    with engine.begin() as conn:
        conn.execute(insert(Room), [{"id": room, "name": f"{mqtt_id} room"} for room, _, mqtt_id in made])
        conn.execute(
            insert(Device),
            [
                {
                    "id": device,
                    "device_id": mqtt_id,
                    "serial": f"SN-{mqtt_id}",
                    "room_id": room,
                    "probe_area_cm2": 0.5,
                    "mqtt_password_hash": "unused",
                    "status": DeviceStatus.IN_SERVICE,
                    "state": "offline",
                }
                for room, device, mqtt_id in made
            ],
        )
    return made


def add_appointments(
    engine: Engine,
    rooms: list[tuple[uuid.UUID, uuid.UUID, str]],
    *,
    client_ids: list[uuid.UUID],
    protocol_id: uuid.UUID,
    estheticians: list[uuid.UUID],
    starts: list[datetime],
    created_by: uuid.UUID,
) -> list[uuid.UUID]:
    """One booked appointment (in a series of its own) per room, written straight to the tables."""
    series_rows, appointment_rows = [], []
    for (room, device, _), client, esthetician, start in zip(rooms, client_ids, estheticians, starts, strict=True):
        series_id = uuid.uuid4()
        series_rows.append(
            {
                "id": series_id,
                "client_id": client,
                "protocol_id": protocol_id,
                "esthetician_id": esthetician,
                "room_id": room,
                "plan": {},
                "created_by_id": created_by,
            }
        )
        end = start + timedelta(minutes=35)
        appointment_rows.append(
            {
                "id": uuid.uuid4(),
                "series_id": series_id,
                "sequence": 1,
                "client_id": client,
                "protocol_id": protocol_id,
                "esthetician_id": esthetician,
                "room_id": room,
                "device_id": device,
                "start_at": start,
                "end_at": end,
                "occupied_until": end,
                "status": AppointmentStatus.BOOKED,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Series), series_rows)
        conn.execute(insert(Appointment), appointment_rows)
    return [row["id"] for row in appointment_rows]


def add_sessions(
    engine: Engine,
    rooms: list[tuple[uuid.UUID, uuid.UUID, str]],
    appointments: list[uuid.UUID],
    *,
    protocol_id: uuid.UUID,
    status: SessionStatus,
    created_by: uuid.UUID,
) -> list[str]:
    """A session in progress per appointment, with the limits the API would have given it."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "appointment_id": appointment,
            "device_id": device,
            "protocol_id": protocol_id,
            "steps": STEPS,
            "status": status,
            "max_current_ua": MAX_CURRENT_UA,
            "max_output_s": MAX_OUTPUT_S,
            "tolerance_percent": round((TOLERANCE - 1) * 100),
            "day_of": DAY_OF,
            "created_by_id": created_by,
            "armed_at": now,
            "started_at": now if status == SessionStatus.TREATING else None,
        }
        for (_, device, _), appointment in zip(rooms, appointments, strict=True)
    ]
    with engine.begin() as conn:
        conn.execute(insert(TreatmentSession), rows)
    return [str(row["id"]) for row in rows]
