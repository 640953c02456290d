"""The clinic's day as a grid: one column per room, a row per quarter hour in the clinic's time zone.

The screening state is the API's eligibility check for that day (outcomes and dates only, never why), so a rule is
judged in one place; rooms and devices come from the services the API uses. The cards' own columns (appointment,
client's name, series plan) are read here, in one statement, as rows rather than records: a busy day has hundreds."""

import math
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, cast, select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.permissions import Permission, allows
from api.schemas.alarms import AlarmRead
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening import DayOfAnswers
from api.schemas.series import Plan
from api.services import alarms, audit, clients, rooms, screenings
from api.services.scheduling import local_to_utc, session_days
from api.services.screenings import Eligibility
from db.id_lists import one_of
from db.models import AlarmSeverity, Appointment, AppointmentStatus, Client, DeviceStatus, Series, User
from db.models.gateway import gateway_present
from db.vocabulary import Outcome

SLOT = timedelta(minutes=15)
MAX_APPOINTMENTS = 1000  # a day of a large clinic is a few hundred


@dataclass(frozen=True)
class Badge:
    """A state at a glance: words always, a symbol beside them, and a tone the stylesheet colours."""

    words: str
    tone: str  # ok | caution | stop | active | alarm-high | alarm-medium | alarm-low | muted
    symbol: str


@dataclass(frozen=True)
class DeviceView:
    id: uuid.UUID
    serial: str
    badge: Badge


@dataclass(frozen=True)
class RoomColumn:
    id: uuid.UUID
    name: str
    devices: list[DeviceView]
    alarm: Badge | None = None  # the room's most severe active alarm


@dataclass(frozen=True)
class Card:
    id: uuid.UUID
    start: datetime  # local
    end: datetime
    client_name: str
    room: str
    esthetician: str
    sequence: int
    sessions: int | None
    status: AppointmentStatus
    screening: Badge | None


@dataclass
class Cell:
    rowspan: int = 1
    cards: list[Card] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    at: time
    on_the_hour: bool
    cells: list[Cell | None]  # None: covered by a card from a row above
    now: bool = False  # the quarter hour the clinic's clock is in


@dataclass(frozen=True)
class Day:
    day: date
    today: date
    timezone: str
    rooms: list[RoomColumn]
    rows: list[Row]
    hours: tuple[time, time] | None  # None: closed that day
    cancelled: list[Card]
    count: int
    focus_row: int | None  # the row to bring into view: a little before now, else the first appointment


def device_badge(state: str, status: DeviceStatus, *, live: bool) -> Badge:
    """A device's state in words; IEC 60601-1-8 colours for what needs someone (fault high, offline medium)."""
    if status == DeviceStatus.OUT_OF_SERVICE:
        return Badge("Out of service", "muted", "–")
    words, tone, symbol = {
        "idle": ("Idle, ready", "ok", "●"),
        "armed": ("Armed", "active", "▲"),
        "treating": ("Treating", "active", "▶"),
        "paused": ("Paused", "active", "Ⅱ"),
        "fault": ("Fault", "alarm-high", "✕"),
        "offline": ("Offline", "alarm-medium", "○"),
    }.get(state, (state.capitalize() or "Unknown", "muted", "?"))
    if not live:
        return Badge(f"{words} (last known: no gateway connected)", "alarm-low", symbol)
    return Badge(words, tone, symbol)


# IEC 60601-1-8: a colour and a marker for each priority, and words, so colour is never alone.
ALARM_PRIORITY = {
    AlarmSeverity.HIGH: Badge("High priority", "alarm-high", "!!!"),
    AlarmSeverity.MEDIUM: Badge("Medium priority", "alarm-medium", "!!"),
    AlarmSeverity.LOW: Badge("Low priority", "alarm-low", "!"),
}


def alarm_badge(alarm: AlarmRead) -> Badge:
    """An alarm in a line: its priority's colour and marker, and its priority and name in words (short: a room's
    column may be narrow)."""
    priority = ALARM_PRIORITY[alarm.severity]
    return Badge(f"{alarm.severity.capitalize()} alarm: {alarm.title}", priority.tone, priority.symbol)


def screening_badge(eligibility: Eligibility) -> Badge:
    """The eligibility check's outcome and date, as the front desk may read it."""
    verdict = eligibility.verdict
    if verdict is None:
        return Badge("Needs a new screening", "caution", "?")
    until = f" until {_short(verdict.eligible_from)}" if verdict.eligible_from else ""
    return {
        Outcome.CLEARED: Badge("Cleared", "ok", "✓"),
        Outcome.CLEARED_WITH_EXCLUSIONS: Badge(f"Cleared, with zone exclusions{until}", "caution", "✓"),
        Outcome.DEFERRED: Badge(f"Deferred{until or ' until a new screening'}", "caution", "◷"),
        Outcome.PHYSICIAN_APPROVAL_REQUIRED: Badge("Needs a physician's approval", "stop", "!"),
        Outcome.CONTRAINDICATED: Badge("Contraindicated: do not treat", "stop", "✕"),
    }[verdict.outcome]


