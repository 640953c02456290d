"""Starting a session: refuse anything unsafe, else write load_protocol to the outbox in the same transaction."""

import math
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening import DayOfAnswers
from api.schemas.sessions import DayOfConfirmation
from api.services import audit, resume, rooms, screenings
from api.services.booking import Slot, bookable_protocol, check_cadence, lock_client
from api.services.calendar import load_calendar
from api.services.current_density import fits, too_dense
from api.services.protocols import steps_sha256
from api.services.records import get_or_404
from api.services.session_records import signed
from api.services.sign_off import RecordSigned, refuse_if_signed, signer
from db.base import utcnow
from db.lifecycle import FINAL, RUNNING
from db.limits import with_tolerance
from db.models import (
    Appointment,
    AppointmentStatus,
    Client,
    Device,
    DeviceStatus,
    Protocol,
    SessionStatus,
    TreatmentSession,
)
from db.models.gateway import gateway_present
from db.outbox import queue_command
from db.vocabulary import Zone

EARLIEST_START = timedelta(minutes=30)  # before the appointment (DESIGN.md)
COMMAND_LIFETIME = timedelta(minutes=2)  # a device refuses an arming command older than this
MAY_GIVE_CURRENT = frozenset({"armed", "treating", "paused"})  # device states: output on, or one press away
DEVICE_STATE_WORDS = {"fault": "reporting a fault"}


class StartRefused(Conflict):
    """The session cannot start; carries every reason."""

    def __init__(self, reasons: list[tuple[str, str]]) -> None:
        super().__init__("The session cannot start: " + "; ".join(message for _, message in reasons))
        self.extra = {"reasons": [{"code": code, "message": message} for code, message in reasons]}


def start(
    session: Session,
    *,
    actor: Actor,
    appointment_id: uuid.UUID,
    day_of: DayOfConfirmation,
    clinic: ClinicSettings,
    today: date,
) -> TreatmentSession:
    """Check everything that decides whether current may flow; then queue the arming with what is left to give."""
    appointment = get_or_404(session, Appointment, appointment_id, "appointment")
    client = lock_client(session, client_id=appointment.client_id)
    _refuse_unless_startable(session, appointment, now=utcnow(), zone=ZoneInfo(clinic.timezone))
    # a session started now would resume the treatment, whose record covers it: a signed record stays as signed
    refuse_if_signed(
        session, appointment_id=appointment.id, zone=ZoneInfo(clinic.timezone), doing="resumed with another session"
    )
    protocol = bookable_protocol(session, protocol_id=appointment.protocol_id)
    left = resume.remaining(session, appointment_id=appointment.id, protocol=protocol)
    device = session.get_one(Device, appointment.device_id)
    reasons = [
        *_eligibility_reasons(session, actor, appointment, protocol, day_of, today),
        *_protocol_reasons(protocol),
        *_remaining_reasons(left),
        *_gateway_reasons(session),
        *_device_reasons(session, appointment, device, protocol),
        *_cadence_reasons(session, appointment, client, clinic),
    ]
    if reasons:
        raise StartRefused(reasons)
    treatment = TreatmentSession(
        appointment_id=appointment.id,
        device_id=device.id,
        protocol_id=protocol.id,
        status=SessionStatus.PENDING,
        steps=left.steps,
        first_step=left.first_step,
        resumes_session_id=left.resumes_session_id,
        tolerance_percent=clinic.current_limits.tolerance_percent,
        day_of=day_of.model_dump(mode="json"),
        created_by_id=actor.user.id,
        **device_limits(left.steps, clinic),
    )
    session.add(treatment)
    session.flush()
    # the steps' own hash: a device checks the steps it receives, and a resumed session sends only what is left
    queue_command(
        session,
        device_id=device.id,
        session_id=treatment.id,
        kind="load_protocol",
        body={
            "protocol": {
                "id": str(protocol.id),
                "version": protocol.version,
                "sha256": steps_sha256(left.steps),
                "steps": left.steps,
            },
            "limits": {"max_current_ua": treatment.max_current_ua, "max_output_s": treatment.max_output_s},
        },
        lifetime=COMMAND_LIFETIME,
    )
    audit.record(
        session,
        actor=actor,
        action="session.start",
        record_type="session",
        record_id=treatment.id,
        detail={"appointment_id": str(appointment.id)},
    )
    return treatment


