"""The load run's clinic (bench/staff_load.py): staff accounts, protocols, rooms with their devices, clients and an
appointment due now in every room. Made through the API where the README makes them so (accounts, the protocol,
rooms, devices with their broker passwords, the floor's screenings); written straight to the tables where only the
volume matters (clients, estheticians nobody signs in as, the appointments due now, each with a client and an
esthetician of its own, as the database refuses overlapping appointments for one esthetician, room or device)."""

import math
import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import room_soak
import series_booking as booking
from sqlalchemy import Engine, insert, update

from api.security import hash_password
from bench.gateway.database import add_appointments
from bench.gateway.settings import NO_ANSWERS, STEPS
from db.models import Appointment, Client, Role, User

ADMIN_EMAIL = "load.admin@clinic.example.com"
PROBE_AREA_CM2 = 0.5
ROOMS_PER_ESTHETICIAN = 3  # a virtual esthetician treats in one while the others' devices go idle
FRONT_DESK_SHARE = 0.4


@dataclass
class Room:
    room_id: str
    device_row_id: str  # the API's id of the device
    device_id: str  # its MQTT identity
    password: str


@dataclass
class Account:
    email: str
    password: str
    role: Role
    user_id: str = ""


@dataclass
class Due:
    """An appointment due now: startable from 30 minutes before its start."""

    appointment_id: str
    client_id: str
    room: Room


@dataclass
class Clinic:
    admin: Account
    director: Account
    floor: Account  # starts and stops the floor's sessions (not measured)
    front_desk: list[Account]
    estheticians: list[Account]
    protocol_id: str  # the approved 10-minute protocol that staff start and book
    long_protocol_id: str  # the floor's stand-in, as long as the run
    rooms: list[Room]
    floor_due: list[Due]
    staff_due: dict[str, list[Due]]  # esthetician email -> the appointment due now in each of their rooms
    booking_estheticians: list[str]  # user ids, two per room of the first booking.ROOMS rooms
    booking_clients: list[str]
    all_clients: list[str]


def staff_accounts(count: int) -> tuple[list[Account], list[Account]]:
    """The virtual staff: 40 % front desk, the rest estheticians, each with an account of their own."""
    desks = max(1, round(count * FRONT_DESK_SHARE)) if count > 1 else 0
    front = [
        Account(f"load.desk{i}@clinic.example.com", secrets.token_urlsafe(12), Role.FRONT_DESK) for i in range(desks)
    ]
    estheticians = [
        Account(f"load.esthetician{i}@clinic.example.com", secrets.token_urlsafe(12), Role.ESTHETICIAN)
        for i in range(count - desks)
    ]
    return front, estheticians


def log_in(http: httpx.Client, account: Account) -> dict[str, str]:
    """A bearer token from POST /api/v1/auth/token, as the README says."""
    answer = http.post("/api/v1/auth/token", data={"username": account.email, "password": account.password})
    ok(answer, 200)
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def ok(answer: httpx.Response, status: int = 201) -> Any:
    if answer.status_code != status:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}")
    return answer.json()


