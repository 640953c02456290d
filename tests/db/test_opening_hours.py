"""The gateway reads the clinic's opening hours from the stored settings as the API's schema does: the same
defaults until an admin saves them, the saved hours and time zone after."""

from datetime import UTC, datetime, time

import pytest
from sqlalchemy.orm import Session

from api.schemas.clinic_settings import ClinicSettings, DayHours, OpeningHours
from db.models import ClinicSettingsRecord
from db.models.clinic_settings import SETTINGS_ROW_ID
from db.opening_hours import WEEKDAYS, opening_hours


def as_the_api_reads_them(settings: ClinicSettings) -> tuple[str, tuple[tuple[time, time] | None, ...]]:
    days = (getattr(settings.opening_hours, day) for day in WEEKDAYS)
    return settings.timezone, tuple(None if day is None else (day.open, day.close) for day in days)


def test_before_any_settings_are_saved_the_api_defaults_in_the_process_time_zone(db: Session) -> None:
    read = opening_hours(db, default_timezone="Europe/Paris")
    assert (read.zone.key, read.days) == as_the_api_reads_them(ClinicSettings(timezone="Europe/Paris"))


def test_saved_hours_and_time_zone_are_the_ones_in_force(db: Session) -> None:
    saved = ClinicSettings(
        timezone="America/New_York",
        opening_hours=OpeningHours(
            monday=DayHours(open=time(9, 30), close=time(17)),
            sunday=None,
            saturday=DayHours(open="10:00", close="13:15"),
        ),
    )
    db.add(ClinicSettingsRecord(id=SETTINGS_ROW_ID, data=saved.model_dump(mode="json")))
    db.flush()
    read = opening_hours(db, default_timezone="UTC")
    assert (read.zone.key, read.days) == as_the_api_reads_them(saved)


@pytest.mark.parametrize(
    ("now", "opened"),
    [
        (datetime(2026, 12, 7, 14, 29, tzinfo=UTC), None),  # Monday 09:29 in New York: not yet
        (datetime(2026, 12, 7, 14, 30, tzinfo=UTC), "2026-12-07T09:30:00-05:00"),  # opening time: open
        (datetime(2026, 12, 7, 21, 59, tzinfo=UTC), "2026-12-07T09:30:00-05:00"),
        (datetime(2026, 12, 7, 22, 0, tzinfo=UTC), None),  # 17:00: closed
        (datetime(2026, 12, 13, 16, 0, tzinfo=UTC), None),  # Sunday: closed all day
    ],
)
def test_open_from_opening_time_until_just_before_closing_in_the_clinic_zone(
    db: Session, now: datetime, opened: str | None
) -> None:
    hours = OpeningHours(monday=DayHours(open=time(9, 30), close=time(17)), sunday=None)
    saved = ClinicSettings(timezone="America/New_York", opening_hours=hours)
    db.add(ClinicSettingsRecord(id=SETTINGS_ROW_ID, data=saved.model_dump(mode="json")))
    db.flush()
    read = opening_hours(db, default_timezone="UTC")
    at = read.opened_at(now)
    assert (at.isoformat() if at else None) == opened
    assert read.closes_at(now) == (None if now.day == 13 else datetime(2026, 12, 7, 17, tzinfo=read.zone))
