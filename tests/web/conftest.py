"""The staff pages in a real browser: Debian's Chromium driven by Playwright, against a real `galvani serve --demo`
(embedded broker, gateway and simulated devices) on a fresh PostgreSQL database.

One server and one browser serve the whole test session; each test gets its own browser context (its own
cookies) at 1024×768, the smallest screen the clinic uses (an esthetician's tablet). Without Chromium or Playwright
the tests are skipped here and fail on CI (CI=true), like every other missing service (tests/services.py)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest

from tests.mqtt import wait_for_port
from tests.services import free_port, fresh_postgres_database, missing

CHROMIUM = os.environ.get("GALVANI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1024, "height": 768}
SCREENSHOTS = Path(__file__).parent / "screenshots"
SECRET_KEY = "web-tests-" + "k" * 40
ADMIN = ("boss@clinic.example.com", "a-long-admin-password")
FRONT_DESK = ("desk@clinic.example.com", "a-long-desk-password")
STARTUP_S = 90.0  # a wait that ends as soon as the port opens: only a loaded machine comes near it


@dataclass(frozen=True)
class Clinic:
    """The running service and what the tests booked in it."""

    url: str
    mqtt_port: int
    timezone: str
    today: date
    spare_device_id: str  # registered in "Lily room", no device behind it until a test starts one

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, **kwargs)


def midday_timezone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now: the demo's booking ten minutes ahead, and one at 15:00,
    are then today and within opening hours, whatever time the tests run."""
    offset = 12 - now.astimezone(UTC).hour  # hours ahead of UTC, -11..12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-3 is UTC+3


@pytest.fixture(scope="session")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """`galvani serve --demo` on PostgreSQL, with a front desk account, a 12-session series booked today and a
    room whose device is offline."""
    folder = tmp_path_factory.mktemp("web")
    timezone = midday_timezone(datetime.now(UTC))
    with fresh_postgres_database() as database_url:
        port, mqtt_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")} | {
            "GALVANI_DATABASE_URL": database_url,
            "GALVANI_DATA_DIR": str(folder / "data"),
            "GALVANI_EMBEDDED_MQTT_PORT": str(mqtt_port),
            "GALVANI_SECRET_KEY": SECRET_KEY,
            "GALVANI_CLINIC_TIMEZONE": timezone,
            "GALVANI_ADMIN_EMAIL": ADMIN[0],
            "GALVANI_ADMIN_PASSWORD": ADMIN[1],
        }
        with (folder / "out.log").open("w") as out, (folder / "err.log").open("w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "galvani.cli", "serve", "--demo", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=err,
                text=True,
            )
            try:
                wait_for_port("127.0.0.1", port, timeout=STARTUP_S)
                url = f"http://127.0.0.1:{port}"
                spare = _book_the_day(url, timezone)
                yield Clinic(
                    url=url,
                    mqtt_port=mqtt_port,
                    timezone=timezone,
                    today=datetime.now(ZoneInfo(timezone)).date(),
                    spare_device_id=spare,
                )
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _book_the_day(url: str, timezone: str) -> str:
    """Through the API, as staff would: a front desk account; Lily room with a device that is not connected;
    Grace Hopper's 12-session series in Sage room from 15:00 today; Marie Curie's 6 sessions in Lily room from
    11:00 tomorrow. Returns the MQTT id of Lily room's device."""
    admin = bearer(url, *ADMIN)
    add_staff(url, FRONT_DESK, full_name="Frida Front", role="front_desk")
    lily = httpx.post(f"{url}/api/v1/rooms", headers=admin, json={"name": "Lily room"})
    assert lily.status_code == 201, lily.text
    device = httpx.post(
        f"{url}/api/v1/devices",
        headers=admin,
        json={"serial": "LILY-001", "room_id": lily.json()["id"], "probe_area_cm2": 1.0},
    )
    assert device.status_code == 201, device.text
    desk = bearer(url, *FRONT_DESK)
    midnight = datetime.combine(datetime.now(ZoneInfo(timezone)).date(), datetime.min.time(), ZoneInfo(timezone))
    _book(url, desk, "Hopper", "Sage room", midnight + timedelta(hours=15), sessions=12)
    _book(url, desk, "Curie", "Lily room", midnight + timedelta(days=1, hours=11), sessions=6)
    return str(device.json()["device_id"])


def _book(url: str, headers: dict[str, str], client: str, room: str, start: datetime, *, sessions: int) -> None:
    """A series of twice-weekly sessions with the demo's protocol and esthetician."""
    [found] = httpx.get(f"{url}/api/v1/clients", params={"q": client}, headers=headers).json()["items"]
    rooms = {r["name"]: r["id"] for r in httpx.get(f"{url}/api/v1/rooms", headers=headers).json()}
    [protocol] = httpx.get(f"{url}/api/v1/protocols", headers=headers).json()
    esthetician = next(
        u for u in httpx.get(f"{url}/api/v1/users", headers=headers).json() if u["role"] == "esthetician"
    )
    booked = httpx.post(
        f"{url}/api/v1/series",
        headers=headers,
        json={
            "client_id": found["id"],
            "protocol_id": protocol["id"],
            "esthetician_id": esthetician["id"],
            "room_id": rooms[room],
            "start_at": start.isoformat(),
            "plan": {"intensive": {"sessions": sessions, "per_week": 2}},
        },
    )
    assert booked.status_code == 201, booked.text


def add_staff(url: str, account: tuple[str, str], *, full_name: str, role: str) -> None:
    """A staff account made by the clinic's admin through the API (each test module uses emails of its own)."""
    made = httpx.post(
        f"{url}/api/v1/users",
        headers=bearer(url, *ADMIN),
        json={"email": account[0], "password": account[1], "full_name": full_name, "role": role},
    )
    assert made.status_code == 201, made.text


def bearer(url: str, email: str, password: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/v1/auth/token", data={"username": email, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, once for the whole session (Playwright's own browser download does not work here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any, clinic: Clinic) -> Iterator[Any]:
    """A browser of its own for one test: no cookies from another test, 1024×768, a clinic's locale and clock."""
    opened = browser.new_context(base_url=clinic.url, viewport=VIEWPORT, locale="en-GB", timezone_id=clinic.timezone)
    opened.set_default_timeout(10_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: Any) -> Any:
    """A tab that fails the test on any script error or refused resource (a CSP violation, a missing file); a
    4xx answer (a refusal in words) is expected."""
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "status of 4" not in message.text
            else None
        ),
    )
    yield opened
    assert not problems, problems


def screenshot(page: Any, name: str) -> None:
    """Keep what the page looks like at 1024×768 (the README names the folder)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def sign_in(page: Any, email: str, password: str) -> None:
    """Fill the sign-in form by its labels and press its button, as a person would."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
