"""The real PostgreSQL and Mosquitto the tests use, and what to do when one is missing.

On CI (CI=true) a missing service fails the run; on a developer's machine the tests that need it are skipped.
"""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test run, dropped afterwards."""
    require_backend("postgresql")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"galvani_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        missing(f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)}")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_database(kind: str, folder: Path) -> Iterator[str]:
    """A database of its own, `sqlite` (a file in `folder`) or `postgresql`, at the head of the migrations."""
    from db.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{folder / 'galvani.db'}"
        upgrade(url)
        yield url
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


def require_mosquitto() -> tuple[str, int]:
    """The shared Mosquitto's address, or skip/fail when it does not answer."""
    try:
        with socket.create_connection((MOSQUITTO_HOST, MOSQUITTO_PORT), timeout=2):
            return MOSQUITTO_HOST, MOSQUITTO_PORT
    except OSError:
        missing(f"Mosquitto at {MOSQUITTO_HOST}:{MOSQUITTO_PORT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
