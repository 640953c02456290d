"""The clinic's settings."""

from fastapi import APIRouter

from api.deps import SessionDep, SettingsDep, SettingsReader, SettingsWriter
from api.schemas.clinic_settings import ClinicSettingsRead, ClinicSettingsUpdate
from api.services import clinic_settings
from api.services.clinic_settings import Stored

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("")
def read_settings(session: SessionDep, settings: SettingsDep, _actor: SettingsReader) -> ClinicSettingsRead:
    """Time zone and opening hours in force, and whether the clinic has confirmed them."""
    return _read(clinic_settings.stored(session, default_timezone=settings.clinic_timezone))


@router.put("")
def update_settings(
    data: ClinicSettingsUpdate, session: SessionDep, settings: SettingsDep, actor: SettingsWriter
) -> ClinicSettingsRead:
    """Replace the settings given; those left out keep their value (admin only). Giving both `timezone` and
    `opening_hours` confirms them."""
    saved = clinic_settings.change(
        session, actor=actor, changes=data.model_dump(exclude_unset=True), default_timezone=settings.clinic_timezone
    )
    return _read(saved)


def _read(found: Stored) -> ClinicSettingsRead:
    return ClinicSettingsRead(
        **found.settings.model_dump(),
        updated_at=found.updated_at,
        confirmed=found.confirmed,
        confirmed_at=found.confirmed_at,
    )
