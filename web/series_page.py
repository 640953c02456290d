"""What the booking page offers to choose from, and a booked series as its page lists it, read through the services.

The bounds of the plan's numbers are the API schema's own, so the form's hints never disagree with what booking
accepts (the schema still judges every body)."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from annotated_types import Ge, Le
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import NotFound
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.series import IntensivePhase, MaintenancePhase, Plan
from api.services import clients, protocols, rooms, series, users
from api.services.booking import appointment_length
from db.models import AppointmentStatus, ProtocolStatus, Role


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Offered:
    """The approved protocols, the active estheticians and the rooms; the bounds of the plan's numbers."""

    protocols: list[Choice]
    estheticians: list[Choice]
    rooms: list[Choice]
    bounds: dict[str, tuple[int, int]]

    def only_choices(self) -> dict[str, str]:
        """A protocol or an esthetician chosen already when there is only one to choose."""
        lists = {"protocol_id": self.protocols, "esthetician_id": self.estheticians}
        return {name: found[0].value for name, found in lists.items() if len(found) == 1}


def choices(session: Session, clinic: ClinicSettings) -> Offered:
    approved = protocols.list_all(session, status=ProtocolStatus.APPROVED)
    return Offered(
        protocols=[
            Choice(str(p.id), f"{p.name} (version {p.version}, {_minutes(appointment_length(p, clinic)[0])} min)")
            for p in approved
        ],
        estheticians=[
            Choice(str(u.id), u.full_name)
            for u in users.list_all(session)
            if u.role == Role.ESTHETICIAN and u.is_active
        ],
        rooms=[Choice(str(r.id), r.name) for r in rooms.list_rooms(session)],
        bounds={
            "intensive_sessions": _bounds(IntensivePhase, "sessions"),
            "per_week": _bounds(IntensivePhase, "per_week"),
            "maintenance_sessions": (0, _bounds(MaintenancePhase, "sessions")[1]),  # 0: no maintenance phase
            "interval_weeks": _bounds(MaintenancePhase, "interval_weeks"),
        },
    )


def _bounds(model: type[BaseModel], name: str) -> tuple[int, int]:
    found: dict[type, Any] = {type(m): m for m in model.model_fields[name].metadata}
    return int(found[Ge].ge), int(found[Le].le)


def _minutes(length: timedelta) -> int:
    return int(length.total_seconds() // 60)


@dataclass(frozen=True)
class BookedRow:
    id: uuid.UUID
    sequence: int
    start: datetime  # local
    end: datetime
    room: str
    status: AppointmentStatus


@dataclass(frozen=True)
class BookedSeries:
    title: str
    client_id: uuid.UUID
    client_name: str
    protocol: str
    esthetician: str
    plan: Plan
    appointments: list[BookedRow]

    @property
    def days(self) -> list[date]:
        return sorted({row.start.date() for row in self.appointments})


def booked_series(session: Session, *, actor: Actor, series_id: uuid.UUID, zone: ZoneInfo) -> BookedSeries:
    """The series with its appointments in the clinic's time, and the names of who and what they are for."""
    found, appointments = series.get(session, series_id=series_id)
    try:
        client = clients.read(session, actor=actor, client_id=found.client_id)
        name = f"{client.first_name} {client.last_name}"
    except NotFound:
        name = "(client record deleted)"
    room_names = {r.id: r.name for r in rooms.list_rooms(session)}
    protocol = protocols.get(session, protocol_id=found.protocol_id)
    plan = Plan.model_validate(found.plan)
    return BookedSeries(
        title=f"Series for {name}",
        client_id=found.client_id,
        client_name=name,
        protocol=f"{protocol.name} (version {protocol.version})",
        esthetician=users.get(session, user_id=found.esthetician_id).full_name,
        plan=plan,
        appointments=[
            BookedRow(
                id=a.id,
                sequence=a.sequence,
                start=a.start_at.astimezone(zone),
                end=a.end_at.astimezone(zone),
                room=room_names.get(a.room_id, "?"),
                status=a.status,
            )
            for a in appointments
        ],
    )
