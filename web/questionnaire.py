"""The screening questionnaire: the fixed vocabulary's questions in plain words, grouped as an esthetician asks them,
and a posted form read back into the API's ScreeningAnswers.

Every question must be answered on purpose: a yes/no has no default, a date question is "Never" or a date, and
what was typed is kept when the form is refused. The kinds of answer and the zones come from the schema; only the
words are written here. No rule lives here: the screening service judges the answers."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, get_args, get_origin

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.schemas.screening import ANSWER_DATE_FIELDS, ScreeningAnswers
from api.validation_messages import describe_validation_errors
from db.errors import InvalidInput
from db.vocabulary import Zone

YES, NO, NEVER, ON = "yes", "no", "never", "on"
WHEN = ".when"  # a date question's choice, "never" or "on": `<field>.when`; the date itself is `<field>`
ZONES = list(Zone)  # the zones a zones answer may hold, in the schema's order


class Kind(StrEnum):
    YES_NO = "yes_no"
    DATE = "date"
    ZONES = "zones"


def _kind(name: str) -> Kind:
    """What kind of answer the schema's field takes."""
    annotation = ScreeningAnswers.model_fields[name].annotation
    if name in ANSWER_DATE_FIELDS:
        return Kind.DATE
    if annotation is bool:
        return Kind.YES_NO
    if get_origin(annotation) is list and get_args(annotation) == (Zone,):
        return Kind.ZONES
    raise RuntimeError(f"the questionnaire has no way to ask {name} ({annotation})")


@dataclass(frozen=True)
class Question:
    name: str  # the vocabulary's field, or a question of this page only (it says whether zones follow)
    kind: Kind
    label: str  # a few words, to name the question in a list of problems
    text: str  # as it is asked
    hint: str = ""
    zones_of: str | None = None  # a zones question: the question above that it details


def ask(name: str, label: str, text: str, *, hint: str = "", zones_of: str | None = None) -> Question:
    return Question(name, _kind(name), label, text, hint, zones_of)


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    questions: tuple[Question, ...]
    hint: str = ""


INJECTED_ZONES = "Tick every zone that was injected; none if the answer above is Never."
METAL_IMPLANTS = Question(
    "metal_implants",
    Kind.YES_NO,
    "Metal implants or piercings",
    "Does the client have metal implants or piercings in the face or neck (plates, screws, wires, piercings)?",
)
GROUPS = (
    Group(
        "absolute",
        "Conditions that rule out treatment",
        (
            ask(
                "implanted_electronic_device",
                "Implanted electronic device",
                "Does the client have a pacemaker or other implanted electronic device?",
                hint="A defibrillator (ICD), a neurostimulator or a cochlear implant counts too.",
            ),
            ask("epilepsy", "Epilepsy", "Does the client have epilepsy or any seizure disorder?"),
            ask(
                "active_cancer",
                "Active cancer",
                "Does the client have active cancer, or a suspicious lesion on the face or neck?",
            ),
        ),
    ),
    Group(
        "pregnancy",
        "Pregnancy",
        (ask("pregnant", "Pregnancy", "Is the client pregnant?"),),
        hint="A physician's written approval on file is taken into account in the result.",
    ),
    Group(
        "today",
        "Skin and health today",
        (
            ask(
                "skin_infection",
                "Skin infection or wound",
                "Does the client have a skin infection, an open wound or a severe skin inflammation "
                "on the face or neck today?",
            ),
            ask("recent_facial_surgery", "Recent facial surgery", "Has the client had facial surgery recently?"),
            ask(
                "body_worn_electronics",
                "Body-worn electronics",
                "Does the client wear a medical electronic device, such as an insulin pump or a glucose monitor?",
            ),
        ),
    ),
    Group(
        "skincare",
        "Retinoids, peels and laser",
        (
            ask(
                "retinol_last_used_on",
                "Cosmetic retinol",
                "When did the client last use a cosmetic retinol (a retinol serum or cream)?",
            ),
            ask(
                "prescription_retinoid_last_used_on",
                "Prescription retinoid",
                "When did the client last use a prescription retinoid (such as tretinoin or adapalene)?",
            ),
            ask("chemical_peel_last_on", "Chemical peel", "When did the client last have a chemical peel?"),
            ask("laser_last_on", "Laser", "When did the client last have a laser treatment?"),
            ask(
                "isotretinoin_last_on",
                "Isotretinoin",
                "When did the client last take isotretinoin (Accutane, Roaccutane)?",
            ),
        ),
        hint="If the client is not sure of the day, give the latest day it could have been.",
    ),
    Group(
        "injections",
        "Injections",
        (
            ask("botox_last_on", "Botox", "When did the client last have Botox (botulinum toxin) injections?"),
            ask(
                "botox_zones",
                "Botox zones",
                "Where was the Botox injected?",
                hint=INJECTED_ZONES,
                zones_of="botox_last_on",
            ),
            ask("filler_last_on", "Filler", "When did the client last have dermal filler injections?"),
            ask(
                "filler_zones",
                "Filler zones",
                "Where was the filler injected?",
                hint=INJECTED_ZONES,
                zones_of="filler_last_on",
            ),
        ),
    ),
    Group(
        "implants",
        "Metal implants and piercings",
        (
            METAL_IMPLANTS,
            ask(
                "metal_implant_zones",
                "Zones with metal",
                "In which zones are the metal implants or piercings?",
                hint="Tick every zone with metal; none if the answer above is No.",
                zones_of=METAL_IMPLANTS.name,
            ),
        ),
    ),
)
QUESTIONS = {q.name: q for group in GROUPS for q in group.questions}
_asked = [name for name in QUESTIONS if name in ScreeningAnswers.model_fields]
if sorted(_asked) != sorted(ScreeningAnswers.model_fields) or len(_asked) != len(set(_asked)):
    raise RuntimeError("the questionnaire must ask every answer of ScreeningAnswers exactly once")


