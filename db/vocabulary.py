"""The fixed vocabulary of DESIGN.md, shared by the API and the gateway."""

from enum import StrEnum


class Zone(StrEnum):
    FOREHEAD = "forehead"
    BROWS = "brows"
    EYES = "eyes"
    CHEEKS = "cheeks"
    JAWLINE = "jawline"
    LIPS = "lips"
    NECK = "neck"


class ApprovalScope(StrEnum):
    """What a physician's written approval can cover."""

    PREGNANCY = "pregnancy"
    BODY_WORN_ELECTRONICS = "body_worn_electronics"
    RECENT_FACIAL_SURGERY = "recent_facial_surgery"


class Outcome(StrEnum):
    """Screening outcomes, from most to least restrictive."""

    CONTRAINDICATED = "contraindicated"
    PHYSICIAN_APPROVAL_REQUIRED = "physician_approval_required"
    DEFERRED = "deferred"
    CLEARED_WITH_EXCLUSIONS = "cleared_with_exclusions"
    CLEARED = "cleared"


TREATABLE = frozenset({Outcome.CLEARED, Outcome.CLEARED_WITH_EXCLUSIONS})
