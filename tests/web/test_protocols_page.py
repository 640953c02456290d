"""Protocols in the browser: an esthetician drafts one, is told which step breaks which of the clinic's limits
before saving, fixes it and saves it, and cannot approve it; the medical director approves it (version and sha256
shown), then withdraws it and is shown the booked appointment that uses it, with its link.

The clinic is shared with the other modules' tests: this module uses a room, staff and a client of its own, and
books weeks ahead; the protocol it approves ends withdrawn, so the demo's stays the only approved one."""

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
from playwright.sync_api import expect

from galvani.demo import NO_CONTRAINDICATION
from tests.web.conftest import ADMIN, FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in
from web.session import CSRF_FIELD

ESTHETICIAN = ("protocols-esthetician@clinic.example.com", "a-long-esthetician-password")
DIRECTOR = ("protocols-director@clinic.example.com", "a-long-director-password")
NAME = "Protocols page lift"
DAYS_AHEAD = 35  # clear of what the other modules book


def api(clinic: Clinic, method: str, path: str, headers: dict[str, str], status: int, **kwargs: Any) -> Any:
    answer = httpx.request(method, f"{clinic.url}/api/v1{path}", headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    return answer.json()


def fill_step(page: Any, number: int, *, zone: str, current: str, frequency: str, duration: str) -> None:
    """One row of the step table, by its fields' labels; the other fields keep their first choice."""
    page.get_by_label(f"Step {number} Zone", exact=True).select_option(zone)
    page.get_by_label(f"Step {number} Current (µA)", exact=True).fill(current)
    page.get_by_label(f"Step {number} Frequency (Hz)", exact=True).fill(frequency)
    page.get_by_label(f"Step {number} Duration (s)", exact=True).fill(duration)
    page.get_by_label(f"Step {number} Duration (s)", exact=True).press("Tab")


def book(clinic: Clinic, protocol_id: str) -> tuple[str, str]:
    """One session with this protocol, for a client of this module, in a room of its own: (appointment, client)."""
    admin, desk = bearer(clinic.url, *ADMIN), bearer(clinic.url, *FRONT_DESK)
    esthetician = bearer(clinic.url, *ESTHETICIAN)
    room = api(clinic, "POST", "/rooms", admin, 201, json={"name": "Poppy room"})
    device = {"serial": "POPPY-001", "room_id": room["id"], "probe_area_cm2": 1.0}
    api(clinic, "POST", "/devices", admin, 201, json=device)
    body = {"first_name": "Rosalind", "last_name": "Protocolia", "date_of_birth": "1980-07-25", "phone": "+15550107070"}
    client = api(clinic, "POST", "/clients", desk, 201, json=body)
    screening = {"answers": NO_CONTRAINDICATION}
    api(clinic, "POST", f"/clients/{client['id']}/screenings", esthetician, 201, json=screening)
    me = next(u for u in api(clinic, "GET", "/users", desk, 200) if u["email"] == ESTHETICIAN[0])
    zone = ZoneInfo(clinic.timezone)
    start = datetime.combine(clinic.today + timedelta(days=DAYS_AHEAD), time(10), zone)
    plan = {"intensive": {"sessions": 1, "per_week": 1}}
    series = {
        "client_id": client["id"],
        "protocol_id": protocol_id,
        "esthetician_id": me["id"],
        "room_id": room["id"],
        "start_at": start.isoformat(),
        "plan": plan,
    }
    booked = api(clinic, "POST", "/series", desk, 201, json=series)
    return booked["appointments"][0]["id"], "Rosalind Protocolia"


def test_a_draft_is_checked_saved_approved_and_withdrawn(page: Any, clinic: Clinic) -> None:
    add_staff(clinic.url, ESTHETICIAN, full_name="Esme Protocolist", role="esthetician")
    add_staff(clinic.url, DIRECTOR, full_name="Dr Petra Director", role="medical_director")

    page.goto("/login")
    sign_in(page, *ESTHETICIAN)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Protocols").click()
    expect(page.get_by_role("heading", name="Protocols")).to_be_visible()
    page.get_by_role("link", name="New protocol").click()
    page.get_by_label("Name", exact=True).fill(NAME)
    fill_step(page, 1, zone="lips", current="400", frequency="10", duration="120")
    check = page.locator("#limit-check")
    expect(check).to_contain_text("Step 1 (lips), Current (µA): 400 µA is above the lips cap of 50%")
    page.get_by_role("button", name="Add a step").click()
    fill_step(page, 2, zone="cheeks", current="200", frequency="0.1", duration="90")
    expect(check).to_contain_text("Step 2 (cheeks), Frequency (Hz): must be at least 0.5")
    screenshot(page, "protocol-draft-over-limit")

    page.get_by_role("button", name="Save draft").click()  # refused: nothing saved, the same words beside the table
    expect(page.get_by_role("alert")).to_contain_text("lips cap")
    expect(page.get_by_label("Step 1 Current (µA)", exact=True)).to_have_attribute("aria-invalid", "true")
    fill_step(page, 1, zone="lips", current="250", frequency="10", duration="120")
    fill_step(page, 2, zone="cheeks", current="200", frequency="2", duration="90")
    expect(check).to_contain_text("Every step is within the clinic's limits")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_role("status")).to_contain_text("The draft was saved")
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.locator("dl.facts")).to_contain_text("Draft")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    protocol_id = page.url.rsplit("/", 1)[1].split("?")[0]
    token = page.locator(f"input[name={CSRF_FIELD}]").first.get_attribute("value")
    typed = page.request.post(f"/protocols/{protocol_id}/approve", form={CSRF_FIELD: token}, max_redirects=0)
    assert typed.status == 403
    assert "Only a medical director can approve" in typed.text()
    screenshot(page, "protocol-draft-saved")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, *DIRECTOR)
    page.goto(f"/protocols/{protocol_id}")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    approved = api(clinic, "GET", f"/protocols/{protocol_id}", bearer(clinic.url, *DIRECTOR), 200)
    assert approved["status"] == "approved" and re.fullmatch(r"[0-9a-f]{64}", approved["sha256"])
    expect(page.locator("dl.facts")).to_contain_text(approved["sha256"])
    expect(page.locator("dl.facts")).to_contain_text("by Dr Petra Director")
    screenshot(page, "protocol-approved")

    appointment_id, client = book(clinic, protocol_id)
    page.goto("/protocols")
    row = page.get_by_role("row").filter(has_text=NAME)
    expect(row).to_contain_text("Approved")
    expect(row).to_contain_text("Dr Petra Director")
    row.get_by_role("link", name=NAME).click()
    page.get_by_label("Reason").fill("Replaced by a gentler lips step")
    page.get_by_role("button", name="Withdraw").click()

    expect(page.get_by_role("status")).to_contain_text("Withdrawn")
    to_move = page.get_by_role("table").filter(has_text=client)
    expect(to_move).to_contain_text("Poppy room")
    expect(to_move).to_contain_text("10:00")
    screenshot(page, "protocol-withdrawn")
    to_move.get_by_role("link", name=re.compile("^Move")).click()
    expect(page).to_have_url(re.compile(f"/appointments/{appointment_id}$"))
