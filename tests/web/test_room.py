"""The treatment room on the room's tablet, in Chromium against the running service: the day-of questions, Start
session, the device followed live with its current charted, Stop and the device's confirmation, the record.

This module books its own: two rooms, each with a simulated device of its own on the service's broker (start is
pressed on it by the test, as an esthetician would), a short approved protocol, and clients screened with nothing
to hold treatment back, booked a few minutes from now."""

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect
from starlette.datastructures import FormData

from api.schemas.screening import ANSWER_DATE_FIELDS, DAY_OF_QUESTIONS
from db.vocabulary import Zone
from device_gateway.simulator import SimulatedDevice
from tests.factories import NOTHING
from tests.web.accessibility import assert_accessible
from tests.web.conftest import ADMIN, FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in
from web.room_form import ASKED, read_day_of

ESTHETICIAN = ("room.esthetician@clinic.example.com", "a-long-room-password")
SECOND = ("room.second@clinic.example.com", "a-long-room-password")  # each client's appointment has its own
DIRECTOR = ("room.director@clinic.example.com", "a-long-room-password")
STEPS = [  # the first step short, so the chart shows a change of step soon
    {"zone": "cheeks", "mode": "LIFT", "current_ua": 180, "frequency_hz": 30, "waveform": "square",
     "polarity": "alternating", "duration_s": 6},
    {"zone": "jawline", "mode": "TIGHTEN", "current_ua": 120, "frequency_hz": 10, "waveform": "sine",
     "polarity": "alternating", "duration_s": 120},
]  # fmt: skip
DATE_QUESTIONS = (
    "When did the client last use a cosmetic retinol",
    "When did the client last use a prescription retinoid",
    "When did the client last have a chemical peel?",
    "When did the client last have a laser treatment?",
    "When did the client last take isotretinoin",
    "When did the client last have Botox",
    "When did the client last have dermal filler",
)
CHART_DELAY_S = 2.0  # a sample is on the chart within this of reaching the page


@dataclass
class Room:
    """A room booked for one client now, with its simulated device."""

    appointment_id: str
    device: SimulatedDevice


@pytest.fixture(scope="module")
def rooms(clinic: Clinic) -> Iterator[dict[str, Room]]:
    """Irene Adler (to treat) and Mary Shelley (pregnant today), each booked now in a room of her own. The protocol
    is withdrawn afterwards: the other modules' clinic has the demo's approved protocol only."""
    add_staff(clinic.url, ESTHETICIAN, full_name="Rhea Room", role="esthetician")
    add_staff(clinic.url, SECOND, full_name="Sol Second", role="esthetician")
    add_staff(clinic.url, DIRECTOR, full_name="Dr. Rory Room", role="medical_director")
    admin, director = bearer(clinic.url, *ADMIN), bearer(clinic.url, *DIRECTOR)
    body = {"name": "Room test: lift", "target": {"areas": ["cheeks", "jawline"], "goal": "lift"}, "steps": STEPS}
    draft = _ok(httpx.post(f"{clinic.url}/api/v1/protocols", headers=director, json=body), 201)
    protocol = _ok(httpx.post(f"{clinic.url}/api/v1/protocols/{draft['id']}/approve", headers=director))["id"]
    staff = {u["email"]: u["id"] for u in _ok(httpx.get(f"{clinic.url}/api/v1/users", headers=admin))}
    booked: dict[str, Room] = {}
    try:
        for first, last, room_name, by in (
            ("Irene", "Adler", "Iris room", ESTHETICIAN),
            ("Mary", "Shelley", "Fern room", SECOND),
        ):
            room, device = _room_with_device(clinic, room_name)
            booked[first] = Room("", SimulatedDevice(device, port=clinic.mqtt_port))
            booked[first].device.start()
            client = _screened_client(clinic, first, last)
            booked[first].appointment_id = _book_now(clinic, client, protocol, staff[by[0]], room)
        yield booked
    finally:
        for room in booked.values():
            room.device.stop()
        withdrawal = {"reason": "Only for the treatment room's tests"}
        _ok(httpx.post(f"{clinic.url}/api/v1/protocols/{protocol}/withdraw", headers=director, json=withdrawal))


def _room_with_device(clinic: Clinic, name: str) -> tuple[str, str]:
    """A new room with a device of its own: the room's id and the device's MQTT id."""
    admin = bearer(clinic.url, *ADMIN)
    room = _ok(httpx.post(f"{clinic.url}/api/v1/rooms", headers=admin, json={"name": name}), 201)
    device = {"serial": f"{name[:4].upper()}-001", "room_id": room["id"], "probe_area_cm2": 0.5}
    return room["id"], _ok(httpx.post(f"{clinic.url}/api/v1/devices", headers=admin, json=device), 201)["device_id"]


