"""The clinic's settings: time zone and opening hours; later capabilities add theirs here."""

import re
from datetime import datetime, time
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from api.schemas.common import partial_of

LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


def _local_time(value: Any) -> Any:
    """A wall-clock time as text, like 08:30 or 08:30:00: no offset (the clinic's time zone applies), no number."""
    if isinstance(value, time) or (isinstance(value, str) and re.fullmatch(LOCAL_TIME, value)):
        return value
    raise ValueError("must be a time like 08:30")


# JSON Schema's `format: time` means a time with an offset (RFC 3339), which these are not: say what they are.
LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(time.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME, "examples": ["08:30"]}),
]


class DayHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: LocalTime = Field(description="Opening time, local, like 08:00")
    close: LocalTime = Field(description="Closing time, local, like 20:00")

    @model_validator(mode="after")
    def _opens_before_closing(self) -> Self:
        if self.open >= self.close:
            raise ValueError("the opening time must come before the closing time")
        return self


def _default_day() -> DayHours | None:
    return DayHours(open=time(8), close=time(20))


class OpeningHours(BaseModel):
    """Each weekday's hours, or null when the clinic is closed that day."""

    model_config = ConfigDict(extra="forbid")

    monday: DayHours | None = Field(default_factory=_default_day)
    tuesday: DayHours | None = Field(default_factory=_default_day)
    wednesday: DayHours | None = Field(default_factory=_default_day)
    thursday: DayHours | None = Field(default_factory=_default_day)
    friday: DayHours | None = Field(default_factory=_default_day)
    saturday: DayHours | None = Field(default_factory=_default_day)
    sunday: DayHours | None = Field(default_factory=_default_day)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be a time zone name like Europe/London or America/New_York") from exc
    return value


TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_timezone)]


class CurrentLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_current_ua: int = Field(600, ge=10, le=600, description="The clinic's highest step current, µA")
    tolerance_percent: int = Field(10, ge=0, le=20, description="Device hard cap above the step's current")


class Cadence(BaseModel):
    """How often one client may be treated (shared/domain.md: overuse harms results)."""

    model_config = ConfigDict(extra="forbid")

    min_hours_between_sessions: int = Field(48, ge=0, le=336)
    max_sessions_per_7_days: int = Field(3, ge=1, le=7)


class ClinicSettings(BaseModel):
    """The whole settings document as stored."""

    model_config = ConfigDict(extra="forbid")

    timezone: TimeZoneName = "UTC"
    opening_hours: OpeningHours = Field(default_factory=OpeningHours)
    preparation_minutes: int = Field(30, ge=0, le=180, description="Cleansing, gel, aftercare around the output")
    buffer_minutes: int = Field(0, ge=0, le=60, description="Room turnover after each appointment")
    current_limits: CurrentLimits = Field(default_factory=CurrentLimits)
    cadence: Cadence = Field(default_factory=Cadence)
    modes: list[Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z_]{1,19}$")]] = Field(
        default_factory=lambda: ["LIFT", "TIGHTEN", "INFUSE"], min_length=1, max_length=20
    )


# A change: the fields given replace the current ones, the others stay as they are.
if TYPE_CHECKING:  # made at run time; to the type checker, a model whose fields may be left out
    ClinicSettingsUpdate: TypeAlias = BaseModel
else:
    ClinicSettingsUpdate = partial_of(ClinicSettings, "ClinicSettingsUpdate")


class ClinicSettingsRead(ClinicSettings):
    updated_at: datetime | None = None
    confirmed: bool = Field(
        False,
        description="Whether the clinic's time zone and opening hours were confirmed: by an admin saving both, or "
        "from GALVANI_CLINIC_TIMEZONE and GALVANI_OPENING_HOURS at first start. Until then they are defaults.",
    )
    confirmed_at: datetime | None = None
