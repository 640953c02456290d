"""Sending the outbox: in order, once per round, again after a reconnect with the same command_id, never late."""

import json
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import CommandStatus, DeviceCommand, DeviceStatus, SessionIncident, SessionStatus
from db.outbox import queue_command
from device_gateway.outbox_sender import OutboxWakeup, send_due
from tests.device_gateway.conftest import Armed


class Broker:
    """Takes what is published, until it is told the connection dropped."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict]] = []
        self.connected = True

    def publish(self, topic: str, payload: bytes) -> bool:
        if self.connected:
            self.published.append((topic, json.loads(payload)))
        return self.connected


def incidents(db: Session, armed: Armed) -> list[str]:
    return list(db.scalars(select(SessionIncident.kind).where(SessionIncident.session_id == armed.treatment.id)))


def test_queued_commands_go_in_order_and_a_reconnect_sends_the_unanswered_again(db: Session, armed: Armed) -> None:
    stop = queue_command(db, device_id=armed.device.id, session_id=armed.treatment.id, kind="stop", body={})
    db.commit()
    broker = Broker()
    assert send_due(db, broker.publish, resend_sent=False) == 1  # the load_protocol was sent already
    assert broker.published == [(f"clinic/v1/devices/{armed.mqtt_id}/commands", stop.payload)]
    assert (stop.status, stop.attempts) == (CommandStatus.SENT, 1)
    assert send_due(db, broker.publish, resend_sent=False) == 0  # nothing twice in ordinary rounds
    send_due(db, broker.publish, resend_sent=True)  # after a reconnect: both, with their own command_id
    assert [body["command_id"] for _, body in broker.published[1:]] == [str(armed.load.id), str(stop.id)]


def test_a_command_the_client_cannot_take_waits_for_the_next_round(db: Session, armed: Armed) -> None:
    stop = queue_command(db, device_id=armed.device.id, session_id=armed.treatment.id, kind="stop", body={})
    db.commit()
    broker = Broker()
    broker.connected = False
    assert send_due(db, broker.publish, resend_sent=False) == 0
    assert stop.status == CommandStatus.QUEUED and stop.attempts == 0
    broker.connected = True
    assert send_due(db, broker.publish, resend_sent=False) == 1


def test_an_arming_nobody_answered_in_time_expires_and_ends_the_session(db: Session, armed: Armed) -> None:
    armed.load.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    broker = Broker()
    send_due(db, broker.publish, resend_sent=True)
    db.commit()  # as the gateway does after each round
    assert broker.published == []  # never sent late
    db.refresh(armed.treatment)
    assert (armed.load.status, armed.treatment.status) == (CommandStatus.EXPIRED, SessionStatus.REJECTED)
    assert incidents(db, armed) == ["command_expired"]


def test_a_revoked_device_is_never_armed_but_still_stopped(db: Session, armed: Armed) -> None:
    armed.load.status = CommandStatus.QUEUED
    stop = queue_command(db, device_id=armed.device.id, session_id=armed.treatment.id, kind="stop", body={})
    armed.device.status = DeviceStatus.REVOKED
    db.commit()
    broker = Broker()
    send_due(db, broker.publish, resend_sent=False)
    db.commit()
    assert [body["type"] for _, body in broker.published] == ["stop"]
    db.refresh(armed.treatment)
    assert (armed.load.status, armed.load.reason) == (CommandStatus.FAILED, "device_revoked")
    assert stop.status == CommandStatus.SENT
    assert armed.treatment.status == SessionStatus.REJECTED
    assert incidents(db, armed) == ["command_failed"]
    assert db.scalar(select(DeviceCommand.status).where(DeviceCommand.id == armed.load.id)) == CommandStatus.FAILED


def waited(wakeup: OutboxWakeup, timeout: float) -> float:
    began = time.monotonic()
    wakeup.wait(timeout)
    return time.monotonic() - began


def test_a_written_command_wakes_every_sender_at_once_and_a_wake_only_its_own(db: Session, armed: Armed) -> None:
    """Each sender (a gateway's) has its own signal: a commit sets them all, a gateway's stop only its own."""
    senders = [OutboxWakeup(db.get_bind().engine) for _ in range(2)]
    try:
        queue_command(db, device_id=armed.device.id, session_id=armed.treatment.id, kind="stop", body={})
        db.commit()
        assert [waited(sender, 5.0) < 1.0 for sender in senders] == [True, True]
        senders[0].wake()
        assert waited(senders[0], 5.0) < 1.0
        assert waited(senders[1], 0.2) >= 0.2  # another sender sleeps on to its poll
    finally:
        for sender in senders:
            sender.close()
