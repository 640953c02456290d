"""The adjustable screening parameters, bounded by the safety floors of shared/domain.md."""

from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import partial_of
from db.vocabulary import Zone


class ZoneCaps(BaseModel):
    """Highest current per zone, in percent of the clinic's maximum: may be lowered, never raised."""

    model_config = ConfigDict(extra="forbid")

    lips: int = Field(50, ge=5, le=50)
    eyes: int = Field(50, ge=5, le=50)
    forehead: int = Field(75, ge=5, le=75)
    brows: int = Field(100, ge=5, le=100)
    cheeks: int = Field(100, ge=5, le=100)
    jawline: int = Field(100, ge=5, le=100)
    neck: int = Field(100, ge=5, le=100)

    def percent_for(self, zone: Zone) -> int:
        return int(getattr(self, zone.value))


class RuleParameters(BaseModel):
    """Deferrals may be lengthened and validity shortened, never the other way round."""

    model_config = ConfigDict(extra="forbid")

    minimum_age_years: int = Field(18, ge=18, le=99)
    retinol_deferral_days: int = Field(2, ge=2, le=90)
    prescription_retinoid_deferral_days: int = Field(7, ge=7, le=180)
    chemical_peel_deferral_days: int = Field(14, ge=14, le=365)
    laser_deferral_days: int = Field(14, ge=14, le=365)
    isotretinoin_deferral_months: int = Field(6, ge=6, le=36)
    botox_exclusion_days: int = Field(14, ge=14, le=365)
    filler_exclusion_months: int = Field(3, ge=3, le=36)
    screening_validity_days: int = Field(30, ge=1, le=30)
    zone_caps_percent: ZoneCaps = Field(default_factory=ZoneCaps)


# A change names only the parameters it changes; the merged result is checked against RuleParameters' bounds.
if TYPE_CHECKING:  # made at run time; to the type checker, a model whose fields may be left out
    RuleParametersUpdate: TypeAlias = BaseModel
else:
    RuleParametersUpdate = partial_of(RuleParameters, "RuleParametersUpdate")


class RuleSetRead(BaseModel):
    version: int
    parameters: RuleParameters
    created_at: datetime
    created_by_id: str | None
