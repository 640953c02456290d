"""Engines and sessions for both processes."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker


def normalize_database_url(url: str) -> str:
    """Point plain postgresql:// URLs at the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for PostgreSQL or SQLite; SQLite gets foreign keys, WAL and a busy timeout.

    No error it raises holds a statement's values (a client's name, a phone number): they would end up in
    the logs. SQLAlchemy leaves out the parameters, and PostgreSQL's own words are cut to their first line."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    kwargs["hide_parameters"] = True
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "handle_error", _without_values)
    return engine


_DATA_EXCEPTION = "22"  # SQLSTATE class: its messages quote the value refused ('invalid input syntax: "…"')
_QUOTED = re.compile(r'"[^"]*"')


def _without_values(context: ExceptionContext) -> None:
    """Keep PostgreSQL's primary message only: its DETAIL and CONTEXT quote the row's and the parameters'
    values ("Key (email)=(…) already exists", "Failing row contains (…)"). The diagnostic fields stay on
    the driver's exception (`orig.diag`) for code that needs them; only the words that get printed change."""
    orig = context.original_exception
    diag = getattr(orig, "diag", None)
    if diag is None or not diag.message_primary:
        return
    primary, sqlstate = diag.message_primary, diag.sqlstate or ""
    if sqlstate.startswith(_DATA_EXCEPTION):
        primary = _QUOTED.sub('"…"', primary)
    orig.args = (primary,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args:
        wrapped.args = (f"({type(orig).__module__}.{type(orig).__name__}) {primary}",)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Take transactions out of pysqlite's hands (it opens them late and breaks SAVEPOINT);
    # _begin_immediate opens each one instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock at the start: one writer at a time, never a mid-transaction 'locked'."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
