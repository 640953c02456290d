"""What the treatment room shows: the appointment and its protocol, what limits the client today, the session under
way (what the device was armed with, each step's cap) and, at the end, its record.

Everything is read through the API's services: the eligibility check the start uses, the session lifecycle, the
record of delivered current. This module only lays it out; the words for each state are said here once and given
to the page's script, which only picks among them."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.actor import Actor
from api.deps import sees_health_data
from api.permissions import Permission, allows
from api.routes.live import session_start_id
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening import DayOfAnswers
from api.schemas.series import Plan
from api.services import clients, protocols, resume, rooms, screenings, series, sessions, users
from api.services.delivery import appointment_parts, session_record
from api.services.scheduling import session_days
from api.services.sessions import MAY_GIVE_CURRENT
from db.lifecycle import ENDED, RUNNING, UNFINISHED, SessionStatus
from db.limits import with_tolerance
from db.models import Appointment, AppointmentStatus, Device, Screening, TreatmentSession
from web.templating import TEMPLATES
from web.today import Badge, screening_badge

Phase = Literal["before", "live", "ended"]
ROOM_PERMISSION = Permission.SESSIONS_RUN  # opens the room page; without it, no page links to it
# The device's state, as the esthetician at the device needs it; "contact_lost" is a pause the events explain.
DEVICE_STATES = {
    "idle": Badge("Idle: no output", "ok", "●"),
    "armed": Badge("Armed: press start on the device", "active", "▲"),
    "treating": Badge("Treating: current is flowing", "active", "▶"),
    "paused": Badge("Paused: no output", "caution", "Ⅱ"),
    "contact_lost": Badge("Contact lost: place the probes again", "alarm-medium", "!"),
    "fault": Badge("Fault: the device stopped its output", "alarm-high", "✕"),
    "offline": Badge("Device offline: its state is not known", "alarm-medium", "○"),
    "unknown": Badge("State not known", "muted", "?"),
}
SESSION_WORDS = {
    "pending": "Sending the protocol to the device…",
    "armed": "The device accepted the protocol. Place the probes, then press start on the device.",
    "treating": "Session under way.",
    "paused": "Session paused: the step's time waits until output resumes.",
    "completed": "Session completed: every step was given.",
    "stopped": "Session stopped.",
    "interrupted": "The device was lost during the session. It goes on if the device comes back: press Stop to end it.",
    "rejected": "The device refused the protocol: no current was given.",
}
CONFIRMED = {
    "stopped": "The device confirmed the stop at {time}: output is off.",
    "completed": "The device finished the last step at {time}: output is off.",
    "fault": "The device reported a fault at {time} and stopped its output.",
}


@dataclass(frozen=True)
class StepRow:
    number: int  # the protocol's, from 1
    zone: str
    mode: str
    current_ua: float
    duration_s: int
    cap_ua: float | None  # the step's cap in the session under way (its current plus the tolerance)
    excluded: bool  # the zone is excluded for this client today


@dataclass(frozen=True)
class Limits:
    """What limits this client today, from the eligibility check the start makes (before the day-of answers)."""

    badge: Badge
    reasons: list[str]  # plain words; only for the roles that may read why
    excluded_zones: list[str]
    screened_on: date | None
    valid_until: date | None


@dataclass(frozen=True)
class RoomView:
    appointment: Appointment
    client_name: str
    room_name: str
    esthetician: str
    timezone: str  # the clinic's
    start: datetime  # local
    end: datetime
    sessions_in_series: int
    protocol_name: str
    steps: list[StepRow]  # the protocol's
    total_s: int
    limits: Limits
    device: Device
    device_badge: Badge
    latest: TreatmentSession | None  # the appointment's newest session
    phase: Phase
    live_steps: list[StepRow]  # what the device was armed with (a resumed session: what was left)
    after: int | None  # the event id the live view starts after
    can_start: bool
    resumes: bool  # a start now gives what an earlier session left


def read_room(
    session: Session, *, actor: Actor, appointment_id: uuid.UUID, clinic: ClinicSettings, today: date
) -> RoomView:
    """The room for one appointment, as it is now."""
    appointment = series.get_appointment(session, appointment_id=appointment_id)
    client = clients.read(session, actor=actor, client_id=appointment.client_id)
    protocol = protocols.get(session, protocol_id=appointment.protocol_id)
    device = rooms.get_device(session, device_id=appointment.device_id)
    limits = _limits(session, actor=actor, client_id=client.id, today=today)
    latest = latest_session(session, appointment_id=appointment.id)
    phase = _phase(latest, device)
    live = latest if phase == "live" else None
    left = resume.remaining(session, appointment_id=appointment.id, protocol=protocol)
    zone = ZoneInfo(clinic.timezone)
    plan, _ = series.get(session, series_id=appointment.series_id)
    return RoomView(
        appointment=appointment,
        client_name=f"{client.first_name} {client.last_name}",
        room_name=rooms.get_room(session, room_id=appointment.room_id).name,
        esthetician=users.get(session, user_id=appointment.esthetician_id).full_name,
        timezone=clinic.timezone,
        start=appointment.start_at.astimezone(zone),
        end=appointment.end_at.astimezone(zone),
        sessions_in_series=len(session_days(Plan.model_validate(plan.plan))),
        protocol_name=f"{protocol.name} (version {protocol.version})",
        steps=_rows(protocol.steps, first=0, excluded=limits.excluded_zones),
        total_s=sum(step["duration_s"] for step in protocol.steps),
        limits=limits,
        device=device,
        device_badge=DEVICE_STATES.get(device.state, DEVICE_STATES["unknown"]),
        latest=latest,
        phase=phase,
        live_steps=_rows(live.steps, first=live.first_step, excluded=[], session=live) if live else [],
        after=session_start_id(session, device_id=device.id, session_id=live.id) if live else None,
        can_start=phase != "live" and appointment.status == AppointmentStatus.BOOKED and bool(left.steps),
        resumes=left.resumes_session_id is not None and bool(left.steps),
    )


def room_path(actor: Actor | None, appointment_id: uuid.UUID) -> str | None:
    """The appointment's treatment room for a role the room opens for, else None: pages link to it through this
    (the templates' `treatment_room`), so what hides the link is what refuses the page."""
    return f"/appointments/{appointment_id}/room" if actor and allows(actor.user.role, ROOM_PERMISSION) else None


TEMPLATES.env.globals["treatment_room"] = room_path


def latest_session(session: Session, *, appointment_id: uuid.UUID) -> TreatmentSession | None:
    """The appointment's newest session (a resumed treatment has several)."""
    parts = appointment_parts(session, appointment_id=appointment_id)
    return parts[-1] if parts else None


def record(session: Session, *, actor: Actor, appointment_id: uuid.UUID) -> dict[str, Any] | None:
    """The record of the appointment's treatment (every part of it summed) once its newest session has ended."""
    latest = latest_session(session, appointment_id=appointment_id)
    if latest is None or latest.status not in ENDED:
        return None
    return session_record(session, sessions.read(session, actor=actor, session_id=latest.id))


def words_for_the_page() -> dict[str, Any]:
    """Everything the page's script says, keyed as the stream names them, and which states still need Stop."""
    return {
        "device_states": DEVICE_STATES,
        "session_words": SESSION_WORDS,
        "confirmed": CONFIRMED,
        "may_give_current": " ".join(sorted(MAY_GIVE_CURRENT)),
        "unfinished": " ".join(sorted(status.value for status in UNFINISHED)),
    }


def _phase(latest: TreatmentSession | None, device: Device) -> Phase:
    """Live while the newest session runs, or was interrupted and its device may still be giving current."""
    if latest is None:
        return "before"
    if latest.status in RUNNING or (latest.status == SessionStatus.INTERRUPTED and device.state != "idle"):
        return "live"
    return "ended"


def _limits(session: Session, *, actor: Actor, client_id: uuid.UUID, today: date) -> Limits:
    eligibility = screenings.check_eligibility(
        session, actor=actor, client_id=client_id, on=today, day_of=DayOfAnswers(), today=today
    )
    screening = session.get(Screening, eligibility.screening_id) if eligibility.screening_id else None
    verdict = eligibility.verdict
    reasons = [r.message + (f" (approved by {r.approved_by})" if r.approved_by else "") for r in eligibility.reasons]
    return Limits(
        badge=screening_badge(eligibility),
        reasons=reasons if sees_health_data(actor) else [],
        excluded_zones=[z.value for z in verdict.excluded_zones] if verdict else [],
        screened_on=screening.screened_on if screening else None,
        valid_until=screening.valid_until if screening else None,
    )


def _rows(
    steps: list[dict[str, Any]], *, first: int, excluded: list[str], session: TreatmentSession | None = None
) -> list[StepRow]:
    # The cap is the gateway's interlock's: a sample above the step's current plus the tolerance stops the device,
    # as does one above the session's device limit.
    return [
        StepRow(
            number=first + index + 1,
            zone=step["zone"],
            mode=step["mode"],
            current_ua=step["current_ua"],
            duration_s=step["duration_s"],
            cap_ua=_cap(step["current_ua"], session),
            excluded=step["zone"] in excluded,
        )
        for index, step in enumerate(steps)
    ]


def _cap(current_ua: float, session: TreatmentSession | None) -> float | None:
    if session is None:
        return None
    return round(min(with_tolerance(current_ua, session.tolerance_percent), session.max_current_ua), 1)
