"""Fixtures: every API test runs on each database of tests.services.BACKENDS (SQLite and PostgreSQL unless
GALVANI_TEST_BACKENDS says otherwise), inside a transaction rolled back at its end."""

import secrets
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.security import create_access_token, hash_password
from db.base import utcnow
from db.models import Role, User
from db.session import make_engine, make_session_factory
from db.settings import Settings
from tests.parallel import GroupScheduling, remove_lock_files, slowest_groups_first, turn
from tests.services import BACKENDS, migrated_database

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # hashed once: argon2 is slow on purpose
SECRET_KEY = secrets.token_urlsafe(48)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> GroupScheduling | None:
    return GroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slowest_groups_first(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    with turn(item):
        return (yield)


def pytest_sessionfinish() -> None:
    remove_lock_files()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head by the real Alembic chain, one per backend."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions whose commits become savepoints inside the test's transaction."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture(params=BACKENDS)
def committing_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated database of the test's own, where every transaction commits for real: for races between
    sessions, which the rolled-back `db` cannot show."""
    with migrated_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        yield make_session_factory(engine)
        engine.dispose()


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=SECRET_KEY,
        mqtt_url=None,
        clinic_timezone="Europe/London",
        env="development",
    )


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def add_user(db: Session, role: Role, email: str | None = None) -> User:
    user = User(
        email=email or f"{role.value}-{secrets.token_hex(4)}@clinic.example.com",
        full_name=f"Test {role.value}",
        role=role,
        password_hash=_PASSWORD_HASH,
    )
    db.add(user)
    db.commit()
    return user


def bearer(user: User, minutes: int = 60) -> dict[str, str]:
    token = create_access_token(
        user_id=user.id, generation=user.token_generation, key=SECRET_KEY, now=utcnow(), minutes=minutes
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def staff(db: Session) -> dict[Role, User]:
    """One account per role."""
    return {role: add_user(db, role) for role in Role}


@pytest.fixture
def as_role(staff: dict[Role, User]) -> dict[Role, dict[str, str]]:
    """Authorization headers per role."""
    return {role: bearer(user) for role, user in staff.items()}


@pytest.fixture
def admin(as_role: dict[Role, dict[str, str]]) -> dict[str, str]:
    return as_role[Role.ADMIN]


@pytest.fixture
def front_desk(as_role: dict[Role, dict[str, str]]) -> dict[str, str]:
    return as_role[Role.FRONT_DESK]
