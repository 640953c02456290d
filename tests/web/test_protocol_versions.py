"""The next version of an approved protocol, in the browser: an esthetician starts it from the approved version's
page ("Edit as a new version": the editor, filled with its steps), changes a step and saves a draft of version 2
through the service the API's PATCH uses; the approved version stays as it is and points to the draft rather than
start another. The medical director approves version 2: version 1 stays approved, and its booked appointment keeps
it, as the API does, until the director withdraws it on its own page. The front desk cannot start a version.

The clinic is shared with the other modules' tests: this module uses a room, staff and a client of its own, books
weeks ahead, and withdraws both its versions at the end, so the demo's protocol stays the only approved one."""

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from galvani.demo import NO_CONTRAINDICATION
from tests.api.clinic import STEP
from tests.web.accessibility import assert_accessible
from tests.web.conftest import ADMIN, FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in

ESTHETICIAN = ("versions-esthetician@clinic.example.com", "a-long-esthetician-password")
DIRECTOR = ("versions-director@clinic.example.com", "a-long-director-password")
NAME = "Versions page lift"
STEPS = [
    {**STEP, "duration_s": 240},
    {
        "zone": "forehead",
        "mode": "LIFT",
        "current_ua": 100,
        "frequency_hz": 10,
        "waveform": "sine",
        "polarity": "positive",
        "duration_s": 60,
    },
]
DAYS_AHEAD = 42  # clear of what the other modules book