def device_limits(steps: list[dict[str, Any]], clinic: ClinicSettings) -> dict[str, Any]:
    """The device's hard caps: highest step current and total output plus the tolerance, within the clinic's maximum."""
    tolerance = clinic.current_limits.tolerance_percent
    highest = max(step["current_ua"] for step in steps)
    return {
        "max_current_ua": min(round(with_tolerance(highest, tolerance), 1), clinic.current_limits.max_current_ua),
        "max_output_s": math.ceil(with_tolerance(sum(step["duration_s"] for step in steps), tolerance)),
    }


def read(session: Session, *, actor: Actor, session_id: uuid.UUID) -> TreatmentSession:
    """A session, for its record of delivered current; reads of a client's treatment are audited."""
    treatment = get_or_404(session, TreatmentSession, session_id, "session")
    audit.record(session, actor=actor, action="session.read", record_type="session", record_id=treatment.id)
    return treatment


def stop(session: Session, *, actor: Actor, session_id: uuid.UUID, reason: str = "operator") -> TreatmentSession:
    """Queue a stop whenever the session's device may be giving current (idempotent on the device)."""
    treatment = get_or_404(session, TreatmentSession, session_id, "session")
    state = session.scalar(select(Device.state).where(Device.id == treatment.device_id))
    # an interrupted session is not final: it only lost touch with its device, which may well be treating still
    if treatment.status in FINAL and state not in MAY_GIVE_CURRENT:
        found = signed(session, appointment_id=treatment.appointment_id)
        raise (RecordSigned if found else Conflict)(
            f"This session already ended ({treatment.status.value}) and its device is "
            f"{DEVICE_STATE_WORDS.get(str(state), state)}: there is nothing to stop."
            + (f" Its record was signed off by {signer(session, found)} and can no longer change." if found else "")
        )
    # A stop of an ended session whose device may still give current goes out all the same (a signed record is no
    # reason to leave output on); it changes no record, as an ended session takes no more changes.
    if treatment.status not in FINAL and treatment.stop_requested_by_id is None:
        treatment.stop_requested_by_id, treatment.stop_requested_at = actor.user.id, utcnow()
    queue_command(session, device_id=treatment.device_id, session_id=treatment.id, kind="stop", body={"reason": reason})
    audit.record(session, actor=actor, action="session.stop", record_type="session", record_id=treatment.id)
    return treatment


def _refuse_unless_startable(session: Session, appointment: Appointment, *, now: datetime, zone: ZoneInfo) -> None:
    if appointment.status != AppointmentStatus.BOOKED:
        raise Conflict(f"This appointment is {appointment.status.value}.")
    earliest, end = (appointment.start_at - EARLIEST_START).astimezone(zone), appointment.end_at.astimezone(zone)
    if not earliest <= now <= end:
        raise Conflict(f"This session can be started from {earliest:%H:%M} to {end:%H:%M} on {earliest:%Y-%m-%d}.")
    running = session.scalar(
        select(TreatmentSession.id).where(
            TreatmentSession.appointment_id == appointment.id, TreatmentSession.status.in_(RUNNING)
        )
    )
    if running is not None:
        raise Conflict("A session for this appointment is already under way.")


