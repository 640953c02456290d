"""The clients pages' forms: what was typed, checked by the API's own schemas and services, and their refusals told
beside the fields in the API's words."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.errors import AppError, InvalidInput
from api.validation_messages import describe_validation_errors

CLIENT_FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "date_of_birth": "Date of birth",
    "email": "Email",
    "phone": "Phone",
}
APPROVAL_FIELDS = {
    "physician_name": "Physician's name",
    "scope": "What it approves",
    "approved_on": "Approved on",
    "valid_until": "Valid until",
    "document_reference": "Where the signed approval is filed",
}
REVOKE_FIELDS = {"reason": "Why it is revoked"}
Model = TypeVar("Model", bound=BaseModel)
Saved = TypeVar("Saved")


@dataclass
class Filled:
    """A form as it was sent back: its values, and what is wrong with each field (and with the whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # field name -> the API's words
    problem: str | None = None  # what is wrong with the whole, or "Nothing was saved: …"
    labels: Mapping[str, str] = field(default_factory=dict)
    status_code: int = 422  # a refusal's own (409 for a conflict), once refused


def read_form(form: FormData, labels: Mapping[str, str]) -> Filled:
    """The form's fields, trimmed, as they will be shown again should anything be refused."""
    return Filled(values={name: str(form.get(name) or "").strip() for name in labels}, labels=labels)


def given(filled: Filled, *, blank_is: str) -> dict[str, Any]:
    """The values for a schema: blanks left out (`blank_is="missing"`: the field is required or stays unset) or
    given as null (`blank_is="null"`: a change that removes the value, refused by the service where it may not)."""
    if blank_is == "missing":
        return {name: value for name, value in filled.values.items() if value}
    return {name: value or None for name, value in filled.values.items()}


def checked(schema: type[Model], filled: Filled, data: dict[str, Any]) -> Model | None:
    """The schema's model of `data`, or None with each field's problem noted on `filled` in the API's words."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        for error in describe_validation_errors(exc.errors()):
            filled.errors.setdefault(error["field"], error["message"])
        filled.problem = "Nothing was saved. Please correct:"
        return None


def refused(filled: Filled, exc: AppError) -> Filled:
    """A service's refusal noted on the form: beside its field when it names one of the form's, else for the whole."""
    filled.status_code = exc.status_code
    if isinstance(exc, InvalidInput) and exc.field in filled.labels:
        filled.errors[exc.field] = exc.message
        filled.problem = "Nothing was saved. Please correct:"
    else:
        filled.problem = f"Nothing was saved: {exc.detail}"
    return filled


def submitted(
    session: Session, filled: Filled, schema: type[Model], *, blank_is: str, save: Callable[[Model], Saved]
) -> Saved | None:
    """What `save` returns once the form passed the API's schema and the service took it; None, with the refusal
    noted on `filled` and nothing of it kept, when either refuses."""
    data = checked(schema, filled, given(filled, blank_is=blank_is))
    if data is None:
        return None
    try:
        return save(data)
    except AppError as exc:
        session.rollback()
        refused(filled, exc)
        return None
