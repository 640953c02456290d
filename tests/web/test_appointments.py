"""Opening an appointment from Today, moving it (every booking rule judged again), cancelling the rest of its series."""

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import FRONT_DESK, Clinic, screenshot, sign_in


def test_the_front_desk_moves_an_appointment_and_cancels_the_rest_of_its_series(page: Any, clinic: Clinic) -> None:
    tomorrow = clinic.today + timedelta(days=1)
    page.goto(f"/today?day={tomorrow}")
    sign_in(page, *FRONT_DESK)
    page.get_by_role("link", name="Marie Curie").click()
    expect(page).to_have_url(re.compile(r"/appointments/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Marie Curie")
    expect(page.locator(".facts")).to_contain_text("11:00–11:34")
    expect(page.locator(".facts")).to_contain_text("1 of 6, with Esme Thetic")
    screenshot(page, "appointment")

    # Into Grace Hopper's slot: refused in the booking service's words, and nothing moves.
    page.get_by_label("Date").fill(clinic.today.isoformat())
    page.get_by_label("Start time").fill("15:00")
    page.get_by_label("Room").select_option(label="Sage room")
    page.get_by_role("button", name="Move appointment").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("The appointment was not moved, because:")
    expect(refusal).to_contain_text("Sage room is booked then")
    expect(page.locator(".facts")).to_contain_text("11:00–11:34")
    expect(page.get_by_label("Start time")).to_have_value("15:00")  # what was asked stays in the form
    screenshot(page, "appointment-move-refused")

    page.get_by_label("Date").fill(tomorrow.isoformat())
    page.get_by_label("Start time").fill("13:30")
    page.get_by_label("Room").select_option(label="Lily room")
    page.get_by_role("button", name="Move appointment").click()
    expect(page.get_by_role("status")).to_have_text("✓ The appointment was moved.")
    expect(page.locator(".facts")).to_contain_text("13:30–14:04")

    page.get_by_label("This one and the rest of the series").check()
    page.get_by_label("Reason (optional)").fill("Moving abroad")
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled: 6 appointments.")
    expect(page.locator(".facts")).to_contain_text("Cancelled")
    expect(page.get_by_role("button", name="Move appointment")).to_have_count(0)
    page.get_by_role("link", name=re.compile("Back to")).click()
    expect(page).to_have_url(re.compile(rf"/today\?day={tomorrow}$"))
    expect(page.get_by_role("link", name="Marie Curie")).to_have_count(0)
    cancelled = page.get_by_role("listitem").filter(has_text="Marie Curie")
    expect(cancelled).to_contain_text("13:30 Marie Curie in Lily room")
