"""First start: the clinic's time zone and opening hours taken from the environment (never over what an admin
saved), asked of an admin when nobody gave them, and settings that are placeholders or unreadable refused with a
sentence naming the variable."""

from datetime import time
from pathlib import Path

import httpx2 as httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.actor import Actor, Origin
from api.services import clinic_settings
from db.models import AuditEvent, Role, User
from db.settings import Settings
from galvani.bootstrap import ensure_clinic_settings
from tests.conftest import add_user
from tests.test_cli import admin_env, admin_headers, run_galvani, running, stop

DUBLIN_HOURS = "mon-fri 09:00-18:00; sat 10:00-16:00"
STRONG = "k" * 16 + "Q7vR2xW9pL4mN8sT6yU3zA5bC1dE0fG"


def test_opening_hours_from_the_environment_are_read_day_by_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALVANI_OPENING_HOURS", "Mon-Wed,Fri 09:00-18:00; sat 10:00 - 16:30; thu closed")
    hours = Settings().weekly_hours
    assert hours == {
        "monday": (time(9), time(18)),
        "tuesday": (time(9), time(18)),
        "wednesday": (time(9), time(18)),
        "thursday": None,
        "friday": (time(9), time(18)),
        "saturday": (time(10), time(16, 30)),
        "sunday": None,  # a day no part names is closed
    }


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mon-fri 9-18", "“9” in “mon-fri 9-18” is not a time like 09:00"),
        ("mon-fri 18:00-09:00", "in “mon-fri 18:00-09:00” the opening time must come before the closing time"),
        ("funday 09:00-10:00", "“funday” in “funday 09:00-10:00” is not a day"),
        ("mon 09:00-12:00; mon-tue 13:00-17:00", "Monday is named twice"),
        ("fri-mon 09:00-17:00", "runs backwards"),
        ("weekdays", "is not days and hours like"),
        (" ; ", "no opening hours given"),
    ],
)
def test_unreadable_opening_hours_are_refused_naming_the_variable(
    given: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALVANI_OPENING_HOURS", given)
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = refused.value.errors()[0]["msg"]
    assert "GALVANI_OPENING_HOURS: " in message and says in message, message


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose passes `${GALVANI_CLINIC_TIMEZONE:-}` as an empty value when the operator gave none."""
    monkeypatch.setenv("GALVANI_CLINIC_TIMEZONE", "")
    monkeypatch.setenv("GALVANI_OPENING_HOURS", "")
    settings = Settings()
    assert (settings.clinic_timezone, settings.clinic_timezone_given, settings.weekly_hours) == ("UTC", False, None)
    monkeypatch.setenv("GALVANI_CLINIC_TIMEZONE", "Europe/Dublin")
    assert Settings().clinic_timezone_given


@pytest.mark.parametrize(
    ("variables", "names"),
    [
        ({"admin_password": "changeme"}, "GALVANI_ADMIN_PASSWORD"),
        ({"admin_password": "short1"}, "GALVANI_ADMIN_PASSWORD"),
        ({"admin_password": "please-change-me-now"}, "GALVANI_ADMIN_PASSWORD"),
        ({"database_url": "postgresql://galvani:changeme@db/galvani"}, "GALVANI_DATABASE_URL"),
        ({"database_url": "postgresql://galvani:password@db/galvani"}, "GALVANI_DATABASE_URL"),
        ({"mqtt_url": "mqtts://galvani-gateway-a:change_me@mosquitto:8883"}, "GALVANI_MQTT_URL"),
        ({"secret_key": "replace-me-with-a-random-value-of-48-characters"}, "GALVANI_SECRET_KEY"),
    ],
)
def test_production_refuses_placeholder_secrets(variables: dict[str, str], names: str) -> None:
    given = {"secret_key": STRONG} | variables
    with pytest.raises(ValidationError, match=names):
        Settings(env="production", **given)  # type: ignore[arg-type]
    Settings(env="development", **given)  # type: ignore[arg-type]  # a developer's machine takes anything


def test_production_takes_real_secrets() -> None:
    Settings(
        env="production",
        secret_key=STRONG,  # type: ignore[arg-type]
        admin_password="a-long-admin-password",  # type: ignore[arg-type]
        database_url="postgresql://galvani:7f3c9a1e5b2d@db/galvani",
        mqtt_url="mqtts://galvani-gateway-a:b81d0c6e4f2a@mosquitto:8883",
    )


def _settings(tmp_path: Path, database_url: str, **env: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, **env)  # type: ignore[arg-type]


def test_the_environment_sets_a_new_clinic_and_confirms_it(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session], db: Session
) -> None:
    settings = _settings(tmp_path, database_url, clinic_timezone="Europe/Dublin", opening_hours=DUBLIN_HOURS)
    assert "time zone Europe/Dublin" in (ensure_clinic_settings(session_factory, settings) or "")
    found = clinic_settings.stored(db, default_timezone="UTC")
    assert found.confirmed and found.settings.timezone == "Europe/Dublin"
    hours = found.settings.opening_hours
    assert (hours.friday and (hours.friday.open, hours.friday.close)) == (time(9), time(18))
    assert (hours.saturday and (hours.saturday.open, hours.saturday.close)) == (time(10), time(16))
    assert hours.sunday is None
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "settings.first_start")).one()
    assert (event.user_id, event.detail) == (
        None,
        {"fields": ["opening_hours", "timezone"], "from": "environment", "confirmed": True},
    )
    # Started again with other values: what was stored stays.
    other = _settings(tmp_path, database_url, clinic_timezone="Asia/Tokyo", opening_hours="sun 08:00-09:00")
    assert ensure_clinic_settings(session_factory, other) is None
    assert clinic_settings.stored(db, default_timezone="UTC").settings.timezone == "Europe/Dublin"


def test_a_time_zone_alone_is_stored_and_the_hours_are_still_asked(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session], db: Session
) -> None:
    said = ensure_clinic_settings(session_factory, _settings(tmp_path, database_url, clinic_timezone="Europe/Dublin"))
    assert said and "asked for them at /settings" in said and "Europe/Dublin" in said
    found = clinic_settings.stored(db, default_timezone="UTC")
    assert (found.settings.timezone, found.confirmed) == ("Europe/Dublin", False)


def test_nothing_given_stores_nothing_and_an_admin_is_asked(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session], db: Session
) -> None:
    said = ensure_clinic_settings(session_factory, _settings(tmp_path, database_url))
    assert said and "asked for them at /settings" in said and "in UTC" in said
    found = clinic_settings.stored(db, default_timezone="UTC")
    assert (found.updated_at, found.confirmed, clinic_settings.is_confirmed(db)) == (None, False, False)


def test_settings_an_admin_saved_are_never_replaced_from_the_environment(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session], db: Session
) -> None:
    admin = add_user(db, Role.ADMIN)
    clinic_settings.change(
        db, actor=Actor(admin, Origin(None, None)), changes={"timezone": "America/New_York"}, default_timezone="UTC"
    )
    db.commit()
    settings = _settings(tmp_path, database_url, clinic_timezone="Europe/Dublin", opening_hours=DUBLIN_HOURS)
    said = ensure_clinic_settings(session_factory, settings)
    assert said and "America/New_York" in said  # saved but not confirmed: still asked, with the saved zone
    db.expire_all()
    found = clinic_settings.stored(db, default_timezone="UTC")
    assert (found.settings.timezone, found.confirmed) == ("America/New_York", False)
    assert found.settings.opening_hours.sunday is not None  # the defaults the admin kept, not GALVANI_OPENING_HOURS


def test_the_demo_clinic_is_confirmed_in_its_own_zone(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session], db: Session
) -> None:
    settings = _settings(tmp_path, database_url, clinic_timezone="Etc/GMT-3")
    assert ensure_clinic_settings(session_factory, settings, demo=True) is not None
    found = clinic_settings.stored(db, default_timezone="UTC")
    assert (found.settings.timezone, found.confirmed) == ("Etc/GMT-3", True)
    assert db.scalar(select(User.id)) is None  # settings only: no account was made for it


def test_an_unknown_time_zone_stops_the_start_in_one_sentence(tmp_path: Path) -> None:
    result = run_galvani("serve", env=admin_env(tmp_path) | {"GALVANI_CLINIC_TIMEZONE": "Europe/Atlantis"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Galvani cannot start: GALVANI_CLINIC_TIMEZONE: 'Europe/Atlantis' is not a time zone name like Europe/London"
    )
    assert not (tmp_path / "data").exists()  # stopped before anything was made


def test_unreadable_hours_or_a_placeholder_secret_stop_the_start(tmp_path: Path) -> None:
    production = admin_env(tmp_path) | {"GALVANI_ENV": "production", "GALVANI_SECRET_KEY": STRONG}
    result = run_galvani("api", env=production | {"GALVANI_OPENING_HOURS": "mon-fri 9am-6pm"})
    assert (result.returncode, result.stderr) == (
        2,
        "Galvani cannot start: GALVANI_OPENING_HOURS: “9am” in “mon-fri 9am-6pm” is not a time like 09:00\n",
    )
    placeholder = "please-change-me-to-something-random-and-long"
    result = run_galvani("api", env=production | {"GALVANI_SECRET_KEY": placeholder})
    assert result.returncode == 2
    assert result.stderr.startswith("Galvani cannot start: GALVANI_SECRET_KEY must be a random value")
    assert "Traceback" not in result.stderr and placeholder not in result.stderr


def test_serve_takes_the_clinic_from_the_environment(tmp_path: Path) -> None:
    env = admin_env(tmp_path) | {"GALVANI_CLINIC_TIMEZONE": "Europe/Dublin", "GALVANI_OPENING_HOURS": DUBLIN_HOURS}
    with running("serve", env=env) as (process, port):
        body = httpx.get(f"http://127.0.0.1:{port}/api/v1/settings", headers=admin_headers(port)).json()
        out, _ = stop(process)
    assert (body["timezone"], body["confirmed"], body["opening_hours"]["sunday"]) == ("Europe/Dublin", True, None)
    assert body["opening_hours"]["monday"] == {"open": "09:00:00", "close": "18:00:00"}
    assert "Clinic settings stored at first start: time zone Europe/Dublin." in out
