"""Client records."""

import re
import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from api.schemas.common import Email, Name, Output, StrictInput

_PHONE = re.compile(r"^\+?[0-9 ()\-.]+$")
OLDEST_BIRTH_YEAR = 1900


def _phone(value: str) -> str:
    value = value.strip()
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.match(value) or not 6 <= digits <= 15:
        raise ValueError("must be a phone number of 6 to 15 digits, like +44 20 7946 0958")
    return value


def _birth_date(value: date) -> date:
    """The year's bound; whether it is in the future is the service's to say, by the clinic's calendar."""
    if value.year < OLDEST_BIRTH_YEAR:
        raise ValueError(f"must be after {OLDEST_BIRTH_YEAR}")
    return value


Phone = Annotated[str, Field(max_length=32), AfterValidator(_phone)]
BirthDate = Annotated[date, AfterValidator(_birth_date)]


class ClientCreate(StrictInput):
    first_name: Name
    last_name: Name
    date_of_birth: BirthDate
    email: Email | None = None
    phone: Phone | None = None


class ClientUpdate(StrictInput):
    first_name: Name | None = None
    last_name: Name | None = None
    date_of_birth: BirthDate | None = None
    email: Email | None = None
    phone: Phone | None = None


class ClientRead(Output):
    id: uuid.UUID
    first_name: str
    last_name: str
    date_of_birth: date
    email: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime


class ClientPage(Output):
    items: list[ClientRead]
    limit: int
    offset: int
    has_more: bool
