"""Booking a series at the front desk: every session shown before anything is booked, a conflict marked with its
reason and the nearest free time, that time taken, all of them booked in one go and found on Today; and a client
whose screening needs a physician's approval, refused in plain words.

The clinic is shared with the other modules' tests: this module books in a room of its own, with an esthetician
of its own, for clients of its own, weeks ahead."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from galvani.demo import NO_CONTRAINDICATION
from tests.web.accessibility import assert_accessible
from tests.web.conftest import ADMIN, FRONT_DESK, VIEWPORT, Clinic, add_staff, bearer, screenshot, sign_in

ESTHETICIAN = ("series-esthetician@clinic.example.com", "a-long-esthetician-password")
ESTHETICIAN_NAME = "Sefa Seriesworth"
ROOM = "Willow room"
DEMO_PROTOCOL = "Demo lift and tone"
FIRST_DAY_AHEAD = timedelta(days=21)  # clear of what the other modules book around today


@dataclass(frozen=True)
class Desk:
    """This module's room, esthetician and the demo's protocol, with the API's log-ins to set things up."""

    clinic: Clinic
    front_desk: dict[str, str]
    esthetician: dict[str, str]
    room_id: str
    protocol_id: str
    demo_esthetician_id: str

    def api(self, method: str, path: str, headers: dict[str, str], status: int, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.clinic.url}/api/v1{path}", headers=headers, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json()

    def client(self, first: str, last: str, phone: str, **answers: Any) -> str:
        """A client registered at the desk and screened by this module's esthetician."""
        body = {"first_name": first, "last_name": last, "date_of_birth": "1984-05-17", "phone": phone}
        client_id: str = self.api("POST", "/clients", self.front_desk, 201, json=body)["id"]
        screening = {"answers": NO_CONTRAINDICATION | answers}
        self.api("POST", f"/clients/{client_id}/screenings", self.esthetician, 201, json=screening)
        return client_id

    def book_one(self, client_id: str, start: datetime) -> None:
        """One session for another client, with the demo's esthetician, in this module's room."""
        body = {
            "client_id": client_id,
            "protocol_id": self.protocol_id,
            "esthetician_id": self.demo_esthetician_id,
            "room_id": self.room_id,
            "start_at": start.isoformat(),
            "plan": {"intensive": {"sessions": 1, "per_week": 1}},
        }
        self.api("POST", "/series", self.front_desk, 201, json=body)


@pytest.fixture(scope="module")
def desk(clinic: Clinic) -> Iterator[Desk]:
    add_staff(clinic.url, ESTHETICIAN, full_name=ESTHETICIAN_NAME, role="esthetician")
    admin, front_desk = bearer(clinic.url, *ADMIN), bearer(clinic.url, *FRONT_DESK)
    room = httpx.post(f"{clinic.url}/api/v1/rooms", headers=admin, json={"name": ROOM})
    assert room.status_code == 201, room.text
    device = {"serial": "WILLOW-001", "room_id": room.json()["id"], "probe_area_cm2": 1.0}
    assert httpx.post(f"{clinic.url}/api/v1/devices", headers=admin, json=device).status_code == 201
    approved = httpx.get(f"{clinic.url}/api/v1/protocols", headers=front_desk, params={"status": "approved"}).json()
    protocol = next(p for p in approved if p["name"] == DEMO_PROTOCOL)
    staff = httpx.get(f"{clinic.url}/api/v1/users", headers=front_desk).json()
    yield Desk(
        clinic=clinic,
        front_desk=front_desk,
        esthetician=bearer(clinic.url, *ESTHETICIAN),
        room_id=room.json()["id"],
        protocol_id=protocol["id"],
        demo_esthetician_id=next(u["id"] for u in staff if u["full_name"] == "Esme Thetic"),
    )


def local(clinic: Clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(clinic.timezone)).replace(hour=hour, minute=minute)