def room_columns(session: Session) -> list[RoomColumn]:
    """Every room with its devices (revoked ones left out) and their state as the gateway last wrote it."""
    live = gateway_present(session)
    by_room: dict[uuid.UUID, list[DeviceView]] = {}
    for device in rooms.list_devices(session):
        if device.status != DeviceStatus.REVOKED:
            by_room.setdefault(device.room_id, []).append(
                DeviceView(device.id, device.serial, device_badge(device.state, device.status, live=live))
            )
    worst: dict[uuid.UUID, Badge] = {}
    rooms_of = {view.id: room_id for room_id, views in by_room.items() for view in views}
    for alarm in alarms.active(session):  # most severe first
        if alarm.device_id in rooms_of:
            worst.setdefault(rooms_of[alarm.device_id], alarm_badge(alarm))
    return [
        RoomColumn(room.id, room.name, by_room.get(room.id, []), worst.get(room.id))
        for room in rooms.list_rooms(session)
    ]


def read_day(session: Session, *, actor: Actor, day: date, clinic: ClinicSettings, today: date) -> Day:
    """The day's appointments by room and quarter hour, each with what the front desk needs at a glance."""
    zone = ZoneInfo(clinic.timezone)
    start, end = local_to_utc(day, time(0), zone), local_to_utc(day + timedelta(days=1), time(0), zone)
    found, people, plans = _bookings(session, Appointment.start_at >= start, Appointment.start_at < end)
    columns = room_columns(session)
    cards = _cards(
        session,
        actor=actor,
        appointments=found,
        people=people,
        totals=_series_lengths(plans),
        room_names={c.id: c.name for c in columns},
        day=day,
        today=today,
        zone=zone,
    )
    shown = [c for c in cards if c.status != AppointmentStatus.CANCELLED]
    hours_today = getattr(clinic.opening_hours, f"{day:%A}".lower())
    hours = (hours_today.open, hours_today.close) if hours_today else None
    room_of = {a.id: a.room_id for a in found}
    now = datetime.now(zone).replace(tzinfo=None) if day == today else None
    rows = _rows(day, shown, room_of, [c.id for c in columns], hours, now=now)
    return Day(
        day=day,
        today=today,
        timezone=clinic.timezone,
        rooms=columns,
        rows=rows,
        hours=hours,
        cancelled=[c for c in cards if c.status == AppointmentStatus.CANCELLED],
        count=len(shown),
        focus_row=_focus(rows, shown),
    )


def _focus(rows: list[Row], cards: list[Card]) -> int | None:
    now = next((i for i, row in enumerate(rows) if row.now), None)
    if now is not None:
        return max(0, now - 2)  # half an hour of context above the current time
    if cards:
        first = min(_wall(c.start).time() for c in cards)
        return max([i for i, row in enumerate(rows) if row.at <= first], default=0)
    return None


class Booking(Protocol):
    """An appointment as a card shows it: an Appointment, or the columns of one."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def client_id(self) -> uuid.UUID: ...
    @property
    def room_id(self) -> uuid.UUID: ...
    @property
    def esthetician_id(self) -> uuid.UUID: ...
    @property
    def series_id(self) -> uuid.UUID: ...
    @property
    def sequence(self) -> int: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...
    @property
    def status(self) -> AppointmentStatus: ...


class Person(NamedTuple):
    """A live client as a card names it and the screening rules read it."""

    id: uuid.UUID
    first_name: str
    last_name: str
    date_of_birth: date


def cards_for(
    session: Session, *, actor: Actor, appointment_ids: Collection[uuid.UUID], day: date, today: date, zone: ZoneInfo
) -> list[Card]:
    """Each of these appointments (all of them on `day`) with its client, room, esthetician, place in its series and
    the client's screening state that day, read in the same few statements however many there are."""
    found, people, plans = _bookings(session, one_of(session, Appointment.id, appointment_ids))
    return _cards(
        session,
        actor=actor,
        appointments=found,
        people=people,
        totals=_series_lengths(plans),
        room_names={r.id: r.name for r in rooms.list_rooms(session)},
        day=day,
        today=today,
        zone=zone,
    )


def _bookings(
    session: Session, *where: ColumnElement[bool]
) -> tuple[list[Booking], dict[uuid.UUID, Person], list[tuple[uuid.UUID, str]]]:
    """The appointments matching `where`, by time (as the API lists them), with their live clients and their series'
    plans, in one statement of the columns a card needs."""
    found = session.execute(
        select(
            *(getattr(Appointment, name) for name in _BOOKING),
            Client.first_name,
            Client.last_name,
            Client.date_of_birth,
            cast(Series.plan, String).label("plan"),  # as text: the plans of a day are few, each read once
        )
        .outerjoin(Client, (Client.id == Appointment.client_id) & Client.deleted_at.is_(None))
        .outerjoin(Series, Series.id == Appointment.series_id)
        .where(*where)
        .order_by(Appointment.start_at, Appointment.id)
        .limit(MAX_APPOINTMENTS)
    ).all()
    people = {
        r.client_id: Person(r.client_id, r.first_name, r.last_name, r.date_of_birth)
        for r in found
        if r.first_name is not None
    }
    plans = [(r.series_id, r.plan) for r in found if r.plan is not None]
    return list(found), people, plans


