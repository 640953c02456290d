"""The clinic's settings document: defaults until an admin saves it, then the saved version."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.actor import Actor
from api.schemas.clinic_settings import ClinicSettings
from api.services import audit
from db.models import ClinicSettingsRecord
from db.models.clinic_settings import SETTINGS_ROW_ID


def current(session: Session, *, default_timezone: str) -> tuple[ClinicSettings, datetime | None]:
    """The settings in force and when they were last saved (None: never, defaults)."""
    record = session.get(ClinicSettingsRecord, SETTINGS_ROW_ID)
    return _as_settings(record, default_timezone=default_timezone), record.updated_at if record else None


def _as_settings(record: ClinicSettingsRecord | None, *, default_timezone: str) -> ClinicSettings:
    if record is None:
        return ClinicSettings(timezone=default_timezone)
    return ClinicSettings.model_validate(record.data)


def change(
    session: Session, *, actor: Actor, changes: dict[str, Any], default_timezone: str
) -> tuple[ClinicSettings, datetime | None]:
    """Replace the fields given; the others keep their current value."""
    record = session.get(ClinicSettingsRecord, SETTINGS_ROW_ID, with_for_update=True)
    merged = ClinicSettings.model_validate(
        _as_settings(record, default_timezone=default_timezone).model_dump() | changes
    )
    if record is None:
        record = ClinicSettingsRecord(id=SETTINGS_ROW_ID, data={})
        session.add(record)
    record.data = merged.model_dump(mode="json")
    record.updated_by_id = actor.user.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="settings.update",
        record_type="settings",
        record_id=str(SETTINGS_ROW_ID),
        detail={"fields": sorted(changes)},
    )
    return merged, record.updated_at


def clinic_today(session: Session, *, default_timezone: str) -> date:
    """Today's date where the clinic is."""
    settings, _ = current(session, default_timezone=default_timezone)
    return datetime.now(ZoneInfo(settings.timezone)).date()