def build(
    http: httpx.Client,
    engine: Engine,
    database_url: str,
    *,
    admin_password: str,
    staff: int,
    devices: int,
    clients: int,
    run_s: float,
    rng: random.Random,
) -> Clinic:
    """The whole clinic; the admin exists already (made by `galvani api` from GALVANI_ADMIN_*)."""
    admin = Account(ADMIN_EMAIL, admin_password, Role.ADMIN)
    as_admin = log_in(http, admin)
    director = Account("load.director@clinic.example.com", secrets.token_urlsafe(12), Role.MEDICAL_DIRECTOR)
    floor = Account("load.floor@clinic.example.com", secrets.token_urlsafe(12), Role.ESTHETICIAN)
    front, estheticians = staff_accounts(staff)
    for account in (director, floor, *front, *estheticians):
        made = ok(
            http.post(
                "/api/v1/users",
                headers=as_admin,
                json={
                    "email": account.email,
                    "password": account.password,
                    "full_name": account.email.split("@")[0].replace(".", " ").title(),
                    "role": account.role.value,
                },
            )
        )
        account.user_id = made["id"]
    as_director = log_in(http, director)
    draft = ok(
        http.post(
            "/api/v1/protocols",
            headers=as_director,
            json={"name": "Lift and tone", "target": {"areas": ["cheeks", "jawline"], "goal": "lift"}, "steps": STEPS},
        )
    )
    protocol_id = ok(http.post(f"/api/v1/protocols/{draft['id']}/approve", headers=as_director), 200)["id"]
    long_protocol_id = room_soak.long_protocol(database_url, math.ceil((run_s + 600) / room_soak.STEP_S))

    rooms = []
    for i in range(devices):
        room = ok(http.post("/api/v1/rooms", headers=as_admin, json={"name": f"Room {i + 1:03d}"}))
        device = ok(
            http.post(
                "/api/v1/devices",
                headers=as_admin,
                json={"serial": f"LOAD-{i + 1:05d}", "room_id": room["id"], "probe_area_cm2": PROBE_AREA_CM2},
            )
        )
        rooms.append(Room(room["id"], device["id"], device["device_id"], device["mqtt_password"]))

    staff_room_count = min(len(estheticians) * ROOMS_PER_ESTHETICIAN, devices - 1)
    client_ids = [uuid.uuid4() for _ in range(max(clients, devices + 100))]
    rows = booking.client_rows(client_ids, "load", rng)
    with engine.begin() as conn:
        for first in range(0, len(rows), 5000):
            conn.execute(insert(Client), rows[first : first + 5000])
    booking_estheticians = add_estheticians(engine, booking.ROOMS * booking.ESTHETICIANS_PER_ROOM, "bookable")
    # today's appointments overlap in time: each has an esthetician of its own (the database allows no overlap)
    room_estheticians = add_estheticians(engine, devices, "room")

    ids = [str(c) for c in client_ids]
    today_clients, booking_clients = ids[:devices], ids[devices:]
    start = datetime.now(UTC) + timedelta(minutes=29)  # startable from 30 minutes before: from now for 64 min
    due = due_now(engine, rooms, today_clients, protocol_id, room_estheticians, start, director)
    staff_rooms_due, floor_due = due[:staff_room_count], due[staff_room_count:]
    with engine.begin() as conn:  # the floor's stand-in protocol
        conn.execute(
            update(Appointment)
            .where(Appointment.id.in_([uuid.UUID(d.appointment_id) for d in floor_due]))
            .values(protocol_id=uuid.UUID(long_protocol_id))
        )
    screen(http, log_in(http, floor), [d.client_id for d in floor_due])
    staff_due = {
        account.email: staff_rooms_due[n * ROOMS_PER_ESTHETICIAN : (n + 1) * ROOMS_PER_ESTHETICIAN]
        for n, account in enumerate(estheticians)
    }
    return Clinic(
        admin,
        director,
        floor,
        front,
        estheticians,
        protocol_id,
        long_protocol_id,
        rooms,
        floor_due,
        staff_due,
        booking_estheticians,
        booking_clients,
        ids,
    )


def add_estheticians(engine: Engine, count: int, tag: str) -> list[str]:
    """Esthetician accounts nobody signs in as, written straight to the table: their user ids."""
    password_hash = hash_password(secrets.token_urlsafe(16))
    ids = [uuid.uuid4() for _ in range(count)]
    with engine.begin() as conn:
        conn.execute(
            insert(User),
            [
                {
                    "id": user_id,
                    "email": f"load.{tag}{i}@clinic.example.com",
                    "full_name": f"Esthetician {tag.title()} {i}",
                    "role": Role.ESTHETICIAN,
                    "password_hash": password_hash,
                }
                for i, user_id in enumerate(ids)
            ],
        )
    return [str(i) for i in ids]


def due_now(
    engine: Engine,
    rooms: list[Room],
    clients: list[str],
    protocol_id: str,
    estheticians: list[str],
    start: datetime,
    director: Account,
) -> list[Due]:
    """One appointment per room, each with a client and an esthetician of its own, in a series of its own, written
    straight to the tables (bench/gateway/database.py)."""
    made = add_appointments(
        engine,
        [(uuid.UUID(r.room_id), uuid.UUID(r.device_row_id), r.device_id) for r in rooms],
        client_ids=[uuid.UUID(c) for c in clients],
        protocol_id=uuid.UUID(protocol_id),
        estheticians=[uuid.UUID(e) for e in estheticians],
        starts=[start] * len(rooms),
        created_by=uuid.UUID(director.user_id),
    )
    return [Due(str(a), c, r) for a, c, r in zip(made, clients, rooms, strict=True)]


def screen(http: httpx.Client, headers: dict[str, str], clients: list[str]) -> None:
    for client_id in clients:
        ok(http.post(f"/api/v1/clients/{client_id}/screenings", headers=headers, json={"answers": NO_ANSWERS}))


def booking_lane(index: int) -> booking.Lane:
    """The index-th free lane for a 12-session series: a room, an hour and a first day from tomorrow on, no two
    sharing a room, an esthetician or a client at one time (bench/series_booking.py's lanes)."""
    block, within = divmod(index, booking.LANES_PER_BLOCK)
    return booking.lane_in_block(within, 1 + block * booking.LANE_BLOCK_DAYS)
