"""The draft editor's form: its rows of steps read as the API reads a protocol, and what is wrong with them said
in words: the API's own validation, then the clinic's limits by api/services/protocols.broken_limits."""

from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.schemas.clinic_settings import ClinicSettings
from api.schemas.protocols import ProtocolCreate, Step
from api.schemas.screening_rules import RuleParameters
from api.services.protocols import broken_limits
from api.validation_messages import describe_validation_errors
from db.models import Protocol
from db.vocabulary import Zone

STEP_FIELDS = tuple(Step.model_fields)
LABELS = {
    "zone": "Zone",
    "mode": "Mode",
    "current_ua": "Current (µA)",
    "frequency_hz": "Frequency (Hz)",
    "waveform": "Waveform",
    "polarity": "Polarity",
    "duration_s": "Duration (s)",
}


@dataclass(frozen=True)
class Vocabulary:
    """The choices of each step's fields: the zones, the clinic's modes and the schema's waveforms and polarities."""

    choices: dict[str, tuple[str, ...]]

    def blank_row(self) -> dict[str, str]:
        return {name: self.choices[name][0] if name in self.choices else "" for name in STEP_FIELDS}


def vocabulary(clinic: ClinicSettings) -> Vocabulary:
    return Vocabulary(
        choices={
            "zone": tuple(zone.value for zone in Zone),
            "mode": tuple(clinic.modes),
            "waveform": get_args(Step.model_fields["waveform"].annotation),
            "polarity": get_args(Step.model_fields["polarity"].annotation),
        }
    )


@dataclass
class Draft:
    """What the editor holds: the name and each step's fields as typed (strings, shown again as they were)."""

    name: str
    rows: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    step: int | None  # counted from 0; None: the name, or the steps together
    field: str | None
    text: str


def read_draft(form: FormData) -> Draft:
    """The name and the rows of the step table, one value of each field a row."""
    columns = {name: [str(v) for v in form.getlist(name)] for name in STEP_FIELDS}
    count = max(len(values) for values in columns.values())
    rows = [{name: (values[i] if i < len(values) else "") for name, values in columns.items()} for i in range(count)]
    return Draft(name=str(form.get("name") or ""), rows=rows)


def draft_of(protocol: Protocol) -> Draft:
    return Draft(name=protocol.name, rows=[{name: str(step[name]) for name in STEP_FIELDS} for step in protocol.steps])


def change(draft: Draft, action: str, words: Vocabulary) -> None:
    """Add a step at the end, or remove one (`remove-N`, counted from 0); a draft keeps at least one step."""
    if action == "add":
        draft.rows.append(words.blank_row())
    elif action.startswith("remove-") and len(draft.rows) > 1:
        index = action.removeprefix("remove-")
        if index.isdigit() and int(index) < len(draft.rows):
            del draft.rows[int(index)]


def check(
    draft: Draft, *, clinic: ClinicSettings, rules: RuleParameters
) -> tuple[ProtocolCreate | None, list[Problem]]:
    """The protocol as the API would take it (None if it would refuse it), and every problem: what the API's
    validation says, and each limit broken by the steps that are valid so far."""
    data, problems = None, []
    try:
        data = ProtocolCreate.model_validate({"name": draft.name, "steps": draft.rows})
    except ValidationError as exc:
        problems = [_problem(e["field"], e["message"], draft) for e in describe_validation_errors(exc.errors())]
    steps, where = _valid_steps(draft)
    for broken in broken_limits(steps, clinic=clinic, rules=rules):
        parts = broken.field.split(".")
        if len(parts) > 1:  # numbered among the valid steps: the step's number in the table instead
            parts[1] = str(where[int(parts[1])])
        problems.append(_problem(".".join(parts), broken.message, draft))
    return data, sorted(problems, key=lambda p: (p.step is None, p.step or 0))


def _valid_steps(draft: Draft) -> tuple[list[Step], list[int]]:
    """The rows that make valid steps, and where each is in the table."""
    steps, where = [], []
    for index, row in enumerate(draft.rows):
        try:
            steps.append(Step.model_validate(row))
        except ValidationError:
            continue
        where.append(index)
    return steps, where


def _problem(where: str, message: str, draft: Draft) -> Problem:
    """`steps.1.current_ua` and its message as "Step 2 (lips), current (µA): …"."""
    parts = where.split(".")
    if parts[0] != "steps":
        return Problem(None, None, f"{LABELS.get(parts[0], parts[0].capitalize())}: {message}.")
    if len(parts) < 2 or not parts[1].isdigit():
        return Problem(None, None, f"All steps together: {message}.")
    index = int(parts[1])
    name = parts[2] if len(parts) > 2 else None
    zone = draft.rows[index].get("zone", "") if index < len(draft.rows) else ""
    label = f", {LABELS.get(name, name)}" if name else ""
    return Problem(index, name, f"Step {index + 1}{f' ({zone})' if zone else ''}{label}: {message}.")


def invalid_fields(problems: list[Problem]) -> set[tuple[int, str]]:
    """The (step, field) pairs to mark as invalid in the table."""
    return {(p.step, p.field) for p in problems if p.step is not None and p.field is not None}


def steps_changes(data: ProtocolCreate) -> dict[str, Any]:
    """The edit the API's PATCH would make from this form: the name and the steps."""
    return {"name": data.name, "steps": [step.model_dump(mode="json") for step in data.steps]}
