"""The clients pages in Chromium, as the clinic's staff use them: finding a client as you type, what each role sees
of a client's screening, recording and revoking a physician's approval, and registering, changing and deleting a
client. The clients and staff are this module's own (the server is shared with the other modules)."""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from tests.factories import NOTHING
from tests.web.conftest import FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in

ESTHETICIAN = ("clio.esthetician@clients-pages.example.com", "clients-pages-esthetician-pw")
DIRECTOR = ("clio.director@clients-pages.example.com", "clients-pages-director-pw")
PREGNANCY_RULE = "Pregnancy: only with a physician's written approval"


@dataclass(frozen=True)
class Staff:
    esthetician: dict[str, str]


@pytest.fixture(scope="module")
def staff(clinic: Clinic) -> Staff:
    """An esthetician and a medical director of this module's own."""
    add_staff(clinic.url, ESTHETICIAN, full_name="Iris Clio", role="esthetician")
    add_staff(clinic.url, DIRECTOR, full_name="Dr Quill Director", role="medical_director")
    return Staff(esthetician=bearer(clinic.url, *ESTHETICIAN))


def register(clinic: Clinic, first: str, last: str, phone: str) -> str:
    """A client registered at the front desk through the API."""
    made = httpx.post(
        f"{clinic.url}/api/v1/clients",
        headers=bearer(clinic.url, *FRONT_DESK),
        json={"first_name": first, "last_name": last, "date_of_birth": "1988-04-23", "phone": phone},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def screened_pregnant(clinic: Clinic, staff: Staff, client_id: str) -> None:
    answers = NOTHING | {"pregnant": True}
    made = httpx.post(
        f"{clinic.url}/api/v1/clients/{client_id}/screenings", headers=staff.esthetician, json={"answers": answers}
    )
    assert made.status_code == 201, made.text


def banner(page: Any) -> Any:
    return page.get_by_role("region", name="Treatment today")


def test_the_front_desk_finds_a_client_by_phone_and_sees_outcomes_only(page: Any, clinic: Clinic, staff: Staff) -> None:
    client_id = register(clinic, "Clio", "Tessellate", "+44 20 7946 3141")
    screened_pregnant(clinic, staff, client_id)
    page.goto("/clients")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/clients$"))
    page.get_by_label("Search clients").press_sequentially("7946 31", delay=40)  # typed, no Enter
    found = page.get_by_role("link", name="Clio Tessellate")
    expect(found).to_be_visible()
    expect(page).to_have_url(re.compile(r"/clients\?q=7946\+31$"))  # Back returns to these results
    expect(page.get_by_role("row", name=re.compile("Clio Tessellate"))).to_contain_text("+44 20 7946 3141")
    screenshot(page, "clients-search")

    found.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clio Tessellate")
    expect(banner(page)).to_contain_text("Needs a physician's approval")
    expect(page.get_by_role("region", name="Screenings")).to_contain_text("Needs a physician's approval")
    expect(page.get_by_text("Pregnancy")).to_have_count(0)  # outcomes and dates only, never why
    expect(page.get_by_role("link", name="Screen this client")).to_have_count(0)
    expect(page.get_by_role("region", name="Physicians' approvals")).to_have_count(0)
    next_steps = page.get_by_role("list", name="What to do next")
    expect(next_steps.get_by_role("link", name="Book a series")).to_have_attribute(
        "href", f"/series/new?client_id={client_id}"
    )
    screenshot(page, "client-front-desk")
    answer = page.goto(f"/clients/{client_id}/screening")
    assert answer is not None and answer.status == 403
    page.go_back()
    page.go_back()
    expect(page.get_by_label("Search clients")).to_have_value("7946 31")
    expect(page.get_by_role("link", name="Clio Tessellate")).to_be_visible()


def test_an_approval_recorded_by_an_esthetician_and_revoked_by_the_medical_director(
    page: Any, context: Any, browser: Any, clinic: Clinic, staff: Staff
) -> None:
    client_id = register(clinic, "Clio", "Marginalia", "+44 20 7946 2718")
    screened_pregnant(clinic, staff, client_id)
    page.goto(f"/clients/{client_id}")
    sign_in(page, *ESTHETICIAN)
    expect(banner(page)).to_contain_text(PREGNANCY_RULE)
    expect(banner(page)).to_contain_text("No physician's approval is on file")
    expect(page.get_by_role("link", name="Screen this client")).to_have_attribute(
        "href", f"/clients/{client_id}/screening"
    )
    form = page.get_by_role("region", name="Physicians' approvals")
    form.get_by_label("Physician's name").fill("Dr. Okafor")
    form.get_by_label("What it approves").select_option(label="Pregnancy")
    form.get_by_label("Approved on").fill(clinic.today.isoformat())
    form.get_by_label("Valid until").fill((clinic.today - timedelta(days=1)).isoformat())
    form.get_by_label("Where the signed approval is filed").fill("scan 114")
    form.get_by_role("button", name="Record approval").click()
    expect(page.get_by_role("alert")).to_contain_text("valid_until cannot come before approved_on")
    expect(page.get_by_label("Physician's name")).to_have_value("Dr. Okafor")  # what was typed stays
    page.get_by_label("Valid until").fill((clinic.today + timedelta(days=180)).isoformat())
    page.get_by_role("button", name="Record approval").click()
    expect(page).to_have_url(re.compile(rf"/clients/{client_id}\?done=approval#approvals$"))
    expect(page.get_by_role("status")).to_contain_text("The physician's approval was recorded.")
    expect(banner(page)).to_contain_text("Cleared")
    expect(banner(page)).to_contain_text("Approved by Dr. Okafor, valid until")
    expect(page.get_by_role("button", name="Revoke approval")).to_have_count(0)  # the medical director's to do
    screenshot(page, "client-esthetician")

    director = browser.new_context(base_url=clinic.url, viewport=page.viewport_size)
    try:
        tab = director.new_page()
        tab.goto(f"/clients/{client_id}#approvals")
        sign_in(tab, *DIRECTOR)
        tab.get_by_text("Revoke this approval").click()
        tab.get_by_label("Why it is revoked").fill("Letter withdrawn by Dr. Okafor")
        tab.get_by_role("button", name="Revoke approval").click()
        expect(tab.get_by_role("status")).to_contain_text("The physician's approval was revoked.")
        expect(tab.get_by_role("region", name="Physicians' approvals")).to_contain_text("Revoked on")
        expect(banner(tab)).to_contain_text("Needs a physician's approval")
        screenshot(tab, "client-approval-revoked")
    finally:
        director.close()


def test_the_front_desk_registers_changes_and_deletes_a_client(page: Any, clinic: Clinic) -> None:
    page.goto("/clients")
    sign_in(page, *FRONT_DESK)
    page.get_by_role("link", name="New client").click()
    page.get_by_label("First name").fill("Clio")
    page.get_by_label("Last name").fill("Palimpsest")
    page.get_by_label("Date of birth").fill("1990-04-23")
    page.get_by_label("Phone").fill("+44 20 7946 1618")
    page.get_by_role("button", name="Register client").click()
    expect(page).to_have_url(re.compile(r"/clients/[0-9a-f-]+\?done=created$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Clio Palimpsest")
    expect(banner(page)).to_contain_text("Never screened")

    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("Date of birth").fill((clinic.today + timedelta(days=1)).isoformat())
    page.get_by_label("Email").fill("clio.palimpsest@clients-pages.example.com")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("alert")).to_contain_text("Date of birth: cannot be in the future.")
    expect(page.get_by_label("Date of birth")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "client-edit-refused")
    page.get_by_label("Date of birth").fill("1990-04-24")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("status")).to_contain_text("The client's details were saved.")
    expect(page.get_by_role("region", name="Details")).to_contain_text("clio.palimpsest@clients-pages.example.com")
    expect(page.get_by_role("region", name="Details")).to_contain_text("24 Apr 1990")

    page.get_by_role("link", name="Delete record").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete Clio Palimpsest?")
    screenshot(page, "client-delete-confirm")
    page.get_by_role("button", name="Delete client record").click()
    expect(page).to_have_url(re.compile(r"/clients\?deleted=1$"))
    expect(page.get_by_role("status").first).to_contain_text("The client record was deleted.")
    page.get_by_label("Search clients").press_sequentially("Palimpsest", delay=20)
    expect(page.locator("#results")).to_contain_text("No client matches “Palimpsest”.")
