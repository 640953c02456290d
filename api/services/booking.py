"""Booking whole series: every occurrence checked against rooms, devices, staff, cadence, hours and screening."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, InvalidInput
from api.schemas.clinic_settings import Cadence, ClinicSettings
from api.services import approvals, rooms
from api.services.calendar import Calendar, Resource, Window, load_calendar
from api.services.current_density import fits, too_dense
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
        "sequence": slot.sequence,
        "start_at": slot.start_at.astimezone(zone).isoformat(),
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


REFUSED_OUTCOMES = {
    Outcome.CONTRAINDICATED: "does not allow this treatment (contraindicated)",
    Outcome.PHYSICIAN_APPROVAL_REQUIRED: "does not allow this treatment yet (approval required)",
}
NEXT_STEP = {Outcome.PHYSICIAN_APPROVAL_REQUIRED: " The client can be booked once a physician's approval is recorded."}


class ClientRefused(Conflict):
    """The client cannot be booked at all, whatever the times: the latest screening stands in the way."""


def screened(session: Session, *, client_id: uuid.UUID, today: date, detailed: bool) -> Screened:
    """The newest screening, refusing outright a client who is contraindicated or needs an approval.

    `detailed`: the refusals name the rules (health data); otherwise they give the outcome only."""
    screening = session.scalar(
        select(Screening).where(Screening.client_id == client_id).order_by(Screening.created_at.desc()).limit(1)
    )
    if screening is None:
        return Screened(None, [], detailed)
    verdict = judge(
        [Reason.from_json(r) for r in screening.reasons], approvals.valid_on(session, client_id=client_id, day=today)
    )
    if verdict.outcome not in REFUSED_OUTCOMES:
        return Screened(screening, verdict.reasons, detailed)
    standing = {Kind.CONTRAINDICATION, Kind.APPROVAL_REQUIRED}
    why = "; ".join(r.rule for r in verdict.reasons if not r.approved_by and r.kind in standing)
    raise ClientRefused(
        f"This client cannot be booked: the client's screening {REFUSED_OUTCOMES[verdict.outcome]}."
        + (f" Why: {why}." if detailed else "")
        + NEXT_STEP.get(verdict.outcome, "")
    )


def bookable_protocol(session: Session, *, protocol_id: uuid.UUID) -> Protocol:
    protocol = session.get(Protocol, protocol_id)
    if protocol is None:
        raise InvalidInput("protocol_id", "there is no protocol with this id")
    if protocol.status != ProtocolStatus.APPROVED:
        raise InvalidInput(
            "protocol_id", f"this protocol version is {protocol.status.value}: only an approved protocol can be booked"
        )
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


@dataclass(frozen=True, slots=True)
class Place:
    """A room a session could take, with its devices in service, oldest first."""

    room: Room
    devices: tuple[Device, ...]


def places(session: Session, *, room_id: uuid.UUID | None, keep: uuid.UUID | None = None) -> tuple[Place, ...]:
    """The room asked for, or every room by name, with their devices: read once per booking, not once per session.

    `keep`: the device an appointment being moved holds, tried first so that it stays on it if it can."""
    chosen = [rooms.get_room(session, room_id=room_id)] if room_id else list(rooms.list_rooms(session))
    devices = sorted(
        rooms.devices_in_service(session, room_ids=[room.id for room in chosen]), key=lambda d: d.id != keep
    )  # stable: oldest first otherwise
    return tuple(Place(room, tuple(d for d in devices if d.room_id == room.id)) for room in chosen)


@dataclass(frozen=True, slots=True)
class BookingContext:
    """What every occurrence of a booking is checked against, read once for the whole series."""

    places: tuple[Place, ...]
    any_room: bool  # no room was asked for: each session takes the first room free then
    esthetician: User
    client: Client
    protocol: Protocol
    clinic: ClinicSettings
    screen: Screened
    calendar: Calendar  # what is booked around the sessions, this booking's own appointment left out
    client_starts: tuple[datetime, ...]  # the client's booked sessions around them, for the cadence

    @classmethod
    def read(
        cls,
        session: Session,
        slots: Sequence[Slot],
        *,
        places: tuple[Place, ...],
        any_room: bool,
        esthetician: User,
        client: Client,
        protocol: Protocol,
        clinic: ClinicSettings,
        screen: Screened,
        reach: timedelta = timedelta(0),
        ignore: uuid.UUID | None = None,
    ) -> "BookingContext":
        """The context for these slots, and for any start within `reach` of them: two statements however many."""
        windows = [(s.start_at - reach, s.occupied_until + reach) for s in slots]
        wanted: dict[Resource, list[uuid.UUID]] = {
            "room": [p.room.id for p in places],
            "device": [d.id for p in places for d in p.devices],
            "esthetician": [esthetician.id],
            "client": [client.id],
        }
        span = cadence_span((s.start_at for s in slots), clinic.cadence, reach=reach)
        return cls(
            places=places,
            any_room=any_room,
            esthetician=esthetician,
            client=client,
            protocol=protocol,
            clinic=clinic,
            screen=screen,
            calendar=load_calendar(session, wanted=wanted, windows=windows, ignore=ignore),
            client_starts=booked_starts(session, client_id=client.id, span=span, ignore=ignore),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def check(self, slots: Sequence[Slot]) -> None:
        """Check every slot, then the cadence: each against the client's other sessions and the other slots."""
        for slot in slots:
            check_slot(slot, self)
        add_overlap_problems(slots)
        add_cadence_problems(slots, self.client_starts, self.clinic.cadence)


