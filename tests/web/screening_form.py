"""Answering the screening page as an esthetician does: every question by its words, on purpose."""

from datetime import date
from typing import Any

from web.questionnaire import QUESTIONS, Kind

Answers = dict[str, bool | date | list[str] | None]


def answer(page: Any, answers: Answers, *, leave_out: tuple[str, ...] = ()) -> None:
    """Every question by its words: No and Never unless `answers` says otherwise."""
    for q in QUESTIONS.values():
        if q.name in leave_out:
            continue
        asked = page.get_by_role("group", name=q.text, exact=True)
        given = answers.get(q.name)
        if q.kind == Kind.YES_NO:
            asked.get_by_label("Yes" if given else "No", exact=True).check()
        elif q.kind == Kind.DATE and isinstance(given, date):
            asked.get_by_label("On this date:").check()
            asked.get_by_label(f"Date: {q.label}").fill(given.isoformat())
        elif q.kind == Kind.DATE:
            asked.get_by_label("Never").check()
        else:
            for zone in given if isinstance(given, list) else []:
                asked.get_by_label(zone.capitalize(), exact=True).check()


def save(page: Any) -> Any:
    """Press Save screening; the region where the result appears."""
    page.get_by_role("button", name="Save screening").click()
    return page.locator("#screening-result")
