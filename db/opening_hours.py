"""The clinic's time zone and opening hours as the device gateway reads them: from the stored settings document
(the API's schema checked it when an admin saved it), without the API, which the gateway never imports.

Until an admin saves settings, the hours are the API schema's defaults (DEFAULT_HOURS, every day) in the process's
GALVANI_CLINIC_TIMEZONE; tests/db/test_opening_hours.py checks that both read the same hours."""

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from db.models import ClinicSettingsRecord
from db.models.clinic_settings import SETTINGS_ROW_ID
from db.weekly_hours import WEEKDAYS

DEFAULT_HOURS = (time(8), time(20))
Hours = tuple[time, time]  # (open, close), local


@dataclass(frozen=True)
class OpeningHours:
    zone: ZoneInfo
    days: tuple[Hours | None, ...]  # Monday first; None: closed that day

    def opened_at(self, now: datetime) -> datetime | None:
        """When the clinic opened today, if it is open at `now`; None while it is closed."""
        local = now.astimezone(self.zone)
        hours = self.days[local.weekday()]
        if hours is None or not hours[0] <= local.time() < hours[1]:
            return None
        return datetime.combine(local.date(), hours[0], self.zone)

    def closes_at(self, moment: datetime) -> datetime | None:
        """When the clinic closes on the local day of `moment`; None when it does not open that day."""
        local = moment.astimezone(self.zone)
        hours = self.days[local.weekday()]
        return None if hours is None else datetime.combine(local.date(), hours[1], self.zone)


def opening_hours(session: Session, *, default_timezone: str) -> OpeningHours:
    """The hours in force: the saved settings, or the defaults until an admin saves them."""
    record = session.get(ClinicSettingsRecord, SETTINGS_ROW_ID)
    data: dict[str, Any] = record.data if record is not None else {}
    saved: dict[str, Any] | None = data.get("opening_hours")
    days = tuple(_day(saved[day]) if saved is not None and day in saved else DEFAULT_HOURS for day in WEEKDAYS)
    return OpeningHours(zone=ZoneInfo(data.get("timezone") or default_timezone), days=days)


def _day(saved: dict[str, str] | None) -> Hours | None:
    return None if saved is None else (time.fromisoformat(saved["open"]), time.fromisoformat(saved["close"]))
