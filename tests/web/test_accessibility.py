"""Usable by everyone at the clinic: every page, for each role that may open it, checked by axe-core at 1024×768;
Today by keyboard alone; the touch targets of the pages used on a treatment room's tablet.

To check a new page, add it to PAGES: a page still being built (`planned=True`) is skipped while its route answers
404, and checked from the day it exists."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from tests.web.accessibility import assert_accessible, axe_violations
from tests.web.conftest import ADMIN, FRONT_DESK, Clinic, add_staff, bearer, screenshot, sign_in

ESTHETICIAN = ("a11y-esthetician@clinic.example.com", "a-long-esthetician-password")
MEDICAL_DIRECTOR = ("a11y-director@clinic.example.com", "a-long-director-password")
ACCOUNTS = {"admin": ADMIN, "medical_director": MEDICAL_DIRECTOR, "esthetician": ESTHETICIAN, "front_desk": FRONT_DESK}
EVERY_ROLE = tuple(ACCOUNTS)
CLINICAL = ("admin", "medical_director", "esthetician")  # those who may read health data (api/permissions.py)
AT_THE_DEVICE = ("medical_director", "esthetician")  # those who may start current
TOUCH_TARGET_PX = 44
MAX_TABS = 40

# What a finger can hit in the page's main part: links, buttons, fields, and a radio or checkbox by its label.
SMALL_TARGETS = """minimum => [...document.querySelectorAll(
        'main a[href], main button, main select, main textarea, main input:not([type=hidden])')]
    .map(e => (e.matches('input[type=radio], input[type=checkbox]') && e.closest('label')) || e)
    .filter(e => e.getClientRects().length > 0)
    .map(e => [e, e.getBoundingClientRect()])
    .filter(([e, box]) => box.height < minimum || box.width < minimum)
    .map(([e, box]) => `${e.tagName.toLowerCase()} "${(e.innerText || e.value || e.name || '').trim().slice(0, 40)}"`
        + ` is ${Math.round(box.width)}×${Math.round(box.height)} px`)"""
# The focused element, how its focus is drawn, and whether it can be seen (not under a sticky header, say).
FOCUSED = """() => {
    const e = document.activeElement, box = e.getBoundingClientRect(), style = getComputedStyle(e);
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return {
        what: `${e.tagName.toLowerCase()} "${(e.innerText || e.value || e.name || '').trim().slice(0, 40)}"`,
        appointment: e.matches('article.appt a'),
        outline: style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth),
        seen: e === hit || e.contains(hit),
    };
}"""


@dataclass(frozen=True)
class Visit:
    """A page as a role opens it. `path` may name {appointment}, {client} and {tomorrow}, filled in at run time."""

    path: str
    roles: tuple[str, ...] = EVERY_ROLE
    status: int = 200
    planned: bool = False  # being built: skipped while its route answers 404


PAGES = {
    "today": Visit("/today"),
    "tomorrow": Visit("/today?day={tomorrow}"),
    "today-not-a-date": Visit("/today?day=someday"),
    "appointment": Visit("/appointments/{appointment}"),
    "audit": Visit("/audit", roles=("admin",)),
    "audit-forbidden": Visit("/audit", roles=("medical_director", "esthetician", "front_desk"), status=403),
    "logout": Visit("/logout"),
    "clients": Visit("/clients", planned=True),
    "client": Visit("/clients/{client}", planned=True),
    "client-new": Visit("/clients/new", planned=True),
    "screening": Visit("/clients/{client}/screening", roles=CLINICAL, planned=True),
    "screening-forbidden": Visit("/clients/{client}/screening", roles=("front_desk",), status=403, planned=True),
    "series-new": Visit("/series/new", planned=True),
    "treatment-room": Visit("/appointments/{appointment}/room", roles=AT_THE_DEVICE, planned=True),
    "devices": Visit("/devices"),
    "protocols": Visit("/protocols"),
    "protocol": Visit("/protocols/{protocol}"),
    "protocol-new": Visit("/protocols/new", roles=AT_THE_DEVICE),
    "protocol-new-forbidden": Visit("/protocols/new", roles=("admin", "front_desk"), status=403),
    "settings": Visit("/settings", roles=("admin",)),
    "settings-forbidden": Visit("/settings", roles=("medical_director", "esthetician", "front_desk"), status=403),
}
Opener = Callable[[str | None, Visit], Any]  # the open_as fixture
SIGNED_OUT_PAGES = {
    "login": "/login",
    "login-session-ended": "/login?next=%2Ftoday&ended=1",
    "login-signed-out": "/login?signed_out=1",
}
# The pages of a treatment room's tablet, where every target must take a finger.
TOUCH_PAGES = {
    "today": Visit("/today", roles=("esthetician", "front_desk")),
    "appointment": Visit("/appointments/{appointment}", roles=("esthetician", "front_desk")),
    "treatment-room": Visit("/appointments/{appointment}/room", roles=AT_THE_DEVICE, planned=True),
}


@pytest.fixture(scope="module")
def places(clinic: Clinic) -> dict[str, str]:
    """What the paths name: Grace Hopper's first appointment (today, 15:00), her client record, and tomorrow."""
    desk = bearer(clinic.url, *FRONT_DESK)
    [client] = httpx.get(f"{clinic.url}/api/v1/clients", params={"q": "Hopper"}, headers=desk).json()["items"]
    appointments = httpx.get(
        f"{clinic.url}/api/v1/appointments", params={"client_id": client["id"], "limit": 1}, headers=desk
    ).json()
    return {
        "appointment": appointments[0]["id"],
        "client": client["id"],
        "protocol": appointments[0]["protocol_id"],
        "tomorrow": (clinic.today + timedelta(days=1)).isoformat(),
    }