@dataclass(frozen=True)
class Filled:
    """A posted questionnaire: what was typed (to show again), the answers when complete, and what is wrong."""

    wanted: Mapping[str, list[str]]  # form name -> values
    answers: ScreeningAnswers | None = None
    problems: Mapping[str, str] = field(default_factory=dict)  # question -> what is wrong, in plain words
    general: str | None = None  # a refusal about no single question

    def chose(self, name: str, value: str) -> bool:
        return value in self.wanted.get(name, ())

    def typed(self, name: str) -> str:
        return next(iter(self.wanted.get(name, ())), "")

    def refused(self, exc: InvalidInput) -> "Filled":
        """The service's refusal, in its own words, put beside the question it is about."""
        name = exc.field.removeprefix("answers.")
        if name in QUESTIONS:
            return replace(self, answers=None, problems={**self.problems, name: _sentence(exc.message)})
        return replace(self, answers=None, general=exc.detail)


BLANK = Filled(wanted={})


def read_form(form: FormData) -> Filled:
    """The answers of a posted questionnaire, or the questions left unanswered or contradictory."""
    names = [n for q in QUESTIONS.values() for n in ((q.name, q.name + WHEN) if q.kind == Kind.DATE else (q.name,))]
    wanted = {n: [v.strip() for v in form.getlist(n) if isinstance(v, str) and v.strip()] for n in names}
    for q in QUESTIONS.values():  # a date typed is an answer, whether or not "On this date" was chosen first
        if q.kind == Kind.DATE and wanted[q.name] and not wanted[q.name + WHEN]:
            wanted[q.name + WHEN] = [ON]
    filled = Filled(wanted=wanted)
    given: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for question in QUESTIONS.values():
        answer, problem = _READERS[question.kind](question, filled)
        if problem:
            problems[question.name] = problem
        else:
            given[question.name] = answer
    if problems:
        return replace(filled, problems=problems)
    given.pop(METAL_IMPLANTS.name)
    try:
        return replace(filled, answers=ScreeningAnswers.model_validate(given))
    except ValidationError as exc:
        described = describe_validation_errors(exc.errors())  # the API's own words for a bad value
        return replace(filled, problems={e["field"].split(".")[0]: _sentence(e["message"]) for e in described})


def _yes_no(question: Question, filled: Filled) -> tuple[bool | None, str | None]:
    if filled.chose(question.name, YES) == filled.chose(question.name, NO):
        return None, "Not answered yet: choose Yes or No."
    return filled.chose(question.name, YES), None


def _date(question: Question, filled: Filled) -> tuple[str | None, str | None]:
    day, when = filled.typed(question.name), question.name + WHEN
    if filled.chose(when, NEVER):
        return None, "You chose Never and gave a date: keep one of them." if day else None
    if filled.chose(when, ON):
        return (day, None) if day else (None, "Give the date, or choose Never.")
    return None, "Not answered yet: choose Never, or give the date."


def _zones(question: Question, filled: Filled) -> tuple[list[str], str | None]:
    zones = list(filled.wanted.get(question.name, ()))
    above = QUESTIONS[question.zones_of] if question.zones_of else None
    if above is None:
        return zones, None
    none_above = "No" if filled.chose(above.name, NO) else "Never" if filled.chose(above.name + WHEN, NEVER) else None
    if zones and none_above:
        return zones, f"Zones are ticked, but “{above.label}” is answered {none_above}: untick them or change that."
    if not zones and above.kind == Kind.YES_NO and filled.chose(above.name, YES):
        return zones, "Tick the zones where they are."
    return zones, None


_READERS: dict[Kind, Callable[[Question, Filled], tuple[Any, str | None]]] = {
    Kind.YES_NO: _yes_no,
    Kind.DATE: _date,
    Kind.ZONES: _zones,
}


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