def check_slot(slot: Slot, context: BookingContext) -> None:
    """Fill in the slot's room, device and problems (everything but cadence, which needs all the slots)."""
    zone = context.zone
    hours = outside_opening_hours(slot.start_at, slot.end_at, zone, context.clinic.opening_hours)
    if hours:
        slot.problems.append(Problem("clinic_hours", hours))
    day = slot.start_at.astimezone(zone).date()
    slot.problems += context.screen.problems_on(day, {Zone(s["zone"]) for s in context.protocol.steps})
    slot.awaiting_screening = context.screen.awaiting_on(day)
    _place(slot, context)
    esthetician = context.esthetician
    busy: list[tuple[Resource, uuid.UUID, str, str]] = [
        ("esthetician", esthetician.id, "esthetician_busy", f"{esthetician.full_name} is booked then"),
        ("client", context.client.id, "client_busy", "the client already has an appointment then"),
    ]
    for resource, value, code, message in busy:
        if context.calendar.taken(resource, value, slot.start_at, slot.occupied_until):
            slot.problems.append(Problem(code, message))


def _place(slot: Slot, context: BookingContext) -> None:
    """Choose the room (the one asked for, or the first free one) and a free device in it that fits."""
    first_problems: list[Problem] | None = None
    for place in context.places:
        device, problems = _in_room(place, slot, context)
        if device is not None and not problems:
            slot.room_id, slot.device = place.room.id, device
            return
        first_problems = first_problems if first_problems is not None else problems
    if context.any_room:
        slot.problems.append(Problem("no_room_free", "no room has a free device in service then"))
    else:
        slot.problems += first_problems or []


def _in_room(place: Place, slot: Slot, context: BookingContext) -> tuple[Device | None, list[Problem]]:
    """The room's first device that fits the protocol and is free then, or what stands in the way."""
    room, protocol, taken = place.room, context.protocol, context.calendar.taken
    if not place.devices:
        return None, [Problem("no_device", f"{room.name} has no device in service")]
    problems = []
    fitting = [d for d in place.devices if fits(protocol, d)]
    if not fitting:
        problems.append(Problem("current_density", _too_dense(place, protocol)))
    if taken("room", room.id, slot.start_at, slot.occupied_until):
        problems.append(Problem("room_busy", f"{room.name} is booked then"))
    candidates = fitting or list(place.devices)
    free = [d for d in candidates if not taken("device", d.id, slot.start_at, slot.occupied_until)]
    if not free:
        problems.append(
            Problem(
                "device_busy",
                f"the device {candidates[0].serial} is booked then"
                if len(candidates) == 1
                else f"every device in {room.name} that fits is booked then",
            )
        )
    return (free[0] if free else None), problems


