"""A session's record in the browser: delivered charge per step, a chart of the whole treatment, who stopped it; the
medical director signs it off with a note, and after that an edit is refused in plain words while an addendum keeps
the original; a print view that fits one A4 page.

The session is real: this module's own room and device (a simulated device on the demo's embedded broker, run 8
times faster than life), its own screened client booked there a minute ahead, started through the API with the
day-of answers, the probes losing contact once, and stopped through the API in the last step."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from device_gateway.simulator import SimulatedDevice
from tests.api.clinic import DAY_OF
from tests.web.accessibility import assert_accessible
from tests.web.conftest import FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in
from tests.web.treatments import book_soon, cleared_client, created, room_with_device, wait_for

DIRECTOR = ("records-director@clinic.example.com", "a-long-records-director-password")
ESTHETICIAN = ("records-esthetician@clinic.example.com", "a-long-records-esthetician-password")
SPEED = 8.0  # device seconds per real second: the demo's 4-minute protocol runs in 30 s
ADDED = "The addendum was added."
A4_INSIDE_MARGINS = {"width": 703, "height": 1032}  # (210 × 297 mm less 12 mm each side) at 96 dpi


@dataclass(frozen=True)
class Treated:
    session_id: str
    appointment_id: str
    client: str


@pytest.fixture(scope="module")
def treated(clinic: Clinic) -> Iterator[Treated]:
    """A treatment stopped in its last step, with one contact loss, in a room and on a device of this module."""
    with treatment(clinic) as done:
        yield done


@contextmanager
def treatment(clinic: Clinic) -> Iterator[Treated]:
    """This module's accounts, room, device (switched off at the end), client and treatment."""
    add_staff(clinic.url, DIRECTOR, full_name="Dr Meredith Grey", role="medical_director")
    add_staff(clinic.url, ESTHETICIAN, full_name="Esther Records", role="esthetician")
    desk = bearer(clinic.url, *FRONT_DESK)
    esthetician = bearer(clinic.url, *ESTHETICIAN)
    room_id, device_id = room_with_device(clinic, room="Records room", serial="REC-001")
    simulated = SimulatedDevice(device_id, port=clinic.mqtt_port, speed=SPEED)
    simulated.start()
    try:
        client = cleared_client(clinic, esthetician, first="Rosalind", last="Franklin", born="1980-07-25")
        appointment = book_soon(clinic, desk, client_id=client["id"], room_id=room_id, esthetician_email=ESTHETICIAN[0])
        yield _treat(clinic, esthetician, simulated, appointment, f"{client['first_name']} {client['last_name']}")
    finally:
        simulated.stop()


def _treat(clinic: Clinic, headers: dict[str, str], device: SimulatedDevice, appointment: str, client: str) -> Treated:
    """Start, press start on the device once armed, lose contact in step 2, stop in step 3: all through the API."""
    started = created(
        httpx.post(f"{clinic.url}/api/v1/appointments/{appointment}/start", headers=headers, json={"day_of": DAY_OF})
    )
    path = f"{clinic.url}/api/v1/sessions/{started['session_id']}"

    def record() -> dict[str, Any]:
        return created(httpx.get(path, headers=headers))

    wait_for("the device armed", lambda: record()["status"] == "armed")
    device.press_start()
    wait_for("step 2 under way", lambda: record()["steps"][1]["output_s"] >= 2)
    device.lose_contact(4)
    wait_for("step 3 under way", lambda: record()["steps"][2]["output_s"] >= 10)
    created(httpx.post(f"{path}/stop", headers=headers))
    wait_for("the device's stop", lambda: record()["status"] == "stopped")
    return Treated(started["session_id"], appointment, client)


def charges(clinic: Clinic, treated: Treated) -> list[str]:
    """Each step's delivered charge as the page writes it, from the API's record."""
    record = created(
        httpx.get(f"{clinic.url}/api/v1/sessions/{treated.session_id}", headers=bearer(clinic.url, *DIRECTOR))
    )
    return [f"{step['charge_uc']:,.1f} µC" for step in record["steps"]]


def submit(page: Any, field: str, text: str, button: str, notice: str) -> None:
    """Fill a form's text by its label, press its button, and see the page confirm it."""
    page.get_by_label(field).fill(text)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("status")).to_have_text(f"✓ {notice}")


