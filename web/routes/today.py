"""Today: the clinic's day by room and time, with each room's device state kept live."""

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.actor import Actor
from api.deps import ClinicDep, ClinicToday, SessionDep
from web import nav
from web.deps import page_for
from web.errors import PageRoute
from web.first_start import SettingsNotice
from web.templating import render
from web.today import read_day, room_columns

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TodayReader = Annotated[Actor, Depends(page_for(nav.TODAY))]
REFRESH_S = 3  # how often the rooms' device states are asked again


@router.get("/today")
def today_page(
    request: Request,
    session: SessionDep,
    actor: TodayReader,
    clinic: ClinicDep,
    today: ClinicToday,
    settings_notice: SettingsNotice,
    day: str | None = None,
) -> Response:
    """One day (today unless `day=YYYY-MM-DD`), a column per room, a row per quarter hour."""
    shown, problem = _day(day, today)
    grid = read_day(session, actor=actor, day=shown, clinic=clinic, today=today)
    return render(
        request,
        "today/page.html",
        actor=actor,
        title=_title(shown, today),
        grid=grid,
        problem=problem,
        previous_day=shown - timedelta(days=1),
        next_day=shown + timedelta(days=1),
        refresh_s=REFRESH_S,
        settings_notice=settings_notice,
    )


@router.get("/today/rooms")
def rooms_fragment(
    request: Request, session: SessionDep, actor: TodayReader, today: ClinicToday, day: str | None = None
) -> Response:
    """The grid's header row: each room and its devices' state, asked for again every few seconds."""
    return render(
        request,
        "today/_rooms.html",
        actor=actor,
        rooms=room_columns(session),
        day=_day(day, today)[0].isoformat(),
        refresh_s=REFRESH_S,
    )


def _day(given: str | None, today: date) -> tuple[date, str | None]:
    if not given:
        return today, None
    try:
        return date.fromisoformat(given), None
    except ValueError:
        return today, f"“{given}” is not a date like {today.isoformat()}; here is today instead."


def _title(day: date, today: date) -> str:
    near = {0: "Today", 1: "Tomorrow", -1: "Yesterday"}.get((day - today).days)
    return near or f"{day:%A} {day.day} {day:%B %Y}"
