"""Treatment protocols, rooms and their devices, and the series and appointments booked with them."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, utcnow


def string_enum(kind: type[StrEnum], name: str) -> Enum:
    """An enum stored as a string with a CHECK constraint: new values need no type migration."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class ProtocolStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"


class Protocol(IdMixin, Base):
    """One version of a protocol. Approved versions never change; an edit makes the next draft version."""

    __tablename__ = "protocols"
    __table_args__ = (UniqueConstraint("lineage_id", "version", name="uq_protocols_lineage_version"),)

    lineage_id: Mapped[uuid.UUID]  # the same for every version of one protocol
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total_output_s: Mapped[int]
    max_current_ua: Mapped[float]
    status: Mapped[ProtocolStatus] = mapped_column(string_enum(ProtocolStatus, "protocol_status"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))


class Room(IdMixin, Base):
    __tablename__ = "rooms"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceStatus(StrEnum):
    IN_SERVICE = "in_service"
    OUT_OF_SERVICE = "out_of_service"
    REVOKED = "revoked"


class Device(IdMixin, Base):
    """A two-probe device in a room. `device_id` is its MQTT identity (client id and username)."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    serial: Mapped[str] = mapped_column(String(100), unique=True)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id"))
    probe_area_cm2: Mapped[float]
    mqtt_password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[DeviceStatus] = mapped_column(string_enum(DeviceStatus, "device_status"))
    # Written by the gateway from the device's retained status and Last Will.
    state: Mapped[str] = mapped_column(String(16), default="offline")
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Series(IdMixin, Base):
    """A client's course of treatments with one protocol, booked at once."""

    __tablename__ = "series"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    protocol_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protocols.id"))
    esthetician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id"))  # None: any room with a free device
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Appointment(IdMixin, Base):
    """One session of a series: a client, an esthetician, a room and its device, for a time."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_room_start", "room_id", "start_at"),
        Index("ix_appointments_esthetician_start", "esthetician_id", "start_at"),
        Index("ix_appointments_device_start", "device_id", "start_at"),
        Index("ix_appointments_client_start", "client_id", "start_at"),
        Index("ix_appointments_start", "start_at"),
        Index("ix_appointments_series", "series_id"),
    )

    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("series.id"))
    sequence: Mapped[int]  # 1 for the series' first session
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    protocol_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protocols.id"))
    esthetician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    # end_at plus the room's turnover buffer: what overlaps are checked against.
    occupied_until: Mapped[datetime]
    status: Mapped[AppointmentStatus] = mapped_column(string_enum(AppointmentStatus, "appointment_status"))
    awaiting_screening: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
