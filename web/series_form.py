"""The booking page's form read into the booking service's own body, and the service's answer laid out in rows.

Nothing here judges a booking: the body is checked by the API's schema (SeriesPreviewRequest) and every session by
api/services/series_plan.py, exactly as `POST /api/v1/series/preview` does. This module only turns the fields a
person filled in into that body, and the planned sessions into what the page shows."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.schemas.series import SeriesPreviewRequest
from api.services.scheduling import local_to_utc, session_starts
from api.services.series_plan import Occurrence, Planned
from api.validation_messages import describe_validation_errors

# The typical plan of domain.md (12 sessions twice a week, then monthly maintenance), for the desk to change.
DEFAULTS = {
    "client_q": "",
    "client_id": "",
    "protocol_id": "",
    "esthetician_id": "",
    "room_id": "",
    "first_day": "",
    "first_time": "10:00",
    "intensive_sessions": "12",
    "per_week": "2",
    "maintenance_sessions": "3",
    "interval_weeks": "4",
}
# Where each field of the body is typed on the page: its label, and the id of its input.
PLACES = {
    "client_id": ("Client", "client-q"),
    "protocol_id": ("Protocol", "protocol"),
    "esthetician_id": ("Esthetician", "esthetician"),
    "room_id": ("Room", "room"),
    "first_day": ("First session", "first-day"),
    "first_time": ("Time", "first-time"),
    "start_at": ("First session", "first-day"),
    "plan.intensive.sessions": ("Intensive sessions", "intensive-sessions"),
    "plan.intensive.per_week": ("Sessions a week", "per-week"),
    "plan.maintenance.sessions": ("Maintenance sessions", "maintenance-sessions"),
    "plan.maintenance.interval_weeks": ("Weeks between maintenance sessions", "interval-weeks"),
    "moved": ("A session moved to the time proposed", "occurrences-title"),
}
NEEDED = {
    "client_id": "find the client and choose them from the list",
    "protocol_id": "choose one",
    "esthetician_id": "choose one",
    "first_day": "give the date",
    "first_time": "give the time",
}


@dataclass(frozen=True)
class FieldProblem:
    label: str
    anchor: str  # the id of the input to go to
    message: str


def field_problem(name: str, message: str) -> FieldProblem:
    """A refused field, named as its label on the page says it (a moved session's time: the sessions' table)."""
    place = "moved" if name.startswith("moved") else name
    label, anchor = PLACES.get(place, ("The form", "series-form"))
    return FieldProblem(label, anchor, message)


@dataclass(frozen=True)
class Move:
    """A session the desk moved to the alternative proposed: where the plan had it, and where it goes now."""

    sequence: int
    planned: datetime
    start: datetime

    def encode(self) -> str:
        return f"{self.sequence}|{self.planned.astimezone(UTC).isoformat()}|{self.start.astimezone(UTC).isoformat()}"

    @classmethod
    def decode(cls, text: str) -> "Move | None":
        """A move as the page sent it back, or None for anything else (a page too old, a hand-made post)."""
        try:
            sequence, planned, start = text.split("|")
            move = cls(int(sequence), datetime.fromisoformat(planned), datetime.fromisoformat(start))
        except ValueError:
            return None
        aware = move.planned.tzinfo is not None and move.start.tzinfo is not None
        return move if aware else None


@dataclass
class Attempt:
    """What the desk asked for: the fields as typed (to show again), the moves, and the body when it is complete."""

    values: dict[str, str]
    moves: list[Move] = field(default_factory=list)
    data: SeriesPreviewRequest | None = None
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def moved(self) -> list[str]:
        return [move.encode() for move in self.moves]


def read_form(form: FormData | dict[str, str], zone: ZoneInfo) -> Attempt:
    """The fields, with a proposed time taken (`take`) or a moved session put back (`undo`), as a booking body."""
    values = {name: str(form.get(name) or default).strip() for name, default in DEFAULTS.items()}
    moves = {m.sequence: m for m in (Move.decode(str(text)) for text in _all(form, "moved")) if m is not None}
    taken = Move.decode(str(form.get("take") or ""))
    if taken is not None:
        moves[taken.sequence] = taken
    undone = str(form.get("undo") or "")
    if undone.isdigit():
        moves.pop(int(undone), None)
    attempt = Attempt(values=values)
    body, attempt.problems = _body(values, zone)
    if body is None:
        return attempt
    try:
        unmoved = SeriesPreviewRequest.model_validate(body)
        planned = session_starts(unmoved.start_at, unmoved.plan, zone)
        # A move stays while its session is still where the plan had it: a changed plan starts afresh.
        attempt.moves = [m for n, m in sorted(moves.items()) if n <= len(planned) and planned[n - 1] == m.planned]
        moved = {m.sequence: m.start for m in attempt.moves}
        attempt.data = SeriesPreviewRequest.model_validate(body | {"moved": moved})
    except ValidationError as exc:
        attempt.problems = [field_problem(e["field"], e["message"]) for e in describe_validation_errors(exc.errors())]
    return attempt


def _all(form: FormData | dict[str, str], name: str) -> list[Any]:
    return form.getlist(name) if isinstance(form, FormData) else [form[name]] if name in form else []


def _body(values: dict[str, str], zone: ZoneInfo) -> tuple[dict[str, Any] | None, list[FieldProblem]]:
    """The booking body, or what is still missing; its values are judged by the schema, not here."""
    problems = [field_problem(name, message) for name, message in NEEDED.items() if not values[name]]
    if problems:
        return None, problems
    try:
        start_at = local_to_utc(date.fromisoformat(values["first_day"]), time.fromisoformat(values["first_time"]), zone)
    except (ValueError, OverflowError):
        return None, [field_problem("first_day", "give a date like 2026-03-02 and a time like 10:00")]
    plan: dict[str, Any] = {"intensive": {"sessions": values["intensive_sessions"], "per_week": values["per_week"]}}
    if values["maintenance_sessions"] not in {"", "0"}:
        plan["maintenance"] = {"sessions": values["maintenance_sessions"], "interval_weeks": values["interval_weeks"]}
    body = {
        "client_id": values["client_id"],
        "protocol_id": values["protocol_id"],
        "esthetician_id": values["esthetician_id"],
        "room_id": values["room_id"] or None,
        "start_at": start_at,
        "plan": plan,
    }
    return body, []


def signature(starts: list[datetime]) -> str:
    """The sessions' times as shown, so that Book series books exactly those and no others."""
    return " ".join(f"{start.astimezone(UTC):%Y%m%dT%H%M}" for start in starts)


@dataclass(frozen=True)
class Row:
    """One session as the page shows it."""

    occurrence: Occurrence
    reasons: list[str]  # each problem as a sentence
    planned: datetime  # where the plan had it (local): its own start unless it was moved
    take: str | None  # the value of the button that moves it to the proposed time


def rows(planned: Planned, moves: list[Move]) -> list[Row]:
    moved = {m.sequence: m for m in moves}
    found = []
    for occurrence in planned.occurrences():
        move = moved.get(occurrence.sequence)
        where = move.planned.astimezone(occurrence.start_at.tzinfo) if move else occurrence.start_at
        alternative = occurrence.alternative_start_at
        take = Move(occurrence.sequence, where, alternative).encode() if alternative else None
        reasons = [p.message[:1].upper() + p.message[1:] + "." for p in occurrence.problems]
        found.append(Row(occurrence=occurrence, reasons=reasons, planned=where, take=take))
    return found
