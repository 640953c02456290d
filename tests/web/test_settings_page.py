"""The clinic settings page in Chromium, on a clinic started without the demo and without GALVANI_CLINIC_TIMEZONE
or GALVANI_OPENING_HOURS: the first admin is asked for the time zone and opening hours at sign-in, and Today follows
what was saved. Other roles cannot open it; a bad entry is refused in words beside its field."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from tests.mqtt import wait_for_port
from tests.services import free_port, fresh_postgres_database
from tests.web.accessibility import assert_accessible
from tests.web.conftest import (
    ADMIN,
    FRONT_DESK,
    SECRET_KEY,
    STARTUP_S,
    VIEWPORT,
    add_staff,
    bearer,
    screenshot,
    sign_in,
)
from web.templating import long_date

DUBLIN = ZoneInfo("Europe/Dublin")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@pytest.fixture(scope="module")
def new_clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`galvani serve` on a fresh PostgreSQL database, as a clinic starts it the first time: an admin, a front desk
    account, and no time zone or opening hours given."""
    folder = tmp_path_factory.mktemp("new-clinic")
    with fresh_postgres_database() as database_url:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")} | {
            "GALVANI_DATABASE_URL": database_url,
            "GALVANI_DATA_DIR": str(folder / "data"),
            "GALVANI_EMBEDDED_MQTT_PORT": str(free_port()),
            "GALVANI_SECRET_KEY": SECRET_KEY,
            "GALVANI_ADMIN_EMAIL": ADMIN[0],
            "GALVANI_ADMIN_PASSWORD": ADMIN[1],
        }
        with (folder / "out.log").open("w+") as out, (folder / "err.log").open("w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "galvani.cli", "serve", "--port", str(port)], env=env, stdout=out, stderr=err
            )
            try:
                wait_for_port("127.0.0.1", port, timeout=STARTUP_S)
                url = f"http://127.0.0.1:{port}"
                add_staff(url, FRONT_DESK, full_name="Frida Front", role="front_desk")
                out.seek(0)
                assert "asked for them at /settings" in out.read()  # the terminal says what will happen
                yield url
            finally:
                process.terminate()
                process.wait(timeout=15)


@pytest.fixture
def tab(browser: Any, new_clinic: str) -> Iterator[Any]:
    """A tab of its own browser on the new clinic, in Dublin's clock, that fails the test on a script error."""
    context = browser.new_context(base_url=new_clinic, viewport=VIEWPORT, locale="en-GB", timezone_id="Europe/Dublin")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert not problems, problems


def test_the_first_admin_is_asked_then_today_follows_the_clinics_clock(tab: Any, new_clinic: str) -> None:
    tab.goto("/")
    sign_in(tab, *ADMIN)
    expect(tab).to_have_url(re.compile(r"/settings\?next=%2Ftoday$"))
    expect(tab.get_by_role("heading", level=1)).to_have_text("Clinic settings")
    question = tab.get_by_label("Which time zone is the clinic in?")
    expect(question).to_have_value("UTC")
    expect(tab.get_by_text("UTC is only a guess")).to_be_visible()
    assert_accessible(tab)
    screenshot(tab, "settings-first-start")

    tab.get_by_role("navigation", name="Pages").get_by_role("link", name="Today").click()
    notice = tab.get_by_role("status").filter(has_text="not confirmed yet")
    expect(notice).to_be_visible()
    notice.get_by_role("link", name="Set the clinic's time zone and opening hours").click()
    expect(tab).to_have_url(re.compile(r"/settings\?next=/today$"))

    closed = WEEKDAYS[(datetime.now(DUBLIN).date() + timedelta(days=1)).weekday()]  # tomorrow, in Dublin
    question.select_option("Europe/Dublin")
    for day in WEEKDAYS:
        tab.get_by_label(f"{day} opens at").fill("09:15")
        tab.get_by_label(f"{day} closes at").fill("17:45")
    tab.get_by_label(f"Open on {closed}s").uncheck()
    tab.get_by_role("button", name="Save time zone and opening hours").click()

    expect(tab).to_have_url(re.compile(r"/today$"))
    today = datetime.now(DUBLIN).date()
    expect(tab.locator("p.date")).to_have_text(long_date(today))
    expect(tab.locator("p.summary")).to_contain_text("open 09:15–17:45 · times in Europe/Dublin")
    expect(tab.get_by_text("not confirmed yet")).to_have_count(0)
    tab.get_by_role("link", name="Next day").click()
    expect(tab.locator("p.summary")).to_contain_text(f"the clinic is closed on {closed}s")

    saved = httpx.get(f"{new_clinic}/api/v1/settings", headers=bearer(new_clinic, *ADMIN)).json()
    assert (saved["timezone"], saved["confirmed"], saved["opening_hours"][closed.lower()]) == (
        "Europe/Dublin",
        True,
        None,
    )
    assert saved["opening_hours"]["monday" if closed != "Monday" else "tuesday"] == {
        "open": "09:15:00",
        "close": "17:45:00",
    }

    # Confirmed: the next sign-in goes where it was going, and the page stays for later changes, from the menu.
    tab.context.clear_cookies()
    tab.goto("/today")
    sign_in(tab, *ADMIN)
    expect(tab).to_have_url(re.compile(r"/today$"))
    tab.get_by_role("navigation", name="Pages").get_by_role("link", name="Clinic settings").click()
    expect(tab.get_by_label("Which time zone is the clinic in?")).to_have_value("Europe/Dublin")
    expect(tab.get_by_label(f"Open on {closed}s")).not_to_be_checked()
    tab.get_by_role("button", name="Save time zone and opening hours").click()
    expect(tab).to_have_url(re.compile(r"/settings\?saved=1$"))
    expect(tab.get_by_role("status")).to_have_text("Saved: the clinic's time zone and opening hours are in force.")


