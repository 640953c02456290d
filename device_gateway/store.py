"""Storing device messages once per (device, session, seq), many in one statement."""

import json
import uuid
from functools import cache
from typing import Any

from sqlalchemy import Dialect, TextClause, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from db.models import SessionMessage

SeqKey = tuple[uuid.UUID, int]  # (session_id, seq)
TABLE = SessionMessage.__table__
COLUMNS = [column for column in TABLE.columns if column.name != "id"]  # every row gives all of them


def insert_new(session: Session, rows: list[dict[str, Any]]) -> set[SeqKey]:
    """Insert the rows not stored yet; the (session_id, seq) of each one inserted. A row repeated among
    `rows` is inserted once."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        columns = {column.name: [row[column.name] for row in rows] for column in COLUMNS}
        columns["samples"] = [None if s is None else json.dumps(s) for s in columns["samples"]]
        result = connection.execute(_unnest_insert(connection.dialect), columns)
    else:
        statement = sqlite.insert(TABLE).on_conflict_do_nothing(index_elements=["device_id", "session_id", "seq"])
        result = connection.execute(statement.returning(TABLE.c.session_id, TABLE.c.seq), rows)
    return {(row.session_id, row.seq) for row in result}


@cache
def _unnest_insert(dialect: Dialect) -> TextClause:
    """PostgreSQL: one array per column, so the statement is the same whatever the number of rows; executemany
    would send a VALUES list of its own for every batch size, several times slower to build and to parse."""
    arrays = ", ".join(f"CAST(:{column.name} AS {column.type.compile(dialect)}[])" for column in COLUMNS)
    return text(f"INSERT INTO {TABLE.name} ({', '.join(column.name for column in COLUMNS)}) "  # noqa: S608 (names)
                f"SELECT * FROM unnest({arrays}) "
                "ON CONFLICT (device_id, session_id, seq) DO NOTHING RETURNING session_id, seq")
