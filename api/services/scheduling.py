"""Time rules of booking, as pure functions: plans, local wall-clock time, opening hours, cadence."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.schemas.clinic_settings import Cadence, OpeningHours
from api.schemas.series import Plan

# Day offsets within a week for 1, 2 or 3 sessions a week: Mon; Mon+Thu; Mon+Wed+Fri (counted from the first).
WEEK_PATTERNS = {1: (0,), 2: (0, 3), 3: (0, 2, 4)}
WEEK = timedelta(days=7)


def session_days(plan: Plan) -> list[int]:
    """Day offsets of every session from the first: the intensive phase, then maintenance."""
    pattern = WEEK_PATTERNS[plan.intensive.per_week]
    per_week = plan.intensive.per_week
    days = [(i // per_week) * 7 + pattern[i % per_week] for i in range(plan.intensive.sessions)]
    if plan.maintenance:
        step = plan.maintenance.interval_weeks * 7
        days += [days[-1] + step * n for n in range(1, plan.maintenance.sessions + 1)]
    return days


def session_starts(first: datetime, plan: Plan, zone: ZoneInfo) -> list[datetime]:
    """Every session's start in UTC, each at the first session's local time of day, across clock changes."""
    local = first.astimezone(zone)
    return [
        local_to_utc(local.date() + timedelta(days=d), local.time().replace(tzinfo=None), zone)
        for d in session_days(plan)
    ]


def local_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A local time as UTC. One skipped by the clocks going forward moves on by the gap (01:30 becomes
    02:30); one that happens twice when they go back is taken the first time."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def outside_opening_hours(start: datetime, end: datetime, zone: ZoneInfo, hours: OpeningHours) -> str | None:
    """Why [start, end) does not fit the clinic's hours that local day, or None when it does."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    weekday = local_start.strftime("%A").lower()
    day = getattr(hours, weekday)
    if day is None:
        return f"the clinic is closed on {weekday.capitalize()}s"
    if local_end.date() != local_start.date() or local_start.time() < day.open or local_end.time() > day.close:
        return (
            f"{local_start:%H:%M}–{local_end:%H:%M} is outside the opening hours "
            f"{day.open:%H:%M}–{day.close:%H:%M} on {weekday.capitalize()}s"
        )
    return None


def cadence_problem(start: datetime, others: Sequence[datetime], cadence: Cadence) -> str | None:
    """Why a session at `start` breaks the client's cadence, given the client's other sessions."""
    gap = timedelta(hours=cadence.min_hours_between_sessions)
    for other in others:
        if abs(other - start) < gap:
            hours = abs(other - start) / timedelta(hours=1)
            return (
                f"only {hours:.0f} h from another session of the client at {other:%Y-%m-%d %H:%M} UTC "
                f"(at least {cadence.min_hours_between_sessions} h)"
            )
    everyone = sorted([*others, start])
    for window_start in everyone:
        if window_start <= start < window_start + WEEK:
            count = sum(window_start <= t < window_start + WEEK for t in everyone)
            if count > cadence.max_sessions_per_7_days:
                return (
                    f"{count} sessions in the 7 days from {window_start:%Y-%m-%d} "
                    f"(at most {cadence.max_sessions_per_7_days})"
                )
    return None