def test_the_medical_director_signs_off_a_record_and_after_that_it_cannot_change(
    page: Any, context: Any, clinic: Clinic, treated: Treated
) -> None:
    page.goto(f"/sessions/{treated.session_id}")
    sign_in(page, *DIRECTOR)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Session record: {treated.client}")
    steps = page.get_by_role("table", name="Prescribed against delivered, per step")
    delivered = charges(clinic, treated)
    assert all(charge != "0.0 µC" for charge in delivered), delivered
    for number, charge in enumerate(delivered, start=1):
        expect(steps.get_by_role("row").filter(has=page.get_by_role("rowheader", name=str(number)))).to_contain_text(
            charge
        )
    expect(page.get_by_role("img", name=re.compile("current"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Step 2 \(cheeks\): lost at \d:\d\d"))).to_be_visible()
    expect(page.get_by_role("table", name="Who started and stopped it")).to_contain_text(
        "Stopped by Esther Records from Galvani at"
    )
    expect(page.get_by_role("heading", name="Day-of answers")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "session-record")

    stale = context.new_page()  # the same record, open in another tab from before the sign-off
    stale.goto(f"/sessions/{treated.session_id}")

    note = "Well tolerated; slight redness on the jawline, gone before leaving."
    submit(page, "Note (optional)", note, "Sign off", "The record is signed off. It can no longer change.")
    signed = page.locator("#sign-off")
    expect(signed).to_contain_text("Signed off by Dr Meredith Grey on")
    expect(signed).to_contain_text("Well tolerated; slight redness on the jawline, gone before leaving.")
    expect(page.get_by_role("button", name="Sign off")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "session-record-signed")

    # An edit afterwards: signing again from the tab opened before, and resuming the treatment through the API.
    stale.get_by_label("Note (optional)").fill("A second opinion")
    stale.get_by_role("button", name="Sign off").click()
    refusal = stale.get_by_role("alert")
    expect(refusal).to_contain_text("This treatment's record was signed off by Dr Meredith Grey on")
    expect(refusal).to_contain_text("a signed record can no longer change, so it cannot be signed off again")
    screenshot(stale, "session-record-sign-off-refused")
    stale.close()
    resumed = httpx.post(
        f"{clinic.url}/api/v1/appointments/{treated.appointment_id}/start",
        headers=bearer(clinic.url, *ESTHETICIAN),
        json={"day_of": DAY_OF},
    )
    assert resumed.status_code == 409, resumed.text
    assert "can no longer change, so it cannot be resumed with another session" in resumed.json()["detail"]

    submit(page, "Addendum", "Client phoned the next morning: no redness left.", "Add addendum", ADDED)
    addenda = page.locator("#addenda")
    expect(addenda).to_contain_text("Dr Meredith Grey")
    expect(addenda).to_contain_text("after the sign-off")
    expect(addenda).to_contain_text("Client phoned the next morning: no redness left.")
    expect(signed).to_contain_text("Well tolerated; slight redness on the jawline")  # the original stays
    assert charges(clinic, treated) == delivered
    screenshot(page, "session-record-addendum")


def test_the_print_view_fits_one_a4_page(page: Any, clinic: Clinic, treated: Treated) -> None:
    page.goto(f"/sessions/{treated.session_id}/print")
    sign_in(page, *DIRECTOR)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Treatment record: {treated.client}")
    expect(page.get_by_role("img", name=re.compile("current"))).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "session-record-print")
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    page.emulate_media(media="print")  # what the page inside A4's 12 mm margins holds, at 96 dpi
    page.set_viewport_size(A4_INSIDE_MARGINS)
    screenshot(page, "session-record-print-a4")


def test_the_front_desk_reads_the_record_without_health_data_or_forms(
    page: Any, clinic: Clinic, treated: Treated
) -> None:
    page.goto(f"/sessions/{treated.session_id}")
    sign_in(page, *FRONT_DESK)
    expect(page.get_by_role("table", name="Prescribed against delivered, per step")).to_be_visible()
    expect(page.get_by_role("heading", name="Day-of answers")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign off")).to_have_count(0)
    expect(page.get_by_label("Addendum")).to_have_count(0)


def test_an_esthetician_adds_an_addendum_but_cannot_sign_off(page: Any, clinic: Clinic, treated: Treated) -> None:
    page.goto(f"/sessions/{treated.session_id}")
    sign_in(page, *ESTHETICIAN)
    expect(page.get_by_role("button", name="Sign off")).to_have_count(0)
    submit(page, "Addendum", "Jawline probe placement was on the left side only.", "Add addendum", ADDED)
    expect(page.locator("#addenda")).to_contain_text("Esther Records")
    refused = httpx.post(
        f"{clinic.url}/api/v1/sessions/{treated.session_id}/sign-off",
        headers=bearer(clinic.url, *ESTHETICIAN),
        json={},
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only a medical director can sign off a session's record."
