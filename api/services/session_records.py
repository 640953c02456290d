"""A session's record as staff read it: what it delivered (as signed, once signed off), who started and stopped
it, the sign-off and the addenda; and lists of sessions. The sign-off's note and the addenda's texts are health
data, like the day-of answers: only roles that may read screening answers see them."""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.permissions import Permission, allows
from api.schemas.sessions import SessionRecord
from api.services import audit
from api.services.delivery import appointment_parts, session_record
from api.services.scheduling import local_to_utc
from api.services.session_timeline import chart, contact_losses
from db.models import Appointment, Client, Device, Protocol, Room, SessionMessage, TreatmentSession, User
from db.models.treatment import SessionAddendum, SessionSignOff

RECORD = "session"


def signed(session: Session, *, appointment_id: uuid.UUID) -> SessionSignOff | None:
    """The sign-off of an appointment's treatment record, if it has one."""
    return session.scalar(select(SessionSignOff).where(SessionSignOff.appointment_id == appointment_id))


@dataclass(frozen=True)
class About:
    """What a record is about: whose treatment, where, with what protocol and esthetician."""

    client: Client
    appointment: Appointment
    protocol: Protocol
    device: Device
    room: Room
    esthetician: str


def about(session: Session, *, treatment: TreatmentSession) -> About:
    """The session's client, appointment, protocol, device and room, for its record's heading."""
    appointment = session.get_one(Appointment, treatment.appointment_id)
    device = session.get_one(Device, treatment.device_id)
    return About(
        client=session.get_one(Client, appointment.client_id),
        appointment=appointment,
        protocol=session.get_one(Protocol, treatment.protocol_id),
        device=device,
        room=session.get_one(Room, appointment.room_id),
        esthetician=staff(session, [appointment.esthetician_id])[appointment.esthetician_id]["full_name"],
    )


def shows_notes(actor: Actor) -> bool:
    """Whether this role sees health data: the day-of answers, the sign-off's note, the addenda's texts."""
    return allows(actor.user.role, Permission.SCREENING_ANSWERS_READ)


def live_record(session: Session, treatment: TreatmentSession) -> dict[str, Any]:
    """What the session's record says now, from the stored messages, with who started and stopped each part."""
    record = session_record(session, treatment)
    parts = appointment_parts(session, appointment_id=treatment.appointment_id)
    people = staff(session, [p.created_by_id for p in parts] + [p.stop_requested_by_id for p in parts])
    by_id = {part.id: part for part in parts}
    for part in record["parts"]:
        row = by_id[part["session_id"]]
        part |= {
            "started_by": people.get(row.created_by_id),
            "stop_requested_by": people.get(row.stop_requested_by_id),
            "stop_requested_at": row.stop_requested_at,
        }
    return record | {"contact_losses": contact_losses(session, parts)}


def chart_of(session: Session, parts: Sequence[TreatmentSession], record: SessionRecord) -> dict[str, Any]:
    """The chart of a treatment whose record is `record` (any of its sessions': they share steps and losses)."""
    losses = [loss.model_dump() for loss in record.contact_losses]
    return chart(session, parts, losses, [step.model_dump() for step in record.steps])