def _screened_client(clinic: Clinic, first: str, last: str) -> str:
    """A client registered at the front desk and screened with nothing to hold treatment back."""
    person = {
        "first_name": first,
        "last_name": last,
        "date_of_birth": "1988-08-30",
        "email": f"{first}.room@example.com",
    }
    client = _ok(httpx.post(f"{clinic.url}/api/v1/clients", headers=bearer(clinic.url, *FRONT_DESK), json=person), 201)
    screening = {"answers": NOTHING}
    esthetician = bearer(clinic.url, *ESTHETICIAN)
    _ok(httpx.post(f"{clinic.url}/api/v1/clients/{client['id']}/screenings", headers=esthetician, json=screening), 201)
    return str(client["id"])


def _book_now(clinic: Clinic, client: str, protocol: str, esthetician: str, room: str) -> str:
    """One session a few minutes from now: a session may start from 30 minutes before."""
    start = (datetime.now(UTC) + timedelta(minutes=6)).replace(second=0, microsecond=0)
    series = _ok(
        httpx.post(
            f"{clinic.url}/api/v1/series",
            headers=bearer(clinic.url, *FRONT_DESK),
            json={
                "client_id": client,
                "protocol_id": protocol,
                "esthetician_id": esthetician,
                "room_id": room,
                "start_at": start.isoformat(),
                "plan": {"intensive": {"sessions": 1, "per_week": 1}},
            },
        ),
        201,
    )
    return str(series["appointments"][0]["id"])


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def answer_the_day_of_questions(page: Any, *, pregnant: str) -> None:
    """Every question answered on purpose, by its words, as the esthetician asks the client."""
    page.get_by_role("group", name="Is the client pregnant?").get_by_label(pregnant, exact=True).check()
    page.get_by_role("group", name=re.compile("skin infection")).get_by_label("No", exact=True).check()
    for question in DATE_QUESTIONS:
        page.get_by_role("group", name=re.compile(re.escape(question))).get_by_label("Never").check()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_room_asks_every_day_of_question_once() -> None:
    assert sorted(ASKED) == sorted(DAY_OF_QUESTIONS)


def test_the_day_of_answers_are_read_only_when_every_question_is_answered() -> None:
    never = [(name, "never") for name in ANSWER_DATE_FIELDS if name != "botox_last_on"]
    botox = [("botox_last_on", "on"), ("botox_last_on_date", "2026-11-30"), ("botox_zones", "lips")]
    ticked = [("botox_zones", "forehead"), ("botox_zones", "nose"), ("filler_zones", "neck")]  # no filler: not taken
    read = read_day_of(FormData([("pregnant", "no"), ("skin_infection", "yes"), *never, *botox, *ticked]))
    assert read.problems == {} and read.answers is not None
    assert (read.answers.pregnant, read.answers.skin_infection, read.answers.laser_last_on) == (False, True, None)
    assert (read.answers.botox_zones, read.answers.filler_zones) == ([Zone.FOREHEAD, Zone.LIPS], None)

    partly = read_day_of(FormData([("pregnant", "maybe"), ("laser_last_on", "on"), ("laser_last_on_date", "soon")]))
    assert partly.answers is None
    assert partly.problems["pregnant"] == "Not answered yet: choose Yes or No."
    assert partly.problems["laser_last_on"] == "Give the date, or choose Never."
    assert set(partly.problems) == {"pregnant", "skin_infection", *ANSWER_DATE_FIELDS}
    assert partly.given["laser_last_on_date"] == "soon"  # shown again as it was typed


