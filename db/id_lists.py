"""A column among many ids, as each database reads it best."""

import uuid
from collections.abc import Collection

from sqlalchemy import ColumnElement, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session


def one_of(
    session: Session, column: InstrumentedAttribute[uuid.UUID], ids: Collection[uuid.UUID]
) -> ColumnElement[bool]:
    """`column IN (ids)`; on PostgreSQL `column = ANY(:ids)`, one array parameter, so the statement's text is the
    same for 2 ids as for 200 (no bound parameter per id to build, send and parse)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(column.type)))
    return column.in_(ids)
