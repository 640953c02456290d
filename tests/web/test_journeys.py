"""The issue's journeys end to end, page after page as staff go through them: nothing set up through the API but
the accounts."""

import re
from datetime import timedelta
from typing import Any

import httpx2 as httpx
from playwright.sync_api import expect

from tests.web.conftest import Clinic, add_staff, bearer, screenshot, sign_in
from tests.web.screening_form import answer, save

ESTHETICIAN = ("journey-esthetician@clinic.example.com", "a-long-journey-password")
ESTHETICIAN_NAME = "Jude Journey"
DEMO_PROTOCOL = "Demo lift and tone"


def test_an_esthetician_screens_a_pregnant_client_records_the_approval_and_screens_again(
    page: Any, clinic: Clinic
) -> None:
    add_staff(clinic.url, ESTHETICIAN, full_name=ESTHETICIAN_NAME, role="esthetician")
    page.goto("/clients/new")
    sign_in(page, *ESTHETICIAN)
    page.get_by_label("First name").fill("Nell")
    page.get_by_label("Last name").fill("Journeyman")
    page.get_by_label("Date of birth").fill("1991-02-14")
    page.get_by_label("Phone").fill("+44 20 7946 5150")
    page.get_by_role("button", name="Register client").click()
    expect(page).to_have_url(re.compile(r"/clients/[0-9a-f-]+\?done=created$"))
    client_page = page.url.split("?")[0]

    # Pregnant, no approval on file: the screening says an approval is needed.
    page.get_by_role("link", name="Screen this client").click()
    answer(page, {"pregnant": True})
    result = save(page)
    expect(result.get_by_role("heading", level=2)).to_have_text("! Physician's approval needed")
    screenshot(page, "journey-screening-approval-needed")

    # Booking is refused in plain words.
    page.goto(client_page)
    page.get_by_role("main").get_by_role("link", name="Book a series").click()
    expect(page.get_by_label("Nell Journeyman")).to_be_checked()
    protocols = httpx.get(f"{clinic.url}/api/v1/protocols", headers=bearer(clinic.url, *ESTHETICIAN)).json()
    page.get_by_label("Protocol").select_option(value=next(p["id"] for p in protocols if p["name"] == DEMO_PROTOCOL))
    page.get_by_label("Esthetician").select_option(label=ESTHETICIAN_NAME)
    page.get_by_label("First session").fill((clinic.today + timedelta(days=40)).isoformat())
    page.get_by_label("Time", exact=True).fill("10:00")
    page.get_by_label("Intensive sessions").fill("6")
    page.get_by_label("Sessions a week").select_option(label="2 a week")
    page.get_by_role("button", name="Show occurrences").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("This client cannot be booked")
    expect(refusal).to_contain_text("a physician's approval is recorded")
    expect(page.get_by_role("button", name="Book series")).to_be_disabled()
    screenshot(page, "journey-booking-refused")

    # The approval, recorded on the client's page from the screening's link.
    page.goto(client_page + "/screening")
    answer(page, {"pregnant": True})
    save(page).get_by_role("link", name="Record a physician's approval").click()
    approvals = page.get_by_role("region", name="Physicians' approvals")
    approvals.get_by_label("Physician's name").fill("Dr. Adaeze Obi")
    approvals.get_by_label("What it approves").select_option(label="Pregnancy")
    approvals.get_by_label("Approved on").fill(clinic.today.isoformat())
    approvals.get_by_label("Valid until").fill((clinic.today + timedelta(days=200)).isoformat())
    approvals.get_by_label("Where the signed approval is filed").fill("scan 7")
    approvals.get_by_role("button", name="Record approval").click()
    expect(page.get_by_role("status")).to_contain_text("The physician's approval was recorded.")

    # Screened again with the same answers: cleared.
    page.get_by_role("link", name="Screen this client").click()
    answer(page, {"pregnant": True})
    expect(save(page).get_by_role("heading", level=2)).to_have_text("✓ Cleared")
    screenshot(page, "journey-screening-cleared")