def _too_dense(place: Place, protocol: Protocol) -> str:
    """Why none of the room's devices fits the protocol, told by the one with the largest probes."""
    if len(place.devices) == 1:
        return too_dense(protocol, place.devices[0], of=f"{place.room.name}'s device")
    largest = max(place.devices, key=lambda d: d.probe_area_cm2)
    return too_dense(protocol, largest, of=f"the largest of {place.room.name}'s devices")


def cadence_span(starts: Iterable[datetime], cadence: Cadence, *, reach: timedelta = timedelta(0)) -> Window:
    """The stretch of time whose booked sessions can break the cadence of sessions at `starts` (give or take reach)."""
    margin = timedelta(days=7) + timedelta(hours=cadence.min_hours_between_sessions) + reach
    found = list(starts)
    return min(found) - margin, max(found) + margin


def booked_starts(
    session: Session, *, client_id: uuid.UUID, span: Window, ignore: uuid.UUID | None = None
) -> tuple[datetime, ...]:
    """When the client's booked sessions start, strictly within the span, in order."""
    query = (
        select(Appointment.start_at)
        .where(
            Appointment.client_id == client_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.start_at > span[0],
            Appointment.start_at < span[1],
        )
        .order_by(Appointment.start_at)
    )
    if ignore:
        query = query.where(Appointment.id != ignore)
    return tuple(session.scalars(query))


def add_overlap_problems(slots: Sequence[Slot]) -> None:
    """A session of the series at the same time as another of it: the calendar knows only what is stored, and a
    cadence of 0 hours between sessions would let them through."""
    for slot in slots:
        if any(
            other is not slot and other.start_at < slot.occupied_until and slot.start_at < other.occupied_until
            for other in slots
        ):
            slot.problems.append(Problem("client_busy", "another session of this series is at the same time"))


def add_cadence_problems(slots: Sequence[Slot], booked: Sequence[datetime], cadence: Cadence) -> None:
    """Add cadence problems: each slot against the client's `booked` sessions and the other slots."""
    for slot in slots:
        others = [*booked, *(s.start_at for s in slots if s is not slot)]
        problem = cadence_problem(slot.start_at, others, cadence)
        if problem:
            slot.problems.append(Problem("cadence", problem))


def check_cadence(
    session: Session, slots: Sequence[Slot], *, client: Client, clinic: ClinicSettings, ignore: uuid.UUID | None = None
) -> None:
    """Add cadence problems: each slot against the client's booked sessions (but `ignore`) and the other slots."""
    if not slots:
        return
    span = cadence_span((s.start_at for s in slots), clinic.cadence)
    add_cadence_problems(slots, booked_starts(session, client_id=client.id, span=span, ignore=ignore), clinic.cadence)


def insert_appointments(session: Session, appointments: list[Appointment]) -> None:
    """Add them; on PostgreSQL an exclusion constraint refuses an overlap a concurrent booking just made."""
    session.add_all(appointments)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "Another booking took one of these times a moment ago; nothing was booked. Check the times again."
        ) from exc


def lock_client(session: Session, *, client_id: uuid.UUID, lock: bool = True) -> Client:
    """The client's row, locked until the booking commits, so two desks cannot break the cadence together.

    `lock=False` for a look that books nothing (a preview): it holds no other desk up."""
    query = select(Client).where(Client.id == client_id, Client.deleted_at.is_(None))
    client = session.scalar(query.with_for_update() if lock else query)
    if client is None:
        raise InvalidInput("client_id", "there is no client with this id")
    return client
