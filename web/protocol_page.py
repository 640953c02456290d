"""What the protocol pages show besides the steps: each version's state in words, who approved it, the other versions
of the same protocol, and the booked appointments that still use a withdrawn one (read in a fixed number of
statements, however many there are)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.actor import Actor
from api.services import audit, clients, protocols, rooms, users
from api.services.protocols import future_booked
from db.models import Appointment, Protocol, ProtocolStatus


@dataclass(frozen=True)
class Badge:
    words: str
    symbol: str
    tone: str


STATUS = {
    ProtocolStatus.DRAFT: Badge("Draft", "✎", "muted"),
    ProtocolStatus.APPROVED: Badge("Approved", "✓", "ok"),
    ProtocolStatus.WITHDRAWN: Badge("Withdrawn", "⊘", "stop"),
}


@dataclass(frozen=True)
class Version:
    """One version as a row of the list or the head of its page."""

    protocol: Protocol
    badge: Badge
    approved_by: str | None
    approved_at: datetime | None  # in the clinic's time zone
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class ToMove:
    """A booked appointment that uses a withdrawn protocol."""

    id: uuid.UUID
    start: datetime  # in the clinic's time zone
    client: str
    room: str


def versions(session: Session, found: Sequence[Protocol], zone: ZoneInfo) -> list[Version]:
    staff = {u.id: u.full_name for u in users.list_all(session)}
    return [
        Version(
            protocol=p,
            badge=STATUS[p.status],
            approved_by=staff.get(p.approved_by_id) if p.approved_by_id else None,
            approved_at=p.approved_at.astimezone(zone) if p.approved_at else None,
            withdrawn_at=p.withdrawn_at.astimezone(zone) if p.withdrawn_at else None,
        )
        for p in found
    ]


@dataclass(frozen=True)
class Lineage:
    """One version among all the versions of its protocol."""

    version: Version
    versions: list[Version]  # every version, this one included, newest first
    open_draft: Protocol | None  # a draft newer than this version: to continue rather than start another
    also_approved: list[Protocol]  # other versions still approved, and so bookable, beside this approved one


def lineage(session: Session, protocol: Protocol, zone: ZoneInfo) -> Lineage:
    """This version and the others of its protocol, as its page shows them."""
    found = versions(session, protocols.versions_of(session, lineage_id=protocol.lineage_id), zone)
    [this] = [v for v in found if v.protocol.id == protocol.id]
    drafts = [v.protocol for v in found if v.protocol.status == ProtocolStatus.DRAFT]
    approved = [v.protocol for v in found if v.protocol.status == ProtocolStatus.APPROVED and v.protocol != protocol]
    return Lineage(
        version=this,
        versions=found,
        open_draft=next((d for d in drafts if d.version > protocol.version), None),
        also_approved=approved if protocol.status == ProtocolStatus.APPROVED else [],
    )


def appointments_to_move(session: Session, *, actor: Actor, protocol: Protocol, zone: ZoneInfo) -> list[ToMove]:
    """The booked appointments from now on that use this version, with client and room, by time."""
    booked = future_booked(session, Appointment.protocol_id == protocol.id)
    live = clients.live_by_id(session, client_ids={a.client_id for a in booked})
    audit.record_reads(session, actor=actor, action="client.list", record_type=clients.RECORD, record_ids=live)
    room_names = {r.id: r.name for r in rooms.list_rooms(session)}
    return [
        ToMove(
            id=a.id,
            start=a.start_at.astimezone(zone),
            client=f"{live[a.client_id].first_name} {live[a.client_id].last_name}"
            if a.client_id in live
            else "(client record deleted)",
            room=room_names.get(a.room_id, "?"),
        )
        for a in booked
    ]
