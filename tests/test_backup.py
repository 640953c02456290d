"""`galvani backup` and `galvani restore` on PostgreSQL: a clinic's data, sessions' delivered current included, comes
back table for table into an empty database, and nothing is ever written over."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.orm import Session

from db.models import Appointment, CommandStatus, DeviceCommand, SessionIncident, TreatmentSession
from db.session import make_engine, make_session_factory
from galvani.bootstrap import seed_demo
from galvani.demo import seed_demo_appointment, seed_demo_devices
from tests.api.clinic import armed_session, telemetry_row
from tests.services import fresh_postgres_database, migrated_database

pytestmark = pytest.mark.postgres_only


def galvani(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")} | {"GALVANI_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "galvani.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def a_clinics_day(database_url: str) -> None:
    """Staff, clients, rooms, devices, a protocol, a screening, a booking and a session with its delivered current,
    its commands and an incident: rows in every table a clinic fills."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    seed_demo(factory)
    seed_demo_devices(factory)
    appointment = seed_demo_appointment(factory)
    assert appointment is not None
    with factory() as db:
        session_id = armed_session(db, str(appointment.id))
        treatment = db.get(TreatmentSession, uuid.UUID(session_id))
        assert treatment is not None
        db.add_all(telemetry_row(treatment, seq, step=0, samples=[199.5 + seq] * 10) for seq in range(1, 31))
        db.add(
            DeviceCommand(
                device_id=treatment.device_id,
                session_id=treatment.id,
                kind="stop",
                payload={},
                status=CommandStatus.EXECUTED,
            )
        )
        db.add(SessionIncident(session_id=treatment.id, kind="over_current", detail="248 µA against a cap of 220"))
        db.commit()
    engine.dispose()


def every_row(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows in primary-key order (the migrations' own version table too)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = MetaData()
            tables.reflect(connection)
            return {
                name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns))]
                for name, table in tables.tables.items()
            }
    finally:
        engine.dispose()


def test_a_backup_restores_every_table_into_an_empty_database(tmp_path: Path) -> None:
    backup = tmp_path / "clinic.dump"
    with migrated_database("postgresql", tmp_path) as source:
        a_clinics_day(source)
        made = galvani("backup", str(backup), database_url=source)
        assert made.returncode == 0, made.stderr
        assert f"to {backup}" in made.stdout
        before = every_row(source)
    assert len(before["session_messages"]) == 30 and before["treatment_sessions"] and before["audit_events"]

    with fresh_postgres_database() as target:
        restored = galvani("restore", str(backup), database_url=target)
        assert restored.returncode == 0, restored.stderr
        assert every_row(target) == before
        # The sequences came back too: the next stored message does not collide with a restored one.
        engine = make_engine(target)
        with Session(engine) as db:
            treatment = db.scalars(select(TreatmentSession)).one()
            db.add(telemetry_row(treatment, 31, step=0, samples=[200.0] * 10))
            db.commit()
            assert db.scalar(select(Appointment.id)) is not None
        engine.dispose()


def test_restore_refuses_a_database_that_holds_anything(tmp_path: Path) -> None:
    backup = tmp_path / "clinic.dump"
    with migrated_database("postgresql", tmp_path) as source:
        assert galvani("backup", str(backup), database_url=source).returncode == 0
        refused = galvani("restore", str(backup), database_url=source)
    assert refused.returncode == 1
    assert "already has" in refused.stderr and "empty database" in refused.stderr


def test_a_backup_never_writes_over_a_file(tmp_path: Path) -> None:
    backup = tmp_path / "clinic.dump"
    backup.write_text("last week's backup")
    with migrated_database("postgresql", tmp_path) as source:
        refused = galvani("backup", str(backup), database_url=source)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert backup.read_text() == "last week's backup"


def test_the_embedded_sqlite_database_is_backed_up_by_copying_its_file(tmp_path: Path) -> None:
    refused = galvani("backup", str(tmp_path / "x.dump"), database_url=f"sqlite:///{tmp_path / 'galvani.db'}")
    assert refused.returncode == 1 and "copy" in refused.stderr
    assert not (tmp_path / "x.dump").exists()
