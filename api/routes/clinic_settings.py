"""The clinic's settings."""

from fastapi import APIRouter

from api.deps import SessionDep, SettingsDep, SettingsReader, SettingsWriter
from api.schemas.clinic_settings import ClinicSettingsRead, ClinicSettingsUpdate
from api.services import clinic_settings

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("")
def read_settings(session: SessionDep, settings: SettingsDep, _actor: SettingsReader) -> ClinicSettingsRead:
    """Time zone and opening hours in force."""
    current, updated_at = clinic_settings.current(session, default_timezone=settings.clinic_timezone)
    return ClinicSettingsRead(**current.model_dump(), updated_at=updated_at)


@router.put("")
def update_settings(
    data: ClinicSettingsUpdate, session: SessionDep, settings: SettingsDep, actor: SettingsWriter
) -> ClinicSettingsRead:
    """Replace the settings given; those left out keep their value (admin only)."""
    saved, updated_at = clinic_settings.change(
        session, actor=actor, changes=data.model_dump(exclude_unset=True), default_timezone=settings.clinic_timezone
    )
    return ClinicSettingsRead(**saved.model_dump(), updated_at=updated_at)
