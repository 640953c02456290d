"""The clinic settings form: the time zone and each weekday's opening hours, read from a post and checked by the
API's own schema (ClinicSettingsUpdate), so the page refuses what PUT /api/v1/settings refuses, in the same words."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any
from zoneinfo import available_timezones

from pydantic import ValidationError

from api.schemas.clinic_settings import ClinicSettings, ClinicSettingsUpdate
from api.validation_messages import describe_validation_errors
from db.weekly_hours import WEEKDAYS

# The zones a clinic is in, by region; the old aliases (US/Eastern, Etc/GMT+5, …) only lengthen the list.
REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@dataclass
class DayRow:
    """One weekday as the form shows it."""

    day: str  # monday
    open: bool
    opens: str  # HH:MM, or what was typed
    closes: str
    problem: str | None = None

    @property
    def label(self) -> str:
        return self.day.capitalize()


@dataclass
class SettingsForm:
    timezone: str
    days: list[DayRow]
    problems: dict[str, str] = field(default_factory=dict)  # "timezone" or a weekday -> what is wrong, in words

    def changes(self) -> dict[str, Any]:
        """The body PUT /api/v1/settings would get: both fields, which confirms them."""
        hours = {row.day: {"open": row.opens, "close": row.closes} if row.open else None for row in self.days}
        return {"timezone": self.timezone, "opening_hours": hours}


def from_settings(settings: ClinicSettings) -> SettingsForm:
    """The form filled with the settings in force."""
    rows = []
    for day in WEEKDAYS:
        hours = getattr(settings.opening_hours, day)
        rows.append(
            DayRow(day, True, f"{hours.open:%H:%M}", f"{hours.close:%H:%M}") if hours else DayRow(day, False, "", "")
        )
    return SettingsForm(timezone=settings.timezone, days=rows)


def from_post(form: Mapping[str, Any]) -> SettingsForm:
    """The form as posted (every field as text, nothing trusted yet)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip()[:64] if isinstance(value, str) else ""

    rows = [DayRow(day, bool(form.get(f"{day}_open")), text(f"{day}_opens"), text(f"{day}_closes")) for day in WEEKDAYS]
    return SettingsForm(timezone=text("timezone"), days=rows)


def checked(filled: SettingsForm) -> dict[str, Any] | None:
    """The changes to save, or None with `filled.problems` set, each in the API's words."""
    try:
        update = ClinicSettingsUpdate.model_validate(filled.changes())
    except ValidationError as exc:
        for error in describe_validation_errors(exc.errors()):
            _note(filled, error["field"], error["message"])
        return None
    return update.model_dump(exclude_unset=True)


def _note(filled: SettingsForm, path: str, message: str) -> None:
    parts = path.split(".")
    if parts[0] == "timezone":
        filled.problems.setdefault("timezone", f"The time zone {message}.")
        return
    row = next((r for r in filled.days if len(parts) > 1 and r.day == parts[1]), None)
    if row is None:
        filled.problems.setdefault("form", f"{path}: {message}.")
        return
    which = {"open": "the opening time ", "close": "the closing time "}.get(parts[-1], "")
    row.problem = row.problem or f"{row.label}: {which}{message}."
    filled.problems.setdefault(row.day, row.problem)


def zone_choices(current: str) -> list[tuple[str, list[str]]]:
    """The time zones to choose from, grouped by region, with UTC and the zone in force among them."""
    names = {name for name in available_timezones() if name.split("/")[0] in REGIONS} | {"UTC", current}
    return [(region, list(zones)) for region, zones in groupby(sorted(names), key=lambda name: name.split("/")[0])]
