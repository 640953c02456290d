"""The device wall keeps a keyboard user where they are: it refreshes every few seconds, and the Acknowledge button
someone is on stays the very same focused element through the refreshes, so Enter acknowledges the alarm they
chose; when that alarm is acknowledged on another screen meanwhile, the focus stays at its device. The alarms are
real: this module's own devices, registered and never switched on, are offline while the clinic is open, and the
gateway raises their alarms."""

import re
from typing import Any

import httpx2 as httpx
from playwright.sync_api import expect

from tests.web.conftest import Clinic, add_staff, bearer, screenshot, sign_in
from tests.web.treatments import room_with_device

DIRECTOR = ("focus-director@clinic.example.com", "a-long-focus-director-password")
COLLEAGUE = ("focus-esthetician@clinic.example.com", "a-long-focus-esthetician-password")
REFRESHES = 2

# Resolves once the wall has been swapped in `count` more times.
AFTER_REFRESHES = """count => new Promise(done => {
  let seen = 0;
  document.addEventListener("htmx:after:swap", event => {
    if (event.target.id === "wall" && ++seen === count) done(seen);
  });
})"""


def test_the_focused_acknowledge_button_survives_the_refresh_and_enter_acknowledges(page: Any, clinic: Clinic) -> None:
    add_staff(clinic.url, DIRECTOR, full_name="Dr Grace Focus", role="medical_director")
    add_staff(clinic.url, COLLEAGUE, full_name="Ines Elsewhere", role="esthetician")
    room_with_device(clinic, room="Focus room", serial="FOC-001")
    room_with_device(clinic, room="Second focus room", serial="FOC-002")
    page.goto("/login")
    sign_in(page, *DIRECTOR)
    page.goto("/devices")
    tile = page.locator("li.tile", has_text="FOC-001")
    alarm = tile.locator("li.alarm", has_text="Device offline in opening hours")
    # raised by the gateway's sweep once the device has been missing for its patience (30 s)
    expect(alarm).to_contain_text("Medium priority", timeout=45_000)

    button = page.get_by_role("button", name=re.compile("^Acknowledge Device offline.*FOC-001"))
    button.focus()
    button.evaluate("element => { element.keptThroughRefresh = true; }")  # a mark no new element would carry
    assert page.evaluate(AFTER_REFRESHES, REFRESHES) == REFRESHES
    expect(button).to_be_focused()
    assert page.evaluate("() => document.activeElement.keptThroughRefresh === true")
    expect(alarm).to_be_visible()
    screenshot(page, "device-wall-focus-kept")

    page.keyboard.press("Enter")
    expect(tile.locator("li.alarm", has_text="Device offline")).to_have_count(0)
    row = page.locator("table.history tbody tr", has_text="FOC-001").filter(has_text="Device offline")
    expect(row.first).to_contain_text(re.compile(r"by Dr Grace Focus at \d\d:\d\d:\d\d"))

    # The other device's alarm, acknowledged on another screen while this user is on its button.
    second = page.locator("li.tile", has_text="FOC-002")
    second.get_by_role("button", name=re.compile("^Acknowledge")).focus()
    [listed] = [a for a in _active(clinic) if a["device_serial"] == "FOC-002"]
    acknowledged = httpx.post(
        f"{clinic.url}/api/v1/alarms/{listed['id']}/acknowledge", headers=bearer(clinic.url, *COLLEAGUE)
    )
    assert acknowledged.status_code == 200, acknowledged.text
    expect(second.locator("li.alarm")).to_have_count(0)  # the next refresh took the button away
    expect(second.get_by_role("heading", name=re.compile("FOC-002"))).to_be_focused()


def _active(clinic: Clinic) -> list[dict[str, Any]]:
    listed = httpx.get(f"{clinic.url}/api/v1/alarms", headers=bearer(clinic.url, *DIRECTOR))
    assert listed.status_code == 200, listed.text
    return list(listed.json()["active"])