def plan_the_series(page: Any, desk: Desk, first_day: date, screenshot_as: str | None = None) -> None:
    """The treatment and the plan, typed in as the desk does: 12 twice a week, then 3 every 4 weeks."""
    page.get_by_label("Protocol").select_option(value=desk.protocol_id)
    page.get_by_label("Esthetician").select_option(label=ESTHETICIAN_NAME)
    page.get_by_label("Room").select_option(label=ROOM)
    page.get_by_label("First session").fill(first_day.isoformat())
    page.get_by_label("Time", exact=True).fill("09:00")
    page.get_by_label("Intensive sessions").fill("12")
    page.get_by_label("Sessions a week").select_option(label="2 a week")
    page.get_by_label("Maintenance sessions").fill("3")
    page.get_by_label("Weeks between them").fill("4")
    if screenshot_as:
        screenshot(page, screenshot_as)
    page.get_by_role("button", name="Show occurrences").click()


def test_the_front_desk_books_15_sessions_around_a_conflict(page: Any, desk: Desk) -> None:
    clinic = desk.clinic
    client_id = desk.client("Ottilie", "Seriesbook", "+44 7700 913 582")
    first_day = clinic.today + FIRST_DAY_AHEAD
    fifth_day = first_day + timedelta(days=14)  # sessions 1-4: days 0, 3, 7, 10; the 5th two weeks on
    other = desk.client("Barnaby", "Seriesclash", "+44 7700 913 999")
    desk.book_one(other, local(clinic, fifth_day, 9))  # the room and its device, when the 5th session would be

    page.goto("/series/new")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/series/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Book a series")
    page.get_by_label("Find by name, email or phone").fill("913 582")  # a piece of the phone number
    page.get_by_label("Ottilie Seriesbook").check()
    plan_the_series(page, desk, first_day, screenshot_as="series-new")

    sessions = page.locator("table.occurrences tbody tr")
    expect(sessions).to_have_count(15)
    page.get_by_label("Maintenance sessions").fill("0")
    page.get_by_label("Maintenance sessions").press("Tab")  # the sessions follow the form as it changes
    expect(sessions).to_have_count(12)
    page.get_by_label("Maintenance sessions").fill("3")
    page.get_by_label("Maintenance sessions").press("Tab")
    expect(sessions).to_have_count(15)
    expect(page.get_by_role("status").filter(has_text="15 sessions")).to_contain_text("1 has a conflict")
    conflict = page.locator("tr.conflict")
    expect(conflict).to_have_count(1)
    expect(conflict.get_by_role("rowheader")).to_have_text("5 of 15")
    expect(conflict).to_contain_text(f"{fifth_day:%A} {fifth_day.day} {fifth_day:%B %Y}")
    expect(conflict).to_contain_text("✕ Conflict")
    expect(conflict).to_contain_text(f"{ROOM} is booked then.")
    expect(conflict).to_contain_text("Nearest free time: the same day, 09:45")
    expect(page.get_by_role("button", name="Book series")).to_be_disabled()
    assert_accessible(page)
    screenshot(page, "series-conflict")

    conflict.get_by_role("button", name=re.compile("Take 09:45 instead")).click()
    expect(page.locator("tr.conflict")).to_have_count(0)
    moved = sessions.nth(4)
    expect(moved).to_contain_text("09:45–")
    expect(moved).to_contain_text("↻ Free, moved from 09:00")
    expect(page.get_by_role("status").filter(has_text="15 sessions")).to_contain_text("All free")
    expect(page.get_by_role("button", name="Book series")).to_be_enabled()
    assert_accessible(page)
    screenshot(page, "series-moved")

    # Meanwhile another desk books the 7th session's time: nothing is booked, and the fresh conflict is shown.
    seventh_day = first_day + timedelta(days=21)
    desk.book_one(desk.client("Cosima", "Seriesrush", "+44 7700 913 888"), local(clinic, seventh_day, 9))
    page.get_by_role("button", name="Book series").click()
    expect(page.get_by_role("alert")).to_have_text(
        "✕ 1 of 15 sessions cannot be booked; nothing was booked. The sessions below are as things stand now."
    )
    expect(page.locator("tr.conflict").get_by_role("rowheader")).to_have_text("7 of 15")
    expect(moved).to_contain_text("↻ Free, moved from 09:00")  # the time taken before is kept
    page.locator("tr.conflict").scroll_into_view_if_needed()
    screenshot(page, "series-booked-meanwhile")
    page.locator("tr.conflict").get_by_role("button", name=re.compile("Take 09:45 instead")).click()
    expect(page.locator("tr.conflict")).to_have_count(0)

    page.get_by_role("button", name="Book series").click()
    expect(page).to_have_url(re.compile(r"/series/[0-9a-f-]+\?booked=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Series for Ottilie Seriesbook")
    expect(page.get_by_role("status")).to_have_text("✓ Booked: 15 sessions.")
    expect(page.locator("table.occurrences tbody tr")).to_have_count(15)
    screenshot(page, "series-booked")
    booked = desk.api("GET", "/series", desk.front_desk, 200, params={"client_id": client_id})
    assert [len(s["appointments"]) for s in booked] == [15]

    page.get_by_role("link", name=re.compile("on Today$")).click()
    expect(page).to_have_url(re.compile(rf"/today\?day={first_day}$"))
    first = page.locator("article.appt", has_text="Ottilie Seriesbook")
    expect(first).to_have_attribute("data-room", ROOM)
    expect(first).to_contain_text("09:00")
    expect(first).to_contain_text("Session 1 of 15")
    for day, sequence, other_client in ((fifth_day, 5, "Barnaby Seriesclash"), (seventh_day, 7, "Cosima Seriesrush")):
        page.goto(f"/today?day={day}")
        moved_there = page.locator("article.appt", has_text="Ottilie Seriesbook")
        expect(moved_there).to_contain_text("09:45")
        expect(moved_there).to_contain_text(f"Session {sequence} of 15")
        expect(page.locator("article.appt", has_text=other_client)).to_contain_text("09:00")


def test_a_client_who_needs_a_physicians_approval_cannot_be_booked(page: Any, desk: Desk) -> None:
    client_id = desk.client("Petra", "Seriesawait", "+44 7700 913 777", pregnant=True)
    page.goto(f"/series/new?client_id={client_id}")
    sign_in(page, *FRONT_DESK)
    expect(page.get_by_label("Petra Seriesawait")).to_be_checked()
    plan_the_series(page, desk, desk.clinic.today + FIRST_DAY_AHEAD + timedelta(days=1))

    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("This client cannot be booked")
    expect(refusal).to_contain_text("a physician's approval is recorded")
    expect(page.get_by_role("button", name="Book series")).to_be_disabled()
    expect(page.get_by_text("Booking is refused for this client, as said above.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "series-refused")

    # Pressed anyway (the button forced back on): the booking service refuses it in the same words.
    page.get_by_role("button", name="Book series").evaluate("button => { button.disabled = false; }")
    page.get_by_role("button", name="Book series").click()
    expect(page.get_by_role("alert").filter(has_text="Nothing was booked.")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="This client cannot be booked")).to_be_visible()
    assert desk.api("GET", "/series", desk.front_desk, 200, params={"client_id": client_id}) == []


def test_without_javascript_the_form_still_shows_and_books(browser: Any, desk: Desk) -> None:
    """Plain HTML forms underneath htmx: a browser without scripts previews and books through whole pages."""
    clinic = desk.clinic
    client_id = desk.client("Wilhelmina", "Seriesplain", "+44 7700 913 444")
    context = browser.new_context(base_url=clinic.url, viewport=VIEWPORT, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"/series/new?client_id={client_id}")
        sign_in(page, *FRONT_DESK)
        page.get_by_label("Protocol").select_option(value=desk.protocol_id)
        page.get_by_label("Esthetician").select_option(label=ESTHETICIAN_NAME)
        page.get_by_label("Room").select_option(label=ROOM)
        page.get_by_label("First session").fill((clinic.today + FIRST_DAY_AHEAD + timedelta(days=2)).isoformat())
        page.get_by_label("Time", exact=True).fill("11:00")
        page.get_by_label("Intensive sessions").fill("2")
        page.get_by_label("Maintenance sessions").fill("0")
        page.get_by_role("button", name="Show occurrences").click()
        expect(page).to_have_url(re.compile(r"/series/new/preview$"))
        expect(page.locator("table.occurrences tbody tr")).to_have_count(2)
        expect(page.get_by_label("Wilhelmina Seriesplain")).to_be_checked()  # the form comes back as it was
        page.get_by_role("button", name="Book series").click()
        expect(page).to_have_url(re.compile(r"/series/[0-9a-f-]+\?booked=1$"))
        expect(page.get_by_role("status")).to_have_text("✓ Booked: 2 sessions.")
    finally:
        context.close()
