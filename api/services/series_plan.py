"""What booking a series would do now: every occurrence checked as booking checks it, the nearest free times for
those that conflict, and nothing written. A preview shows it; a booking writes it when nothing stands in the way."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import InvalidInput
from api.permissions import Permission, allows
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.series import SeriesCreate
from api.services import booking
from api.services.booking import BookingContext, ClientRefused, Problem, Screened, Slot
from api.services.scheduling import cadence_problem, session_starts
from db.base import utcnow

ALTERNATIVE_STEP = timedelta(minutes=15)
ALTERNATIVE_DAYS = (0, 1, -1, 2, -2, 3, -3)
ALTERNATIVE_REACH = timedelta(days=max(ALTERNATIVE_DAYS), hours=12)  # how far from its slot a proposal may start


@dataclass(frozen=True)
class Occurrence:
    """One session of a planned series as a person reads it: when (local), where, and what stands in its way."""

    sequence: int
    start_at: datetime
    end_at: datetime
    room_id: uuid.UUID | None
    room_name: str | None
    device_id: uuid.UUID | None
    device_serial: str | None
    moved: bool
    awaiting_screening: bool
    problems: list[Problem]
    alternative_start_at: datetime | None


@dataclass(frozen=True)
class Planned:
    """A series as booking it now would go: every slot checked, and nothing written."""

    slots: list[Slot]
    context: BookingContext
    moved: frozenset[int]
    refusal: ClientRefused | None  # the client cannot be booked at all, whatever the times
    alternatives: dict[int, datetime]  # sequence -> nearest free start, for slots with problems (when asked)

    @property
    def bookable(self) -> bool:
        return self.refusal is None and not any(slot.problems for slot in self.slots)

    def occurrences(self) -> list[Occurrence]:
        """Each slot in the clinic's time, with its room (the one asked for while a problem stands) and device."""
        zone, places = self.context.zone, self.context.places
        names = {place.room.id: place.room.name for place in places}
        asked = None if self.context.any_room else places[0].room.id
        found = []
        for slot in self.slots:
            room_id = slot.room_id or asked
            alternative = self.alternatives.get(slot.sequence)
            found.append(
                Occurrence(
                    sequence=slot.sequence,
                    start_at=slot.start_at.astimezone(zone),
                    end_at=slot.end_at.astimezone(zone),
                    room_id=room_id,
                    room_name=names.get(room_id) if room_id else None,
                    device_id=slot.device.id if slot.device else None,
                    device_serial=slot.device.serial if slot.device else None,
                    moved=slot.sequence in self.moved,
                    awaiting_screening=slot.awaiting_screening,
                    problems=list(slot.problems),
                    alternative_start_at=alternative.astimezone(zone) if alternative else None,
                )
            )
        return found


def starts(data: SeriesCreate, zone: ZoneInfo) -> list[datetime]:
    """When each session of the body starts: the plan's times, and the moved ones where they were moved to."""
    planned = session_starts(data.start_at, data.plan, zone)
    for sequence, start in data.moved.items():
        if sequence > len(planned):
            raise InvalidInput(f"moved.{sequence}", f"this plan has {len(planned)} sessions: there is no {sequence}")
        refuse_past(start, field=f"moved.{sequence}")
    return [data.moved.get(n, start) for n, start in enumerate(planned, start=1)]


def plan(
    session: Session, *, actor: Actor, data: SeriesCreate, clinic: ClinicSettings, today: date, lock: bool = False
) -> Planned:
    """Every session of the body checked as booking checks it, with the nearest free times when asked: the
    preview, and the first half of a booking (`lock`: the client's row stays locked until the booking commits)."""
    zone = ZoneInfo(clinic.timezone)
    refuse_past(data.start_at)
    wanted = starts(data, zone)
    client = booking.lock_client(session, client_id=data.client_id, lock=lock)
    protocol = booking.bookable_protocol(session, protocol_id=data.protocol_id)
    esthetician = booking.bookable_esthetician(session, user_id=data.esthetician_id)
    screen, refusal = _screen(session, actor=actor, client_id=client.id, today=today)
    length, occupied = booking.appointment_length(protocol, clinic)
    slots = [
        Slot(sequence=n, start_at=start, end_at=start + length, occupied_until=start + occupied)
        for n, start in enumerate(wanted, start=1)
    ]
    context = BookingContext.read(
        session,
        slots,
        places=booking.places(session, room_id=data.room_id),
        any_room=data.room_id is None,
        esthetician=esthetician,
        client=client,
        protocol=protocol,
        clinic=clinic,
        screen=screen,
        reach=ALTERNATIVE_REACH if data.alternatives else timedelta(0),
    )
    context.check(slots)
    for index, slot in enumerate(slots):
        if slot.sequence in data.moved:
            slot.problems += _out_of_order(slots, index, slot.start_at, zone)
    proposing = data.alternatives and refusal is None and any(slot.problems for slot in slots)
    return Planned(
        slots=slots,
        context=context,
        moved=frozenset(data.moved),
        refusal=refusal,
        alternatives=_alternatives(slots, context) if proposing else {},
    )


