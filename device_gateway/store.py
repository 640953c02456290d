"""Storing device messages once per (device, session, seq), many in one statement, and reading the sessions they
belong to."""

import uuid
from functools import cache
from typing import Any, cast

from pydantic_core import to_json
from sqlalchemy import ARRAY, Dialect, Select, Table, TextClause, Uuid, any_, bindparam, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from db.models import SessionMessage, TreatmentSession

SeqKey = tuple[uuid.UUID, int]  # (session_id, seq)
TABLE = cast(Table, SessionMessage.__table__)  # a mapped class's own table, never a join or a select
COLUMNS = [column for column in TABLE.columns if column.name != "id"]  # every row gives all of them


def insert_new(session: Session, rows: list[dict[str, Any]]) -> set[SeqKey]:
    """Insert the rows not stored yet; the (session_id, seq) of each one inserted. A row repeated among
    `rows` is inserted once."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        statement = sqlite.insert(TABLE).on_conflict_do_nothing(index_elements=["session_id", "seq", "device_id"])
        return {
            (row.session_id, row.seq)
            for row in connection.execute(statement.returning(TABLE.c.session_id, TABLE.c.seq), rows)
        }
    rows_json = to_json(rows).decode()  # ids and times too, without a Python call for each as json.dumps needs
    result = connection.execute(_recordset_insert(connection.dialect), {"rows": rows_json})
    if result.rowcount == len(rows):  # every row inserted, the usual case: their keys need not be read back
        result.close()
        return {(row["session_id"], row["seq"]) for row in rows}
    return {(row.session_id, row.seq) for row in result}


@cache
def _recordset_insert(dialect: Dialect) -> TextClause:
    """PostgreSQL: the rows travel as one JSON array, so the statement is the same whatever their number, and
    nothing is converted value by value in Python (executemany builds and parses a VALUES list per batch size;
    arrays per column are converted element by element)."""
    names = ", ".join(column.name for column in COLUMNS)
    types = ", ".join(f"{column.name} {column.type.compile(dialect)}" for column in COLUMNS)
    return text(
        f"INSERT INTO {TABLE.name} ({names}) "  # noqa: S608 (names from the model)
        f"SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) AS row({types}) "
        "ON CONFLICT (session_id, seq, device_id) DO NOTHING RETURNING session_id, seq"
    )


@cache
def sessions_query(dialect: Dialect) -> Select[tuple[uuid.UUID, uuid.UUID, Any, int, int]]:
    """The device, status, output limit and number of steps (what bounds their seqs) of the sessions whose ids
    are given as `ids`. PostgreSQL gets them as one array, so the statement's text is the same for any number of
    them and the server plans it once (psycopg prepares it), where a list of placeholders is a new statement for
    every count."""
    columns = select(
        TreatmentSession.id,
        TreatmentSession.device_id,
        TreatmentSession.status,
        TreatmentSession.max_output_s,
        func.json_array_length(TreatmentSession.steps).label("step_count"),
    )
    if dialect.name == "postgresql":
        return columns.where(TreatmentSession.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    return columns.where(TreatmentSession.id.in_(bindparam("ids", expanding=True)))
