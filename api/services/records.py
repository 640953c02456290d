"""Looking records up by id, the same way everywhere."""

import uuid
from typing import TypeVar

from sqlalchemy.orm import Session

from api.errors import NotFound
from db.base import Base

Record = TypeVar("Record", bound=Base)


def get_or_404(session: Session, model: type[Record], record_id: uuid.UUID, what: str) -> Record:
    """The record, or NotFound saying which kind of thing was not there."""
    record = session.get(model, record_id)
    if record is None:
        raise NotFound(f"There is no {what} with this id.")
    return record
