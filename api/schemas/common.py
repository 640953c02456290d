"""Shapes shared by several endpoints."""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, create_model

EARLIEST_YEAR, LATEST_YEAR = 1900, 2999  # a time near year 1 or 9999 overflows when turned into UTC
INT32_MAX = 2**31 - 1  # PostgreSQL `integer`; a larger number in a query on such a column is a 500 there
INT64_MAX = 2**63 - 1  # PostgreSQL `bigint` and every SQLite integer
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("must be an email address like name@example.com")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]


def _in_our_years(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


DateTimeWithOffset = Annotated[AwareDatetime, AfterValidator(_in_our_years)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StrictInput(BaseModel):
    """Input that refuses fields it does not know, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def partial_of(model: type[BaseModel], name: str) -> type[BaseModel]:
    """A change to `model`: any field may be left out, but one given has the field's type and bounds (never null);
    unknown ones are refused. The merged whole is checked again by `model`."""
    fields = {
        field_name: (
            Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation,
            Field(None, description=field.description, json_schema_extra=_no_default),
        )
        for field_name, field in model.model_fields.items()
    }
    # create_model's overloads cannot follow field definitions built at run time
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)  # type: ignore[call-overload, no-any-return]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # left out means unchanged, not null