_BOOKING = ("id", "client_id", "room_id", "esthetician_id", "series_id", "sequence", "start_at", "end_at", "status")


def _cards(
    session: Session,
    *,
    actor: Actor,
    appointments: Sequence[Booking],
    people: dict[uuid.UUID, Person],
    totals: dict[uuid.UUID, int],
    room_names: dict[uuid.UUID, str],
    day: date,
    today: date,
    zone: ZoneInfo,
) -> list[Card]:
    """The cards of these appointments; showing the clients' names is a read of their records, audited as a list is."""
    live = list(people.values())
    audit.record_reads(
        session, actor=actor, action="client.list", record_type=clients.RECORD, record_ids=(p.id for p in live)
    )
    states = _screening_states(session, actor=actor, live=live, day=day, today=today)
    staff = dict(session.execute(select(User.id, User.full_name)).all())
    return [
        Card(
            id=a.id,
            start=a.start_at.astimezone(zone),
            end=a.end_at.astimezone(zone),
            client_name=f"{p.first_name} {p.last_name}"
            if (p := people.get(a.client_id))
            else "(client record deleted)",
            room=room_names.get(a.room_id, "?"),
            esthetician=staff.get(a.esthetician_id, "?"),
            sequence=a.sequence,
            sessions=totals.get(a.series_id),
            status=a.status,
            screening=states.get(a.client_id) if a.status == AppointmentStatus.BOOKED else None,
        )
        for a in appointments
    ]


def _screening_states(
    session: Session, *, actor: Actor, live: list[Person], day: date, today: date
) -> dict[uuid.UUID, Badge]:
    """Each client's eligibility that day, as the API's check answers it; none for a day gone by."""
    if day < today or not allows(actor.user.role, Permission.ELIGIBILITY_CHECK):
        return {}
    checked = screenings.check_eligibility_of(
        session, actor=actor, live=live, on=day, day_of=DayOfAnswers(), today=today
    )
    return {client_id: screening_badge(eligibility) for client_id, eligibility in checked.items()}


def _series_lengths(plans: Iterable[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, int]:
    """How many sessions each series' plan (stored JSON) has, the M of "session N of M"; each plan read once."""
    lengths: dict[str, int] = {}
    by_series: dict[uuid.UUID, int] = {}
    for series_id, plan in plans:
        if plan not in lengths:
            lengths[plan] = len(session_days(Plan.model_validate_json(plan)))
        by_series[series_id] = lengths[plan]
    return by_series


def _rows(
    day: date,
    cards: list[Card],
    room_of: dict[uuid.UUID, uuid.UUID],
    room_ids: list[uuid.UUID],
    hours: tuple[time, time] | None,
    *,
    now: datetime | None,
) -> list[Row]:
    """Quarter-hour rows over the opening hours, stretched to any appointment outside them; in each room, the
    cards that overlap (in quarter hours) share one cell spanning them all."""
    if hours is None and not cards:
        return []
    first = min([_wall(c.start) for c in cards] + ([datetime.combine(day, hours[0])] if hours else []))
    last = max([_wall(c.end) for c in cards] + ([datetime.combine(day, hours[1])] if hours else []))
    origin = datetime.combine(day, time(first.hour, first.minute - first.minute % 15))
    count = max(1, math.ceil((last - origin) / SLOT))
    in_room: dict[uuid.UUID, list[Card]] = {room_id: [] for room_id in room_ids}
    for card in cards:
        in_room.setdefault(room_of[card.id], []).append(card)
    columns = [_column(count, origin, in_room[room_id]) for room_id in room_ids]
    return [
        Row(
            at=(origin + SLOT * i).time(),
            on_the_hour=(origin + SLOT * i).minute == 0,
            cells=[column[i] for column in columns],
            now=now is not None and origin + SLOT * i <= now < origin + SLOT * (i + 1),
        )
        for i in range(count)
    ]


def _column(count: int, origin: datetime, cards: Iterable[Card]) -> list[Cell | None]:
    column: list[Cell | None] = [Cell() for _ in range(count)]
    open_cell: tuple[int, Cell] | None = None  # the cell last opened, and the row it starts at
    for card in sorted(cards, key=lambda c: (c.start, c.end)):
        start = int((_wall(card.start) - origin) // SLOT)
        end = max(start + 1, math.ceil((_wall(card.end) - origin) / SLOT))
        if open_cell and start < open_cell[0] + open_cell[1].rowspan:
            begun, cell = open_cell
            cell.cards.append(card)
            cell.rowspan = max(cell.rowspan, end - begun)
        else:
            cell = Cell(rowspan=end - start, cards=[card])
            column[start], open_cell = cell, (start, cell)
    for row, placed in enumerate(column):
        if placed is not None and placed.cards:
            for covered in range(row + 1, row + placed.rowspan):
                column[covered] = None
    return column


def _wall(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _short(day: date) -> str:
    return f"{day.day} {day:%b %Y}"
