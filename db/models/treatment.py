"""Treatment sessions on devices: the command outbox, what devices report, and incidents."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, utcnow
from db.lifecycle import SessionStatus  # its lifecycle is there
from db.models.booking import string_enum


class TreatmentSession(IdMixin, Base):
    """One session of current; its id is the session_id the device reports under."""

    __tablename__ = "treatment_sessions"
    __table_args__ = (
        Index("ix_treatment_sessions_device_status", "device_id", "status"),
        # what a session's messages refer to: the session and the device it was armed on, together
        Index("ix_treatment_sessions_id_device", "id", "device_id", unique=True),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    protocol_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protocols.id"))
    status: Mapped[SessionStatus] = mapped_column(string_enum(SessionStatus, "session_status"))
    max_current_ua: Mapped[float]  # the device's hard cap for this session
    max_output_s: Mapped[int]
    tolerance_percent: Mapped[int]
    day_of: Mapped[dict[str, Any]] = mapped_column(JSON)  # the answers re-confirmed at the start: health data
    # the steps this session armed the device with: the protocol's, or what was left of them when it resumes
    # an interrupted session (first_step is the protocol's index of steps[0]; the device counts from 0)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    first_step: Mapped[int] = mapped_column(default=0, server_default="0")
    resumes_session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("treatment_sessions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # lists of sessions go newest first
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    armed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # who asked for output to end, from a page or the API, while the session was unfinished (the first to ask)
    stop_requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    stop_requested_at: Mapped[datetime | None]


class CommandStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXECUTED = "executed"
    EXPIRED = "expired"
    FAILED = "failed"


UNANSWERED = frozenset({CommandStatus.QUEUED, CommandStatus.SENT})


class DeviceCommand(IdMixin, Base):
    """The outbox: written with the decision that causes it; the gateway sends it. Its id is the command_id."""

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_status_created", "status", "created_at"),)

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("treatment_sessions.id"))
    kind: Mapped[str] = mapped_column(String(32))  # load_protocol | stop
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[CommandStatus] = mapped_column(string_enum(CommandStatus, "command_status"))
    reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]


class SessionMessage(Base):
    """An event or a telemetry block, stored once per (device, session, seq) however often it arrives."""

    __tablename__ = "session_messages"
    __table_args__ = (
        # the key is (device, session, seq); session first, so a session's messages are read by this index
        UniqueConstraint("session_id", "seq", "device_id", name="uq_session_messages_session_seq_device"),
        # a message is about a session of the device that sent it: one check per row (two keys made two)
        ForeignKeyConstraint(
            ["session_id", "device_id"],
            ["treatment_sessions.id", "treatment_sessions.device_id"],
            name="fk_session_messages_session_device",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[uuid.UUID]
    session_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # event | telemetry
    event_type: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[int | None]
    t_ms: Mapped[int] = mapped_column(BigInteger)
    interval_ms: Mapped[int | None]
    samples: Mapped[list[float] | None] = mapped_column(JSON)
    contact: Mapped[bool | None]
    detail: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# The incidents the device gateway's interlock records when it stops a session.
INTERLOCK_STOPS = ("over_current", "over_time")


class SessionIncident(IdMixin, Base):
    """Something a medical director must see: an over-current stop, a device lost mid-session, a fault."""

    __tablename__ = "session_incidents"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[str] = mapped_column(String(500))


class SessionSignOff(IdMixin, Base):
    """A medical director's sign-off of a finished treatment's record, with the record as it was signed.

    A record covers every session of its appointment (a treatment resumed after an interruption is given in
    parts), so an appointment's record is signed once. What was signed is kept here and is what the record shows
    from then on: a device may still deliver a late message, which is stored but changes no signed record."""

    __tablename__ = "session_sign_offs"

    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id"), unique=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)  # signed on
    signed_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(String(2000))
    # each session's record and the treatment's chart as signed; sha256 of their compact JSON with sorted keys
    signed_record: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))


class SessionAddendum(IdMixin, Base):
    """A later correction or completion of a record: kept beside the original, never changed or removed."""

    __tablename__ = "session_addenda"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    written_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    written_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(String(4000))