def test_an_esthetician_treats_watches_the_current_and_stops(page: Any, rooms: dict[str, Room], clinic: Clinic) -> None:
    room = rooms["Irene"]
    page.goto(f"/appointments/{room.appointment_id}/room")
    sign_in(page, *ESTHETICIAN)
    expect(page.get_by_role("heading", level=1)).to_have_text("Irene Adler")
    expect(page.locator(".limits")).to_contain_text("Cleared")
    expect(page.locator("[data-device-badge]")).to_contain_text("Idle")
    screenshot(page, "room-before-start")
    assert_accessible(page)

    page.get_by_role("button", name="Start session").click()  # nothing answered: nothing is started
    expect(page.get_by_role("alert")).to_contain_text("Answer every question before starting")
    expect(page.get_by_role("group", name="Is the client pregnant?")).to_contain_text("Not answered yet")
    assert room.device.state == "idle"
    answer_the_day_of_questions(page, pregnant="No")
    page.get_by_role("button", name="Start session").click()

    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    state = page.get_by_role("status").filter(has_text=re.compile("Armed|Sending"))
    expect(state.first).to_be_visible()
    wait_until(lambda: room.device.state == "armed")
    expect(page.locator("[data-state-box]")).to_contain_text("Armed: press start on the device")
    screenshot(page, "room-armed")
    room.device.press_start()  # the esthetician places the probes and presses start on the device

    chart = page.get_by_role("img", name=re.compile("current"))
    expect(chart).to_be_visible()
    expect(page.locator("[data-state-box]")).to_contain_text("Treating", timeout=10_000)
    page.wait_for_function("() => window.galvaniRoom.timings.some(t => t.peak >= 0.95 * t.prescribed)", timeout=10_000)
    drawn = page.evaluate("() => window.galvaniRoom.timings")
    at_current = [t for t in drawn if t["peak"] >= 0.95 * t["prescribed"]]
    assert at_current and all(t["delayMs"] < CHART_DELAY_S * 1000 for t in drawn), drawn
    assert all(t["drawn"] - t["received"] < CHART_DELAY_S * 1000 for t in at_current), drawn  # from the gateway on
    expect(page.locator("#chart-text")).to_contain_text(
        re.compile(r"Step 1 so far: mean 18\d\.\d µA, peak 18\d\.\d µA")
    )
    expect(page.locator("[data-step-now]")).to_contain_text("Step 2 of 2: Jawline, TIGHTEN", timeout=10_000)
    expect(page.locator("#chart-text")).to_contain_text("Step 2 so far", timeout=5_000)
    screenshot(page, "room-treating")
    assert_accessible(page)

    page.reload()  # a page opened mid-session catches up with what the session delivered so far
    expect(page.locator("tr[data-live-step='0'] [data-given]")).to_have_text("0:06")
    expect(page.locator("#chart-text")).to_contain_text("Step 2 so far")

    page.get_by_role("button", name="Stop").click()
    confirmed = page.get_by_role("status").filter(has_text="The device confirmed the stop")
    expect(confirmed).to_be_visible(timeout=5_000)
    expect(page.locator("[data-state-box]")).to_contain_text("Idle: no output")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    assert room.device.state == "idle"

    record = page.locator("#record")
    expect(record.get_by_role("heading", name="Session record")).to_be_visible()
    [session_id] = re.findall(r"/sessions/([0-9a-f-]+)", record.get_by_role("link").get_attribute("href") or "")
    saved = _ok(httpx.get(f"{clinic.url}/api/v1/sessions/{session_id}", headers=bearer(clinic.url, *ESTHETICIAN)))
    assert saved["status"] == "stopped" and saved["total_charge_uc"] > 0
    expect(record.locator("[data-total-charge]")).to_have_text(f"{saved['total_charge_uc']:.1f} µC")
    screenshot(page, "room-stopped")


def test_a_pregnant_client_without_approval_is_not_started(page: Any, rooms: dict[str, Room]) -> None:
    room = rooms["Mary"]
    page.goto(f"/appointments/{room.appointment_id}/room")
    sign_in(page, *ESTHETICIAN)
    expect(page.locator(".limits")).to_contain_text("Cleared")  # the screening did not know yet
    answer_the_day_of_questions(page, pregnant="Yes")
    page.get_by_role("button", name="Start session").click()

    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("The session was not started, because:")
    expect(refusal.get_by_role("listitem")).to_have_text(
        ["During pregnancy we can treat you only with your physician's written approval on file."]
    )
    expect(refusal).to_be_focused()
    expect(page.get_by_role("group", name="Is the client pregnant?").get_by_label("Yes", exact=True)).to_be_checked()
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    screenshot(page, "room-refused-pregnant")
    assert_accessible(page)
    time.sleep(1)
    assert room.device.state == "idle"  # nothing was sent


def test_the_room_is_linked_and_opened_for_clinical_staff_only(
    page: Any, rooms: dict[str, Room], clinic: Clinic
) -> None:
    path = f"/appointments/{rooms['Mary'].appointment_id}"
    page.goto(path)
    sign_in(page, *FRONT_DESK)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mary Shelley")
    expect(page.get_by_role("link", name="Open treatment room")).to_have_count(0)
    page.goto("/today")
    expect(page.get_by_role("link", name="Treatment room for Mary Shelley")).to_have_count(0)
    answer = page.goto(f"{path}/room")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Only an esthetician or a medical director can start or stop")

    page.context.clear_cookies()
    page.goto(path)
    sign_in(page, *ESTHETICIAN)
    page.get_by_role("link", name="Open treatment room").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "/room$"))
    expect(page.get_by_role("button", name="Start session")).to_be_visible()

    page.goto("/today")  # Today links each of the day's appointments to its room, for those who treat
    page.get_by_role("link", name="Treatment room for Mary Shelley").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "/room$"))
