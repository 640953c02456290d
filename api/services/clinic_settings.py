"""The clinic's settings document: defaults until it is first saved (by an admin, or from the environment at first
start), then the saved version; and whether the clinic's time zone and opening hours were confirmed."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from api.schemas.clinic_settings import ClinicSettings
from api.services import audit
from db.base import utcnow
from db.models import ClinicSettingsRecord
from db.models.clinic_settings import SETTINGS_ROW_ID

# What a clinic must say itself: the defaults (UTC, 08:00-20:00 every day) are guesses, not its own.
CONFIRMING_FIELDS = frozenset({"timezone", "opening_hours"})
FIRST_START = Origin(ip_address=None, user_agent="galvani first start")


@dataclass(frozen=True)
class Stored:
    """The settings in force, when they were last saved and when they were confirmed (None: never)."""

    settings: ClinicSettings
    updated_at: datetime | None
    confirmed_at: datetime | None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


def stored(session: Session, *, default_timezone: str) -> Stored:
    """The settings in force, with when they were saved and confirmed."""
    record = session.get(ClinicSettingsRecord, SETTINGS_ROW_ID)
    if record is None:
        return Stored(ClinicSettings(timezone=default_timezone), updated_at=None, confirmed_at=None)
    return Stored(_as_settings(record), updated_at=record.updated_at, confirmed_at=record.confirmed_at)


def is_confirmed(session: Session) -> bool:
    """Whether the clinic's time zone and opening hours were confirmed (one small read, for every page)."""
    return (
        session.scalar(select(ClinicSettingsRecord.confirmed_at).where(ClinicSettingsRecord.id == SETTINGS_ROW_ID))
        is not None
    )


def _as_settings(record: ClinicSettingsRecord) -> ClinicSettings:
    return ClinicSettings.model_validate(record.data)


def change(session: Session, *, actor: Actor, changes: dict[str, Any], default_timezone: str) -> Stored:
    """Replace the fields given; the others keep their current value. Saving both the time zone and the opening
    hours confirms them."""
    record = session.get(ClinicSettingsRecord, SETTINGS_ROW_ID, with_for_update=True)
    before = _as_settings(record) if record else ClinicSettings(timezone=default_timezone)
    merged = ClinicSettings.model_validate(before.model_dump() | changes)
    if record is None:
        record = ClinicSettingsRecord(id=SETTINGS_ROW_ID, data={})
        session.add(record)
    record.data = merged.model_dump(mode="json")
    record.updated_by_id = actor.user.id
    if changes.keys() >= CONFIRMING_FIELDS:
        record.confirmed_at, record.confirmed_by_id = utcnow(), actor.user.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="settings.update",
        record_type="settings",
        record_id=str(SETTINGS_ROW_ID),
        detail={"fields": sorted(changes)},
    )
    return Stored(merged, updated_at=record.updated_at, confirmed_at=record.confirmed_at)


def set_at_first_start(session: Session, *, changes: dict[str, Any], confirmed: bool, source: str) -> Stored | None:
    """Store the settings given to a new clinic (from the environment, or the demo's), once: None, and nothing
    written, when the clinic has settings already, since those were saved by an admin or an earlier start."""
    if session.get(ClinicSettingsRecord, SETTINGS_ROW_ID) is not None:
        return None
    settings = ClinicSettings.model_validate(changes)
    now = utcnow()
    record = ClinicSettingsRecord(
        id=SETTINGS_ROW_ID,
        data=settings.model_dump(mode="json"),
        updated_at=now,
        confirmed_at=now if confirmed else None,
    )
    session.add(record)
    session.flush()
    audit.record_anonymous(
        session,
        user_id=None,
        origin=FIRST_START,
        action="settings.first_start",
        record_type="settings",
        record_id=str(SETTINGS_ROW_ID),
        detail={"fields": sorted(changes), "from": source, "confirmed": confirmed},
    )
    return Stored(settings, updated_at=record.updated_at, confirmed_at=record.confirmed_at)


def clinic_today(session: Session, *, default_timezone: str) -> date:
    """Today's date where the clinic is."""
    settings = stored(session, default_timezone=default_timezone).settings
    return datetime.now(ZoneInfo(settings.timezone)).date()
