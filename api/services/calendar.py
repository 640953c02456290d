"""What is booked when: read in one set-based statement for a whole series, then asked in memory."""

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, bindparam, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import TSTZMULTIRANGE, Range
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.models import Appointment

Resource = Literal["room", "device", "esthetician", "client"]
Window = tuple[datetime, datetime]  # [start, until)

COLUMNS: dict[Resource, InstrumentedAttribute[uuid.UUID]] = {
    "room": Appointment.room_id,
    "device": Appointment.device_id,
    "esthetician": Appointment.esthetician_id,
    "client": Appointment.client_id,
}


@dataclass(frozen=True, slots=True)
class Calendar:
    """Booked periods of rooms, devices, estheticians and clients, as read for some windows of time.

    Ask only about times within the windows it was read for: outside them it knows nothing."""

    periods: Mapping[tuple[Resource, uuid.UUID], tuple[Window, ...]] = field(default_factory=dict)

    def taken(self, resource: Resource, value: uuid.UUID, start: datetime, until: datetime) -> bool:
        """Whether `value` has a booked appointment overlapping [start, until)."""
        return any(s < until and start < u for s, u in self.periods.get((resource, value), ()))


def merged(windows: Iterable[Window]) -> list[Window]:
    """The same stretches of time in fewer windows: overlapping or touching ones joined, in order."""
    joined: list[Window] = []
    for start, until in sorted(windows):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(until, joined[-1][1]))
        else:
            joined.append((start, until))
    return joined


def _when(
    spans: list[Window], wanted: Mapping[Resource, Collection[uuid.UUID]], *, postgresql: bool
) -> ColumnElement[bool]:
    """Appointments of the wanted rooms, devices and people whose occupied time overlaps one of the spans."""
    if postgresql:  # one question per room, device or person that the exclusion constraints' GiST indexes answer
        taken = func.tstzrange(Appointment.start_at, Appointment.occupied_until, literal_column("'[)'"))
        # The spans are one parameter, used by every question: the statement's text is the same for a series of
        # 1 session or 60, so psycopg parses it once and PostgreSQL plans it once.
        within = bindparam("spans", [Range(s, u, bounds="[)") for s, u in spans], type_=TSTZMULTIRANGE)
        spanned = taken.op("&&")(within)
        return or_(*((COLUMNS[r] == value) & spanned for r, ids in wanted.items() for value in ids))
    overlapping = ((Appointment.start_at < until) & (Appointment.occupied_until > start) for start, until in spans)
    return or_(*(COLUMNS[r].in_(ids) for r, ids in wanted.items() if ids)) & or_(*overlapping)


def load_calendar(
    session: Session,
    *,
    wanted: Mapping[Resource, Collection[uuid.UUID]],
    windows: Iterable[Window],
    ignore: uuid.UUID | None = None,
) -> Calendar:
    """Every booked appointment of the wanted rooms, devices and people that overlaps a window: one statement."""
    spans = merged(windows)
    if not spans or not any(wanted.values()):
        return Calendar()
    postgresql = session.get_bind().dialect.name == "postgresql"
    booked = Appointment.status == literal_column("'booked'")  # a literal, so the partial indexes apply
    query = select(*COLUMNS.values(), Appointment.start_at, Appointment.occupied_until).where(
        booked, _when(spans, wanted, postgresql=postgresql)
    )
    if ignore is not None:
        query = query.where(Appointment.id != ignore)
    periods: defaultdict[tuple[Resource, uuid.UUID], list[Window]] = defaultdict(list)
    for *values, start, until in session.execute(query):
        for resource, value in zip(COLUMNS, values, strict=True):
            periods[(resource, value)].append((start, until))
    return Calendar({key: tuple(found) for key, found in periods.items()})