def _eligibility_reasons(
    session: Session, actor: Actor, appointment: Appointment, protocol: Protocol, day_of: DayOfConfirmation, today: date
) -> list[tuple[str, str]]:
    answers = DayOfAnswers.model_validate(day_of.model_dump(exclude_none=False))
    result = screenings.check_eligibility(
        session, actor=actor, client_id=appointment.client_id, on=today, day_of=answers, today=today
    )
    if not result.eligible:
        return [(r.code, r.message) for r in result.reasons if not r.approved_by and r.kind != "zone_exclusion"]
    zones = {Zone(step["zone"]) for step in protocol.steps}
    excluded = zones & set(result.verdict.excluded_zones) if result.verdict else set()
    return (
        [("excluded_zone", f"the protocol works on the {', '.join(sorted(excluded))}, excluded today")]
        if excluded
        else []
    )


def _protocol_reasons(protocol: Protocol) -> list[tuple[str, str]]:
    if protocol.sha256 != steps_sha256(protocol.steps):
        return [("protocol_changed", "the protocol's steps no longer match its approval")]
    return []


def _remaining_reasons(left: resume.Remaining) -> list[tuple[str, str]]:
    if left.steps:
        return []
    return [
        ("delivered_in_full", "the protocol was already delivered in full in an earlier session of this appointment")
    ]


def _gateway_reasons(session: Session) -> list[tuple[str, str]]:
    if gateway_present(session):
        return []
    return [
        (
            "gateway_offline",
            "the device gateway is not running or has lost the broker, so no device can be "
            "armed and the device's state is not known",
        )
    ]


def _device_reasons(
    session: Session, appointment: Appointment, device: Device, protocol: Protocol
) -> list[tuple[str, str]]:
    """Why the appointment's own device cannot be armed; naming, if there is one, a device of the room that could."""
    reasons = _device_problems(appointment, device, protocol)
    spare = _spare_device(session, appointment, protocol) if reasons else None
    if spare is not None:  # never switched silently: the esthetician decides, and the booking follows
        code, message = reasons[0]
        reasons[0] = (
            code,
            f"{message}; another device of this room, {spare.serial}, is idle, fits this protocol and is free then",
        )
    return reasons


def _device_problems(appointment: Appointment, device: Device, protocol: Protocol) -> list[tuple[str, str]]:
    name = f"the appointment's device {device.serial}"
    if device.status != DeviceStatus.IN_SERVICE:
        return [("device_out_of_service", f"{name} is {device.status.value.replace('_', ' ')}")]
    if device.room_id != appointment.room_id:
        return [("device_moved", f"{name} has been moved to another room")]
    reasons = []
    if device.state != "idle":
        reasons.append(
            ("device_not_ready", f"{name} is {DEVICE_STATE_WORDS.get(device.state, device.state)}, not idle")
        )
    if not fits(protocol, device):
        reasons.append(("current_density", too_dense(protocol, device, of=name)))
    return reasons


def _spare_device(session: Session, appointment: Appointment, protocol: Protocol) -> Device | None:
    """Another device of the appointment's room that could be armed instead: in service, idle, fitting, free then."""
    ready = [
        d
        for d in rooms.devices_in_service(session, room_ids=[appointment.room_id])
        if d.id != appointment.device_id and d.state == "idle" and fits(protocol, d)
    ]
    start, until = appointment.start_at, appointment.occupied_until
    calendar = load_calendar(
        session, wanted={"device": [d.id for d in ready]}, windows=[(start, until)], ignore=appointment.id
    )
    return next((d for d in ready if not calendar.taken("device", d.id, start, until)), None)


def _cadence_reasons(
    session: Session, appointment: Appointment, client: Client, clinic: ClinicSettings
) -> list[tuple[str, str]]:
    slot = Slot(
        sequence=appointment.sequence,
        start_at=appointment.start_at,
        end_at=appointment.end_at,
        occupied_until=appointment.occupied_until,
    )
    check_cadence(session, [slot], client=client, clinic=clinic, ignore=appointment.id)
    return [(p.code, p.message) for p in slot.problems]
