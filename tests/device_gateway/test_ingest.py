"""What the gateway writes from device messages: once per seq, session states, the interlock, presence."""

import json
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from paho.mqtt import publish
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import (
    CommandStatus,
    Device,
    DeviceCommand,
    Role,
    SessionIncident,
    SessionMessage,
    SessionStatus,
    TreatmentSession,
    User,
)
from device_gateway import topics
from device_gateway.ingest import Ingest
from device_gateway.messages import INT32_MAX, Ack, Event, Status, Telemetry, highest_seq
from device_gateway.store import insert_new
from tests.api.clinic import add_room, ok
from tests.device_gateway.conftest import Armed, RealClinic, eventually, treating


def block(armed: Armed, seq: int, samples: list[float], step: int = 0, contact: bool = True) -> Telemetry:
    return Telemetry(armed.mqtt_id, armed.treatment.id, seq, step, (seq - 1) * 1000, 100, tuple(samples), contact)


def event(armed: Armed, seq: int, kind: str) -> Event:
    return Event(armed.mqtt_id, armed.treatment.id, seq, kind, None, 0, None)


def feed(db: Session, ingest: Ingest, *messages: object) -> None:
    ingest.apply(db, messages)  # type: ignore[arg-type]
    db.commit()


def stops(db: Session, armed: Armed) -> list[DeviceCommand]:
    return list(
        db.scalars(
            select(DeviceCommand).where(DeviceCommand.session_id == armed.treatment.id, DeviceCommand.kind == "stop")
        )
    )


