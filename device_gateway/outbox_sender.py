"""The gateway's side of the outbox: sending the device commands the API wrote (db/outbox.py writes them), each
tracked queued → sent → accepted | rejected | executed | expired | failed; and waking at once when one is written.

The sender wakes on its own signal, set when a transaction in this process commits a command, and on PostgreSQL
on a NOTIFY from any process; it looks at the outbox at least every poll, whatever happens to either.
"""

import json
import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from db.alarms import record_incident
from db.base import utcnow
from db.lifecycle import SessionStatus, move
from db.models import UNANSWERED, CommandStatus, Device, DeviceCommand, DeviceStatus, TreatmentSession
from db.outbox import CHANNEL, wake_on_commit
from db.session import transaction
from device_gateway import topics

logger = logging.getLogger(__name__)
BATCH = 200
LISTEN_RETRY_S = 5.0  # while the LISTEN connection is lost, the sender polls and tries again this often

# (topic, payload) -> whether the client took it for sending
Publish = Callable[[str, bytes], bool]


class OutboxSender:
    """One gateway's sender: a round of sending at a time, and its wake-up."""

    def __init__(self, factory: sessionmaker[Session], publish: Publish) -> None:
        self._factory = factory
        self._publish = publish
        self._resend = threading.Event()  # after a (re)connect: send again what no device answered
        self.wakeup = OutboxWakeup(factory.kw["bind"])

    def resend_unanswered(self) -> None:
        """After a (re)connect: send again what no device answered, at the next round, which starts now."""
        self._resend.set()
        self.wakeup.wake()

    def send_round(self) -> int:
        """Send what is due in one transaction; should that fail, what was to be sent again still is."""
        resend = self._resend.is_set()
        self._resend.clear()
        try:
            with transaction(self._factory) as session:
                return send_due(session, self._publish, resend_sent=resend)
        except BaseException:
            if resend:
                self._resend.set()
            raise


def send_due(session: Session, publish: Publish, *, resend_sent: bool) -> int:
    """Publish queued commands (and, after a reconnect, those sent but unanswered) with their own command_id."""
    expire_overdue(session)
    wanted = [CommandStatus.QUEUED, CommandStatus.SENT] if resend_sent else [CommandStatus.QUEUED]
    rows = session.execute(
        select(DeviceCommand, Device.device_id, Device.status)
        .join(Device, Device.id == DeviceCommand.device_id)
        .where(DeviceCommand.status.in_(wanted))
        .order_by(DeviceCommand.created_at)
        .limit(BATCH)
        .with_for_update(of=DeviceCommand, skip_locked=True)
    ).all()
    sent = 0
    for command, mqtt_id, device_status in rows:
        if command.kind == "load_protocol" and device_status == DeviceStatus.REVOKED:
            _give_up(
                session,
                command,
                CommandStatus.FAILED,
                "device_revoked",
                "command_failed",
                "the device was revoked before it could be armed",
            )
            continue  # a stop still goes: it is always safe
        payload = json.dumps(command.payload, separators=(",", ":")).encode()
        if not publish(topics.device_topic(mqtt_id, "commands"), payload):
            break  # not connected: the rest waits for the next round
        command.status, command.sent_at, command.attempts = CommandStatus.SENT, utcnow(), command.attempts + 1
        sent += 1
    return sent


def expire_overdue(session: Session) -> None:
    """Commands past their expiry that no device answered; a session waiting to be armed ends rejected."""
    overdue = session.scalars(
        select(DeviceCommand).where(DeviceCommand.status.in_(UNANSWERED), DeviceCommand.expires_at < utcnow())
    ).all()
    for command in overdue:
        _give_up(
            session,
            command,
            CommandStatus.EXPIRED,
            None,
            "command_expired",
            "the device did not answer the arming command in time",
        )
        logger.info("command %s expired unanswered", command.id)


def _give_up(
    session: Session, command: DeviceCommand, status: CommandStatus, reason: str | None, incident: str, detail: str
) -> None:
    """End a command without an answer; a session still waiting for it to arm its device ends rejected."""
    command.status, command.reason, command.answered_at = status, reason, utcnow()
    treatment = session.get(TreatmentSession, command.session_id) if command.session_id else None
    if treatment is not None and treatment.status == SessionStatus.PENDING:
        move(treatment, SessionStatus.REJECTED)
        record_incident(session, session_id=treatment.id, device_id=treatment.device_id, kind=incident, detail=detail)


class OutboxWakeup:
    """Waits for a command: its own signal, set on a commit in this process or by `wake`, and on PostgreSQL a
    LISTEN on the outbox channel, connected when first needed and again after it is lost (a database restart),
    polling meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self._url: str | None = None
        if engine.dialect.name == "postgresql":
            self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection: psycopg.Connection[object] | None = None
        self._retry_at = 0.0
        self._signal = threading.Event()
        wake_on_commit(self._signal)

    def wake(self) -> None:
        """End the current wait (or the next one) at once: a reconnect, a stop."""
        self._signal.set()

    def wait(self, timeout: float) -> None:
        """Return when a command was written since the last call, or after `timeout` seconds."""
        connection = None if self._signal.is_set() else self._listening()
        if connection is None:
            self._signal.wait(timeout)
        else:
            try:
                for _ in connection.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.OperationalError:
                logger.warning("lost the LISTEN connection; polling the outbox until it is back")
                self.close()
        self._signal.clear()

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def _listening(self) -> psycopg.Connection[object] | None:
        if self._connection is None and self._url is not None and time.monotonic() >= self._retry_at:
            try:
                self._connection = psycopg.connect(self._url, autocommit=True, connect_timeout=2)
                self._connection.execute(f"LISTEN {CHANNEL}")
            except psycopg.OperationalError:
                self.close()  # the database is away: the sender says so; poll until the next try
                self._retry_at = time.monotonic() + LISTEN_RETRY_S
        return self._connection

    def close(self) -> None:
        """Let go of the LISTEN connection; a later wait makes it again."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
