"""Asking a new clinic for its time zone and opening hours: an admin who signs in is taken to /settings until they
are confirmed, and Today shows admins a notice linking there. Other roles are never sent there (they cannot save)."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.permissions import Permission, allows
from api.services import clinic_settings
from db.models import Role, User
from web.deps import PageActor

SETTINGS_PATH = "/settings"


def asks(session: Session, role: Role) -> bool:
    """Whether this role is to be asked for the clinic's settings now: an admin, while they are not confirmed."""
    return allows(role, Permission.SETTINGS_WRITE) and not clinic_settings.is_confirmed(session)


def after_sign_in(session: Session, user: User, wanted: str) -> str:
    """Where a fresh sign-in goes: the settings page while an admin has them to confirm, then on to `wanted`."""
    if not asks(session, user.role):
        return wanted
    return SETTINGS_PATH if wanted.startswith(SETTINGS_PATH) else f"{SETTINGS_PATH}?{urlencode({'next': wanted})}"


def settings_notice(session: SessionDep, actor: PageActor) -> bool:
    """Whether a page shows this staff member the notice that the clinic's settings wait to be confirmed."""
    return asks(session, actor.user.role)


SettingsNotice = Annotated[bool, Depends(settings_notice)]
