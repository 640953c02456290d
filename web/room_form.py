"""The day-of questions of the treatment room, and their answers read from the posted form.

The questions are the API's day-of vocabulary (api/schemas/screening.DAY_OF_QUESTIONS), in the screening
questionnaire's own words (web/questionnaire.py), so a client hears the same question on both days. Each must be
answered explicitly: nothing is pre-filled, and one left unanswered stops the start before any service is asked.
Whether the answers allow treatment is decided by the start service alone."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.datastructures import FormData

from api.errors import InvalidInput
from api.schemas.screening import DAY_OF_QUESTIONS
from api.schemas.sessions import DayOfConfirmation
from db.vocabulary import Zone
from web.questionnaire import QUESTIONS as SCREENING_QUESTIONS
from web.questionnaire import Kind, Question

YES, NO, NEVER, ON = "yes", "no", "never", "on"
ZONES = tuple(zone.value for zone in Zone)
DATE = "_date"  # a date question's choice is `<name>` (never or on), its date `<name>_date`


@dataclass(frozen=True)
class Group:
    legend: str
    hint: str
    names: tuple[str, ...]

    @property
    def questions(self) -> list[Question]:
        return [SCREENING_QUESTIONS[name] for name in self.names]


GROUPS = (
    Group("Today", "Ask the client now, whatever the screening said.", ("pregnant", "skin_infection")),
    Group(
        "Retinoids, peels and laser",
        "“Never” if never; if the client is not sure of the day, the latest day it could have been.",
        (
            "retinol_last_used_on",
            "prescription_retinoid_last_used_on",
            "chemical_peel_last_on",
            "laser_last_on",
            "isotretinoin_last_on",
        ),
    ),
    Group(
        "Injections",
        "Tick where, if it was recent; ticking none keeps the zones the screening named.",
        ("botox_last_on", "botox_zones", "filler_last_on", "filler_zones"),
    ),
)
ASKED = tuple(name for group in GROUPS for name in group.names)
if sorted(ASKED) != sorted(DAY_OF_QUESTIONS):
    raise RuntimeError("the treatment room must ask every day-of question exactly once")


@dataclass
class DayOfForm:
    """What was answered (shown again as it was given), what is missing or wrong, and the answers once complete."""

    given: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # question name -> what is wrong
    answers: DayOfConfirmation | None = None


def read_day_of(form: FormData) -> DayOfForm:
    """Every question's answer from the posted form; the answers only when every question was answered."""
    read = DayOfForm()
    values: dict[str, Any] = {}
    for question in (SCREENING_QUESTIONS[name] for name in ASKED):
        if question.kind == Kind.YES_NO:
            _yes_no(read, values, question.name, str(form.get(question.name) or ""))
        elif question.kind == Kind.DATE:
            day = str(form.get(question.name + DATE) or "")
            _last_on(read, values, question.name, str(form.get(question.name) or ""), day)
        else:
            _zones(read, values, question, [z for z in form.getlist(question.name) if isinstance(z, str)])
    if not read.problems:
        read.answers = DayOfConfirmation.model_validate(values)
    return read


def refused_answer(read: DayOfForm, exc: InvalidInput) -> bool:
    """Put the start service's refusal of one answer (a date in the future, zones not named) beside its question;
    False when the refusal is about something else."""
    name = exc.field.removeprefix("day_of.")
    if name == exc.field or name not in ASKED:
        return False
    read.problems[name] = exc.message[:1].upper() + exc.message[1:] + "."
    return True


def _yes_no(read: DayOfForm, values: dict[str, Any], name: str, choice: str) -> None:
    read.given[name] = choice
    if choice in (YES, NO):
        values[name] = choice == YES
    else:
        read.problems[name] = "Not answered yet: choose Yes or No."


def _last_on(read: DayOfForm, values: dict[str, Any], name: str, choice: str, day: str) -> None:
    read.given[name], read.given[name + DATE] = choice, day
    if choice == NEVER:
        values[name] = None
    elif choice != ON:
        read.problems[name] = "Not answered yet: choose Never, or give the date."
    else:
        try:
            values[name] = date.fromisoformat(day)
        except ValueError:
            read.problems[name] = "Give the date, or choose Never."


def _zones(read: DayOfForm, values: dict[str, Any], question: Question, ticked: list[str]) -> None:
    zones = [zone for zone in ticked if zone in ZONES]
    read.given[question.name] = zones
    if zones and read.given.get(question.zones_of or "") == ON:  # none ticked: the screening's zones stand
        values[question.name] = [Zone(zone) for zone in zones]
