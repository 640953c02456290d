"""Booking whole series: every occurrence checked against rooms, devices, staff, cadence, hours and screening."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, InvalidInput
from api.schemas.clinic_settings import ClinicSettings
from api.services import approvals, rooms
from api.services.scheduling import cadence_problem, outside_opening_hours
from api.services.screening_engine import Kind, Reason, judge
from db.models import (
    Appointment,
    AppointmentStatus,
    Client,
    Device,
    Protocol,
    ProtocolStatus,
    Role,
    Room,
    Screening,
    User,
)
from db.vocabulary import Outcome, Zone

# IEC 60601-2-10 asks for special attention above 2 mA/cm² at an electrode (shared/domain.md).
MAX_DENSITY_UA_PER_CM2 = 2000


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass
class Slot:
    """One session to book: when, where, and what stands in its way."""

    sequence: int
    start_at: datetime
    end_at: datetime
    occupied_until: datetime
    room_id: uuid.UUID | None = None
    device: Device | None = None
    awaiting_screening: bool = False
    problems: list[Problem] = field(default_factory=list)


class BookingConflict(Conflict):
    """Some occurrences cannot be booked; carries every one of them and why."""

    def __init__(self, slots: list[Slot], zone: ZoneInfo, alternatives: dict[int, datetime] | None = None) -> None:
        bad = [s for s in slots if s.problems]
        super().__init__(f"{len(bad)} of {len(slots)} sessions cannot be booked; nothing was booked.")
        self.extra = {"conflicts": [_conflict_json(s, zone, (alternatives or {}).get(s.sequence)) for s in bad]}


def _conflict_json(slot: Slot, zone: ZoneInfo, alternative: datetime | None) -> dict[str, object]:
    body: dict[str, object] = {
        "sequence": slot.sequence, "start_at": slot.start_at.astimezone(zone).isoformat(),
        "reasons": [{"code": p.code, "message": p.message} for p in slot.problems],
    }
    if alternative is not None:
        body["alternative_start_at"] = alternative.astimezone(zone).isoformat()
    return body


@dataclass(frozen=True)
class Screened:
    """What the client's newest screening says about days to come.

    `detailed` is for those who may see health data: the rule behind each problem. Everyone else (the front
    desk) reads outcomes and dates only, never why."""

    screening: Screening | None
    reasons: list[Reason]
    detailed: bool = False

    def awaiting_on(self, day: date) -> bool:
        s = self.screening
        return s is None or not (s.screened_on <= day <= s.valid_until)

    def problems_on(self, day: date, zones: set[Zone]) -> list[Problem]:
        found = []
        for reason in self.reasons:
            active = reason.until is None or reason.until > day
            if not active or reason.approved_by:
                continue
            if reason.kind == Kind.DEFERRAL:
                when = f"until {reason.until:%d %B %Y}" if reason.until else "until a new screening clears the client"
                found.append(Problem("screening_deferred", self._why(f"treatment is deferred {when}", reason)))
            elif reason.kind == Kind.ZONE_EXCLUSION and zones & set(reason.zones):
                found.append(Problem("excluded_zone", self._excluded(zones & set(reason.zones), reason)))
        return found

    def _why(self, outcome: str, reason: Reason) -> str:
        return f"{outcome}: {reason.rule}" if self.detailed else outcome

    def _excluded(self, touched: set[Zone], reason: Reason) -> str:
        if self.detailed:
            names = ", ".join(z.value for z in sorted(touched, key=list(Zone).index))
            return f"the protocol works on the {names}, excluded: {reason.rule}"
        until = f" until {reason.until:%d %B %Y}" if reason.until else ""
        return f"the protocol works on a zone the client's screening excludes{until}"


REFUSED_OUTCOMES = {Outcome.CONTRAINDICATED: "does not allow this treatment (contraindicated)",
                    Outcome.PHYSICIAN_APPROVAL_REQUIRED: "does not allow this treatment yet (approval required)"}


def screened(session: Session, *, client_id: uuid.UUID, today: date, detailed: bool) -> Screened:
    """The newest screening, refusing outright a client who is contraindicated or needs an approval.

    `detailed`: the refusals name the rules (health data); otherwise they give the outcome only."""
    screening = session.scalar(select(Screening).where(Screening.client_id == client_id)
                               .order_by(Screening.created_at.desc()).limit(1))
    if screening is None:
        return Screened(None, [], detailed)
    verdict = judge([Reason.from_json(r) for r in screening.reasons],
                    approvals.valid_on(session, client_id=client_id, day=today))
    if verdict.outcome in REFUSED_OUTCOMES and not detailed:
        raise Conflict(f"This client cannot be booked: the client's screening {REFUSED_OUTCOMES[verdict.outcome]}.")
    if verdict.outcome in REFUSED_OUTCOMES:
        why = "; ".join(r.rule for r in verdict.reasons if not r.approved_by and r.kind in {
            Kind.CONTRAINDICATION, Kind.APPROVAL_REQUIRED})
        raise Conflict(f"This client cannot be booked: the latest screening is {verdict.outcome.value} ({why}).")
    return Screened(screening, verdict.reasons, detailed)


def bookable_protocol(session: Session, *, protocol_id: uuid.UUID) -> Protocol:
    protocol = session.get(Protocol, protocol_id)
    if protocol is None:
        raise InvalidInput("protocol_id", "there is no protocol with this id")
    if protocol.status != ProtocolStatus.APPROVED:
        raise InvalidInput("protocol_id", f"this protocol version is {protocol.status.value}: only an approved "
                                          "protocol can be booked")
    return protocol


def bookable_esthetician(session: Session, *, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.role != Role.ESTHETICIAN:
        raise InvalidInput("esthetician_id", "must be an active esthetician's account")
    return user


def appointment_length(protocol: Protocol, clinic: ClinicSettings) -> tuple[timedelta, timedelta]:
    """How long the appointment lasts, and how long the room stays taken (with its turnover buffer)."""
    output_minutes = -(-protocol.total_output_s // 60)  # rounded up
    length = timedelta(minutes=output_minutes + clinic.preparation_minutes)
    return length, length + timedelta(minutes=clinic.buffer_minutes)


@dataclass(frozen=True)
class Place:
    """A room a session could take, with its device in service (if it has one)."""

    room: Room
    device: Device | None


def places(session: Session, *, room_id: uuid.UUID | None) -> list[Place]:
    """The room asked for, or every room by name: read once per booking, not once per session."""
    chosen = [rooms.get_room(session, room_id=room_id)] if room_id else list(rooms.list_rooms(session))
    return [Place(room, rooms.bookable_device(session, room_id=room.id)) for room in chosen]


def overlapping(column: ColumnElement[uuid.UUID], value: uuid.UUID, start: datetime, until: datetime,
                ignore: uuid.UUID | None, *, postgresql: bool) -> ColumnElement[bool]:
    """Booked appointments of `value` in `column` that overlap [start, until)."""
    booked = Appointment.status == literal_column("'booked'")  # a literal, so the partial indexes apply
    if postgresql:  # the question the exclusion constraints' GiST indexes answer without reading history
        taken = func.tstzrange(Appointment.start_at, Appointment.occupied_until, literal_column("'[)'"))
        period = taken.op("&&")(func.tstzrange(start, until, literal_column("'[)'")))
    else:
        period = (Appointment.start_at < until) & (Appointment.occupied_until > start)
    condition = (column == value) & booked & period
    return condition & (Appointment.id != ignore) if ignore else condition


def check_slot(session: Session, slot: Slot, *, places: list[Place], any_room: bool, esthetician: User,
               client: Client, protocol: Protocol, clinic: ClinicSettings, zone: ZoneInfo, screen: Screened,
               ignore: uuid.UUID | None = None) -> None:
    """Fill in the slot's room, device and problems (everything but cadence, which needs all the slots)."""
    hours = outside_opening_hours(slot.start_at, slot.end_at, zone, clinic.opening_hours)
    if hours:
        slot.problems.append(Problem("clinic_hours", hours))
    day = slot.start_at.astimezone(zone).date()
    slot.problems += screen.problems_on(day, {Zone(s["zone"]) for s in protocol.steps})
    slot.awaiting_screening = screen.awaiting_on(day)
    _place(session, slot, places=places, any_room=any_room, protocol=protocol, ignore=ignore)
    busy = [
        (Appointment.esthetician_id, esthetician.id, "esthetician_busy", f"{esthetician.full_name} is booked then"),
        (Appointment.client_id, client.id, "client_busy", "the client already has an appointment then"),
    ]
    for column, value, code, message in busy:
        if _taken(session, column, value, slot, ignore):
            slot.problems.append(Problem(code, message))