def _screen(
    session: Session, *, actor: Actor, client_id: uuid.UUID, today: date
) -> tuple[Screened, ClientRefused | None]:
    """What the client's screening says, or why it refuses the client outright (the times are still checked)."""
    detailed = sees_health_data(actor)
    try:
        return booking.screened(session, client_id=client_id, today=today, detailed=detailed), None
    except ClientRefused as refusal:
        return Screened(None, [], detailed), refusal


def sees_health_data(actor: Actor) -> bool:
    """Whether a refusal may say which screening rule stands in the way (the front desk reads outcomes only)."""
    return allows(actor.user.role, Permission.SCREENING_ANSWERS_READ)


def refuse_past(start_at: datetime, field: str = "start_at") -> None:
    if start_at < utcnow():
        raise InvalidInput(field, "cannot be in the past")


def _out_of_order(slots: list[Slot], index: int, start: datetime, zone: ZoneInfo) -> list[Problem]:
    """A session moved past the one before or after it would change their numbers: it keeps its place instead."""
    if index > 0 and start <= slots[index - 1].start_at:
        return [_order_problem(slots[index - 1], "after", zone)]
    if index + 1 < len(slots) and start >= slots[index + 1].start_at:
        return [_order_problem(slots[index + 1], "before", zone)]
    return []


def _order_problem(neighbour: Slot, side: str, zone: ZoneInfo) -> Problem:
    when = neighbour.start_at.astimezone(zone)
    return Problem(
        "order",
        f"it must come {side} session {neighbour.sequence} ({when:%A} {when.day} {when:%B} {when:%H:%M}): "
        "sessions keep their order",
    )


def _alternatives(slots: list[Slot], context: BookingContext) -> dict[int, datetime]:
    """For each conflicting slot, the nearest start to come (same day first, then up to 3 days away) that fits and
    keeps the slot between its neighbours; taken together, the proposals are bookable.

    A slot held back by the cadence alone may stay where it is once the slots it is too close to have moved: it is
    counted where it is until its turn comes. Asked of the context in memory: it was read for every start within
    ALTERNATIVE_REACH of the slots."""
    cadence = context.clinic.cadence
    kept = [s.start_at for s in slots if not s.problems]
    waiting = {s.sequence: s.start_at for s in slots if s.problems and _cadence_only(s)}
    found: dict[int, datetime] = {}
    now = utcnow()
    for index, slot in enumerate(slots):
        if not slot.problems:
            continue
        waiting.pop(slot.sequence, None)
        others = [*context.client_starts, *kept, *waiting.values()]
        if _cadence_only(slot) and cadence_problem(slot.start_at, others, cadence) is None:
            kept.append(slot.start_at)  # the others' moves made room for it
            continue
        for start in _candidate_starts(slot.start_at):
            if start < now or _out_of_order(slots, index, start, context.zone):
                continue
            trial = Slot(
                sequence=slot.sequence,
                start_at=start,
                end_at=start + (slot.end_at - slot.start_at),
                occupied_until=start + (slot.occupied_until - slot.start_at),
            )
            booking.check_slot(trial, context)
            if not trial.problems and cadence_problem(start, others, cadence) is None:  # the cadence last: slowest
                found[slot.sequence] = start
                kept.append(start)
                break
    return found


def _cadence_only(slot: Slot) -> bool:
    return all(problem.code == "cadence" for problem in slot.problems)


def _candidate_starts(wanted: datetime) -> list[datetime]:
    steps = int(timedelta(hours=12) / ALTERNATIVE_STEP)
    same_day_first = [wanted + ALTERNATIVE_STEP * k * sign for k in range(1, steps) for sign in (1, -1)]
    other_days = [
        wanted + timedelta(days=d) + ALTERNATIVE_STEP * k * sign
        for d in ALTERNATIVE_DAYS[1:]
        for k in range(0, steps)
        for sign in (1, -1)
    ]
    return list(dict.fromkeys(same_day_first + other_days))  # k=0 gives each other day's time twice