def test_the_front_desk_cannot_open_the_settings(tab: Any, new_clinic: str) -> None:
    tab.goto("/")
    sign_in(tab, *FRONT_DESK)
    expect(tab).to_have_url(re.compile(r"/today$"))  # never sent to a page it cannot use
    expect(tab.get_by_role("navigation", name="Pages").get_by_role("link", name="Clinic settings")).to_have_count(0)
    expect(tab.get_by_text("not confirmed yet")).to_have_count(0)  # the notice is for admins
    answer = tab.goto("/settings")
    assert answer is not None and answer.status == 403
    expect(tab.get_by_role("main")).to_contain_text("Only an admin can change the clinic's settings.")
    posted = tab.request.post(f"{new_clinic}/settings", form={"timezone": "Asia/Tokyo"})
    assert posted.status == 403
    read = httpx.get(f"{new_clinic}/api/v1/settings", headers=bearer(new_clinic, *FRONT_DESK)).json()
    assert read["timezone"] != "Asia/Tokyo"


def test_a_bad_time_is_refused_in_words_beside_its_day(tab: Any, new_clinic: str) -> None:
    tab.goto("/settings")
    sign_in(tab, *ADMIN)
    expect(tab).to_have_url(re.compile(r"/settings"))
    before = httpx.get(f"{new_clinic}/api/v1/settings", headers=bearer(new_clinic, *ADMIN)).json()
    tab.get_by_label("Open on Tuesdays").check()
    tab.get_by_label("Tuesday opens at").fill("18:00")
    tab.get_by_label("Tuesday closes at").fill("09:00")
    tab.get_by_label("Open on Wednesdays").check()
    tab.get_by_label("Wednesday opens at").fill("")
    tab.get_by_role("button", name="Save time zone and opening hours").click()

    alert = tab.get_by_role("alert")
    expect(alert).to_contain_text("Nothing was saved, because:")
    tuesday = "Tuesday: the opening time must come before the closing time."
    wednesday = "Wednesday: the opening time must be a time like 08:30."
    expect(alert.get_by_role("listitem")).to_have_text([tuesday, wednesday])
    expect(tab.get_by_label("Tuesday opens at")).to_have_attribute("aria-invalid", "true")
    expect(tab.get_by_label("Tuesday opens at")).to_have_accessible_description(tuesday)
    expect(tab.get_by_label("Tuesday opens at")).to_have_value("18:00")  # what was typed stays, to correct it
    assert_accessible(tab)
    screenshot(tab, "settings-refused")
    after = httpx.get(f"{new_clinic}/api/v1/settings", headers=bearer(new_clinic, *ADMIN)).json()
    assert after == before
