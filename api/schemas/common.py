"""Shapes shared by several endpoints."""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, create_model

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("must be an email address like name@example.com")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StrictInput(BaseModel):
    """Input that refuses fields it does not know, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def partial_of(model: type[BaseModel], name: str) -> type[BaseModel]:
    """A change to `model`: every field optional, unknown ones refused; bounds are checked on the merged whole."""
    fields = {field_name: (field.annotation | None, None) for field_name, field in model.model_fields.items()}
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)  # type: ignore[call-overload, no-any-return]
