"""Previewing a series (every session judged as booking judges it, nothing written), and booking one with sessions
moved to the alternatives the preview proposed: each checked again when it is booked."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Appointment, AuditEvent, Role, Series
from tests.api.clinic import add_room, at, new_client, next_monday, ok
from tests.api.test_series import TWELVE, SeriesBooking, reasons
from tests.api.test_series import clinic as clinic  # the fixture: a room, a protocol, a client, an esthetician
from tests.conftest import add_user


def preview(clinic: SeriesBooking, start: str, plan: dict | None = None, status: int = 200, **fields: Any) -> Any:
    body = clinic.body(start, plan or TWELVE, **fields)
    return ok(clinic.http.post("/api/v1/series/preview", headers=clinic.as_role[Role.FRONT_DESK], json=body), status)


def problems(found: dict[str, Any]) -> list[tuple[int, str]]:
    return [(o["sequence"], p["code"]) for o in found["occurrences"] for p in o["problems"]]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def written(db: Session) -> tuple[int | None, ...]:
    return tuple(db.scalar(select(func.count()).select_from(table)) for table in (Series, Appointment, AuditEvent))


def test_a_preview_judges_every_session_as_booking_does_and_writes_nothing(clinic: SeriesBooking, db: Session) -> None:
    monday = next_monday()
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    clinic.book(at(monday + timedelta(days=7), 10), client_id=other)  # the 3rd session's time, in the same room
    before = written(db)
    found = preview(clinic, at(monday, 10))
    assert written(db) == before
    assert (found["bookable"], found["refusal"], len(found["occurrences"])) == (False, None, 15)
    assert problems(found) == [(3, "room_busy"), (3, "device_busy"), (3, "esthetician_busy")]
    third = found["occurrences"][2]
    assert when(third["start_at"]) == when(at(monday + timedelta(days=7), 10))
    assert third["room_id"] == clinic.room and third["room_name"] == "Room 1" and third["device_id"] is None
    assert when(third["alternative_start_at"]) == when(at(monday + timedelta(days=7), 10, 45))  # after 10:00-10:35
    first = found["occurrences"][0]
    assert (first["problems"], first["alternative_start_at"], first["moved"]) == ([], None, False)
    assert first["device_serial"].startswith("SN-") and when(first["end_at"]) == when(at(monday, 10, 35))

    refused = clinic.book(at(monday, 10), TWELVE, status=409)  # the booking's own words, reason for reason
    assert refused["conflicts"][0]["reasons"] == third["problems"]
    assert written(db) == before


def test_booking_the_alternative_the_preview_proposed(clinic: SeriesBooking) -> None:
    monday = next_monday()
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    clinic.book(at(monday + timedelta(days=7), 10), client_id=other)
    alternative = preview(clinic, at(monday, 10))["occurrences"][2]["alternative_start_at"]
    moved = {"3": alternative}
    again = preview(clinic, at(monday, 10), moved=moved)
    assert again["bookable"] and again["occurrences"][2]["moved"] and problems(again) == []

    series = clinic.book(at(monday, 10), TWELVE, moved=moved)
    starts = [when(a["start_at"]) for a in series["appointments"]]
    assert len(starts) == 15 and starts[2] == when(alternative)
    assert starts[:2] == [when(at(monday, 10)), when(at(monday + timedelta(days=3), 10))]  # the others as planned
    assert series["plan"] == TWELVE


def test_a_moved_session_is_checked_again_when_booked(clinic: SeriesBooking) -> None:
    """The alternative was free when proposed; another desk took it since: refused, and nothing booked."""
    monday = next_monday()
    desk = clinic.as_role[Role.FRONT_DESK]
    clinic.book(at(monday + timedelta(days=7), 10), client_id=new_client(clinic.http, desk, "Bea"))
    alternative = preview(clinic, at(monday, 10))["occurrences"][2]["alternative_start_at"]
    clinic.book(alternative, client_id=new_client(clinic.http, desk, "Cy"))
    refused = clinic.book(at(monday, 10), TWELVE, moved={"3": alternative}, status=409)
    assert refused["detail"] == "1 of 15 sessions cannot be booked; nothing was booked."
    assert reasons(refused) == [(3, "room_busy"), (3, "device_busy"), (3, "esthetician_busy")]
    assert refused["conflicts"][0]["reasons"][0]["message"] == "Room 1 is booked then"
    assert when(refused["conflicts"][0]["start_at"]) == when(alternative)
    assert ok(clinic.http.get("/api/v1/series", headers=desk, params={"client_id": clinic.client})) == []


def test_the_cadence_and_the_order_hold_across_moved_sessions(clinic: SeriesBooking) -> None:
    monday = next_monday()
    four = {"intensive": {"sessions": 4, "per_week": 2}}  # Mon, Thu, Mon, Thu
    day_after = {"2": at(monday + timedelta(days=1), 10)}  # 24 h after the first
    refused = clinic.book(at(monday, 10), four, moved=day_after, status=409)
    assert reasons(refused) == [(1, "cadence"), (2, "cadence")]
    assert "only 24 h from another session" in refused["conflicts"][1]["reasons"][0]["message"]

    past_the_next = {"2": at(monday + timedelta(days=8), 10)}  # Tuesday a week on: after session 3, on the Monday
    found = preview(clinic, at(monday, 10), four, moved=past_the_next)
    second = found["occurrences"][1]
    assert [p["code"] for p in second["problems"]][-1] == "order"
    assert second["problems"][-1]["message"].startswith("it must come before session 3 (Monday ")
    # The nearest start between sessions 1 and 3, 48 h from each: the Saturday before session 3, at 10:00.
    assert when(second["alternative_start_at"]) == when(at(monday + timedelta(days=5), 10))


def test_a_preview_says_why_a_client_cannot_be_booked_at_all(clinic: SeriesBooking) -> None:
    clinic.screen(pregnant=True)
    found = preview(clinic, at(next_monday(), 10))
    refused = clinic.book(at(next_monday(), 10), TWELVE, status=409)
    assert found["refusal"] == refused["detail"]
    assert "physician's approval" in found["refusal"] and not found["bookable"]
    assert len(found["occurrences"]) == 15  # the dates are still shown
    assert all(o["alternative_start_at"] is None for o in found["occurrences"])


@pytest.mark.parametrize(
    ("moved", "field", "message"),
    [
        ({"16": "2099-01-01T10:00:00+00:00"}, "moved.16", "this plan has 15 sessions: there is no 16"),
        ({"2": "2020-01-06T10:00:00+00:00"}, "moved.2", "cannot be in the past"),
        ({"0": "2099-01-01T10:00:00+00:00"}, "moved.0.[key]", "must be at least 1"),
        ({"2": "2099-01-01T10:00:00"}, "moved.2", "must be a date and time with its offset"),
    ],
)
def test_bad_moves(clinic: SeriesBooking, moved: dict[str, str], field: str, message: str) -> None:
    for refused in (
        preview(clinic, at(next_monday(), 10), moved=moved, status=422),
        clinic.book(at(next_monday(), 10), TWELVE, moved=moved, status=422),
    ):
        assert refused["errors"][0]["field"] == field
        assert refused["errors"][0]["message"].startswith(message)


def test_a_preview_for_any_room_names_the_room_each_session_would_take(clinic: SeriesBooking) -> None:
    monday = next_monday()
    clinic.book(at(monday, 10), client_id=new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea"))
    found = preview(clinic, at(monday, 10), {"intensive": {"sessions": 2, "per_week": 2}}, room_id=None)
    first, second = found["occurrences"]
    assert (first["room_id"], first["room_name"], first["device_id"]) == (None, None, None)  # the only room is taken
    assert [p["code"] for p in first["problems"]] == ["no_room_free", "esthetician_busy"]
    assert (second["room_name"], second["problems"]) == ("Room 1", [])


def test_a_preview_for_any_room_chooses_the_rooms_and_devices_booking_takes(clinic: SeriesBooking, db: Session) -> None:
    """Room 1 is taken at the 1st and 3rd sessions' times (by another esthetician): both take Room 2 then."""
    add_room(clinic.http, clinic.as_role[Role.ADMIN], "Room 2")
    monday, other = next_monday(), str(add_user(db, Role.ESTHETICIAN).id)
    bea = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    for day in (0, 7):
        clinic.book(at(monday + timedelta(days=day), 10), client_id=bea, esthetician_id=other)
    four = {"intensive": {"sessions": 4, "per_week": 2}}
    found = preview(clinic, at(monday, 10), four, room_id=None)
    assert found["bookable"]
    assert [o["room_name"] for o in found["occurrences"]] == ["Room 2", "Room 1", "Room 2", "Room 1"]
    booked = clinic.book(at(monday, 10), four, room_id=None)["appointments"]
    shown = [(o["room_id"], o["device_id"]) for o in found["occurrences"]]
    assert shown == [(a["room_id"], a["device_id"]) for a in booked]
