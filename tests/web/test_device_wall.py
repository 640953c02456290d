"""The device wall in the browser: a simulated device's over-current is stopped by the interlock, the wall shows a
high-priority alarm within 2 s of the stop, and a medical director acknowledges it: it moves to the history with
who and when.

The session is real: this module's own room and device (a simulated device on the demo's embedded broker, its
over-current switch on), its own screened client booked there, started through the API with the day-of answers."""

import re
import time
from typing import Any

import httpx2 as httpx
from playwright.sync_api import expect

from device_gateway.simulator import SimulatedDevice
from tests.api.clinic import DAY_OF
from tests.web.accessibility import assert_accessible
from tests.web.conftest import FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in
from tests.web.treatments import book_soon, cleared_client, created, room_with_device, wait_for

DIRECTOR = ("wall-director@clinic.example.com", "a-long-wall-director-password")
ESTHETICIAN = ("alarms-esthetician@clinic.example.com", "a-long-alarms-esthetician-password")
SPEED = 8.0


def test_an_over_current_shows_a_high_alarm_the_director_acknowledges(page: Any, clinic: Clinic) -> None:
    add_staff(clinic.url, DIRECTOR, full_name="Dr Miranda Bailey", role="medical_director")
    add_staff(clinic.url, ESTHETICIAN, full_name="Alma Alarmsworth", role="esthetician")
    desk, esthetician = (bearer(clinic.url, *who) for who in (FRONT_DESK, ESTHETICIAN))
    room_id, device_id = room_with_device(clinic, room="Alarm room", serial="ALM-001")
    simulated = SimulatedDevice(device_id, port=clinic.mqtt_port, speed=SPEED, over_current_ua=900.0)
    simulated.start()
    try:
        client = cleared_client(clinic, esthetician, first="Lise", last="Meitner", born="1978-11-07")
        appointment = book_soon(clinic, desk, client_id=client["id"], room_id=room_id, esthetician_email=ESTHETICIAN[0])
        page.goto("/login")
        sign_in(page, *DIRECTOR)
        page.goto("/devices")
        tile = page.locator("li.tile", has_text="ALM-001")
        expect(tile).to_contain_text("Idle, ready")

        started = created(
            httpx.post(
                f"{clinic.url}/api/v1/appointments/{appointment}/start", headers=esthetician, json={"day_of": DAY_OF}
            )
        )
        path = f"{clinic.url}/api/v1/sessions/{started['session_id']}"
        wait_for("the device armed", lambda: created(httpx.get(path, headers=esthetician))["status"] == "armed")
        simulated.press_start()
        wait_for("the interlock's stop", lambda: created(httpx.get(path, headers=esthetician))["status"] == "stopped")
        stopped_at = time.monotonic()
        alarm = tile.locator("li.alarm", has_text="Over-current")
        expect(alarm).to_contain_text("High priority", timeout=2_000)
        assert time.monotonic() - stopped_at < 2.0
        expect(alarm).to_contain_text(re.compile(r"Began \d\d:\d\d:\d\d"))
        assert "alarm-high" in (alarm.get_attribute("class") or "")
        screenshot(page, "device-wall-alarm")
        assert_accessible(page)

        page.get_by_role("button", name=re.compile("^Acknowledge Over-current.*ALM-001")).click()
        expect(tile.locator("li.alarm", has_text="Over-current")).to_have_count(0)
        row = page.locator("table.history tbody tr", has_text="ALM-001").filter(has_text="Over-current")
        expect(row.first).to_contain_text(re.compile(r"by Dr Miranda Bailey at \d\d:\d\d:\d\d"))
        screenshot(page, "device-wall-acknowledged")

        listed = created(httpx.get(f"{clinic.url}/api/v1/alarms", headers=desk))
        [acknowledged] = [a for a in listed["history"] if a["session_id"] == started["session_id"]]
        assert acknowledged["severity"] == "high" and acknowledged["acknowledged_by"] == "Dr Miranda Bailey"
    finally:
        simulated.stop()


def test_the_front_desk_sees_the_wall_without_acknowledge_buttons(page: Any, clinic: Clinic) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    page.get_by_role("link", name="Devices").click()
    expect(page.get_by_role("heading", name="Devices", level=1)).to_be_visible()
    expect(page.locator("li.tile", has_text="LILY-001")).to_contain_text("Lily room")
    expect(page.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    screenshot(page, "device-wall-front-desk")
