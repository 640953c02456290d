"""Opening hours written as one line of text, as GALVANI_OPENING_HOURS gives them at first start.

    mon-fri 09:00-18:00; sat 10:00-16:00

Parts are separated by `;`. Each names its days (`mon`, a range `mon-fri`, or a list `mon,wed,fri`) and one
opening time and closing time in the clinic's local time, or `closed`. A day that no part names is closed. It lives
in `db` beside the settings that read it; the API's schema checks the result again when it is stored.
"""

import re
from datetime import time

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SHORT = {day[:3]: day for day in WEEKDAYS}
_PART = re.compile(r"^(?P<days>[a-z][a-z,\- ]*?)\s+(?P<hours>closed|\S+\s*-\s*\S+)$")
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
EXAMPLE = "mon-fri 09:00-18:00; sat 10:00-16:00"

WeeklyHours = dict[str, tuple[time, time] | None]


class WeeklyHoursError(ValueError):
    """The text cannot be read as opening hours; the message says which part and why."""


def parse_weekly_hours(text: str) -> WeeklyHours:
    """Each weekday's (opening, closing) time, or None for a closed day."""
    hours: WeeklyHours = dict.fromkeys(WEEKDAYS)
    named: set[str] = set()
    parts = [part.strip() for part in text.lower().split(";") if part.strip()]
    if not parts:
        raise WeeklyHoursError(f"no opening hours given; write them like “{EXAMPLE}”")
    for part in parts:
        match = _PART.match(part)
        if match is None:
            raise WeeklyHoursError(f"“{part}” is not days and hours like “mon-fri 09:00-18:00” or “sun closed”")
        days = _days(match["days"].replace(" ", ""), part)
        twice = named.intersection(days)
        if twice:
            raise WeeklyHoursError(f"{_listed(twice)} is named twice (in “{part}”)")
        named.update(days)
        opening = None if match["hours"] == "closed" else _opening(match["hours"], part)
        for day in days:
            hours[day] = opening
    return hours


def _days(text: str, part: str) -> list[str]:
    days: list[str] = []
    for item in text.split(","):
        first, _, last = item.partition("-")
        if first not in SHORT or (last and last not in SHORT):
            raise WeeklyHoursError(f"“{item}” in “{part}” is not a day like mon, tue, … sun, or a range like mon-fri")
        start, end = WEEKDAYS.index(SHORT[first]), WEEKDAYS.index(SHORT[last or first])
        if end < start:
            raise WeeklyHoursError(f"“{item}” in “{part}” runs backwards: write the earlier day first")
        days.extend(WEEKDAYS[start : end + 1])
    return days


def _opening(text: str, part: str) -> tuple[time, time]:
    opens, _, closes = (piece.strip() for piece in text.partition("-"))
    start, end = _clock(opens, part), _clock(closes, part)
    if start >= end:
        raise WeeklyHoursError(f"in “{part}” the opening time must come before the closing time")
    return start, end


def _clock(text: str, part: str) -> time:
    match = _CLOCK.match(text)
    if match is None:
        raise WeeklyHoursError(f"“{text}” in “{part}” is not a time like 09:00")
    return time(int(match[1]), int(match[2]))


def _listed(days: set[str]) -> str:
    return ", ".join(day.capitalize() for day in WEEKDAYS if day in days)
