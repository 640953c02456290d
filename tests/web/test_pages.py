"""Signing in and out, and Today, as the clinic's staff use them: in Chromium, against a running service."""

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
from playwright.sync_api import expect

from api.security import create_access_token, read_access_token
from api.services.auth import WRONG_CREDENTIALS
from db.base import utcnow
from device_gateway.simulator import SimulatedDevice
from tests.web.conftest import ADMIN, FRONT_DESK, SECRET_KEY, Clinic, screenshot, sign_in
from web.routes.auth import SESSION_ENDED, SIGNED_OUT


def card(page: Any, client_name: str) -> Any:
    return page.locator("article.appt", has_text=client_name)


def test_the_front_desk_signs_in_and_sees_the_day_by_room(page: Any, clinic: Clinic) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "sign-in")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/today$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")

    ada = card(page, "Ada Lovelace")  # the demo's booking, ten minutes ahead, screened and cleared
    expect(ada).to_have_attribute("data-room", "Rose room")
    expect(ada).to_contain_text("Session 1 of 1 · with Esme Thetic")
    expect(ada).to_contain_text("Cleared")
    grace = card(page, "Grace Hopper")  # booked through the API: 12 sessions, never screened
    expect(grace).to_have_attribute("data-room", "Sage room")
    expect(grace).to_contain_text("15:00")
    expect(grace).to_contain_text("Session 1 of 12")
    expect(grace).to_contain_text("Needs a new screening")

    rose = page.get_by_role("columnheader", name=re.compile("Rose room"))
    expect(rose).to_contain_text("DEMO-001: Idle, ready")  # the simulated device, through the gateway
    expect(page.get_by_role("columnheader", name=re.compile("Lily room"))).to_contain_text("LILY-001: Offline")
    menu = page.get_by_role("navigation", name="Pages").get_by_role("link")
    expect(menu).to_have_text(["Today", "Clients", "Book a series", "Devices", "Protocols"])
    screenshot(page, "today")

    page.get_by_role("link", name="Next day").click()
    tomorrow = clinic.today + timedelta(days=1)
    expect(page).to_have_url(re.compile(rf"/today\?day={tomorrow.isoformat()}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tomorrow")
    expect(page.get_by_text(f"{tomorrow:%A} {tomorrow.day} {tomorrow:%B %Y}", exact=True)).to_be_visible()
    expect(card(page, "Grace Hopper")).to_have_count(0)
    screenshot(page, "today-next-day")


def test_a_wrong_password_gets_the_apis_own_words(page: Any, clinic: Clinic) -> None:
    api = httpx.post(f"{clinic.url}/api/v1/auth/token", data={"username": FRONT_DESK[0], "password": "not-it"})
    assert (api.status_code, api.json()["detail"]) == (401, WRONG_CREDENTIALS)
    page.goto("/login")
    sign_in(page, FRONT_DESK[0], "not-it-either")
    expect(page.get_by_role("alert")).to_match_aria_snapshot(f"- alert: {WRONG_CREDENTIALS}")  # as it is heard
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_value(FRONT_DESK[0])  # kept; the password is not
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_label("Password")).to_be_focused()
    screenshot(page, "sign-in-refused")
    sign_in(page, *FRONT_DESK)  # a success clears the email's count of failures at this address
    expect(page).to_have_url(re.compile(r"/today$"))


def test_signing_out_ends_the_session_and_its_cookie(page: Any, context: Any, browser: Any, clinic: Clinic) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/today$"))
    [cookie] = [c for c in context.cookies() if c["name"] == "galvani_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login\?signed_out=1$"))
    expect(page.get_by_role("status")).to_have_text(SIGNED_OUT)
    screenshot(page, "signed-out")
    assert not [c for c in context.cookies() if c["name"] == "galvani_session"]

    kept = browser.new_context(base_url=clinic.url)  # someone who kept a copy of the cookie
    try:
        kept.add_cookies([cookie])
        old = kept.new_page()
        old.goto("/today")
        expect(old).to_have_url(re.compile(r"/login\?next=%2Ftoday&ended=1$"))
        assert clinic.get("/today", cookies={"galvani_session": cookie["value"]}).status_code == 303
    finally:
        kept.close()