def api(clinic: Clinic, method: str, path: str, headers: dict[str, str], status: int = 200, **kwargs: Any) -> Any:
    answer = httpx.request(method, f"{clinic.url}/api/v1{path}", headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def staff(clinic: Clinic) -> None:
    """This module's esthetician and medical director."""
    add_staff(clinic.url, ESTHETICIAN, full_name="Vera Versionist", role="esthetician")
    add_staff(clinic.url, DIRECTOR, full_name="Dr Viktor Director", role="medical_director")


@pytest.fixture
def first_version(clinic: Clinic, staff: None) -> Iterator[dict[str, Any]]:
    """Version 1, approved by this module's medical director; every version still approved at the end is withdrawn."""
    director = bearer(clinic.url, *DIRECTOR)
    made = api(clinic, "POST", "/protocols", director, 201, json={"name": NAME, "steps": STEPS})
    yield api(clinic, "POST", f"/protocols/{made['id']}/approve", director)
    for left in api(clinic, "GET", "/protocols", director, params={"status": "approved"}):
        if left["lineage_id"] == made["lineage_id"]:
            api(clinic, "POST", f"/protocols/{left['id']}/withdraw", director, json={"reason": "test over"})


def book(clinic: Clinic, protocol_id: str) -> tuple[str, str]:
    """One session with this protocol, for a client of this module, in a room of its own: (appointment, client)."""
    admin, desk = bearer(clinic.url, *ADMIN), bearer(clinic.url, *FRONT_DESK)
    room = api(clinic, "POST", "/rooms", admin, 201, json={"name": "Violet room"})
    api(
        clinic,
        "POST",
        "/devices",
        admin,
        201,
        json={"serial": "VIOLET-001", "room_id": room["id"], "probe_area_cm2": 1},
    )
    body = {
        "first_name": "Valentina",
        "last_name": "Versionova",
        "date_of_birth": "1979-03-14",
        "phone": "+15550108080",
    }
    client = api(clinic, "POST", "/clients", desk, 201, json=body)
    esthetician = bearer(clinic.url, *ESTHETICIAN)
    api(clinic, "POST", f"/clients/{client['id']}/screenings", esthetician, 201, json={"answers": NO_CONTRAINDICATION})
    me = next(u for u in api(clinic, "GET", "/users", desk) if u["email"] == ESTHETICIAN[0])
    start = datetime.combine(clinic.today + timedelta(days=DAYS_AHEAD), time(11), ZoneInfo(clinic.timezone))
    series = {
        "client_id": client["id"],
        "protocol_id": protocol_id,
        "esthetician_id": me["id"],
        "room_id": room["id"],
        "start_at": start.isoformat(),
        "plan": {"intensive": {"sessions": 1, "per_week": 1}},
    }
    return api(clinic, "POST", "/series", desk, 201, json=series)["appointments"][0]["id"], client["id"]


def test_a_new_version_is_drafted_from_an_approved_one_and_approved_beside_it(
    page: Any, clinic: Clinic, first_version: dict[str, Any]
) -> None:
    first = first_version
    appointment_id, client_id = book(clinic, first["id"])

    page.goto("/login")
    sign_in(page, *ESTHETICIAN)
    page.goto(f"/protocols/{first['id']}")
    expect(page.get_by_role("link", name="Edit draft")).to_have_count(0)  # an approved version never changes
    page.get_by_role("link", name="Edit as a new version").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"New version of {NAME}")
    expect(page.get_by_role("note")).to_contain_text("Version 1 stays as it is (approved)")
    current = page.get_by_label("Step 1 Current (µA)", exact=True)
    expect(current).to_have_value("200")  # version 1's steps, every one
    expect(page.get_by_label("Step 2 Zone", exact=True)).to_have_value("forehead")
    expect(page.get_by_label("Name", exact=True)).to_have_value(NAME)
    current.fill("150")
    current.press("Tab")
    expect(page.locator("#limit-check")).to_contain_text("Every step is within the clinic's limits")
    assert_accessible(page)
    screenshot(page, "protocol-new-version-editor")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_role("status")).to_contain_text("The draft was saved")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Draft")
    expect(facts).to_contain_text("given when it is approved")
    second_id = page.url.rsplit("/", 1)[1].split("?")[0]
    assert second_id != first["id"]
    esthetician = bearer(clinic.url, *ESTHETICIAN)
    second = api(clinic, "GET", f"/protocols/{second_id}", esthetician)
    assert (second["version"], second["status"], second["lineage_id"]) == (2, "draft", first["lineage_id"])
    assert second["steps"] == [STEPS[0] | {"current_ua": 150}, STEPS[1]]
    assert api(clinic, "GET", f"/protocols/{first['id']}", esthetician) == first
    versions = page.get_by_role("table").filter(has_text="Version 1")
    expect(versions.get_by_role("row")).to_have_count(3)  # the head, then version 2 and version 1
    screenshot(page, "protocol-version-2-draft")

    versions.get_by_role("link", name="Version 1").click()  # the approved one now points to the draft
    expect(page.get_by_role("link", name="Edit as a new version")).to_have_count(0)
    page.get_by_role("link", name="Continue the draft of version 2").click()
    expect(page).to_have_url(re.compile(f"/protocols/{second_id}/edit$"))
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, *DIRECTOR)
    page.goto(f"/protocols/{second_id}")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    also = page.get_by_role("note")
    expect(also).to_contain_text("Also approved: version 1")
    expect(also).to_contain_text("every appointment keeps the version it was booked with")
    assert_accessible(page)
    screenshot(page, "protocol-version-2-approved")
    director = bearer(clinic.url, *DIRECTOR)
    assert api(clinic, "GET", f"/protocols/{first['id']}", director)["status"] == "approved"
    [appointment] = api(clinic, "GET", "/appointments", director, params={"client_id": client_id})
    assert (appointment["id"], appointment["protocol_id"]) == (appointment_id, first["id"])

    also.get_by_role("link", name="version 1").click()  # the director decides about version 1 on its own page
    page.get_by_label("Reason").fill("Replaced by version 2")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.get_by_role("status")).to_contain_text("Withdrawn")
    expect(page.get_by_role("table").filter(has_text="Versionova")).to_contain_text("Violet room")
    expect(page.get_by_role("link", name="Edit as a new version")).to_be_visible()  # a withdrawn one can start one


def test_the_front_desk_cannot_start_a_version(page: Any, clinic: Clinic, first_version: dict[str, Any]) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    page.goto(f"/protocols/{first_version['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.get_by_role("link", name="Edit as a new version")).to_have_count(0)
    typed = page.goto(f"/protocols/{first_version['id']}/new-version")
    assert typed is not None and typed.status == 403
    expect(page.get_by_text("Only an esthetician or a medical director can write a protocol.")).to_be_visible()