def _place(session: Session, slot: Slot, *, places: list[Place], any_room: bool, protocol: Protocol,
           ignore: uuid.UUID | None) -> None:
    """Choose the room (the one asked for, or the first free one) and its device."""
    first_problems: list[Problem] | None = None
    for place in places:
        problems = _room_problems(session, place, slot, protocol, ignore)
        if not problems:
            slot.room_id, slot.device = place.room.id, place.device
            return
        first_problems = first_problems if first_problems is not None else problems
    if any_room:
        slot.problems.append(Problem("no_room_free", "no room has a free device in service then"))
    else:
        slot.problems += first_problems or []


def _room_problems(session: Session, place: Place, slot: Slot, protocol: Protocol,
                   ignore: uuid.UUID | None) -> list[Problem]:
    room, device = place.room, place.device
    if device is None:
        return [Problem("no_device", f"{room.name} has no device in service")]
    problems = []
    density = protocol.max_current_ua / device.probe_area_cm2
    if density > MAX_DENSITY_UA_PER_CM2:
        problems.append(Problem("current_density", (
            f"{protocol.max_current_ua:g} µA on the {device.probe_area_cm2:g} cm² probes of {room.name}'s device is "
            f"{density / 1000:.2f} mA/cm², above 2 mA/cm²")))
    if _taken(session, Appointment.room_id, room.id, slot, ignore):
        problems.append(Problem("room_busy", f"{room.name} is booked then"))
    if _taken(session, Appointment.device_id, device.id, slot, ignore):
        problems.append(Problem("device_busy", f"the device {device.serial} is booked then"))
    return problems


