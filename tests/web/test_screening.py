"""Screening a client on the questionnaire page, as an esthetician does on a tablet: every question answered on
purpose, the screening service's result at once, stored as the API shows it."""

import re
from datetime import date, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect
from starlette.datastructures import FormData

from tests.web.accessibility import assert_accessible
from tests.web.conftest import ADMIN, FRONT_DESK, VIEWPORT, Clinic, add_staff, bearer, screenshot, sign_in
from tests.web.screening_form import answer, save
from web.questionnaire import NEVER, NO, ON, QUESTIONS, WHEN, YES, Kind, read_form
from web.templating import long_date

ESTHETICIAN = ("screening-esme@clinic.example.com", "a-long-screening-password")
DIRECTOR = ("screening-doc@clinic.example.com", "a-long-director-password")


@pytest.fixture(scope="module")
def staff(clinic: Clinic) -> None:
    add_staff(clinic.url, ESTHETICIAN, full_name="Sandra Screener", role="esthetician")
    add_staff(clinic.url, DIRECTOR, full_name="Dr Mira Director", role="medical_director")


def new_client(clinic: Clinic, first_name: str) -> str:
    made = httpx.post(
        f"{clinic.url}/api/v1/clients",
        headers=bearer(clinic.url, *ADMIN),
        json={
            "first_name": first_name,
            "last_name": "Screenwell",
            "date_of_birth": "1988-05-04",
            "phone": "+44 20 7946 0101",
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def open_screening(page: Any, client_id: str, account: tuple[str, str]) -> None:
    """Typed in before signing in: the sign-in page leads back to it."""
    page.goto(f"/clients/{client_id}/screening")
    sign_in(page, *account)
    expect(page).to_have_url(re.compile(rf"/clients/{client_id}/screening$"))


def stored(clinic: Clinic, client_id: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{clinic.url}/api/v1/clients/{client_id}/screenings", headers=bearer(clinic.url, *ESTHETICIAN))
    assert found.status_code == 200, found.text
    return list(found.json())


def expect_blank(page: Any) -> None:
    expect(page.locator("#questionnaire input:checked")).to_have_count(0)
    for date_input in page.locator("#questionnaire input[type=date]").all():
        expect(date_input).to_have_value("")


def test_a_pregnant_client_needs_an_approval_and_an_implanted_device_rules_treatment_out(
    page: Any, clinic: Clinic, staff: None
) -> None:
    client_id = new_client(clinic, "Pia")
    open_screening(page, client_id, ESTHETICIAN)
    expect(page.get_by_role("heading", level=1)).to_have_text("Screening: Pia Screenwell")
    expect(
        page.get_by_role("group", name="Does the client have a pacemaker or other implanted electronic device?")
    ).to_be_visible()
    expect_blank(page)
    screenshot(page, "screening")

    answer(page, {"pregnant": True})
    result = save(page)
    expect(result.get_by_role("heading", level=2)).to_have_text("! Physician's approval needed")
    expect(result).to_contain_text("Pregnancy: only with a physician's written approval")
    expect(result.get_by_role("link", name="Record a physician's approval")).to_have_attribute(
        "href", f"/clients/{client_id}#approvals"
    )
    expect(result.get_by_role("link", name="Back to Pia Screenwell's page")).to_have_attribute(
        "href", f"/clients/{client_id}"
    )
    expect(page.get_by_role("group", name="Is the client pregnant?").get_by_label("Yes")).to_be_checked()
    expect(page).to_have_url(re.compile(rf"/clients/{client_id}/screening$"))  # swapped in place by htmx
    screenshot(page, "screening-approval-needed")
    assert_accessible(page)
    [kept] = stored(clinic, client_id)
    assert kept["outcome"] == "physician_approval_required"
    assert kept["answers"]["pregnant"] is True and kept["answers"]["implanted_electronic_device"] is False
    assert kept["answers"]["retinol_last_used_on"] is None and kept["answers"]["metal_implant_zones"] == []

    page.goto(f"/clients/{client_id}/screening")  # a second visit asks everything again
    expect_blank(page)
    answer(page, {"implanted_electronic_device": True})
    result = save(page)
    expect(result.get_by_role("heading", level=2)).to_have_text("✕ Contraindicated")
    expect(result).to_contain_text("Rules out treatment: Implanted electronic device")
    expect(result.get_by_role("link", name="Record a physician's approval")).to_have_count(0)
    screenshot(page, "screening-contraindicated")
    assert [s["outcome"] for s in stored(clinic, client_id)] == ["contraindicated", "physician_approval_required"]


def test_an_unanswered_question_or_a_future_date_is_refused_keeping_the_answers(
    page: Any, clinic: Clinic, staff: None
) -> None:
    client_id = new_client(clinic, "Una")
    open_screening(page, client_id, DIRECTOR)
    answer(page, {"pregnant": False}, leave_out=("epilepsy",))
    result = save(page)
    expect(result).to_contain_text("The screening was not saved")
    expect(result.get_by_role("listitem")).to_have_text(["Epilepsy: Not answered yet: choose Yes or No."])
    epilepsy = page.get_by_role("group", name="Does the client have epilepsy or any seizure disorder?")
    expect(epilepsy).to_contain_text("Not answered yet: choose Yes or No.")
    expect(page.get_by_role("group", name="Is the client pregnant?").get_by_label("No")).to_be_checked()
    expect(page.locator("#questionnaire input:checked")).to_have_count(len(QUESTIONS) - 4)  # 3 zones, epilepsy
    screenshot(page, "screening-unanswered")
    assert_accessible(page)
    result.get_by_role("link", name="Epilepsy").click()
    expect(epilepsy).to_be_in_viewport()
    screenshot(page, "screening-unanswered-question")

    epilepsy.get_by_label("No").check()
    laser = page.get_by_role("group", name="When did the client last have a laser treatment?")
    laser.get_by_label("On this date:").check()
    laser.get_by_label("Date: Laser").fill((clinic.today + timedelta(days=1)).isoformat())
    result = save(page)
    expect(result.get_by_role("listitem")).to_have_text(["Laser: Cannot be in the future."])  # the API's words
    expect(epilepsy).not_to_contain_text("Not answered yet")
    laser.get_by_label("Never").check()
    laser.get_by_label("Date: Laser").fill("")
    saving = page.get_by_role("button", name="Save screening")
    saving.focus()
    page.keyboard.press("Enter")  # by keyboard: the result comes in place, and focus stays where it was
    expect(result.get_by_role("heading", level=2)).to_have_text("✓ Cleared")
    expect(saving).to_be_focused()
    expect(result).to_contain_text(f"valid until {long_date(clinic.today + timedelta(days=30))}")
    screenshot(page, "screening-cleared")
    assert [s["outcome"] for s in stored(clinic, client_id)] == ["cleared"]  # nothing kept of the refusals


def test_a_retinoid_defers_and_botox_leaves_zones_out_until_the_engines_dates(
    page: Any, browser: Any, clinic: Clinic, staff: None
) -> None:
    client_id = new_client(clinic, "Rita")
    without_script = browser.new_context(
        base_url=clinic.url, viewport=VIEWPORT, locale="en-GB", timezone_id=clinic.timezone, java_script_enabled=False
    )
    try:  # without JavaScript the form posts as any form does, and the result page comes back whole
        plain = without_script.new_page()
        open_screening(plain, client_id, ESTHETICIAN)
        answer(plain, {"prescription_retinoid_last_used_on": clinic.today - timedelta(days=3)})
        result = save(plain)
        expect(plain).to_have_url(re.compile(r"/screening#screening-result$"))  # scrolled to the result
        [deferred] = stored(clinic, client_id)
        eligible_from = date.fromisoformat(deferred["eligible_from"])
        expect(result.get_by_role("heading", level=2)).to_have_text(f"◷ Deferred until {long_date(eligible_from)}")
        expect(result).to_contain_text(f"After a prescription retinoid: wait 7 days, until {long_date(eligible_from)}")
        expect(result.get_by_role("link", name="Start a new screening")).to_have_attribute(
            "href", f"/clients/{client_id}/screening"
        )
        screenshot(plain, "screening-deferred")
    finally:
        without_script.close()

    open_screening(page, client_id, ESTHETICIAN)
    expect_blank(page)
    answer(page, {"botox_last_on": clinic.today - timedelta(days=5), "botox_zones": ["forehead", "brows"]})
    result = save(page)
    expect(result.get_by_role("heading", level=2)).to_have_text("✓ Cleared with exclusions")
    [until] = stored(clinic, client_id)[0]["reasons"]
    row = result.get_by_role("row", name=re.compile("Forehead and brows"))
    expect(row).to_contain_text(long_date(date.fromisoformat(until["until"])))
    screenshot(page, "screening-exclusions")
    assert_accessible(page)


def test_the_front_desk_typing_the_address_gets_403(page: Any, clinic: Clinic) -> None:
    client_id = new_client(clinic, "Fay")
    page.goto("/login")
    sign_in(page, *FRONT_DESK)
    answer_page = page.goto(f"/clients/{client_id}/screening")
    assert answer_page is not None and answer_page.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Only clinical staff can screen a client")


def form_of(**changes: str | list[str] | None) -> FormData:
    """A questionnaire posted with No and Never everywhere, but for `changes` (None: left unanswered)."""
    fields: dict[str, str | list[str] | None] = {}
    for q in QUESTIONS.values():
        if q.kind == Kind.YES_NO:
            fields[q.name] = NO
        elif q.kind == Kind.DATE:
            fields[q.name + WHEN] = NEVER
    fields |= changes
    return FormData(
        [
            (name, value)
            for name, given in fields.items()
            for value in ([given] if isinstance(given, str) else given or [])
        ]
    )


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"epilepsy": None, "laser_last_on.when": None}, {"epilepsy", "laser_last_on"}),
        ({"laser_last_on": "2026-01-05"}, {"laser_last_on"}),  # Never, and a date: which is it?
        ({"laser_last_on.when": ON}, {"laser_last_on"}),  # a date was meant, none given
        ({"botox_zones": ["lips"]}, {"botox_zones"}),  # zones of Botox never given
        ({"metal_implants": YES}, {"metal_implant_zones"}),  # yes, but where?
        ({"metal_implants": YES, "metal_implant_zones": ["lips", "eyes"]}, set()),
        ({"laser_last_on.when": None, "laser_last_on": "2026-01-05"}, set()),  # a date typed is an answer
    ],
)
def test_every_answer_is_given_on_purpose(changes: dict[str, str | list[str] | None], problems: set[str]) -> None:
    filled = read_form(form_of(**changes))
    assert set(filled.problems) == problems
    assert (filled.answers is None) == bool(problems)


def test_a_bad_date_is_refused_in_the_apis_words_and_what_was_typed_is_kept() -> None:
    filled = read_form(form_of(**{"laser_last_on.when": ON, "laser_last_on": "2026-02-30", "pregnant": YES}))
    assert filled.problems == {"laser_last_on": "Must be a date like 1990-04-23."}
    assert filled.chose("pregnant", YES) and filled.typed("laser_last_on") == "2026-02-30"


def test_a_typed_date_and_ticked_zones_are_the_answers() -> None:
    filled = read_form(
        form_of(**{"botox_last_on.when": None, "botox_last_on": "2026-01-05", "botox_zones": ["lips", "forehead"]})
    )
    assert filled.answers is not None and filled.chose("botox_last_on.when", ON)
    assert (str(filled.answers.botox_last_on), filled.answers.botox_zones) == ("2026-01-05", ["forehead", "lips"])