def test_without_a_session_today_leads_to_sign_in_and_back(page: Any, clinic: Clinic) -> None:
    tomorrow = f"/today?day={clinic.today + timedelta(days=1)}"
    page.goto(tomorrow)
    expect(page).to_have_url(re.compile(rf"/login\?next={re.escape(quote(tomorrow, safe=''))}$"))
    page.get_by_label("Email").focus()  # by keyboard alone: type, Tab, type, Enter
    page.keyboard.type(FRONT_DESK[0])
    page.keyboard.press("Tab")
    page.keyboard.type(FRONT_DESK[1])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(tomorrow) + "$"))


def test_an_expired_session_says_so_and_returns_after_sign_in(page: Any, context: Any, clinic: Clinic) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/today$"))
    [cookie] = [c for c in context.cookies() if c["name"] == "galvani_session"]
    claims = read_access_token(cookie["value"], key=SECRET_KEY)
    assert claims is not None
    # The same account and generation, issued a shift and an hour ago: only its time is up.
    expired = create_access_token(
        user_id=claims.user_id,
        generation=claims.generation,
        key=SECRET_KEY,
        now=utcnow() - timedelta(hours=9),
        minutes=480,
    )
    context.add_cookies([cookie | {"value": expired}])
    # Left open on Today: the next refresh of the rooms' devices finds the session over and moves the page.
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftoday&ended=1$"), timeout=10_000)
    expect(page.get_by_role("status")).to_have_text(SESSION_ENDED)
    screenshot(page, "session-ended")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/today$"))


def test_a_form_posted_without_its_csrf_token_changes_nothing(page: Any, clinic: Clinic) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/today$"))
    for token in (None, "0" * 64):  # left out, or made up
        refused = page.request.post("/logout", form={} if token is None else {"csrf_token": token}, max_redirects=0)
        assert refused.status == 403
        assert "nothing was changed" in refused.text()
    # The same as a page would do it: a sign-out form that lacks the token (as another site would send it).
    page.evaluate("""() => { const form = document.createElement('form');
        form.method = 'post'; form.action = '/logout'; document.body.append(form); form.submit(); }""")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nothing was changed")
    screenshot(page, "csrf-refused")
    page.goto("/today")  # still signed in: the refused sign-out ended nothing
    expect(page).to_have_url(re.compile(r"/today$"))
    login = page.request.post("/login", form={"email": FRONT_DESK[0], "password": FRONT_DESK[1]}, max_redirects=0)
    assert login.status == 403  # the sign-in form has its own token, bound to a cookie of this browser


def test_a_page_the_role_may_not_use_is_not_linked_and_answers_403(
    page: Any, context: Any, browser: Any, clinic: Clinic
) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    expect(page).to_have_url(re.compile(r"/today$"))
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    answer = page.goto("/audit")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot open this page")
    expect(page.get_by_role("alert")).to_match_aria_snapshot("- alert: Only an admin can read the audit trail.")
    screenshot(page, "forbidden")

    admin = browser.new_context(base_url=clinic.url, viewport=page.viewport_size)
    try:
        tab = admin.new_page()
        tab.goto("/login?next=/audit")
        sign_in(tab, *ADMIN)
        expect(tab).to_have_url(re.compile(r"/audit$"))
        expect(tab.get_by_role("link", name="Audit trail")).to_have_attribute("aria-current", "page")
        expect(
            tab.get_by_role("cell", name="auth.logout").or_(tab.get_by_role("cell", name="auth.login")).first
        ).to_be_visible()
        screenshot(tab, "audit")
    finally:
        admin.close()


def test_a_rooms_device_state_is_kept_live(page: Any, clinic: Clinic) -> None:
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    lily = page.get_by_role("columnheader", name=re.compile("Lily room"))
    expect(lily).to_contain_text("LILY-001: Offline")
    page.evaluate("() => { window.notReloaded = true; }")
    device = SimulatedDevice(clinic.spare_device_id, port=clinic.mqtt_port)
    device.start()
    try:
        expect(lily).to_contain_text("LILY-001: Idle, ready", timeout=10_000)  # polled, not reloaded
        assert page.evaluate("() => window.notReloaded") is True
        screenshot(page, "today-device-online")
    finally:
        device.stop()
    expect(lily).to_contain_text("LILY-001: Offline", timeout=10_000)
    assert page.evaluate("() => window.notReloaded") is True
