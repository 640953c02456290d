"""The lease that makes one gateway active and any other a standby.

The active gateway renews it well within its time to live; a standby tries to take it just as often and
gets it only once it has expired: the holder died, or lost the database for longer than the lease lasts.
Database errors reach the caller: while the database is away no one can take the lease, so the holder
keeps its role until it can renew again or its lease has run out.
"""

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import GatewayLease
from db.session import transaction

TTL = timedelta(seconds=3)


class Lease:
    """One named lease in the database, seen from one would-be holder (a gateway's MQTT client id)."""

    def __init__(
        self, factory: sessionmaker[Session], holder: str, *, name: str = "devices", ttl: timedelta = TTL
    ) -> None:
        self._factory = factory
        self.holder = holder
        self.name = name
        self.ttl = ttl

    def acquire_or_renew(self) -> bool:
        """Hold the lease for another ttl if it is ours, missing or expired; False while another holds it."""
        with transaction(self._factory) as session:
            now = _now(session)
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            # One statement, so two gateways racing cannot both win: on PostgreSQL the loser waits on the
            # winner's row (or its unique key), then sees the winner's fresh expiry fail the WHERE below;
            # SQLite lets one writer at a time in (BEGIN IMMEDIATE, see db.session).
            statement = insert(GatewayLease).values(name=self.name, holder=self.holder, expires_at=now + self.ttl)
            upsert = statement.on_conflict_do_update(
                index_elements=[GatewayLease.name],
                set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
                where=(GatewayLease.holder == self.holder) | (GatewayLease.expires_at <= now),
            ).returning(GatewayLease.holder)
            return session.scalar(upsert) is not None  # no row back: the WHERE kept another's valid lease

    def release(self) -> None:
        """On a clean stop: expire the lease if we hold it, so that a standby takes it at its next try."""
        with transaction(self._factory) as session:
            session.execute(
                update(GatewayLease)
                .where(GatewayLease.name == self.name, GatewayLease.holder == self.holder)
                .values(expires_at=_now(session))
            )

    def holder_now(self) -> str | None:
        """Who holds a valid lease, if anyone."""
        with transaction(self._factory) as session:
            return session.scalar(
                select(GatewayLease.holder).where(
                    GatewayLease.name == self.name, GatewayLease.expires_at > _now(session)
                )
            )


def _now(session: Session) -> datetime:
    """The clock every lease time is read and written by.

    PostgreSQL's: gateways on different hosts then agree on when a lease ends whatever their own clocks say.
    Python's on SQLite: its file can only be shared by processes on one host (never over a network file
    system), so they share one clock too, and SQLite's own gives milliseconds in another text format.
    """
    if session.get_bind().dialect.name == "postgresql":
        # now() is when this transaction began: the same instant for every statement in it
        return session.execute(select(func.now())).scalar_one()
    return utcnow()
