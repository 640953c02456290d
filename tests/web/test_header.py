"""The bar at the top of every page on the clinic's smallest screen (a 1024×768 tablet) and on a 1280 px desktop,
for every role and the longest names staff have: one row for the roles that use the tablets, each menu link and
"Sign out" on one line, nothing overlapping or past the screen's edge, every target at least 44 px, and the name,
when cut short with an ellipsis, still whole in the page's text and its tooltip. Measured from the page's own
geometry in Chromium."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import Clinic, add_staff, screenshot, sign_in

DESKTOP = {"width": 1280, "height": 800}
MIN_TARGET_PX = 44
MIN_NAME_SHOWN_PX = 80  # a cut name still shows its first word or two
ONE_ROW_PX = 60  # a 44 px target and the bar's padding
TWO_ROWS_PX = 2 * ONE_ROW_PX
# Who works on the 1024 px tablets: their bar stays one row there. An admin's menu has seven pages: at 1024 px its
# name and "Sign out" take a second row, at the right, rather than squeeze the menu.
ONE_ROW_AT_1024 = ("medical_director", "esthetician", "front_desk")
ROLE_NAMES = {
    "admin": "Admin",
    "medical_director": "Medical director",
    "esthetician": "Esthetician",
    "front_desk": "Front desk",
}
STAFF = [  # (role, full name): the name of the report (issue 14), and names of 40 characters or so for each role
    ("medical_director", "Dr Miranda Bailey"),
    ("medical_director", "Dr Miranda Featherstonehaugh-Bartholomew"),
    ("admin", "Wilhelmina Montgomery-Worthington Mews"),
    ("esthetician", "Maria Guadalupe Hernández de la Fuente Ruiz"),
    ("front_desk", "Anna-Katharina Wolkenstein-Oberhollenzer"),
]

# The header's parts as the page lays them out: each part's box, and how many lines its text takes (one rect per
# line of a text range: a link whose words wrap has two).
MEASURE = """() => {
    const header = document.querySelector('body > header');
    const lines = el => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
    };
    const box = el => { const b = el.getBoundingClientRect();
        return {left: b.left, right: b.right, top: b.top, bottom: b.bottom, width: b.width, height: b.height}; };
    const part = (el, kind) => ({kind, text: el.textContent.trim().replace(/\\s+/g, ' '),
                                 lines: lines(el), box: box(el)});
    const signedIn = header.querySelector('.signed-in');
    const name = signedIn.querySelector('.name'), role = signedIn.querySelector('.role');
    return {
        viewport: document.documentElement.clientWidth,
        pageWidth: document.documentElement.scrollWidth,
        headerHeight: header.getBoundingClientRect().height,
        parts: [
            part(header.querySelector('.brand'), 'brand'),
            ...[...header.querySelectorAll('nav a')].map(a => part(a, 'link')),
            part(name, 'name'),
            part(role, 'role'),
            ...[...header.querySelectorAll('button')].map(b => part(b, 'button')),
        ],
        signedIn: {text: signedIn.textContent, title: signedIn.getAttribute('title'),
                   nameCut: name.scrollWidth > name.clientWidth, nameEllipsis: getComputedStyle(name).textOverflow,
                   nameShown: name.clientWidth, roleCut: role.scrollWidth > role.clientWidth},
    };
}"""


def overlapping(a: dict[str, float], b: dict[str, float]) -> bool:
    """Two boxes share some area (touching edges, to half a pixel, do not count)."""
    across = a["left"] < b["right"] - 0.5 and b["left"] < a["right"] - 0.5
    down = a["top"] < b["bottom"] - 0.5 and b["top"] < a["bottom"] - 0.5
    return across and down


def check_header(page: Any, full_name: str, role: str, where: str) -> dict[str, Any]:
    """Everything the header must be, said about the page as it is laid out now; returns the measures."""
    measured: dict[str, Any] = page.evaluate(MEASURE)
    width, parts = measured["viewport"], measured["parts"]
    assert measured["pageWidth"] <= width, f"{where}: the page is {measured['pageWidth']} px wide in {width} px"
    for part in parts:
        assert part["lines"] == 1, f"{where}: {part['kind']} {part['text']!r} takes {part['lines']} lines"
        box = part["box"]
        assert box["left"] >= 0 and box["right"] <= width, f"{where}: {part['text']!r} is past the edge: {box}"
        if part["kind"] in ("link", "button"):
            assert min(box["width"], box["height"]) >= MIN_TARGET_PX, f"{where}: {part['text']!r} is {box}"
    for index, one in enumerate(parts):
        for other in parts[index + 1 :]:
            assert not overlapping(one["box"], other["box"]), f"{where}: {one['text']!r} overlaps {other['text']!r}"
    signed_in, said = measured["signedIn"], f"{full_name}, {ROLE_NAMES[role]}"
    text = re.sub(r"\s+", " ", signed_in["text"]).strip()
    assert text == f"Signed in as {said}", f"{where}: a screen reader hears {text!r}"
    assert signed_in["title"] == said, f"{where}: the tooltip says {signed_in['title']!r}"
    if signed_in["nameCut"]:
        assert signed_in["nameEllipsis"] == "ellipsis", f"{where}: the name is cut with no ellipsis"
    assert signed_in["nameShown"] >= MIN_NAME_SHOWN_PX, f"{where}: only {signed_in['nameShown']} px of the name show"
    assert not signed_in["roleCut"], f"{where}: the role is cut short"
    return measured


@pytest.mark.parametrize(("role", "full_name"), STAFF)
def test_the_header_keeps_each_link_on_one_line(page: Any, clinic: Clinic, role: str, full_name: str) -> None:
    slug = re.sub(r"[^a-z]+", "-", full_name.lower()).strip("-")
    account = (f"header-{slug}@clinic.example.com", "a-long-header-password")
    add_staff(clinic.url, account, full_name=full_name, role=role)
    page.goto("/login")
    sign_in(page, *account)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    header = page.get_by_role("banner")
    expect(header).to_contain_text(full_name)  # in the accessible text whole, however short it is drawn
    menu = page.get_by_role("navigation", name="Pages").get_by_role("link")
    paths = [menu.nth(i).get_attribute("href") for i in range(menu.count())]
    assert paths, "no menu"

    for path in paths:  # every page the role may open, each with its own link marked as the current one
        page.goto(path)
        expect(menu.and_(page.locator("[aria-current=page]"))).to_have_attribute("href", path)
        check_header(page, full_name, role, f"{path} at 1024 px as {full_name}")
    page.goto("/devices")
    tablet = check_header(page, full_name, role, f"/devices at 1024 px as {full_name}")
    most = ONE_ROW_PX if role in ONE_ROW_AT_1024 else TWO_ROWS_PX
    assert tablet["headerHeight"] <= most, f"at 1024 px the header takes {tablet['headerHeight']} px of 768"
    screenshot(page, f"header-{role}-{slug}-1024")

    page.set_viewport_size(DESKTOP)
    desktop = check_header(page, full_name, role, f"/devices at 1280 px as {full_name}")
    assert desktop["headerHeight"] <= ONE_ROW_PX, f"at 1280 px the header takes {desktop['headerHeight']} px"
    screenshot(page, f"header-{role}-{slug}-1280")
