"""A medical director signs off a finished treatment's record; afterwards it can no longer change, and a correction
is an addendum beside it. Both are audited.

A record covers every session of its appointment (a treatment resumed after an interruption is given in parts), so
the appointment's record is signed once, and only when none of its sessions may still change: each has ended for
good (completed, stopped or rejected; an interrupted one may go on when its device comes back). The records as
signed and the chart are kept with the sign-off, so nothing a device sends later changes what was signed."""

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict
from api.schemas.sessions import SessionRecord
from api.services import audit
from api.services.delivery import appointment_parts
from api.services.records import get_or_404
from api.services.session_records import addendum, chart_of, live_record, shows_notes, signed, staff
from db.base import utcnow
from db.lifecycle import FINAL, SessionStatus
from db.models import Appointment, TreatmentSession, User
from db.models.treatment import SessionAddendum, SessionSignOff

RECORD = "session"


class RecordSigned(Conflict):
    """The record was signed off: it can no longer change."""


def sign_off(
    session: Session, *, actor: Actor, session_id: uuid.UUID, note: str | None, zone: ZoneInfo
) -> SessionSignOff:
    """Sign the treatment's record as it stands, or refuse in words: already signed, or a session not ended."""
    treatment = get_or_404(session, TreatmentSession, session_id, "session")
    refuse_if_signed(session, appointment_id=treatment.appointment_id, zone=zone, doing="signed off again")
    parts = appointment_parts(session, appointment_id=treatment.appointment_id)
    reason = unfinished(treatment.status, [part.status for part in parts])
    if reason is not None:
        raise Conflict(reason)
    records = {str(part.id): SessionRecord.model_validate(live_record(session, part)) for part in parts}
    kept: dict[str, Any] = {
        "records": {part_id: record.model_dump(mode="json") for part_id, record in records.items()},
        "chart": chart_of(session, parts, records[str(treatment.id)]),
    }
    row = SessionSignOff(
        appointment_id=treatment.appointment_id,
        session_id=treatment.id,
        signed_by_id=actor.user.id,
        note=note or None,
        signed_record=kept,
        sha256=hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # another sign-off of this treatment was written meanwhile
        raise RecordSigned("This record was signed off by someone else a moment ago: reload it.") from exc
    audit.record(
        session,
        actor=actor,
        action="session.sign_off",
        record_type=RECORD,
        record_id=treatment.id,
        detail={"sha256": row.sha256, "sessions": list(records)},
    )
    return row


def add_addendum(session: Session, *, actor: Actor, session_id: uuid.UUID, text: str) -> dict[str, Any]:
    """Add a correction or a late note to a record, signed or not; the record itself stays as it was. Returns the
    addendum as AddendumRead has it."""
    treatment = get_or_404(session, TreatmentSession, session_id, "session")
    row = SessionAddendum(session_id=treatment.id, written_by_id=actor.user.id, text=text, written_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="session.addendum",
        record_type=RECORD,
        record_id=treatment.id,
        detail={"addendum_id": str(row.id)},
    )
    found = signed(session, appointment_id=treatment.appointment_id)
    people = staff(session, [row.written_by_id])
    return addendum(row, people, signed_at=found.signed_at if found else None, notes=shows_notes(actor))


def refuse_if_signed(session: Session, *, appointment_id: uuid.UUID, zone: ZoneInfo | None, doing: str) -> None:
    """Raise RecordSigned, saying who signed and when, if the appointment's record is signed off. The appointment's
    row is locked first, so a sign-off and a change of its record (a resumed session) never pass each other."""
    session.execute(select(Appointment.id).where(Appointment.id == appointment_id).with_for_update())
    found = signed(session, appointment_id=appointment_id)
    if found is not None:
        raise RecordSigned(
            f"This treatment's record was signed off by {signer(session, found)}"
            f"{' on ' + said(found.signed_at, zone) if zone else ''}: a signed record can no longer change, so it "
            f"cannot be {doing}. Add an addendum to correct or complete it."
        )


def signer(session: Session, found: SessionSignOff) -> str:
    name = session.scalar(select(User.full_name).where(User.id == found.signed_by_id))
    return name or "a medical director"


def said(moment: datetime, zone: ZoneInfo) -> str:
    """3 Dec 2026 at 10:32, in the clinic's time."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y} at {local:%H:%M}"


def unfinished(status: SessionStatus, statuses: list[SessionStatus]) -> str | None:
    """Why a record cannot be signed off yet (the session's status, and those of every session of its treatment),
    or None when each has ended for good."""
    if status == SessionStatus.INTERRUPTED:
        return (
            "This session was interrupted: its device lost touch and may still go on when it comes back. "
            "Stop it, or resume the treatment, before signing off its record."
        )
    if status not in FINAL:
        return f"This session is still {status.value}: a record can be signed off once the session has ended."
    later = next((other for other in statuses if other not in FINAL), None)
    if later is not None:
        return (
            f"Another session of this treatment is still {later.value}: the record covers it too, so sign off "
            "once it has ended."
        )
    return None