@pytest.fixture(scope="module")
def as_role(browser: Any, clinic: Clinic) -> Callable[[Any, str], None]:
    """Gives a browser context the session of a role's account: each account signs in once, through the sign-in
    page, for the whole module (the accounts the shared fixtures do not make are made here)."""
    add_staff(clinic.url, ESTHETICIAN, full_name="Esther Access", role="esthetician")
    add_staff(clinic.url, MEDICAL_DIRECTOR, full_name="Dora Access", role="medical_director")
    cookies: dict[str, list[Any]] = {}

    def signed_in(context: Any, role: str) -> None:
        if role not in cookies:
            own = browser.new_context(base_url=clinic.url)
            try:
                tab = own.new_page()
                tab.goto("/login")
                sign_in(tab, *ACCOUNTS[role])
                expect(tab).to_have_url(re.compile(r"/today$"))
                cookies[role] = own.cookies()
            finally:
                own.close()
        context.add_cookies(cookies[role])

    return signed_in


@pytest.fixture
def open_as(page: Any, context: Any, as_role: Callable[[Any, str], None], places: dict[str, str]) -> Opener:
    """Opens a page in the test's tab, signed in as a role (or signed out, for None)."""

    def opened(role: str | None, visit: Visit) -> Any:
        if role is not None:
            as_role(context, role)
        open_page(page, visit, places)
        return page

    return opened


def open_page(page: Any, visit: Visit, places: dict[str, str]) -> None:
    """Go to the page and wait until it has settled; a planned page not built yet skips the test."""
    path = visit.path.format(**places)
    answer = page.goto(path)
    assert answer is not None
    if visit.planned and answer.status == 404:
        pytest.skip(f"{path} answers 404: the page is not built yet")
    assert answer.status == visit.status, f"{path} answered {answer.status}"
    page.wait_for_load_state("networkidle")


def cases(pages: dict[str, Visit]) -> list[Any]:
    return [pytest.param(name, role, id=f"{name}-{role}") for name, visit in pages.items() for role in visit.roles]


@pytest.mark.parametrize(("name", "role"), cases(PAGES))
def test_a_signed_in_page_has_no_serious_accessibility_violation(open_as: Opener, name: str, role: str) -> None:
    assert_accessible(open_as(role, PAGES[name]))


