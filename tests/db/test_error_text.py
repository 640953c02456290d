"""A database error never carries a statement's values: its text, traceback and all, is what ends up in a log."""

import logging
import traceback
import uuid
from datetime import date

import pytest
from sqlalchemy import Connection, insert, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from db.models import Client, Role, User
from db.session import make_engine

# What a client's record holds; none of it may show in an error.
NAME, PHONE, EMAIL = "Lovelace", "+44 20 7946 0001", "ada.lovelace@example.com"


def _text_of(exc: BaseException) -> str:
    """Everything a log line of this error would show: the message and the whole chained traceback."""
    return "".join(traceback.format_exception(exc))


def _client(**fields: object) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "first_name": "Ada",
        "last_name": NAME,
        "date_of_birth": date(1985, 12, 10),
        "email": EMAIL,
        "phone": PHONE,
        "search_text": f"ada {NAME} {PHONE}".lower(),
    } | fields


def _fails(connection: Connection, statement: object, error: type[DBAPIError]) -> str:
    with pytest.raises(error) as caught, connection.begin_nested():
        connection.execute(statement)  # type: ignore[call-overload]
    return _text_of(caught.value)


def test_a_duplicate_holds_no_value(connection: Connection) -> None:
    user = {"email": EMAIL, "full_name": f"Ada {NAME}", "role": Role.ADMIN, "password_hash": "x"}
    connection.execute(insert(User).values(id=uuid.uuid4(), **user))
    message = _fails(connection, insert(User).values(id=uuid.uuid4(), **user), IntegrityError)
    assert "email" in message  # it still says what was wrong
    assert EMAIL not in message and NAME not in message


def test_a_missing_value_holds_none_of_the_others(connection: Connection) -> None:
    """PostgreSQL's own words would list the whole row: "Failing row contains (…, Ada, Lovelace, …)"."""
    message = _fails(connection, insert(Client).values(**_client(date_of_birth=None)), IntegrityError)
    assert "date_of_birth" in message
    for value in (NAME, PHONE, EMAIL):
        assert value not in message


def test_a_value_of_the_wrong_kind_is_not_quoted(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        pytest.skip("SQLite takes any value in any column: it raises no data errors")
    message = _fails(connection, text("SELECT CAST(:name AS integer)").bindparams(name=NAME), DataError)
    assert "integer" in message
    assert NAME not in message


def test_the_engine_log_holds_no_value(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Statement logging (echo, or sqlalchemy.engine at INFO) leaves the parameters out as well."""
    engine = make_engine(database_url)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"), engine.connect() as connection:
            connection.execute(insert(Client).values(**_client()))
            connection.rollback()
    finally:
        engine.dispose()
    assert "INSERT INTO clients" in caplog.text
    assert NAME not in caplog.text and PHONE not in caplog.text
