"""Booking whole series: plans, conflicts, cadence at its boundaries, clock changes, screening, rescheduling."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Appointment, Role, User
from tests.api.clinic import LONDON, STEP, add_room, approved_protocol, at, new_client, next_monday, ok
from tests.conftest import add_user
from tests.factories import NOTHING

TWELVE = {"intensive": {"sessions": 12, "per_week": 2}, "maintenance": {"sessions": 3, "interval_weeks": 4}}


@dataclass
class SeriesBooking:
    """A client, a room with its device, an approved protocol and an esthetician: what a series is booked with."""

    http: TestClient
    as_role: dict[Role, dict[str, str]]
    room: str
    protocol: dict[str, Any]
    client: str
    esthetician: str

    def body(self, start: str, plan: dict | None = None, **fields: Any) -> dict[str, Any]:
        """A booking of this client, protocol, esthetician and room (one session unless a plan is given)."""
        return {
            "client_id": self.client,
            "protocol_id": self.protocol["id"],
            "esthetician_id": self.esthetician,
            "room_id": self.room,
            "start_at": start,
            "plan": plan or {"intensive": {"sessions": 1, "per_week": 1}},
        } | fields

    def book(
        self, start: str, plan: dict | None = None, status: int = 201, as_role: Role = Role.FRONT_DESK, **fields: Any
    ) -> Any:
        body = self.body(start, plan, **fields)
        return ok(self.http.post("/api/v1/series", headers=self.as_role[as_role], json=body), status)

    def screen(self, **answers: Any) -> Any:
        return ok(
            self.http.post(
                f"/api/v1/clients/{self.client}/screenings",
                headers=self.as_role[Role.ESTHETICIAN],
                json={"answers": NOTHING | answers},
            ),
            201,
        )


@pytest.fixture
def clinic(client: TestClient, as_role: dict[Role, dict[str, str]], staff: dict[Role, User]) -> SeriesBooking:
    return SeriesBooking(
        http=client,
        as_role=as_role,
        room=add_room(client, as_role[Role.ADMIN]),
        protocol=approved_protocol(client, as_role),
        client=new_client(client, as_role[Role.FRONT_DESK]),
        esthetician=str(staff[Role.ESTHETICIAN].id),
    )


def reasons(conflict: dict[str, Any]) -> list[tuple[int, str]]:
    return [(c["sequence"], r["code"]) for c in conflict["conflicts"] for r in c["reasons"]]


def test_a_twelve_session_series_with_maintenance(clinic: SeriesBooking) -> None:
    monday = next_monday()
    series = clinic.book(at(monday, 10), TWELVE)
    starts = [datetime.fromisoformat(a["start_at"]) for a in series["appointments"]]
    assert len(starts) == 15
    assert [s.date() - monday for s in starts[:4]] == [timedelta(days=d) for d in (0, 3, 7, 10)]  # Mon, Thu
    assert starts[12] - starts[11] == starts[13] - starts[12] == timedelta(weeks=4)  # maintenance, local time kept
    assert all(s.astimezone(LONDON).time() == time(10) for s in starts)
    first = series["appointments"][0]
    assert datetime.fromisoformat(first["end_at"]) - starts[0] == timedelta(minutes=35)  # 5 min output + 30 prep
    assert {a["status"] for a in series["appointments"]} == {"booked"}
    assert all(a["awaiting_screening"] for a in series["appointments"])  # no screening yet: booked by phone


def test_screening_validity_marks_later_sessions_as_awaiting(clinic: SeriesBooking) -> None:
    clinic.screen()
    series = clinic.book(at(next_monday(), 10), TWELVE)
    valid_until = datetime.now(LONDON).date() + timedelta(days=30)
    for appointment in series["appointments"]:
        day = datetime.fromisoformat(appointment["start_at"]).date()
        assert appointment["awaiting_screening"] == (day > valid_until)


def test_every_conflicting_session_is_listed_and_nothing_is_booked(clinic: SeriesBooking, db: Session) -> None:
    monday = next_monday()
    clinic.book(at(monday + timedelta(days=7), 10))  # will collide with the 3rd session
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    before = db.scalar(select(func.count()).select_from(Appointment))
    conflict = clinic.book(at(monday, 10), TWELVE, client_id=other, status=409)
    assert conflict["detail"] == "1 of 15 sessions cannot be booked; nothing was booked."
    assert reasons(conflict) == [(3, "room_busy"), (3, "device_busy"), (3, "esthetician_busy")]
    assert db.scalar(select(func.count()).select_from(Appointment)) == before


def test_the_clients_cadence_across_series(clinic: SeriesBooking) -> None:
    monday = next_monday(weeks=2)  # the Saturday before must be ahead too, on a Saturday or Sunday as well
    clinic.book(at(monday, 10))
    assert reasons(clinic.book(at(monday + timedelta(days=1), 10), status=409)) == [(1, "cadence")]
    clinic.book(at(monday + timedelta(days=2), 10))  # exactly 48 h later: allowed
    assert reasons(clinic.book(at(monday - timedelta(days=2), 10, 1), status=409)) == [(1, "cadence")]  # 47 h 59


def test_at_most_three_in_any_seven_days(clinic: SeriesBooking) -> None:
    monday = next_monday()
    clinic.book(at(monday, 10), {"intensive": {"sessions": 3, "per_week": 3}})  # Mon, Wed, Fri
    conflict = clinic.book(at(monday + timedelta(days=6), 20 - 1), status=409)  # Sunday: 4 in 7 days
    assert reasons(conflict) == [(1, "cadence")]
    assert "4 sessions in the 7 days" in conflict["conflicts"][0]["reasons"][0]["message"]
    clinic.book(at(monday + timedelta(days=7), 10))  # next Monday 10:00: the window from Monday 10:00 has closed


def test_a_plan_that_breaks_the_cadence_by_itself(clinic: SeriesBooking) -> None:
    ok(
        clinic.http.put(
            "/api/v1/settings", headers=clinic.as_role[Role.ADMIN], json={"cadence": {"min_hours_between_sessions": 72}}
        )
    )
    conflict = clinic.book(at(next_monday(), 10), {"intensive": {"sessions": 3, "per_week": 3}}, status=409)
    assert [c["sequence"] for c in conflict["conflicts"]] == [1, 2, 3]


def test_two_sessions_of_a_series_moved_to_one_time_are_refused_even_with_no_gap_required(
    clinic: SeriesBooking,
) -> None:
    ok(
        clinic.http.put(
            "/api/v1/settings", headers=clinic.as_role[Role.ADMIN], json={"cadence": {"min_hours_between_sessions": 0}}
        )
    )
    monday = next_monday()
    plan = {"intensive": {"sessions": 3, "per_week": 3}}  # Mon, Wed, Fri
    conflict = clinic.book(at(monday, 10), plan, moved={"2": at(monday, 10, 20)}, status=409)  # overlaps the 1st
    assert reasons(conflict) == [(1, "client_busy"), (2, "client_busy")]
    assert "another session of this series" in conflict["conflicts"][0]["reasons"][0]["message"]
    clinic.book(at(monday, 10), plan, moved={"2": at(monday, 11)})  # after the first ends: no gap asked for


def test_opening_hours(clinic: SeriesBooking) -> None:
    monday = next_monday()
    conflict = clinic.book(at(monday, 19, 30), status=409)  # ends 20:05, after closing
    assert reasons(conflict) == [(1, "clinic_hours")]
    clinic.book(at(monday, 19, 25))  # ends 20:00 exactly
    ok(
        clinic.http.put(
            "/api/v1/settings", headers=clinic.as_role[Role.ADMIN], json={"opening_hours": {"wednesday": None}}
        )
    )
    closed = clinic.book(at(monday + timedelta(days=2), 10), status=409)
    assert "closed on Wednesdays" in closed["conflicts"][0]["reasons"][0]["message"]


def sunday(year: int, month: int, nth: int) -> date:
    """The nth Sunday of a month; nth=-1 for the last."""
    days = [date(year, month, 1) + timedelta(days=n) for n in range(31)]
    sundays = [d for d in days if d.month == month and d.weekday() == 6]
    return sundays[nth if nth < 0 else nth - 1]


YEAR = datetime.now(LONDON).year + 1  # clock changes of next year: always in the future
LONDON_SPRING, LONDON_AUTUMN = sunday(YEAR, 3, -1), sunday(YEAR, 10, -1)  # EU: last Sundays of March, October
NEW_YORK_SPRING, NEW_YORK_AUTUMN = sunday(YEAR, 3, 2), sunday(YEAR, 11, 1)  # US: 2nd Sunday March, 1st November


@pytest.mark.parametrize(
    ("zone", "clock_change", "utc_hours"),
    [
        ("Europe/London", LONDON_SPRING, [10, 9, 9]),
        ("Europe/London", LONDON_AUTUMN, [9, 10, 10]),
        ("America/New_York", NEW_YORK_SPRING, [15, 14, 14]),
        ("America/New_York", NEW_YORK_AUTUMN, [14, 15, 15]),
    ],
)
def test_weekly_ten_oclock_stays_ten_oclock_across_clock_changes(
    clinic: SeriesBooking, zone: str, clock_change: date, utc_hours: list[int]
) -> None:
    ok(clinic.http.put("/api/v1/settings", headers=clinic.as_role[Role.ADMIN], json={"timezone": zone}))
    first = clock_change - timedelta(days=6)  # the Monday before the change
    series = clinic.book(at(first, 10, zone=ZoneInfo(zone)), {"intensive": {"sessions": 3, "per_week": 1}})
    starts = [datetime.fromisoformat(a["start_at"]) for a in series["appointments"]]
    assert [s.astimezone(ZoneInfo(zone)).time() for s in starts] == [time(10)] * 3
    assert [s.astimezone(ZoneInfo("UTC")).hour for s in starts] == utc_hours


def test_times_that_do_not_exist_or_happen_twice(clinic: SeriesBooking) -> None:
    night = {day: {"open": "00:00", "close": "23:59"} for day in ("sunday", "monday")}
    ok(clinic.http.put("/api/v1/settings", headers=clinic.as_role[Role.ADMIN], json={"opening_hours": night}))
    # A week after a Sunday 01:30, 01:30 does not exist (clocks jump 01:00 -> 02:00): it becomes 02:30 BST.
    spring = clinic.book(at(LONDON_SPRING - timedelta(days=7), 1, 30), {"intensive": {"sessions": 2, "per_week": 1}})
    second = datetime.fromisoformat(spring["appointments"][1]["start_at"])
    assert (second.astimezone(LONDON).time(), second.utcoffset()) == (time(2, 30), timedelta(hours=1))
    # On the autumn Sunday 01:30 happens twice (02:00 BST -> 01:00 GMT): the first one, 00:30 UTC.
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Cy")
    autumn = clinic.book(
        at(LONDON_AUTUMN - timedelta(days=7), 1, 30), {"intensive": {"sessions": 2, "per_week": 1}}, client_id=other
    )
    second = datetime.fromisoformat(autumn["appointments"][1]["start_at"])
    assert second.astimezone(ZoneInfo("UTC")).time() == time(0, 30)


def test_screening_gates(clinic: SeriesBooking) -> None:
    """Clinical staff read the rule in the way; the front desk reads the outcome only, never a health reason."""
    clinic.screen(epilepsy=True)
    refused = clinic.book(at(next_monday(), 10), status=409, as_role=Role.ESTHETICIAN)
    assert "contraindicated" in refused["detail"] and "Epilepsy" in refused["detail"]
    assert clinic.book(at(next_monday(), 10), status=409)["detail"] == (
        "This client cannot be booked: the client's screening does not allow this treatment (contraindicated)."
    )
    clinic.screen(pregnant=True)
    refused = clinic.book(at(next_monday(), 10), status=409, as_role=Role.MEDICAL_DIRECTOR)
    assert "(approval required). Why: Pregnancy" in refused["detail"]
    assert clinic.book(at(next_monday(), 10), status=409)["detail"] == (
        "This client cannot be booked: the client's screening does not allow this treatment yet (approval required)."
        " The client can be booked once a physician's approval is recorded."
    )


def test_a_deferred_client_only_from_eligible_from(clinic: SeriesBooking) -> None:
    today = datetime.now(LONDON).date()
    screening = clinic.screen(chemical_peel_last_on=(today - timedelta(days=1)).isoformat())  # until today + 13
    eligible = date.fromisoformat(screening["eligible_from"])
    conflict = clinic.book(at(eligible - timedelta(days=1), 10), status=409)
    assert reasons(conflict) == [(1, "screening_deferred")]
    clinic.book(at(eligible, 10))


def test_an_excluded_zone_refuses_protocols_that_touch_it(clinic: SeriesBooking) -> None:
    today = datetime.now(LONDON).date()
    clinic.screen(botox_last_on=today.isoformat(), botox_zones=["cheeks"])  # excluded for 14 days
    conflict = clinic.book(at(today + timedelta(days=13), 10), status=409, as_role=Role.ESTHETICIAN)
    assert reasons(conflict) == [(1, "excluded_zone")]
    assert "cheeks" in conflict["conflicts"][0]["reasons"][0]["message"]
    assert "Botox" in conflict["conflicts"][0]["reasons"][0]["message"]
    for_the_desk = clinic.book(at(today + timedelta(days=13), 10), status=409)["conflicts"][0]["reasons"]
    assert for_the_desk == [
        {
            "code": "excluded_zone",
            "message": "the protocol works on a zone the client's screening "
            f"excludes until {today + timedelta(days=14):%d %B %Y}",
        }
    ]
    forehead = approved_protocol(clinic.http, clinic.as_role, steps=[STEP | {"zone": "forehead"}])
    clinic.book(at(today + timedelta(days=13), 10), protocol_id=forehead["id"])  # another zone is fine


def test_only_approved_protocols_and_real_estheticians(clinic: SeriesBooking, staff: dict[Role, User]) -> None:
    draft = ok(
        clinic.http.post(
            "/api/v1/protocols", headers=clinic.as_role[Role.MEDICAL_DIRECTOR], json={"name": "Draft", "steps": [STEP]}
        ),
        201,
    )
    refused = clinic.book(at(next_monday(), 10), protocol_id=draft["id"], status=422)
    assert refused["errors"][0]["field"] == "protocol_id" and "draft" in refused["detail"]
    not_esthetician = clinic.book(at(next_monday(), 10), esthetician_id=str(staff[Role.FRONT_DESK].id), status=422)
    assert not_esthetician["errors"][0]["field"] == "esthetician_id"


def test_withdrawn_protocol_lists_its_appointments_and_cannot_be_booked(clinic: SeriesBooking) -> None:
    series = clinic.book(at(next_monday(), 10), {"intensive": {"sessions": 2, "per_week": 2}})
    withdrawn = ok(
        clinic.http.post(
            f"/api/v1/protocols/{clinic.protocol['id']}/withdraw",
            headers=clinic.as_role[Role.MEDICAL_DIRECTOR],
            json={"reason": "recall"},
        )
    )
    assert [a["id"] for a in withdrawn["appointments_to_rebook"]] == [a["id"] for a in series["appointments"]]
    assert clinic.book(at(next_monday(3), 10), status=422)["errors"][0]["field"] == "protocol_id"


def test_current_density_on_the_rooms_device(clinic: SeriesBooking) -> None:
    small = add_room(clinic.http, clinic.as_role[Role.ADMIN], "Small probes", probe_area_cm2=0.05)
    conflict = clinic.book(at(next_monday(), 10), room_id=small, status=409)  # 200 µA / 0.05 cm² = 4 mA/cm²
    assert reasons(conflict) == [(1, "current_density")]
    assert "4.00 mA/cm²" in conflict["conflicts"][0]["reasons"][0]["message"]


def test_any_room_with_a_free_device(clinic: SeriesBooking) -> None:
    second_room = add_room(clinic.http, clinic.as_role[Role.ADMIN], "Room 2")
    monday = next_monday()
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    ok(
        clinic.http.post(
            "/api/v1/users",
            headers=clinic.as_role[Role.ADMIN],
            json={
                "email": "second@clinic.example.com",
                "password": "long-enough-pw",
                "full_name": "Second",
                "role": "esthetician",
            },
        ),
        201,
    )
    second_esthetician = [
        u
        for u in ok(clinic.http.get("/api/v1/users", headers=clinic.as_role[Role.ADMIN]))
        if u["email"] == "second@clinic.example.com"
    ][0]["id"]
    clinic.book(at(monday, 10))  # takes Room 1
    series = clinic.book(at(monday, 10), room_id=None, client_id=other, esthetician_id=second_esthetician)
    assert series["appointments"][0]["room_id"] == second_room and series["room_id"] is None


def test_alternatives_for_the_conflicting_sessions(clinic: SeriesBooking) -> None:
    monday = next_monday()
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    clinic.book(at(monday, 10), client_id=other)
    conflict = clinic.book(at(monday, 10), alternatives=True, status=409)
    proposed = conflict["conflicts"][0]["alternative_start_at"]
    # On the quarter-hour grid: 10:45, the first start after the other client's 10:00-10:35 is over.
    assert datetime.fromisoformat(proposed) == datetime.fromisoformat(at(monday, 10, 45))
    clinic.book(proposed)  # the proposal is really free


def test_list_reschedule_and_cancel(clinic: SeriesBooking) -> None:
    monday = next_monday()
    series = clinic.book(at(monday, 10), {"intensive": {"sessions": 4, "per_week": 2}})
    desk = clinic.as_role[Role.FRONT_DESK]
    day = ok(
        clinic.http.get(
            "/api/v1/appointments",
            headers=desk,
            params={"start": at(monday, 0), "end": at(monday + timedelta(days=1), 0), "room_id": clinic.room},
        )
    )
    assert [a["id"] for a in day] == [series["appointments"][0]["id"]]
    by_client = ok(clinic.http.get("/api/v1/appointments", headers=desk, params={"client_id": clinic.client}))
    assert len(by_client) == 4

    second = series["appointments"][1]
    moved = ok(
        clinic.http.patch(
            f"/api/v1/appointments/{second['id']}", headers=desk, json={"start_at": at(monday + timedelta(days=3), 14)}
        )
    )
    assert datetime.fromisoformat(moved["start_at"]) == datetime.fromisoformat(at(monday + timedelta(days=3), 14))
    too_close = clinic.http.patch(
        f"/api/v1/appointments/{second['id']}", headers=desk, json={"start_at": at(monday + timedelta(days=1), 10)}
    )
    assert too_close.status_code == 409 and reasons(too_close.json()) == [(2, "cadence")]

    cancelled = ok(
        clinic.http.post(
            f"/api/v1/appointments/{second['id']}/cancel",
            headers=desk,
            json={"scope": "rest_of_series", "reason": "moving away"},
        )
    )
    assert [a["sequence"] for a in cancelled["cancelled"]] == [2, 3, 4]
    assert {a["status"] for a in cancelled["cancelled"]} == {"cancelled"}
    again = clinic.http.post(f"/api/v1/appointments/{second['id']}/cancel", headers=desk, json={})
    assert again.status_code == 409
    clinic.book(at(monday + timedelta(days=3), 10))  # the freed time can be booked again


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_at": "2027-01-01T10:00:00"}, "start_at"),
        ({"start_at": "2020-01-06T10:00:00+00:00"}, "start_at"),
        ({"plan": {"intensive": {"sessions": 0, "per_week": 2}}}, "plan.intensive.sessions"),
        ({"plan": {"intensive": {"sessions": 12, "per_week": 4}}}, "plan.intensive.per_week"),
        (
            {"plan": {"intensive": {"sessions": 12, "per_week": 2}, "maintenance": {"sessions": 3}}},
            "plan.maintenance.interval_weeks",
        ),
        ({"client_id": "3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b"}, "client_id"),
        ({"room_id": "3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b"}, "room_id"),
        ({"protocol_id": "not-an-id"}, "protocol_id"),
    ],
)
def test_bad_bookings(clinic: SeriesBooking, change: dict, field: str) -> None:
    refused = clinic.book(at(next_monday(), 10), status=422, **change)
    assert field in [e["field"] for e in refused["errors"]]


def test_a_device_out_of_service_lists_its_appointments_and_is_not_bookable(clinic: SeriesBooking) -> None:
    admin = clinic.as_role[Role.ADMIN]
    series = clinic.book(at(next_monday(), 10), {"intensive": {"sessions": 2, "per_week": 2}})
    [device] = ok(clinic.http.get("/api/v1/devices", headers=admin, params={"room_id": clinic.room}))
    changed = ok(clinic.http.patch(f"/api/v1/devices/{device['id']}", headers=admin, json={"status": "out_of_service"}))
    assert [a["id"] for a in changed["appointments_to_rebook"]] == [a["id"] for a in series["appointments"]]
    other = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea")
    refused = clinic.book(at(next_monday(3), 10), client_id=other, status=409)
    assert reasons(refused) == [(1, "no_device")]


def add_device(clinic: SeriesBooking, room: str, probe_area_cm2: float = 0.5) -> dict[str, Any]:
    made: dict[str, Any] = ok(
        clinic.http.post(
            "/api/v1/devices",
            headers=clinic.as_role[Role.ADMIN],
            json={"serial": f"SN-{uuid4().hex[:8]}", "room_id": room, "probe_area_cm2": probe_area_cm2},
        ),
        201,
    )
    return made


def test_a_room_books_its_device_that_fits(clinic: SeriesBooking) -> None:
    """An old device with small probes and a newer one that fits, in one room: every session takes the newer."""
    small_first = add_room(clinic.http, clinic.as_role[Role.ADMIN], "Two devices", probe_area_cm2=0.05)
    fitting = add_device(clinic, small_first)  # 200 µA: 4 mA/cm² on the old one's probes, 0.4 on these
    series = clinic.book(at(next_monday(), 10), {"intensive": {"sessions": 2, "per_week": 2}}, room_id=small_first)
    assert {a["device_id"] for a in series["appointments"]} == {fitting["id"]}


def test_a_device_booked_elsewhere_is_passed_over_for_a_free_one(clinic: SeriesBooking, db: Session) -> None:
    """A device moved in from another room keeps that room's bookings: the room's other device is booked instead."""
    admin, monday = clinic.as_role[Role.ADMIN], next_monday()
    [moved] = ok(clinic.http.get("/api/v1/devices", headers=admin, params={"room_id": clinic.room}))
    clinic.book(at(monday, 10))  # on `moved`, in Room 1
    room_2 = add_room(clinic.http, admin, "Room 2")  # its own device is newer than `moved`
    ok(clinic.http.patch(f"/api/v1/devices/{moved['id']}", headers=admin, json={"room_id": room_2}))
    other, esthetician = new_client(clinic.http, clinic.as_role[Role.FRONT_DESK], "Bea"), add_user(db, Role.ESTHETICIAN)
    series = clinic.book(at(monday, 10), room_id=room_2, client_id=other, esthetician_id=str(esthetician.id))
    assert series["appointments"][0]["device_id"] != moved["id"]


def test_a_moved_appointment_keeps_its_device_while_it_is_free(clinic: SeriesBooking) -> None:
    admin, monday = clinic.as_role[Role.ADMIN], next_monday()
    [first] = ok(clinic.http.get("/api/v1/devices", headers=admin, params={"room_id": clinic.room}))
    second = add_device(clinic, clinic.room)
    ok(clinic.http.patch(f"/api/v1/devices/{first['id']}", headers=admin, json={"status": "out_of_service"}))
    [booked] = clinic.book(at(monday, 10))["appointments"]
    assert booked["device_id"] == second["id"]
    ok(clinic.http.patch(f"/api/v1/devices/{first['id']}", headers=admin, json={"status": "in_service"}))
    moved = ok(
        clinic.http.patch(
            f"/api/v1/appointments/{booked['id']}",
            headers=clinic.as_role[Role.FRONT_DESK],
            json={"start_at": at(monday, 14)},
        )
    )
    assert moved["device_id"] == second["id"]  # not switched back to the older device behind the desk's back
