"""The clinic's settings page (admins): the time zone and opening hours, asked at first start and changed later,
saved through the service of PUT /api/v1/settings. The other settings stay with the API."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from api.actor import Actor
from api.deps import SessionDep, SettingsDep
from api.services import clinic_settings
from api.services.clinic_settings import Stored
from web import nav
from web.clinic_settings_form import SettingsForm, checked, from_post, from_settings, zone_choices
from web.deps import CheckedForm, page_for
from web.errors import PageRoute
from web.session import local_path
from web.templating import SECURITY_HEADERS, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SettingsEditor = Annotated[Actor, Depends(page_for(nav.SETTINGS))]


@router.get("/settings")
def settings_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: SettingsEditor,
    next: str | None = None,
    saved: str | None = None,
) -> Response:
    """The form, filled with the settings in force; a question while they are not confirmed."""
    found = clinic_settings.stored(session, default_timezone=settings.clinic_timezone)
    return _page(
        request, actor, found, from_settings(found.settings), next_path=local_path(next, ""), saved=bool(saved)
    )


@router.post("/settings")
def save_settings(
    request: Request, session: SessionDep, settings: SettingsDep, actor: SettingsEditor, form: CheckedForm
) -> Response:
    """Save the time zone and opening hours (which confirms them), or show what is wrong beside each field."""
    filled = from_post(form)
    next_path = local_path(str(form.get("next") or ""), "")
    changes = checked(filled)
    if changes is None:
        found = clinic_settings.stored(session, default_timezone=settings.clinic_timezone)
        return _page(request, actor, found, filled, next_path=next_path, status_code=422)
    clinic_settings.change(session, actor=actor, changes=changes, default_timezone=settings.clinic_timezone)
    return RedirectResponse(next_path or "/settings?saved=1", status_code=303, headers=SECURITY_HEADERS)


def _page(
    request: Request,
    actor: Actor,
    found: Stored,
    form: SettingsForm,
    *,
    next_path: str,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    if "timezone" in form.problems:  # a zone no one can choose from the list: show the one in force instead
        form.timezone = found.settings.timezone
    return render(
        request,
        "settings/page.html",
        actor=actor,
        title="Clinic settings",
        confirmed=found.confirmed,
        form=form,
        zones=zone_choices(form.timezone),
        next_path=next_path,
        saved=saved,
        status_code=status_code,
    )
