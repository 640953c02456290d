"""The Alembic chain upgrades and downgrades on both databases, and matches the models."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from db.base import Base
from db.migrate import alembic_config, downgrade, upgrade
from db.models.client import POSTGRESQL_SEARCH_INDEX
from db.session import make_engine
from tests.services import BACKENDS, fresh_postgres_database

APP_TABLES = {
    "users",
    "clients",
    "audit_events",
    "clinic_settings",
    "screening_rule_sets",
    "screenings",
    "physician_approvals",
    "protocols",
    "rooms",
    "devices",
    "series",
    "appointments",
    "treatment_sessions",
    "device_commands",
    "session_messages",
    "session_incidents",
    "session_sign_offs",
    "session_addenda",
    "alarms",
}


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revisions(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_whole_chain_up_down_up(empty_database: str) -> None:
    upgrade(empty_database)
    assert _tables(empty_database) >= APP_TABLES
    downgrade(empty_database, "base")
    assert _tables(empty_database) - {"alembic_version"} == set()
    upgrade(empty_database)
    assert _tables(empty_database) >= APP_TABLES


def test_every_step_downgrades_and_upgrades_again(empty_database: str) -> None:
    for revision in _revisions(empty_database):
        upgrade(empty_database, revision)
        downgrade(empty_database, "-1")
        upgrade(empty_database, revision)


def _ignore_postgresql_only(obj: object, name: str | None, type_: str, *_: object) -> bool:
    return not (type_ == "index" and name == POSTGRESQL_SEARCH_INDEX)


def test_migrations_match_the_models(empty_database: str) -> None:
    upgrade(empty_database)
    engine: Engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _ignore_postgresql_only}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_postgresql_has_the_trigram_search_index() -> None:
    with fresh_postgres_database() as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            names = {ix["name"] for ix in inspect(engine).get_indexes("clients")}
        finally:
            engine.dispose()
    assert POSTGRESQL_SEARCH_INDEX in names