def full(session: Session, *, actor: Actor, treatment: TreatmentSession) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record as SessionRead has it, and the chart: as signed once signed off, else as stored now."""
    sign_off = signed(session, appointment_id=treatment.appointment_id)
    kept = sign_off.signed_record["records"].get(str(treatment.id)) if sign_off else None
    if sign_off is not None and kept is not None:
        record, drawn = kept, sign_off.signed_record["chart"]
    else:
        record = live_record(session, treatment)
        parts = appointment_parts(session, appointment_id=treatment.appointment_id)
        drawn = chart_of(session, parts, SessionRecord.model_validate(record))
    part_ids = [uuid.UUID(str(part["session_id"])) for part in record["parts"]]
    notes = shows_notes(actor)
    addenda = session.scalars(
        select(SessionAddendum)
        .where(SessionAddendum.session_id.in_(part_ids))
        .order_by(SessionAddendum.written_at, SessionAddendum.id)
    ).all()
    people = staff(session, [a.written_by_id for a in addenda] + ([sign_off.signed_by_id] if sign_off else []))
    signed_at = sign_off.signed_at if sign_off else None
    return record | {
        "day_of": treatment.day_of if notes else None,
        "sign_off": _sign_off(session, sign_off, part_ids, people, notes) if sign_off else None,
        "addenda": [addendum(a, people, signed_at=signed_at, notes=notes) for a in addenda],
        "notes_withheld": not notes,
    }, drawn


def addendum(
    row: SessionAddendum, people: dict[Any, Any], *, signed_at: datetime | None, notes: bool
) -> dict[str, Any]:
    """An addendum as AddendumRead has it: its text only for roles that see health data."""
    return {
        "id": row.id,
        "session_id": row.session_id,
        "written_by": people[row.written_by_id],
        "written_at": row.written_at,
        "text": row.text if notes else None,
        "after_sign_off": signed_at is not None and row.written_at > signed_at,
    }


def _sign_off(
    session: Session, found: SessionSignOff, part_ids: list[uuid.UUID], people: dict[Any, Any], notes: bool
) -> dict[str, Any]:
    late = session.scalar(
        select(func.count()).where(
            SessionMessage.session_id.in_(part_ids), SessionMessage.received_at > found.signed_at
        )
    )
    return {
        "session_id": found.session_id,
        "signed_by": people[found.signed_by_id],
        "signed_at": found.signed_at,
        "note": found.note if notes else None,
        "sha256": found.sha256,
        "late_messages": late or 0,
    }


def staff(session: Session, ids: Collection[uuid.UUID | None]) -> dict[uuid.UUID | None, dict[str, Any]]:
    """Each staff member's id and full name, by id, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = session.execute(select(User.id, User.full_name).where(User.id.in_(wanted)))
    return {row.id: {"id": row.id, "full_name": row.full_name} for row in found}


def list_sessions(
    session: Session,
    *,
    actor: Actor,
    client_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
    day: date | None,
    zone: ZoneInfo,
    signed_off: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Sessions newest first, with whether their record is signed off, in one query; each listed one audited."""
    query = (
        select(
            TreatmentSession.id,
            TreatmentSession.appointment_id,
            Appointment.client_id,
            TreatmentSession.device_id,
            TreatmentSession.protocol_id,
            TreatmentSession.status,
            TreatmentSession.created_at,
            TreatmentSession.started_at,
            TreatmentSession.ended_at,
            TreatmentSession.created_by_id.label("started_by_id"),
            (SessionSignOff.id.is_not(None)).label("signed_off"),
            SessionSignOff.signed_at.label("signed_off_at"),
            SessionSignOff.signed_by_id.label("signed_off_by_id"),
        )
        .join(Appointment, Appointment.id == TreatmentSession.appointment_id)
        .outerjoin(SessionSignOff, SessionSignOff.appointment_id == TreatmentSession.appointment_id)
    )
    if client_id is not None:
        query = query.where(Appointment.client_id == client_id)
    if device_id is not None:
        query = query.where(TreatmentSession.device_id == device_id)
    if day is not None:
        start: datetime = local_to_utc(day, time(), zone)
        query = query.where(
            TreatmentSession.created_at >= start,
            TreatmentSession.created_at < local_to_utc(day + timedelta(days=1), time(), zone),
        )
    if signed_off is not None:
        query = query.where(SessionSignOff.id.is_not(None) if signed_off else SessionSignOff.id.is_(None))
    rows = list(
        session.execute(
            query.order_by(TreatmentSession.created_at.desc(), TreatmentSession.id).limit(limit + 1).offset(offset)
        )
    )
    page = rows[:limit]
    audit.record_reads(session, actor=actor, action="session.list", record_type=RECORD, record_ids=(r.id for r in page))
    return [row._asdict() for row in page], len(rows) > limit