def _taken(session: Session, column: ColumnElement[uuid.UUID], value: uuid.UUID, slot: Slot,
           ignore: uuid.UUID | None) -> bool:
    postgresql = session.get_bind().dialect.name == "postgresql"
    query = select(Appointment.id).where(overlapping(column, value, slot.start_at, slot.occupied_until, ignore,
                                                     postgresql=postgresql))
    return session.scalar(query.limit(1)) is not None


def check_cadence(session: Session, slots: list[Slot], *, client: Client, clinic: ClinicSettings,
                  ignore: uuid.UUID | None = None, planned: Sequence[datetime] = ()) -> None:
    """Add cadence problems: each slot against the client's booked sessions, the other slots and `planned`."""
    if not slots:
        return
    margin = timedelta(days=7) + timedelta(hours=clinic.cadence.min_hours_between_sessions)
    first, last = min(s.start_at for s in slots) - margin, max(s.start_at for s in slots) + margin
    query = select(Appointment.start_at).where(
        Appointment.client_id == client.id, Appointment.status == AppointmentStatus.BOOKED,
        Appointment.start_at > first, Appointment.start_at < last)
    if ignore:
        query = query.where(Appointment.id != ignore)
    booked = [*session.scalars(query), *planned]
    for slot in slots:
        others = booked + [s.start_at for s in slots if s is not slot]
        problem = cadence_problem(slot.start_at, others, clinic.cadence)
        if problem:
            slot.problems.append(Problem("cadence", problem))


def insert_appointments(session: Session, appointments: list[Appointment]) -> None:
    """Add them; on PostgreSQL an exclusion constraint refuses an overlap a concurrent booking just made."""
    session.add_all(appointments)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("Another booking took one of these times a moment ago; nothing was booked. "
                       "Check the times again.") from exc


def lock_client(session: Session, *, client_id: uuid.UUID) -> Client:
    """The client's row, locked until the booking commits, so two desks cannot break the cadence together."""
    client = session.scalar(select(Client).where(Client.id == client_id, Client.deleted_at.is_(None))
                            .with_for_update())
    if client is None:
        raise InvalidInput("client_id", "there is no client with this id")
    return client
