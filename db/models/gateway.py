"""Whether a device gateway is running and connected to the broker: without one, no device can be armed and
the device states in the database are only what they were when it left."""

from datetime import datetime, timedelta

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.base import Base, utcnow

HEARTBEAT = timedelta(seconds=2)  # a connected gateway says so at least this often
PRESENT_WITHIN = timedelta(seconds=10)  # older than this, it is taken to be gone


class GatewayPresence(Base):
    __tablename__ = "gateway_presence"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the gateway's MQTT client id
    connected: Mapped[bool]  # to the broker, when it last said
    seen_at: Mapped[datetime]
    role: Mapped[str] = mapped_column(String(16), default="active", server_default="active")  # or standby
    # what does not work now: [{"part": "database" | "broker" | "outbox" | ..., "since": iso time}]
    problems: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list, server_default="[]")
    # what it counted since it started ({"received": n, "stored": n, ...}), for /metrics; zero again after a restart
    counters: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, server_default="{}")


class GatewayLease(Base):
    """Who carries the device traffic: one gateway holds the lease and renews it; a standby takes it once
    it has expired (the holder died or lost the database for longer than the lease lasts)."""

    __tablename__ = "gateway_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))  # the holder's MQTT client id
    expires_at: Mapped[datetime]


def gateway_present(session: Session) -> bool:
    """The active gateway said lately that it is connected to the broker."""
    return (
        session.scalar(
            select(GatewayPresence.client_id)
            .where(
                GatewayPresence.connected.is_(True),
                GatewayPresence.role == "active",
                GatewayPresence.seen_at > utcnow() - PRESENT_WITHIN,
            )
            .limit(1)
        )
        is not None
    )


def gateways_heard(session: Session) -> list[GatewayPresence]:
    """The gateways that said lately how they are."""
    return list(
        session.scalars(
            select(GatewayPresence)
            .where(GatewayPresence.seen_at > utcnow() - PRESENT_WITHIN)
            .order_by(GatewayPresence.client_id)
        )
    )