@pytest.mark.parametrize("path", list(SIGNED_OUT_PAGES.values()), ids=list(SIGNED_OUT_PAGES))
def test_a_sign_in_page_has_no_serious_accessibility_violation(open_as: Opener, path: str) -> None:
    assert_accessible(open_as(None, Visit(path)))


def test_a_refused_sign_in_has_no_serious_accessibility_violation(page: Any, clinic: Clinic) -> None:
    page.goto("/login")
    sign_in(page, ESTHETICIAN[0], "not-the-password")  # not the shared accounts: their failures are counted
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)


def test_a_refused_move_has_no_serious_accessibility_violation(open_as: Opener, places: dict[str, str]) -> None:
    page = open_as("front_desk", PAGES["appointment"])
    page.get_by_label("Date").fill(places["tomorrow"])  # into Marie Curie's booking in Lily room
    page.get_by_label("Start time").fill("11:00")
    page.get_by_label("Room").select_option(label="Lily room")
    page.get_by_role("button", name="Move appointment").click()
    expect(page.get_by_role("alert")).to_contain_text("The appointment was not moved")
    assert_accessible(page)


def test_axe_runs_in_the_page_and_the_pages_policy_still_holds(context: Any, places: dict[str, str]) -> None:
    """The check can fail: a button without a name is found; and axe's way in opened no door for the page's
    own scripts (an inline script is still refused, which the browser reports as an error: not the `page`
    fixture's tab, which would fail the test for it)."""
    page = context.new_page()
    open_page(page, Visit("/login"), places)
    page.evaluate("() => document.querySelector('main').append(document.createElement('button'))")
    found = {v["id"]: v for v in axe_violations(page)}
    assert found["button-name"]["impact"] == "critical"
    assert found["button-name"]["nodes"][0]["target"] == "#main > button"
    with pytest.raises(AssertionError, match=r"button-name \(critical\)"):
        assert_accessible(page)
    ran = page.evaluate("""() => new Promise(resolve => {
        document.addEventListener('securitypolicyviolation', e => resolve('refused: ' + e.violatedDirective));
        const script = document.createElement('script');
        script.textContent = 'window.inlineRan = true';
        document.head.append(script);
        setTimeout(() => resolve(window.inlineRan ? 'ran' : 'silent'), 1000);
    })""")
    assert ran.startswith("refused: script-src")


def test_today_by_keyboard_alone_with_the_focus_always_in_sight(open_as: Opener) -> None:
    """From the top of Today, Tab alone reaches an appointment, and Enter opens it; at every stop on the way the
    focus is drawn (an outline, of :focus-visible or of a field's :focus) and not hidden under anything."""
    page = open_as("front_desk", PAGES["today"])
    stops: list[dict[str, Any]] = []
    while not (stops and stops[-1]["appointment"]):
        assert len(stops) < MAX_TABS, f"no appointment within {MAX_TABS} presses of Tab: {stops}"
        page.keyboard.press("Tab")
        stops.append(page.evaluate(FOCUSED))
    hidden = [stop for stop in stops if not (stop["outline"] >= 2 and stop["seen"])]
    assert not hidden, f"focus not visible at: {hidden}"
    screenshot(page, "today-keyboard")
    name = page.evaluate("() => document.activeElement.textContent.trim()")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/appointments/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_the_skip_link_leads_into_the_page(open_as: Opener) -> None:
    page = open_as("front_desk", PAGES["today"])
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Previous day")).to_be_focused()


@pytest.mark.parametrize(("name", "role"), cases(TOUCH_PAGES))
def test_every_target_on_a_tablet_page_takes_a_finger(open_as: Opener, name: str, role: str) -> None:
    page = open_as(role, TOUCH_PAGES[name])
    small = page.evaluate(SMALL_TARGETS, TOUCH_TARGET_PX)
    assert not small, f"smaller than {TOUCH_TARGET_PX}×{TOUCH_TARGET_PX} px on {page.url}: {small}"
