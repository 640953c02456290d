"""A treatment session's lifecycle: its statuses, which are running and which final, the moves allowed between
them, and what a device's words mean for a session. The API and the device gateway both go through here.

    pending ──accepted──> armed ──started──> treating <──> paused ──> completed | stopped
       └──refused, or never answered──> rejected
    running ──fault, device lost──> interrupted ──device back──> armed | treating | paused | completed | ...
"""

from enum import StrEnum
from typing import TYPE_CHECKING

from db.base import utcnow
from db.errors import Conflict

if TYPE_CHECKING:
    from db.models.treatment import TreatmentSession


class SessionStatus(StrEnum):
    PENDING = "pending"  # load_protocol queued
    ARMED = "armed"
    TREATING = "treating"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    REJECTED = "rejected"


# Armed, treating, paused, or told to arm with no answer yet: an appointment has at most one such session, and a
# device that goes offline interrupts them.
RUNNING = frozenset({SessionStatus.PENDING, SessionStatus.ARMED, SessionStatus.TREATING, SessionStatus.PAUSED})
# Nothing the device says later changes them.
FINAL = frozenset({SessionStatus.COMPLETED, SessionStatus.STOPPED, SessionStatus.REJECTED})
# Interrupted is neither running nor final: it only lost touch with its device, which may well be treating still.
# A device that comes back and reports on (after a broker restart, say) moves it on; the incident stays on record.
UNFINISHED = frozenset(SessionStatus) - FINAL  # running or interrupted: its device may be giving current
ENDED = FINAL | {SessionStatus.INTERRUPTED}  # a session in these has ended_at

# What a device's session events (device-protocol.md) move its session to.
EVENT_STATUS = {
    "started": SessionStatus.TREATING,
    "resumed": SessionStatus.TREATING,
    "contact_restored": SessionStatus.TREATING,
    "paused": SessionStatus.PAUSED,
    "contact_lost": SessionStatus.PAUSED,
    "completed": SessionStatus.COMPLETED,
    "stopped": SessionStatus.STOPPED,
    "fault": SessionStatus.INTERRUPTED,
}
# What a device's status says of the session it names, when that session was interrupted by mistake.
DEVICE_STATUS = {"armed": SessionStatus.ARMED, "treating": SessionStatus.TREATING, "paused": SessionStatus.PAUSED}

_BY_EVENTS = frozenset(EVENT_STATUS.values())
# Every move allowed: from each status, the statuses it may go to.
TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    # the device accepts the arming, refuses it, or never answers; or its events come first
    SessionStatus.PENDING: _BY_EVENTS | {SessionStatus.ARMED, SessionStatus.REJECTED},
    SessionStatus.ARMED: _BY_EVENTS,
    SessionStatus.TREATING: _BY_EVENTS,
    SessionStatus.PAUSED: _BY_EVENTS,
    SessionStatus.INTERRUPTED: _BY_EVENTS | frozenset(DEVICE_STATUS.values()),
    SessionStatus.COMPLETED: frozenset(),
    SessionStatus.STOPPED: frozenset(),
    SessionStatus.REJECTED: frozenset(),
}


class TransitionRefused(Conflict):
    """A move the lifecycle does not allow."""


def allowed(current: SessionStatus, to: SessionStatus) -> bool:
    """Whether a session may move from `current` to `to`."""
    return to in TRANSITIONS[current]


def move(treatment: "TreatmentSession", to: SessionStatus) -> None:
    """Move a session on, or raise TransitionRefused; arming and ending are timed."""
    if not allowed(treatment.status, to):
        raise TransitionRefused(f"A session that is {treatment.status.value} cannot become {to.value}.")
    if treatment.status == SessionStatus.PENDING and to == SessionStatus.ARMED:
        treatment.armed_at = utcnow()
    if to in ENDED:
        treatment.ended_at = utcnow()
    elif treatment.status == SessionStatus.INTERRUPTED:
        treatment.ended_at = None  # interrupted by mistake: the device goes on, so the session has not ended
    treatment.status = to
