"""The real PostgreSQL and Mosquitto the tests use, and what to do when one is missing.

On CI (CI=true) a missing service fails the run; on a developer's machine the tests that need it are skipped.
"""

import atexit
import functools
import os
import random
import shutil
import socket
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_ADMIN_URL = os.environ.get("GALVANI_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
MOSQUITTO_HOST = os.environ.get("GALVANI_TEST_MQTT_HOST", "127.0.0.1")
MOSQUITTO_PORT = int(os.environ.get("GALVANI_TEST_MQTT_PORT", "1883"))
KNOWN_BACKENDS = ("sqlite", "postgresql")
# The databases the tests run on: every parametrization over databases takes its cases from here.
BACKENDS = [b for b in os.environ.get("GALVANI_TEST_BACKENDS", ",".join(KNOWN_BACKENDS)).split(",") if b]
if unknown := set(BACKENDS) - set(KNOWN_BACKENDS):
    raise ValueError(f"GALVANI_TEST_BACKENDS names {sorted(unknown)}; it takes {', '.join(KNOWN_BACKENDS)}")


def only(backend: str) -> list[str]:
    """The cases of a test that only `backend` can run: none when it is not among BACKENDS, and then pytest skips
    the test ("got empty parameter set")."""
    return [backend] if backend in BACKENDS else []


def require_backend(backend: str) -> None:
    """Skip the test, even on CI, when GALVANI_TEST_BACKENDS leaves `backend` out."""
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not among GALVANI_TEST_BACKENDS={','.join(BACKENDS)}")


def missing(what: str) -> NoReturn:
    """Fail on CI, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required on CI but is not reachable")
    pytest.skip(f"{what} is not reachable here")


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for this test run, empty or a copy of `template`, dropped afterwards."""
    require_backend("postgresql")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"galvani_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    except OperationalError:
        admin.dispose()
        missing(f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)}")
    try:
        yield _postgres_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _postgres_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def migrated_database(kind: str, folder: Path) -> Iterator[str]:
    """A database of its own, `sqlite` (a file in `folder`) or `postgresql`, at the head of the migrations: a copy
    of the one this process migrated first with the real Alembic chain (measured on a loaded 2-core machine: 0.05 s
    instead of 5.9 s on SQLite, 2.5 s instead of 5.5 s on PostgreSQL, with the drop)."""
    if kind == "sqlite":
        path = folder / "galvani.db"
        with closing(sqlite3.connect(_migrated_template("sqlite"))) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
        yield f"sqlite:///{path}"
        return
    with fresh_postgres_database(template=_migrated_template("postgresql")) as url:
        yield url


@functools.cache
def _migrated_template(kind: str) -> str:
    """The SQLite file or the PostgreSQL database name that migrated_database copies; gone when the process ends."""
    from db.migrate import upgrade

    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="galvani-template-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = f"{folder}/galvani.db"
        upgrade(f"sqlite:///{path}")
        return path
    database = fresh_postgres_database()
    url = database.__enter__()  # left at exit: a template outlives every test of the process
    atexit.register(database.__exit__, None, None, None)
    upgrade(url)
    return str(make_url(url).database)


def require_mosquitto() -> tuple[str, int]:
    """The shared Mosquitto's address, or skip/fail when it does not answer."""
    try:
        with socket.create_connection((MOSQUITTO_HOST, MOSQUITTO_PORT), timeout=2):
            return MOSQUITTO_HOST, MOSQUITTO_PORT
    except OSError:
        missing(f"Mosquitto at {MOSQUITTO_HOST}:{MOSQUITTO_PORT}")


# free_port() takes ports below Linux's ephemeral range (32768-60999), so that no outgoing connection takes one
# between the choice and the bind; each pytest-xdist worker takes those of its own remainder, and never one twice.
_PORTS = range(20000, 32768)
_GIVEN: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, that no other worker of this run and no earlier call here has given."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    while True:
        port = random.choice(_PORTS[worker % workers :: workers])
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use
        _GIVEN.add(port)
        return port