def test_accepted_arms_and_a_repeated_answer_changes_nothing(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    accepted = Ack(armed.mqtt_id, armed.load.id, "accepted", None)
    feed(db, ingest, accepted, accepted)
    db.refresh(armed.treatment)
    db.refresh(armed.load)
    assert (armed.treatment.status, armed.load.status) == (SessionStatus.ARMED, CommandStatus.ACCEPTED)
    assert ingest.counters["duplicates"] == 1


def test_rejected_ends_the_session_with_the_reason(db: Session, armed: Armed) -> None:
    feed(db, Ingest(), Ack(armed.mqtt_id, armed.load.id, "rejected", "bad_sha256"))
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.REJECTED
    [incident] = db.scalars(select(SessionIncident).where(SessionIncident.session_id == armed.treatment.id))
    assert "bad_sha256" in incident.detail


def test_each_seq_is_stored_once_and_events_move_the_session(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    started, first = event(armed, 1, "started"), block(armed, 2, [200.0] * 10)
    feed(db, ingest, started, first, first, started)
    stored = db.scalar(
        select(func.count()).select_from(SessionMessage).where(SessionMessage.session_id == armed.treatment.id)
    )
    assert (stored, ingest.counters["duplicates"]) == (2, 2)
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.TREATING and armed.treatment.started_at is not None
    feed(db, ingest, event(armed, 3, "contact_lost"))
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.PAUSED
    feed(db, ingest, event(armed, 5, "completed"), event(armed, 4, "contact_restored"))  # out of order
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.COMPLETED  # an ended session stays ended


def test_a_sample_over_its_steps_cap_stops_the_device_once(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    feed(db, ingest, event(armed, 1, "started"), block(armed, 2, [200.0] * 9 + [221.0]), block(armed, 3, [230.0] * 10))
    [stop] = stops(db, armed)
    assert (stop.status, stop.payload["type"], stop.payload["reason"]) == (CommandStatus.QUEUED, "stop", "over_current")
    [incident] = db.scalars(select(SessionIncident).where(SessionIncident.session_id == armed.treatment.id))
    assert incident.kind == "over_current" and "221 µA" in incident.detail and "220 µA" in incident.detail


def test_samples_at_the_cap_do_not_stop(db: Session, armed: Armed) -> None:
    feed(db, Ingest(), event(armed, 1, "started"), block(armed, 2, [220.0] * 10))  # 200 µA + 10%
    assert stops(db, armed) == []


def test_output_past_the_limit_stops_the_device(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    blocks = [block(armed, seq, [200.0] * 100) for seq in range(2, 6)]  # 10 s each: 40 s
    ingest.apply(db, [event(armed, 1, "started")])
    armed.treatment.max_output_s = 35
    db.commit()
    feed(db, ingest, *blocks)
    [stop] = stops(db, armed)
    assert stop.payload["reason"] == "over_time"


def test_messages_for_another_devices_session_are_dropped(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    other = Telemetry("gd-someone-else", armed.treatment.id, 1, 0, 0, 100, (500.0,), True)
    feed(db, ingest, other, Ack(armed.mqtt_id, uuid.uuid4(), "accepted", None), Status("gd-unregistered", "idle"))
    assert ingest.counters["dropped"] == 3
    assert db.scalar(select(func.count()).select_from(SessionMessage)) == 0
    assert stops(db, armed) == []


def test_the_database_itself_refuses_a_message_about_another_devices_session(
    client: TestClient, as_role: dict, db: Session, armed: Armed
) -> None:
    room = uuid.UUID(add_room(client, as_role[Role.ADMIN], name="Room 2"))
    other_device = db.scalar(select(Device.id).where(Device.room_id == room))
    row = {
        "device_id": other_device,
        "session_id": armed.treatment.id,
        "seq": 1,
        "kind": "telemetry",
        "event_type": None,
        "step": 0,
        "t_ms": 0,
        "interval_ms": 100,
        "samples": [500.0],
        "contact": True,
        "detail": None,
        "received_at": utcnow(),
    }
    with pytest.raises(IntegrityError):
        insert_new(db, [row])
    db.rollback()
    assert insert_new(db, [row | {"device_id": armed.device.id}]) == {(armed.treatment.id, 1)}


def lost_for(db: Session, ingest: Ingest, seconds: float) -> None:
    """The gateway's sweep: sessions whose device has been offline longer than `seconds` are interrupted."""
    ingest.interrupt_lost(db, patience=timedelta(seconds=seconds))
    db.commit()


def test_a_device_lost_mid_session_leaves_it_interrupted(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    feed(
        db,
        ingest,
        Status(armed.mqtt_id, "idle"),
        Ack(armed.mqtt_id, armed.load.id, "accepted", None),
        event(armed, 1, "started"),
        Status(armed.mqtt_id, "offline"),
    )
    lost_for(db, ingest, 60)  # a Will alone is not a loss yet: a broker that shuts down sends every device's
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.TREATING
    lost_for(db, ingest, 0)
    db.refresh(armed.treatment)
    db.refresh(armed.device)
    assert armed.treatment.status == SessionStatus.INTERRUPTED
    assert (armed.device.state, armed.device.last_seen_at is not None) == ("offline", True)
    kinds = [
        i.kind for i in db.scalars(select(SessionIncident).where(SessionIncident.session_id == armed.treatment.id))
    ]
    assert kinds == ["device_offline"]


def test_the_delivered_record(client: TestClient, as_role: dict, db: Session, armed: Armed) -> None:
    samples = [199.0, 201.0] * 5
    feed(
        db,
        Ingest(),
        event(armed, 1, "started"),
        block(armed, 2, samples),
        block(armed, 4, [200.0] * 10),
        block(armed, 5, [0.0] * 10, contact=False),
    )  # seq 3 never arrived; no contact: not treatment time
    record = ok(client.get(f"/api/v1/sessions/{armed.treatment.id}", headers=as_role[Role.FRONT_DESK]))
    [step] = record["steps"]
    assert (step["prescribed_current_ua"], step["prescribed_duration_s"]) == (200, 300)
    assert step["output_s"] == pytest.approx(2.0)
    assert step["charge_uc"] == pytest.approx(sum(samples) * 0.1 + 200.0)  # µA × 0.1 s per sample
    assert step["delivered_mean_ua"] == pytest.approx(200.0)
    assert step["delivered_peak_ua"] == 201.0
    assert record["total_charge_uc"] == pytest.approx(step["charge_uc"])
    assert record["missing_seqs"] == [3]
    assert record["limits"] == {"max_current_ua": 220.0, "max_output_s": 330.0}


def test_a_device_that_comes_back_moves_an_interrupted_session_on(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    feed(
        db,
        ingest,
        Ack(armed.mqtt_id, armed.load.id, "accepted", None),
        event(armed, 1, "started"),
        Status(armed.mqtt_id, "offline"),
    )
    lost_for(db, ingest, 0)
    feed(db, ingest, Status(armed.mqtt_id, "treating"), block(armed, 2, [200.0] * 10), event(armed, 3, "completed"))
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.COMPLETED
    kinds = [
        i.kind for i in db.scalars(select(SessionIncident).where(SessionIncident.session_id == armed.treatment.id))
    ]
    assert kinds == ["device_offline"]  # the lost supervision stays on record


def test_a_block_the_database_refuses_is_dropped_alone(
    session_factory: sessionmaker[Session], db: Session, armed: Armed
) -> None:
    ingest = Ingest()
    refused = Telemetry(armed.mqtt_id, armed.treatment.id, 3, 0, None, 100, (200.0,), True)  # type: ignore[arg-type]
    ingest.store(
        session_factory,
        [event(armed, 1, "started"), block(armed, 2, [200.0] * 10), refused, block(armed, 4, [230.0] * 10)],
    )
    seqs = db.scalars(select(SessionMessage.seq).where(SessionMessage.session_id == armed.treatment.id))
    assert sorted(seqs) == [1, 2, 4]
    assert (ingest.counters["stored"], ingest.counters["dropped"]) == (3, 1)
    [stop] = stops(db, armed)  # the run after the refused block is still watched
    assert stop.payload["reason"] == "over_current"


def test_blocks_after_the_session_ended_in_the_same_batch_are_kept_but_stop_nothing(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    feed(db, ingest, event(armed, 1, "started"), event(armed, 2, "completed"), block(armed, 3, [900.0] * 10))
    assert stops(db, armed) == []
    assert ingest.counters["stored"] == 3


def test_one_batch_of_many_sessions_is_stored_once_each_and_only_the_offender_is_stopped(
    staff: dict[Role, User], db: Session, armed: Armed
) -> None:
    second = TreatmentSession(
        appointment_id=armed.treatment.appointment_id,
        device_id=armed.device.id,
        protocol_id=armed.treatment.protocol_id,
        status=SessionStatus.TREATING,
        steps=armed.treatment.steps,
        max_current_ua=220,
        max_output_s=330,
        tolerance_percent=10,
        day_of={},
        created_by_id=staff[Role.ESTHETICIAN].id,
    )
    db.add(second)
    db.commit()
    other = Armed(armed.mqtt_id, armed.device, second, armed.load)
    ingest = Ingest()
    blocks = [block(armed, seq, [200.0] * 10) for seq in range(2, 40)] + [
        block(other, seq, [200.0] * 10) for seq in range(1, 40)
    ]
    feed(db, ingest, event(armed, 1, "started"), *blocks, *blocks[:5], block(other, 40, [500.0] * 10))
    counts = dict(db.execute(select(SessionMessage.session_id, func.count()).group_by(SessionMessage.session_id)).all())
    assert counts == {armed.treatment.id: 39, second.id: 40}
    assert ingest.counters["duplicates"] == 5
    assert stops(db, armed) == []
    assert [s.payload["reason"] for s in stops(db, other)] == ["over_current"]


def test_a_restarted_gateway_counts_the_output_already_stored(db: Session, armed: Armed) -> None:
    feed(db, Ingest(), event(armed, 1, "started"), *[block(armed, seq, [200.0] * 100) for seq in (2, 3, 4)])
    armed.treatment.max_output_s = 35  # 30 s delivered so far
    db.commit()
    assert stops(db, armed) == []
    feed(db, Ingest(), block(armed, 5, [200.0] * 100))  # a new gateway process: 10 s more
    [stop] = stops(db, armed)
    assert stop.payload["reason"] == "over_time"


def test_a_restarted_gateway_does_not_stop_a_session_twice(db: Session, armed: Armed) -> None:
    feed(db, Ingest(), event(armed, 1, "started"), block(armed, 2, [300.0] * 10))
    feed(db, Ingest(), block(armed, 3, [300.0] * 10))
    assert len(stops(db, armed)) == 1
    assert db.scalar(select(func.count()).select_from(SessionIncident)) == 1


def test_a_stop_whose_transaction_was_not_committed_is_recorded_with_the_next_one(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    over_current = [event(armed, 1, "started"), block(armed, 2, [300.0] * 10)]
    ingest.apply(db, over_current)
    db.rollback()  # the commit failed: the stop and its incident are not on record (the device had it at once)
    feed(db, ingest, *over_current)  # the batch is written again
    [stop] = stops(db, armed)
    assert stop.payload["reason"] == "over_current"


def test_a_device_lost_before_it_answered_the_arming_interrupts_the_session(db: Session, armed: Armed) -> None:
    ingest = Ingest()
    feed(db, ingest, Status(armed.mqtt_id, "offline"))  # load_protocol was sent; no answer came
    lost_for(db, ingest, 0)
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.INTERRUPTED
    kinds = [
        i.kind for i in db.scalars(select(SessionIncident).where(SessionIncident.session_id == armed.treatment.id))
    ]
    assert kinds == ["device_offline"]


def test_a_seq_above_what_the_session_can_reach_is_dropped_and_one_at_it_kept(db: Session, armed: Armed) -> None:
    bound = highest_seq(armed.treatment.max_output_s, len(armed.treatment.steps))  # 330 s, one step
    ingest = Ingest()
    feed(
        db,
        ingest,
        event(armed, 1, "started"),
        event(armed, bound - 1, "paused"),
        block(armed, bound, [200.0]),
        block(armed, bound + 1, [200.0]),
        event(armed, bound + 2, "resumed"),
        event(armed, INT32_MAX, "completed"),
    )
    seqs = db.scalars(select(SessionMessage.seq).where(SessionMessage.session_id == armed.treatment.id))
    assert sorted(seqs) == [1, bound - 1, bound]
    assert (ingest.counters["stored"], ingest.counters["dropped"]) == (3, 3)
    db.refresh(armed.treatment)
    assert armed.treatment.status == SessionStatus.PAUSED  # neither dropped event moved the session


def test_a_status_whose_version_is_true_changes_nothing(clinic: RealClinic) -> None:
    device = clinic.device(speed=1.0)  # 30 s of output: still treating when the status comes
    try:
        session_id = treating(clinic, device)
        eventually(lambda: clinic.device_state() == "treating")  # the device's own status is in: ours comes after it
        publish.single(
            topics.device_topic(clinic.mqtt_id, "status"),
            b'{"v":true,"state":"offline"}',
            qos=1,
            hostname="127.0.0.1",
            port=clinic.port,
        )
        eventually(lambda: clinic.gateway.counters["malformed"] or clinic.device_state() != "treating")
        assert clinic.device_state() == "treating"  # not offline: `true` is no version 1
        assert clinic.session(session_id, "treating")
    finally:
        device.stop()
    assert clinic.gateway.counters["malformed"] == 1


def test_a_devices_answer_to_a_stop_in_the_batch_that_records_it_is_kept(db: Session, armed: Armed) -> None:
    """The interlock publishes a stop before the database hears of it; the device's answer can come in the very
    batch that writes the stop on record, and must not be dropped as an answer to a command never sent."""
    published: list[bytes] = []
    ingest = Ingest(publish=lambda _topic, payload: published.append(payload) is None)
    feed(db, ingest, Ack(armed.mqtt_id, armed.load.id, "accepted", None), event(armed, 1, "started"))
    ingest.interlock.check(block(armed, 2, [400.0] * 10))  # on the network thread, ahead of the batch
    assert stops(db, armed) == []  # not on record yet
    [command_id] = [uuid.UUID(json.loads(payload)["command_id"]) for payload in published]
    feed(db, ingest, Ack(armed.mqtt_id, command_id, "executed", None))
    [stop] = stops(db, armed)
    assert (stop.id, stop.status) == (command_id, CommandStatus.EXECUTED)
